//! The verbs that are more than one stdlib call: those that refresh (stats, events), and
//! those that report on the host (version, info, system df). Each reads through the script
//! functions or the library and prints as Docker does.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gocker::script::table::render;
use gocker::script::template::Template;
use gocker::script::value::{dynamic_to_json, human_size};
use gocker::script::{self, print_line};
use rhai::{Dynamic, Map, Scope};
use serde_json::{json, Value};

use super::{Host, Stop};

/// Prints a verb's own error as the other verbs' are, and gives the status.
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// A size in binary units as docker stats prints memory (go-units' BytesSize): 1.445MiB.
pub fn bytes_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let decimals = match v {
        x if x < 10.0 => 3,
        x if x < 100.0 => 2,
        x if x < 1000.0 => 1,
        _ => 0,
    };
    let text = format!("{v:.decimals$}");
    let text = match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => text,
    };
    format!("{text}{}", units[u])
}

/// One reading of a container for stats.
struct Reading {
    id: String,
    name: String,
    at: Instant,
    cpu_ns: u64,
    memory: u64,
    memory_limit: u64,
    block_io: Option<(u64, u64)>,
    pids: u64,
    net: (u64, u64),
}

fn read_one(host: &Host, id: &str) -> Result<Reading, String> {
    let store = host
        .ctx
        .containers()
        .map_err(|e| script::describe_plain(&e))?;
    let c = store.get(id).map_err(|e| e.chain())?;
    let s = store.stats(&c.id).map_err(|e| e.chain())?;
    Ok(Reading {
        net: c.pid.map(|p| store.net_io(p)).unwrap_or((0, 0)),
        id: c.short_id(),
        name: c.name,
        at: Instant::now(),
        cpu_ns: s.cpu_ns,
        memory: s.memory,
        memory_limit: s.memory_limit,
        block_io: s.block_read.zip(s.block_write),
        pids: s.pids,
    })
}

