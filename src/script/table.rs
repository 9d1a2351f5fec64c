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

/// The rows `docker images --format` reads: one per name of each image.
pub fn image_rows(list: &[Image]) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
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
        let created = i
            .created
            .as_deref()
            .and_then(crate::sys::time::parse_rfc3339)
            .map(|n| (n / 1_000_000_000) as i64);
        for (repo, tag) in names {
            let digest = i.digest.clone();
            rows.push(serde_json::json!({
                "ID": i.short_id(),
                "Repository": repo,
                "Tag": tag,
                "Digest": if digest.is_empty() { "<none>".to_string() } else { digest },
                "CreatedAt": created.map(docker_time).unwrap_or_default(),
                "CreatedSince": created.map(ago).unwrap_or_else(|| "N/A".into()),
                "Size": human_size(i.size),
                "Platform": i.platform.to_string(),
            }));
        }
    }
    rows
}

/// Column headers as Docker names them, for a kind's fields.
pub fn header_of(kind: &str) -> impl Fn(&str) -> String + '_ {
    move |field: &str| match (kind, field) {
        ("containers", "ID") => "CONTAINER ID".into(),
        ("images", "ID") => "IMAGE ID".into(),
        (_, "RunningFor" | "CreatedSince") => "CREATED".into(),
        (_, f) => super::template::default_header(f),
    }
}

const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Platform}}\t{{.Size}}";
const CONTAINERS_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Rows under a template that only names fields they have: it cannot fail.
fn fixed_table(template: &str, rows: &[serde_json::Value], kind: &str) -> String {
    super::template::Template::parse(template)
        .and_then(|t| t.render_all(rows, &header_of(kind)))
        .unwrap_or_else(|e| e)
}

pub fn images(list: &[Image]) -> String {
    fixed_table(IMAGES_TABLE, &image_rows(list), "images")
}

/// A time as Docker's `CreatedAt`: 2026-01-02 03:04:05 +0000 UTC.
pub fn docker_time(secs: i64) -> String {
    crate::sys::time::rfc3339(secs)
        .replacen('T', " ", 1)
        .replace('Z', " +0000 UTC")
}

/// A duration as Docker words it (go-units' HumanDuration): "Less than a second",
/// "1 second", "About a minute", "5 minutes", "About an hour", "3 hours", "2 days", ...
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    let minutes = s / 60;
    // Hours round to the nearest, as Docker's do.
    let hours = (s + 1800) / 3600;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// "5 minutes ago", as Docker's.
pub fn ago(t: i64) -> String {
    format!("{} ago", span(crate::sys::now() - t))
}

