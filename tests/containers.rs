//! Containers on real namespaces, overlayfs and cgroups, through the library.

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use gocker::container::exec::ExecRequest;
use gocker::container::spec::Spec;
use gocker::container::{Attach, ContainerStore};
use gocker::image::{ImageStore, PullOptions};
use gocker::store::{Db, Paths};

struct Env {
    _root: Root,
    images: ImageStore,
    containers: ContainerStore,
    image: String,
}

fn env() -> Env {
    static PUSHED: OnceLock<String> = OnceLock::new();
    let reg = registry();
    let image = PUSHED.get_or_init(|| {
        push_busybox(reg, "ctr/busybox:1");
        format!("{}/ctr/busybox:1", reg.addr)
    });
    let root = root();
    let paths = Paths::new(root.path());
    paths.ensure().unwrap();
    let db = Arc::new(Db::open(&paths.db()).unwrap());
    let images = ImageStore::with_db(paths.clone(), db.clone()).unwrap();
    images
        .pull(image, &PullOptions::default())
        .expect("pull busybox");
    let mut containers = ContainerStore::new(paths, db);
    containers.set_helper(env!("CARGO_BIN_EXE_gocker-script"));
    Env {
        _root: root,
        images,
        containers,
        image: image.clone(),
    }
}

/// Runs a shell script in a running container and captures its output.
fn sh_in(e: &Env, id: &str, script: &str) -> gocker::Result<gocker::container::exec::ExecOutput> {
    let argv = vec!["sh".into(), "-c".into(), script.into()];
    e.containers.exec(
        id,
        &ExecRequest {
            argv,
            ..Default::default()
        },
        true,
    )
}

fn sh(script: &str) -> Option<Vec<String>> {
    Some(vec!["sh".into(), "-c".into(), script.into()])
}

#[test]
fn exit_codes_and_logs_of_a_detached_container() {
    let e = env();
    let spec = Spec::new(&e.image);
    let mut started = e
        .containers
        .run(
            &e.images,
            &spec,
            sh("echo out; echo err >&2; exit 3"),
            Attach::Detach,
        )
        .expect("run");
    let code = started.wait(&e.containers).expect("wait");
    assert_eq!(code, 3);
    let c = e.containers.get(&started.container.id).unwrap();
    assert_eq!(c.status, "exited");
    assert_eq!(c.exit_code, Some(3));
    let logs = e.containers.log_text(&c.id).unwrap();
    assert!(logs.contains("out\n") && logs.contains("err\n"), "{logs:?}");
    e.containers.remove(&c.id, false).unwrap();
    assert!(mounts_under(e._root.path()).is_empty());
}

#[test]
fn exec_sees_the_container() {
    let e = env();
    let mut spec = Spec::new(&e.image);
    spec.hostname = Some("boxhost".into());
    spec.env.insert("GREETING".into(), "hello".into());
    let started = e
        .containers
        .run(&e.images, &spec, sh("sleep 30"), Attach::Detach)
        .expect("run");
    let id = started.container.id.clone();
    let out = sh_in(
        &e,
        &id,
        "hostname; echo $GREETING; cat /proc/1/cmdline | tr '\\0' ' '; ls /",
    )
    .expect("exec");
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "boxhost");
    assert_eq!(lines[1], "hello");
    assert!(
        lines[2].contains("sleep 30"),
        "PID 1 is the container's command: {out:?}"
    );
    // A command that cannot run is an error of its kind, not an exit code to decode.
    let err = e
        .containers
        .exec(
            &id,
            &ExecRequest {
                argv: vec!["no-such-tool".into()],
                ..Default::default()
            },
            true,
        )
        .expect_err("missing command");
    assert_eq!(err.kind(), gocker::Kind::NotFound, "{}", err.chain());
    assert!(err.message().contains("no-such-tool"), "{}", err.message());
    e.containers
        .stop(&id, std::time::Duration::from_secs(1))
        .unwrap();
    e.containers.remove(&id, false).unwrap();
}