/// `stats [--no-stream] [CONTAINER...]`: Docker's columns, CPU % over the last second;
/// refreshed every second until Ctrl-C unless --no-stream.
pub fn stats(host: &Host, names: Vec<String>, no_stream: bool) -> ExitCode {
    let named = !names.is_empty();
    let ids = || -> Result<Vec<String>, String> {
        if named {
            return Ok(names.clone());
        }
        let store = host
            .ctx
            .containers()
            .map_err(|e| script::describe_plain(&e))?;
        Ok(store
            .list()
            .map_err(|e| e.chain())?
            .into_iter()
            .filter(|c| c.status == gocker::container::Status::Running)
            .map(|c| c.id)
            .collect())
    };
    let mut before: BTreeMap<String, Reading> = BTreeMap::new();
    let mut first = true;
    loop {
        let list = match ids() {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let mut now = Vec::new();
        for id in &list {
            match read_one(host, id) {
                Ok(r) => now.push(r),
                // A named container that is not running is an error, as Docker's; one of
                // the running set that ended meanwhile just leaves the table.
                Err(e) if named => return fail(e),
                Err(_) => {}
            }
        }
        // The first CPU figure needs a second reading: take it a second later.
        if first {
            first = false;
            before = now.into_iter().map(|r| (r.id.clone(), r)).collect();
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        let mut rows = vec![[
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS",
        ]
        .map(String::from)
        .to_vec()];
        for r in &now {
            let cpu = before.get(&r.id).map_or(0.0, |b| {
                let wall = r.at.duration_since(b.at).as_nanos().max(1) as f64;
                r.cpu_ns.saturating_sub(b.cpu_ns) as f64 / wall * 100.0
            });
            let mem_pct = match r.memory_limit {
                0 => 0.0,
                l => r.memory as f64 / l as f64 * 100.0,
            };
            rows.push(vec![
                r.id.clone(),
                r.name.clone(),
                format!("{cpu:.2}%"),
                format!("{} / {}", bytes_size(r.memory), bytes_size(r.memory_limit)),
                format!("{mem_pct:.2}%"),
                format!("{} / {}", human_size(r.net.0), human_size(r.net.1)),
                // v1's blkio counts only throttled devices: not measured there.
                r.block_io.map_or("--".into(), |(rd, wr)| {
                    format!("{} / {}", human_size(rd), human_size(wr))
                }),
                r.pids.to_string(),
            ]);
        }
        let table = render(&rows);
        if no_stream {
            print_line(&table);
            return ExitCode::SUCCESS;
        }
        // As Docker's: the screen cleared and the table drawn again, each second.
        print_line(&format!("\x1b[2J\x1b[H{table}"));
        if script::STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
            return ExitCode::SUCCESS;
        }
        before = now.into_iter().map(|r| (r.id.clone(), r)).collect();
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `top CONTAINER`: the container's processes as `ps -ef` shows them.
pub fn top(host: &Host, id: String) -> ExitCode {
    let mut scope = Scope::new();
    scope.push("id", id);
    let v = match host.value("top(id)", &mut scope, 1) {
        Ok(v) => dynamic_to_json(&v),
        Err(Stop::Exit(n) | Stop::Failed(n)) => return ExitCode::from(n),
    };
    let mut rows = vec![["UID", "PID", "PPID", "STIME", "TIME", "CMD"]
        .map(String::from)
        .to_vec()];
    for p in v.as_array().into_iter().flatten() {
        let n = |k: &str| p[k].as_i64().unwrap_or(0);
        let t = n("cpu_seconds");
        // STIME as ps: the clock time today.
        let started = gocker::sys::time::rfc3339(n("started"));
        rows.push(vec![
            n("uid").to_string(),
            n("pid").to_string(),
            n("ppid").to_string(),
            started.get(11..16).unwrap_or("").to_string(),
            format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60),
            p["command"].as_str().unwrap_or("").to_string(),
        ]);
    }
    print_line(&render(&rows));
    ExitCode::SUCCESS
}

/// An event as Docker's JSON (what `events --format` reads).
fn docker_event(e: &Value) -> Value {
    let mut attrs = e["attributes"].as_object().cloned().unwrap_or_default();
    attrs.insert("image".into(), e["image"].clone());
    attrs.insert("name".into(), e["name"].clone());
    json!({
        "status": e["action"], "id": e["id"], "from": e["image"],
        "Type": "container", "Action": e["action"],
        "Actor": { "ID": e["id"], "Attributes": attrs },
        "scope": "local", "time": e["time"], "timeNano": e["time_nano"],
        // Capitalised too, as --format templates write them.
        "ID": e["id"], "Status": e["action"], "From": e["image"],
    })
}

/// Docker's line for an event: time, type, action, id, (attributes).
fn event_line(e: &Value) -> String {
    let nano = e["time_nano"].as_i64().unwrap_or(0);
    let when = gocker::sys::time::rfc3339(nano.div_euclid(1_000_000_000));
    let when = format!(
        "{}.{:09}Z",
        when.trim_end_matches('Z'),
        nano.rem_euclid(1_000_000_000)
    );
    let mut attrs: Vec<(String, String)> = e["attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), String::from),
            )
        })
        .collect();
    attrs.push(("image".into(), e["image"].as_str().unwrap_or("").into()));
    attrs.push(("name".into(), e["name"].as_str().unwrap_or("").into()));
    attrs.sort();
    let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{when} container {} {} ({})",
        e["action"].as_str().unwrap_or(""),
        e["id"].as_str().unwrap_or(""),
        attrs.join(", ")
    )
}