/// The rows `docker ps --format` reads, one per container still there.
pub fn container_rows(ctx: &Context, list: &[ContainerRef]) -> Vec<serde_json::Value> {
    // The state is read once for the whole table, not once a row.
    let all = ctx
        .containers()
        .ok()
        .and_then(|s| s.list().ok())
        .unwrap_or_default();
    let by_id: std::collections::HashMap<&str, &crate::container::Container> =
        all.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut rows = Vec::new();
    for r in list {
        let Some(c) = by_id.get(r.id.as_str()).copied().cloned() else {
            continue;
        };
        let mut command = c.command.join(" ");
        if command.chars().count() > 20 {
            command = format!("{}…", command.chars().take(19).collect::<String>());
        }
        let image = if c.image.starts_with("sha256:") {
            c.image.chars().skip(7).take(12).collect()
        } else {
            c.image.clone()
        };
        let paused = c.status == Status::Running
            && crate::runtime::cgroup::ContainerCgroup::of(&c.id).is_frozen();
        let status = match (c.status, c.started, c.finished) {
            (Status::Running, Some(s), _) => {
                let health = ctx
                    .containers()
                    .ok()
                    .and_then(|store| crate::container::health::read(store, &c.id))
                    .map(|h| format!(" ({})", h.status))
                    .unwrap_or_default();
                format!(
                    "Up {}{}{health}",
                    span(crate::sys::now() - s),
                    if paused { " (Paused)" } else { "" }
                )
            }
            (Status::Exited, _, Some(f)) => {
                format!("Exited ({}) {}", c.exit_code.unwrap_or(-1), ago(f))
            }
            _ => c.status_text(),
        };
        let state = match c.status {
            Status::Running if paused => "paused",
            s => s.as_str(),
        };
        let ports = c
            .spec
            .publish
            .iter()
            .map(|p| {
                let ip = p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.proto)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mounts = c
            .spec
            .binds
            .iter()
            .map(|b| b.source.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        rows.push(serde_json::json!({
            "ID": c.short_id(),
            "Image": image,
            "Command": format!("\"{command}\""),
            "CreatedAt": docker_time(c.created),
            "RunningFor": ago(c.created),
            "Status": status,
            "State": state,
            "Ports": ports,
            "Names": c.name,
            "Networks": c.spec.network.as_str(),
            "Mounts": mounts,
            "Labels": c
                .config
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        }));
    }
    rows
}

pub fn containers(ctx: &Context, list: &[ContainerRef]) -> String {
    fixed_table(CONTAINERS_TABLE, &container_rows(ctx, list), "containers")
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

/// The kinds of table `table(list, kind)` makes.
pub const KINDS: &[&str] = &["containers", "images", "networks"];

/// A table of `kind` (one of KINDS): the header alone for an empty list, so a command with
/// nothing to show still says what it would show.
pub fn table_of(ctx: &Context, v: &Dynamic, kind: &str) -> Result<String, String> {
    let empty = v.read_lock::<Array>().is_some_and(|a| a.is_empty());
    let made = match kind {
        "containers" if empty => Some(containers(ctx, &[])),
        "images" if empty => Some(images(&[])),
        "networks" if empty => Some(networks(&[])),
        "containers" | "images" | "networks" => table(ctx, v),
        other => {
            return Err(format!(
                "table: no table of {other:?}; the kinds are {}",
                KINDS.join(", ")
            ))
        }
    };
    made.ok_or_else(|| format!("table: this value is not a list of {kind}"))
}

/// `--format`'s rows of a value and the kind that names their columns: containers as
/// `ps` shows them, images as `images` does, maps (inspect's) as themselves.
fn format_rows(ctx: &Context, v: &Dynamic) -> (Vec<serde_json::Value>, &'static str) {
    let one = |x: &Dynamic| -> Option<(Vec<serde_json::Value>, &'static str)> {
        if let Some(c) = x.read_lock::<ContainerRef>() {
            return Some((container_rows(ctx, std::slice::from_ref(&*c)), "containers"));
        }
        if let Some(i) = x.read_lock::<Image>() {
            return Some((image_rows(std::slice::from_ref(&*i)), "images"));
        }
        None
    };
    if let Some(made) = one(v) {
        return made;
    }
    if let Some(arr) = v.read_lock::<Array>() {
        let mut rows = Vec::new();
        let mut kind = "";
        for x in arr.iter() {
            match one(x) {
                Some((r, k)) => {
                    rows.extend(r);
                    kind = k;
                }
                None => rows.push(super::value::dynamic_to_json(x)),
            }
        }
        return (rows, kind);
    }
    (vec![super::value::dynamic_to_json(v)], "")
}

/// `template(value, format)`: a value (or each of a list) through a Go-style template, as
/// Docker's `--format`.
pub fn template(ctx: &Context, v: &Dynamic, format: &str) -> Result<String, String> {
    let t = super::template::Template::parse(format)?;
    let (rows, kind) = format_rows(ctx, v);
    t.render_all(&rows, &header_of(kind))
}

/// What the REPL prints for a value.
pub fn pretty(ctx: &Context, v: &Dynamic) -> String {
    // One value prints as itself, a list of them as a table.
    if let Some(text) = super::containers::describe(Some(ctx), v) {
        return text;
    }
    if let Some(img) = v.read_lock::<Image>() {
        return super::value::describe_image(&img);
    }
    if let Some(t) = table(ctx, v) {
        return t;
    }
    if v.is_map() || v.is_array() {
        return serde_json::to_string_pretty(&super::value::dynamic_to_json(v))
            .unwrap_or_else(|_| v.to_string());
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_docker_words_them() {
        for (secs, want) in [
            (0, "Less than a second"),
            (1, "1 second"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (119, "About a minute"),
            (120, "2 minutes"),
            (3599, "59 minutes"),
            (3600, "About an hour"),
            (5399, "About an hour"),
            (5400, "2 hours"),
            (47 * 3600, "47 hours"),
            (48 * 3600, "2 days"),
            (15 * 86400, "2 weeks"),
            (61 * 86400, "2 months"),
            (800 * 86400, "2 years"),
        ] {
            assert_eq!(span(secs), want, "{secs} s");
        }
    }

    #[test]
    fn empty_tables_keep_their_header() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::new(crate::store::Paths::new(dir.path()));
        let empty = Dynamic::from_array(Array::new());
        for (kind, header) in [
            ("images", "REPOSITORY"),
            ("containers", "CONTAINER ID"),
            ("networks", "NETWORK"),
        ] {
            let t = table_of(&ctx, &empty, kind).unwrap();
            assert!(t.starts_with(header) && !t.contains('\n'), "{kind}: {t}");
        }
        assert!(table_of(&ctx, &empty, "volumes").is_err());
    }
}