fn cgroup_file(controller: &str, id: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(format!(
        "/sys/fs/cgroup/{controller}/gocker-script/{id}/{file}"
    ))
    .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/gocker-script/{id}/{file}")))
    .ok()
    .map(|s| s.trim().to_string())
}

fn cgroup_exists(id: &str) -> bool {
    ["memory", "cpu", "pids", "cpuacct", ""]
        .iter()
        .any(|c| std::path::Path::new(&format!("/sys/fs/cgroup/{c}/gocker-script/{id}")).exists())
}

#[test]
fn memory_limit_oom_kills_with_137() {
    let e = env();
    let mut spec = Spec::new(&e.image);
    spec.limits.memory = Some(16 << 20);
    let mut s = e
        .containers
        .run(
            &e.images,
            &spec,
            sh("x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}"),
            Attach::Detach,
        )
        .expect("run");
    let code = s.wait(&e.containers).unwrap();
    let c = e.containers.get(&s.container.id).unwrap();
    assert_eq!(code, 137, "logs: {}", e.containers.log_text(&c.id).unwrap());
    assert!(c.oom_killed, "oom_killed is reported");
    assert!(!cgroup_exists(&c.id), "cgroup removed after exit");
    e.containers.remove(&c.id, false).unwrap();
}

#[test]
fn limits_are_written_and_can_change_live() {
    let e = env();
    let mut spec = Spec::new(&e.image);
    spec.limits.memory = Some(64 << 20);
    spec.limits.cpus = Some(0.5);
    spec.limits.pids = Some(8);
    let s = e
        .containers
        .run(&e.images, &spec, sh("sleep 30"), Attach::Detach)
        .expect("run");
    let id = s.container.id.clone();
    assert_eq!(
        cgroup_file("memory", &id, "memory.limit_in_bytes").as_deref(),
        Some("67108864")
    );
    assert_eq!(
        cgroup_file("cpu", &id, "cpu.cfs_quota_us").as_deref(),
        Some("50000")
    );
    assert_eq!(cgroup_file("pids", &id, "pids.max").as_deref(), Some("8"));
    // Fork beyond the pids limit fails inside.
    let out = sh_in(
        &e,
        &id,
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 10 & done; wait",
    )
    .unwrap();
    assert!(out.stderr.contains("fork") || out.code != 0, "{out:?}");
    let mut limits = spec.limits.clone();
    limits.memory = Some(128 << 20);
    e.containers.update_limits(&id, &limits).unwrap();
    assert_eq!(
        cgroup_file("memory", &id, "memory.limit_in_bytes").as_deref(),
        Some("134217728")
    );
    let stats = e.containers.stats(&id).unwrap();
    assert!(stats.pids >= 1 && stats.memory > 0, "{stats:?}");
    e.containers.remove(&id, true).unwrap();
    assert!(!cgroup_exists(&id));
    assert!(mounts_under(e._root.path()).is_empty());
}

#[test]
fn a_failed_spawn_leaves_nothing_behind() {
    let e = env();
    let spec = Spec::new(&e.image);
    let err = e
        .containers
        .run(
            &e.images,
            &spec,
            Some(vec!["no-such-binary".into()]),
            Attach::Detach,
        )
        .err()
        .expect("missing binary");
    assert_eq!(err.kind(), gocker::Kind::NotFound, "{}", err.chain());
    assert!(
        err.message().contains("no-such-binary"),
        "{}",
        err.message()
    );
    assert!(e.containers.list().unwrap().is_empty());
    let dirs: Vec<_> = std::fs::read_dir(e._root.path().join("containers"))
        .unwrap()
        .flatten()
        .collect();
    assert!(dirs.is_empty(), "{dirs:?}");
    assert!(mounts_under(e._root.path()).is_empty());
    // A limit the host refuses: no cgroup, no container.
    let mut spec = Spec::new(&e.image);
    spec.limits.cpus = Some(0.0001);
    let err = e
        .containers
        .run(&e.images, &spec, sh("true"), Attach::Detach)
        .err()
        .expect("refused limit");
    assert!(err.chain().contains("cpus"), "{}", err.chain());
    assert!(e.containers.list().unwrap().is_empty());
    let short = err
        .message()
        .split(['(', ')'])
        .nth(1)
        .expect("the message names the container id")
        .to_string();
    assert_eq!(short.len(), 12);
    for controller in ["memory", "cpu", "cpuacct", "pids", ""] {
        let dir = format!("/sys/fs/cgroup/{controller}/gocker-script");
        let left: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&short))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "cgroup of the failed container left in {dir}: {left:?}"
        );
    }
}