/// `events [--since T] [--until T] [--filter container=X] [--format T]`: the recorded events,
/// then (without --until) the new ones as they come, until Ctrl-C.
pub fn events(
    host: &Host,
    since: Option<String>,
    until: Option<String>,
    filters: Vec<String>,
    format: Option<String>,
) -> ExitCode {
    let mut opts = Map::new();
    let mut containers = Vec::new();
    for f in filters {
        match f.split_once('=') {
            Some(("container", v)) => containers.push(Dynamic::from(v.to_string())),
            Some(("type", "container")) => {}
            _ => {
                return fail(format!(
                    "invalid_argument: events --filter {f}: the filters are container=NAME_OR_ID and type=container"
                ))
            }
        }
    }
    if !containers.is_empty() {
        opts.insert("container".into(), containers.into());
    }
    let follow = until.is_none();
    for (k, v) in [("since", since), ("until", until)] {
        if let Some(v) = v {
            opts.insert(k.into(), v.into());
        }
    }
    let template = match format.as_deref().map(Template::parse).transpose() {
        Ok(t) => t,
        Err(e) => return fail(format!("invalid_argument: {e}")),
    };
    let mut after = 0_i64;
    // Following from now on: the events before now only when --since asks for them. Now is
    // the last event recorded (those of this second are past too).
    let mut skip = follow && !opts.contains_key("since");
    if skip {
        opts.insert("since".into(), (gocker::sys::now() - 1).into());
    }
    loop {
        let mut scope = Scope::new();
        let mut o = opts.clone();
        o.insert("after".into(), after.into());
        scope.push("opts", o);
        let list = match host.value("events(opts)", &mut scope, 1) {
            Ok(v) => dynamic_to_json(&v),
            Err(Stop::Exit(n) | Stop::Failed(n)) => return ExitCode::from(n),
        };
        for e in list.as_array().into_iter().flatten() {
            after = after.max(e["seq"].as_i64().unwrap_or(after));
            if skip {
                continue;
            }
            let line = match &template {
                Some(t) => match t.render(&docker_event(e)) {
                    Ok(l) => l,
                    Err(err) => return fail(format!("invalid_argument: {err}")),
                },
                None => event_line(e),
            };
            print_line(&line);
        }
        skip = false;
        if !follow || script::STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn cgroup_words() -> (&'static str, &'static str) {
    use gocker::runtime::cgroup::{Hierarchy, Mode};
    match Hierarchy::host().mode {
        Mode::Unified => ("2", "unified"),
        Mode::Hybrid => ("1", "hybrid"),
        Mode::Legacy => ("1", "legacy"),
    }
}

/// `version`: this client, and what it runs on.
pub fn version() -> ExitCode {
    let (cg, mode) = cgroup_words();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    print_line(&format!(
        "Client: gocker-script\n Version:        {}\n Rust version:   {}\n OS/Arch:        {}/{}\n Kernel:         {}\n Cgroup version: {cg} ({mode})",
        env!("CARGO_PKG_VERSION"),
        option_env!("GOCKER_RUSTC_VERSION").unwrap_or("not recorded at build time"),
        std::env::consts::OS,
        arch(),
        kernel.trim(),
    ));
    ExitCode::SUCCESS
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Bytes of the files under a directory (not following links, each inode once).
fn du(dir: &std::path::Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += du(&e.path(), seen);
        } else if seen.insert((m.dev(), m.ino())) {
            total += m.len();
        }
    }
    total
}

/// `info`: containers, images, storage, cgroups, the kernel and the runtime's features.
pub fn info(host: &Host) -> ExitCode {
    let (containers, images) = match (host.ctx.containers(), host.ctx.images()) {
        (Ok(c), Ok(i)) => (c, i),
        (Err(e), _) | (_, Err(e)) => return fail(script::describe_plain(&e)),
    };
    let list = match containers.list() {
        Ok(l) => l,
        Err(e) => return fail(e.chain()),
    };
    let running = list
        .iter()
        .filter(|c| c.status == gocker::container::Status::Running)
        .count();
    let paused = list.iter().filter(|c| containers.paused(c)).count();
    let image_count = images.listed(false).map(|l| l.len()).unwrap_or(0);
    let (cg, mode) = cgroup_words();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or("unknown".to_string(), |kb| bytes_size(kb * 1024));
    let seccomp = std::path::Path::new("/proc/sys/kernel/seccomp/actions_avail").exists();
    let registries = std::env::var("GOCKER_INSECURE_REGISTRIES").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let text = format!(
        "Client: gocker-script {}\n\nServer: none (daemonless: each container has its own supervisor)\n Containers: {}\n  Running: {}\n  Paused: {paused}\n  Stopped: {}\n Images: {image_count}\n Storage Driver: overlay\n Root Dir: {}\n Cgroup Driver: cgroupfs\n Cgroup Version: {cg}\n Cgroup Mode: {mode}\n Security Options:\n  seccomp: {}\n  no-new-privileges: always\n  capabilities: Docker's default set\n Kernel Version: {}\n Operating System: {}\n OSType: linux\n Architecture: {}\n CPUs: {cpus}\n Total Memory: {memory}\n Insecure Registries (GOCKER_INSECURE_REGISTRIES):\n  127.0.0.0/8 (loopback, always)\n{}",
        env!("CARGO_PKG_VERSION"),
        list.len(),
        running - paused,
        list.len() - running,
        host.ctx.paths.root.display(),
        if seccomp { "builtin (Docker's default profile)" } else { "not offered by this kernel" },
        kernel.trim(),
        os_name(),
        std::env::consts::ARCH,
        registries
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| format!("  {r}\n"))
            .collect::<String>(),
    );
    print_line(text.trim_end());
    ExitCode::SUCCESS
}

