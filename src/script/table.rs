//! How values print for people: images and containers as Docker-like tables, maps and
//! arrays readably. The REPL and the shell verbs use it; scripts can call `table(x)`.

use rhai::{Array, Dynamic};

use super::containers::ContainerRef;
use super::value::human_size;
use super::Context;
use crate::container::Status;
use crate::image::Image;

/// Left-aligned columns separated by three spaces.
pub fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map(|s| s.chars().count()).unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
                .collect::<Vec<_>>()
                .join("   ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn images(list: &[Image]) -> String {
    let mut rows = vec![vec![
        "REPOSITORY".to_string(),
        "TAG".into(),
        "IMAGE ID".into(),
        "PLATFORM".into(),
        "SIZE".into(),
    ]];
    for i in list {
        let names: Vec<(String, String)> = if i.tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.tags
                .iter()
                .map(|t| match t.rsplit_once(':') {
                    Some((r, tag)) if !tag.contains('/') => (r.to_string(), tag.to_string()),
                    _ => (t.clone(), String::new()),
                })
                .collect()
        };
        for (repo, tag) in names {
            rows.push(vec![
                repo,
                tag,
                i.short_id(),
                i.platform.to_string(),
                human_size(i.size),
            ]);
        }
    }
    render(&rows)
}

/// "5 seconds", "3 minutes", as Docker words durations.
fn span(seconds: i64) -> String {
    let d = seconds.max(0);
    match d {
        0..=59 => format!("{d} seconds"),
        60..=3599 => format!("{} minutes", d / 60),
        3600..=86399 => format!("{} hours", d / 3600),
        _ => format!("{} days", d / 86400),
    }
}

fn ago(t: i64) -> String {
    format!("{} ago", span(crate::sys::now() - t))
}

pub fn containers(ctx: &Context, list: &[ContainerRef]) -> String {
    let mut rows = vec![vec![
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    // The state is read once for the whole table, not once a row.
    let Some(all) = ctx.containers().ok().and_then(|s| s.list().ok()) else {
        return String::new();
    };
    let by_id: std::collections::HashMap<&str, &crate::container::Container> =
        all.iter().map(|c| (c.id.as_str(), c)).collect();
    for r in list {
        let Some(c) = by_id.get(r.id.as_str()).copied().cloned() else {
            continue;
        };
        let mut command = c.command.join(" ");
        if command.chars().count() > 30 {
            command = format!("{}…", command.chars().take(29).collect::<String>());
        }
        let image = if c.image.starts_with("sha256:") {
            c.image.chars().skip(7).take(12).collect()
        } else {
            c.image.clone()
        };
        let status = match (c.status, c.started, c.finished) {
            (Status::Running, Some(s), _) => {
                let paused = crate::runtime::cgroup::ContainerCgroup::of(&c.id).is_frozen();
                format!(
                    "Up {}{}",
                    span(crate::sys::now() - s),
                    if paused { " (Paused)" } else { "" }
                )
            }
            (Status::Exited, _, Some(f)) => {
                format!("Exited ({}) {}", c.exit_code.unwrap_or(-1), ago(f))
            }
            _ => c.status_text(),
        };
        rows.push(vec![
            c.short_id(),
            image,
            format!("\"{command}\""),
            ago(c.created),
            status,
            c.spec
                .publish
                .iter()
                .map(|p| {
                    let ip = p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                    format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.proto)
                })
                .collect::<Vec<_>>()
                .join(", "),
            c.name,
        ]);
    }
    render(&rows)
}

/// A map as `networks()` returns them.
fn is_network(v: &Dynamic) -> bool {
    v.read_lock::<rhai::Map>().is_some_and(|m| {
        ["name", "bridge", "subnet", "containers"]
            .iter()
            .all(|k| m.contains_key(*k))
    })
}

pub fn networks(list: &[Dynamic]) -> String {
    let mut rows = vec![vec![
        "NETWORK".to_string(),
        "BRIDGE".into(),
        "SUBNET".into(),
        "GATEWAY".into(),
        "CONTAINERS".into(),
    ]];
    for n in list {
        let Some(m) = n.read_lock::<rhai::Map>() else {
            continue;
        };
        let get = |k: &str| m.get(k).map(|v| v.to_string()).unwrap_or_default();
        let members = m
            .get("containers")
            .and_then(|v| v.read_lock::<Array>().map(|a| a.len()))
            .unwrap_or(0);
        rows.push(vec![
            get("name"),
            get("bridge"),
            get("subnet"),
            get("gateway"),
            members.to_string(),
        ]);
    }
    render(&rows)
}

/// A table for an array of images, containers or networks; None for anything else.
pub fn table(ctx: &Context, v: &Dynamic) -> Option<String> {
    if let Some(img) = v.read_lock::<Image>() {
        return Some(images(std::slice::from_ref(&*img)));
    }
    if let Some(c) = v.read_lock::<ContainerRef>() {
        return Some(containers(ctx, std::slice::from_ref(&*c)));
    }
    let arr = v.read_lock::<Array>()?;
    if arr.is_empty() {
        return None;
    }
    if arr.iter().all(|x| x.is::<Image>()) {
        let list: Vec<Image> = arr
            .iter()
            .filter_map(|x| x.clone().try_cast::<Image>())
            .collect();
        return Some(images(&list));
    }
    if arr.iter().all(is_network) {
        return Some(networks(arr.as_slice()));
    }
    if arr.iter().all(|x| x.is::<ContainerRef>()) {
        let list: Vec<ContainerRef> = arr
            .iter()
            .filter_map(|x| x.clone().try_cast::<ContainerRef>())
            .collect();
        return Some(containers(ctx, &list));
    }
    None
}

/// What the REPL prints for a value.
pub fn pretty(ctx: &Context, v: &Dynamic) -> String {
    if let Some(t) = table(ctx, v) {
        return t;
    }
    if v.is_map() || v.is_array() {
        return serde_json::to_string_pretty(&super::value::dynamic_to_json(v))
            .unwrap_or_else(|_| v.to_string());
    }
    v.to_string()
}