#[test]
fn isolation_capabilities_masks_and_no_leaks() {
    let e = env();
    let spec = Spec::new(&e.image);
    let script = "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status; ls /proc/self/fd | wc -l; cat /proc/keys /proc/timer_list 2>/dev/null | wc -c; (echo 1 > /proc/sys/kernel/hostname) 2>&1 | grep -c 'Read-only'; ls /sys/firmware | wc -l; cat /proc/self/mountinfo; ls -l /proc/*/exe 2>/dev/null";
    let mut s = e
        .containers
        .run(&e.images, &spec, sh(script), Attach::Detach)
        .expect("run");
    assert_eq!(s.wait(&e.containers).unwrap(), 0);
    let logs = e.containers.log_text(&s.container.id).unwrap();
    assert!(
        logs.contains("CapBnd:\t00000000800405fb"),
        "Docker's default bounding set: {logs}"
    );
    assert!(logs.contains("CapEff:\t00000000800405fb"), "{logs}");
    assert!(logs.contains("NoNewPrivs:\t1"), "{logs}");
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(
        lines[3], "4",
        "only stdio and ls's own directory are open: {logs}"
    );
    assert_eq!(
        lines[4], "0",
        "/proc/keys and /proc/timer_list are masked: {logs}"
    );
    assert_eq!(lines[5], "1", "/proc/sys is read-only: {logs}");
    assert_eq!(lines[6], "0", "/sys/firmware is masked: {logs}");
    // (overlayfs names its upper directory in the options, as under Docker; that is a name,
    // not a way in: what counts is which mount points exist.)
    let allowed = [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/proc/acpi",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/kcore",
        "/proc/latency_stats",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
        "/sys/dev/block",
        // The container's own cgroups, read-only (v2: one mount; v1: one per hierarchy).
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/cpuacct",
        "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/devices",
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ];
    for line in logs.lines().filter(|l| l.contains(" - ")) {
        let point = line.split(' ').nth(4).unwrap_or("");
        assert!(
            allowed.contains(&point),
            "unexpected mount {point} in the container: {line}"
        );
    }
    assert!(
        !logs.contains("gocker-script"),
        "the host binary is not reachable: {logs}"
    );
    e.containers.remove(&s.container.id, false).unwrap();
}

#[test]
fn stop_sends_the_images_stop_signal_first() {
    let e = env();
    let reg = registry();
    let reference = format!("{}/ctr/stopsignal:1", reg.addr);
    Pusher::new(reg).image(
        &reference,
        &[(busybox_layer(), Comp::Gzip)],
        Format::Oci,
        serde_json::json!({ "StopSignal": "SIGUSR1", "Cmd": ["sh", "-c", "trap 'exit 42' USR1; touch /tmp/ready; while true; do sleep 0.1; done"] }),
        "amd64",
    );
    e.images
        .pull(&reference, &PullOptions::default())
        .expect("pull");
    let s = e
        .containers
        .run(&e.images, &Spec::new(&reference), None, Attach::Detach)
        .expect("run");
    // Stop only once the trap is set (PID 1 ignores signals it has no handler for).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sh_in(&e, &s.container.id, "test -f /tmp/ready")
        .map(|o| o.code)
        .unwrap_or(1)
        != 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never got ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let c = e
        .containers
        .stop(&s.container.id, std::time::Duration::from_secs(5))
        .expect("stop");
    assert_eq!(
        c.exit_code,
        Some(42),
        "the trap for the image's StopSignal ran"
    );
    e.containers.remove(&c.id, false).unwrap();
}