/// `system df`: images, containers, volumes and the build cache: how many, how many in
/// use, their size and what removing the unused would give back.
pub fn system_df(host: &Host) -> ExitCode {
    let (containers, images) = match (host.ctx.containers(), host.ctx.images()) {
        (Ok(c), Ok(i)) => (c, i),
        (Err(e), _) | (_, Err(e)) => return fail(script::describe_plain(&e)),
    };
    let (list, all_images, shown, volumes) = match (
        containers.list(),
        images.images(),
        images.listed(false),
        containers.volumes(),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
            return fail(e.chain())
        }
    };
    let used: HashSet<&str> = list.iter().filter_map(|c| c.image_id.as_deref()).collect();
    let shown_ids: HashSet<&str> = shown.iter().map(|i| i.id.as_str()).collect();
    // Layers are shared: each counted once.
    let layer_size = |imgs: &[&gocker::image::Image]| -> u64 {
        let mut seen = HashSet::new();
        imgs.iter()
            .flat_map(|i| i.layers.iter())
            .filter(|l| seen.insert(l.chain_id.clone()))
            .map(|l| l.size)
            .sum()
    };
    let listed: Vec<&gocker::image::Image> = all_images
        .iter()
        .filter(|i| shown_ids.contains(i.id.as_str()))
        .collect();
    let cache: Vec<&gocker::image::Image> = all_images
        .iter()
        .filter(|i| !shown_ids.contains(i.id.as_str()))
        .collect();
    let active: Vec<&gocker::image::Image> = listed
        .iter()
        .copied()
        .filter(|i| used.contains(i.id.as_str()))
        .collect();
    let images_size = layer_size(&listed);
    let active_size = layer_size(&active);
    let mut seen = HashSet::new();
    let sizes: Vec<(bool, u64)> = list
        .iter()
        .map(|c| {
            let upper = host.ctx.paths.containers().join(&c.id).join("upper");
            (
                c.status == gocker::container::Status::Running,
                du(&upper, &mut seen),
            )
        })
        .collect();
    let containers_size: u64 = sizes.iter().map(|s| s.1).sum();
    let stopped_size: u64 = sizes.iter().filter(|s| !s.0).map(|s| s.1).sum();
    let vol_sizes: Vec<(bool, u64)> = volumes
        .iter()
        .map(|v| (!v.containers.is_empty(), du(&v.path, &mut seen)))
        .collect();
    let vol_size: u64 = vol_sizes.iter().map(|v| v.1).sum();
    let vol_free: u64 = vol_sizes.iter().filter(|v| !v.0).map(|v| v.1).sum();
    let pct = |part: u64, whole: u64| match whole {
        0 => String::new(),
        w => format!(" ({}%)", part * 100 / w),
    };
    let cache_size = layer_size(&cache);
    let rows = vec![
        vec!["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .into_iter()
            .map(String::from)
            .collect(),
        vec![
            "Images".to_string(),
            listed.len().to_string(),
            active.len().to_string(),
            human_size(images_size),
            format!(
                "{}{}",
                human_size(images_size - active_size.min(images_size)),
                pct(images_size - active_size.min(images_size), images_size)
            ),
        ],
        vec![
            "Containers".to_string(),
            list.len().to_string(),
            sizes.iter().filter(|s| s.0).count().to_string(),
            human_size(containers_size),
            format!(
                "{}{}",
                human_size(stopped_size),
                pct(stopped_size, containers_size)
            ),
        ],
        vec![
            "Local Volumes".to_string(),
            volumes.len().to_string(),
            vol_sizes.iter().filter(|v| v.0).count().to_string(),
            human_size(vol_size),
            format!("{}{}", human_size(vol_free), pct(vol_free, vol_size)),
        ],
        vec![
            "Build Cache".to_string(),
            cache.len().to_string(),
            "0".into(),
            human_size(cache_size),
            human_size(cache_size),
        ],
    ];
    print_line(&render(&rows));
    ExitCode::SUCCESS
}

/// `system prune [-a] [-f] [--volumes]`: stopped containers, unused networks, dangling
/// images (every unused one with -a), unused volumes with --volumes.
pub fn system_prune(host: &Host, all: bool, force: bool, volumes: bool) -> ExitCode {
    if !force {
        let mut what = vec![
            "all stopped containers",
            "all networks not used by at least one container",
        ];
        if volumes {
            what.push("all volumes not used by at least one container");
        }
        what.push(if all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        });
        eprintln!("WARNING! This will remove:");
        for w in what {
            eprintln!("  - {w}");
        }
        eprint!("Are you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return ExitCode::SUCCESS;
        }
    }
    let mut scope = Scope::new();
    scope.push("all", all).push("volumes", volumes);
    let code = r#"
        let r = prune();
        if r.containers.len() > 0 { print("Deleted Containers:"); for c in r.containers { print(c) } print("") }
        let used = [];
        for c in containers() { used.push(docker_inspect(c).HostConfig.NetworkMode) }
        let nets = [];
        for n in networks() { if n.name != "bridge" && !(n.name in used) { network_remove(n.name); nets.push(n.name) } }
        if nets.len() > 0 { print("Deleted Networks:"); for n in nets { print(n) } print("") }
        if volumes {
            let vols = [];
            for v in volumes() { if v.containers.len() == 0 { volume_remove(v.name); vols.push(v.name) } }
            if vols.len() > 0 { print("Deleted Volumes:"); for v in vols { print(v) } print("") }
        }
        let imgs = r.images;
        if all { imgs += prune_images(#{ all: true }) }
        if imgs.len() > 0 { print("Deleted Images:"); for i in imgs { print(`deleted: ${i}`) } print("") }
    "#;
    match host.verb(code, &mut scope, 1) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Exit(n) | Stop::Failed(n)) => ExitCode::from(n),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_reads_in_binary_units() {
        assert_eq!(super::bytes_size(1_515_520), "1.445MiB");
        assert_eq!(super::bytes_size(512), "512B");
        assert_eq!(super::bytes_size(8 << 30), "8GiB");
    }

    #[test]
    fn durations_are_words() {
        assert_eq!(gocker::script::table::span(90), "About a minute");
    }
}
