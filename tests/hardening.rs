//! Escape probes: an attacker's program (tests/fixtures/escape-probe.c, built static and
//! bind-mounted read-only) run inside containers started with defaults, by `run` and by
//! `exec`. Each test checks one defence and, where a switch turns it off, that the probe
//! does get through without it, so the test cannot pass by accident.

mod common;

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "probe/busybox:1");
        format!("{}/probe/busybox:1", reg.addr)
    })
}

/// The probe's directory, built once per test binary.
fn probe_dir() -> &'static Path {
    static BIN: OnceLock<tempfile::TempDir> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(dir.path().join("probe"))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/escape-probe.c"
            ))
            .output()
            .expect("cc");
        assert!(o.status.success(), "cc: {}", err(&o));
        dir
    })
    .path()
}

fn probe_volume() -> String {
    format!("{}:/opt/probe:ro", probe_dir().display())
}

/// `run --rm [flags] IMAGE /opt/probe ARGS...` with the probe mounted.
fn run_probe(root: &Path, flags: &[&str], args: &[&str]) -> Output {
    let vol = probe_volume();
    let mut a = vec!["run", "--rm", "--network", "none", "-v", &vol];
    a.extend(flags);
    a.push(image());
    a.push("/opt/probe/probe");
    a.extend(args);
    gocker(root, &a)
}

/// The probe's name=result lines.
fn results(o: &Output) -> HashMap<String, String> {
    assert!(o.status.success(), "probe failed: {}\n{}", out(o), err(o));
    out(o)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A container that sleeps, with the probe mounted, for `exec`.
fn sleeper(root: &Path, name: &str, flags: &[&str]) {
    let vol = probe_volume();
    let mut a = vec!["run", "-d", "--network", "none", "--name", name, "-v", &vol];
    a.extend(flags);
    a.extend([image(), "sleep", "60"]);
    let o = gocker(root, &a);
    assert!(o.status.success(), "{}", err(&o));
}

fn exec_probe(root: &Path, name: &str, args: &[&str]) -> Output {
    let mut a = vec!["exec", name, "/opt/probe/probe"];
    a.extend(args);
    gocker(root, &a)
}

#[test]
fn seccomp_refuses_dockers_list_in_run_and_exec() {
    let root = root();
    let r = root.path();
    let refused = [
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "personality",
        "unshare_user",
        "keyctl",
    ];
    let check = |res: HashMap<String, String>, how: &str| {
        assert_eq!(res["mode"], "2", "{how}: a seccomp filter is installed");
        for call in refused {
            assert_eq!(res[call], "EPERM", "{how}: {call} is refused: {res:?}");
        }
        assert_eq!(res["getpid"], "ok");
    };
    check(results(&run_probe(r, &[], &["seccomp"])), "run");
    sleeper(r, "sc", &[]);
    check(results(&exec_probe(r, "sc", &["seccomp"])), "exec");
    // Without the filter the same calls get through: the probe can tell.
    let open = results(&run_probe(
        r,
        &["--security-opt", "seccomp=unconfined"],
        &["seccomp"],
    ));
    assert_eq!(open["mode"], "0");
    for call in ["userfaultfd", "personality", "unshare_user", "keyctl"] {
        assert_eq!(open[call], "ok", "unconfined: {call}: {open:?}");
    }
}

/// A block device of the host (its disk), as MAJ MIN; a loop device's numbers on a machine
/// with none (the device rules refuse before any driver is asked).
fn host_block_device() -> (String, String) {
    let text = std::fs::read_to_string("/proc/partitions").unwrap_or_default();
    text.lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 4)
        .map(|f| (f[0].to_string(), f[1].to_string()))
        .unwrap_or_else(|| ("7".into(), "0".into()))
}

#[test]
fn host_devices_cannot_be_created_or_opened() {
    let root = root();
    let r = root.path();
    let (maj, min) = host_block_device();
    // Defaults: no node can be made (no CAP_MKNOD, and the device rules allow no "m").
    let res = results(&run_probe(r, &[], &["devices", &maj, &min]));
    assert_eq!(res["mknod_block"], "EPERM", "{res:?}");
    assert_eq!(res["mknod_kmsg"], "EPERM", "{res:?}");
    assert_eq!(res["open_null"], "ok");
    let res = results(&run_probe(
        r,
        &["--cap-add", "MKNOD"],
        &["devices", &maj, &min],
    ));
    assert_eq!(
        res["mknod_block"], "EPERM",
        "the device rules refuse it too: {res:?}"
    );
    // Nodes made outside (on the host, in a volume) cannot be opened either: the device
    // rules, not the capabilities, stop this one.
    let nodes = tempfile::tempdir().unwrap();
    let (ma, mi): (u32, u32) = (maj.parse().unwrap(), min.parse().unwrap());
    for (name, kind, dev) in [
        ("disk", libc::S_IFBLK, libc::makedev(ma, mi)),
        ("kmsg", libc::S_IFCHR, libc::makedev(1, 11)),
    ] {
        let path = std::ffi::CString::new(nodes.path().join(name).to_str().unwrap()).unwrap();
        // SAFETY: mknod of a path we own.
        assert_eq!(unsafe { libc::mknod(path.as_ptr(), kind | 0o600, dev) }, 0);
    }
    let vol = format!("{}:/nodes", nodes.path().display());
    let res = results(&run_probe(
        r,
        &["-v", &vol],
        &["open", "/nodes/disk", "/nodes/kmsg", "/dev/null"],
    ));
    assert_eq!(
        res["open_disk"], "EPERM",
        "the host disk stays closed: {res:?}"
    );
    assert_eq!(res["open_kmsg"], "EPERM", "{res:?}");
    assert_eq!(res["open_null"], "ok");
    // exec joins the same device rules.
    sleeper(r, "dev", &["-v", &vol]);
    let res = results(&exec_probe(r, "dev", &["open", "/nodes/disk"]));
    assert_eq!(res["open_disk"], "EPERM", "exec: {res:?}");
    // --device brings exactly one more in: /dev/null's twin (1:3) under another name.
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--device",
            "/dev/null:/dev/probe-null:rw",
            image(),
            "sh",
            "-c",
            "echo x > /dev/probe-null && echo written",
        ],
    );
    assert_eq!(out(&o), "written\n", "{}", err(&o));
    // --privileged: every device (the switch that turns the defence off).
    let res = results(&run_probe(
        r,
        &["--privileged", "-v", &vol],
        &["open", "/nodes/kmsg"],
    ));
    assert_eq!(res["open_kmsg"], "ok", "privileged: {res:?}");
}

/// Runs gocker-script with descriptor 9 open (not close-on-exec) on `dir`, as a careless
/// caller would leak it.
fn gocker_with_leaked_fd(root: &Path, dir: &Path, args: &[&str]) -> Output {
    let leaked = std::fs::File::open(dir).expect("open dir");
    let fd = leaked.as_raw_fd();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gocker-script"));
    cmd.arg("--root").arg(root).args(args);
    // SAFETY: dup2 between fork and exec is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run gocker-script")
}

#[test]
fn no_descriptor_of_the_caller_reaches_the_container() {
    let root = root();
    let r = root.path();
    let host = tempfile::tempdir().unwrap();
    let vol = probe_volume();
    let o = gocker_with_leaked_fd(
        r,
        host.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &vol,
            image(),
            "/opt/probe/probe",
            "fds",
        ],
    );
    assert_eq!(results(&o)["fds"], "0,1,2", "run");
    sleeper(r, "fd", &[]);
    let o = gocker_with_leaked_fd(r, host.path(), &["exec", "fd", "/opt/probe/probe", "fds"]);
    assert_eq!(results(&o)["fds"], "0,1,2", "exec");
}

#[test]
fn a_leaked_directory_as_workdir_writes_nothing_on_the_host() {
    let root = root();
    let r = root.path();
    let host = tempfile::tempdir().unwrap();
    // CVE-2024-21626: the working directory through the leaked descriptor.
    let o = gocker_with_leaked_fd(
        r,
        host.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-w",
            "/proc/self/fd/9",
            image(),
            "sh",
            "-c",
            "touch escaped ../escaped-too",
        ],
    );
    assert!(!o.status.success(), "refused: {}", out(&o));
    assert!(
        err(&o).contains("/proc/self/fd/9"),
        "the error names the working directory: {}",
        err(&o)
    );
    sleeper(r, "wd", &[]);
    let o = gocker_with_leaked_fd(
        r,
        host.path(),
        &["exec", "-w", "/proc/self/fd/9", "wd", "touch", "escaped"],
    );
    assert!(!o.status.success());
    let left: Vec<PathBuf> = std::fs::read_dir(host.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "written on the host: {left:?}");
    let parent_escape = host.path().parent().unwrap().join("escaped-too");
    assert!(!parent_escape.exists());
}

/// Adds a key to the calling thread's session keyring; removed on drop.
struct SessionKey(i64);

impl SessionKey {
    fn add(name: &str) -> SessionKey {
        const KEY_SPEC_SESSION_KEYRING: i32 = -3;
        let ty = std::ffi::CString::new("user").unwrap();
        let desc = std::ffi::CString::new(name).unwrap();
        let secret = b"s3cret";
        // SAFETY: add_key with valid NUL-terminated strings and a buffer of its length.
        let id = unsafe {
            libc::syscall(
                libc::SYS_add_key,
                ty.as_ptr(),
                desc.as_ptr(),
                secret.as_ptr(),
                secret.len(),
                KEY_SPEC_SESSION_KEYRING,
            )
        };
        assert!(id > 0, "add_key: {}", std::io::Error::last_os_error());
        SessionKey(id)
    }
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        const KEYCTL_INVALIDATE: i32 = 21;
        // SAFETY: keyctl on our own key.
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_INVALIDATE, self.0) };
    }
}

#[test]
fn the_callers_session_keyring_is_not_shared() {
    let root = root();
    let r = root.path();
    let name = format!("gocker-probe-{}", std::process::id());
    let _key = SessionKey::add(&name);
    // seccomp would refuse keyctl anyway: without it, the keyring itself must hold nothing.
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    let res = results(&run_probe(r, &unconfined, &["keyring", &name]));
    assert_eq!(res["mode"], "0");
    assert_eq!(res["request_key"], "ENOKEY", "run: {res:?}");
    sleeper(r, "key", &unconfined);
    let res = results(&exec_probe(r, "key", &["keyring", &name]));
    assert_eq!(res["request_key"], "ENOKEY", "exec: {res:?}");
    // The probe does find a key that is there: the caller's own view.
    let o = Command::new(probe_dir().join("probe"))
        .args(["keyring", &name])
        .output()
        .unwrap();
    assert_eq!(results(&o)["request_key"], "ok", "the probe can see a key");
}

#[test]
fn the_container_sees_its_own_cgroup_limits() {
    let root = root();
    let r = root.path();
    let res = results(&run_probe(r, &["-m", "64m"], &["cgroup"]));
    assert_eq!(res["memory_limit"], "67108864");
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            image(),
            "sh",
            "-c",
            "echo 1 > /sys/fs/cgroup/pids.max || echo 1 > /sys/fs/cgroup/pids/pids.max",
        ],
    );
    assert!(!o.status.success(), "the view is read-only");
}

#[test]
fn the_default_pids_limit_stops_a_fork_bomb() {
    let root = root();
    let res = results(&run_probe(root.path(), &[], &["fork", "3000"]));
    let n: i64 = res["forked"].parse().unwrap();
    assert!(
        (1500..2048).contains(&n),
        "stopped at podman's 2048 (the init and the probe count too): {n}"
    );
}

/// A foreground container shares the caller's terminal; it must not be able to push
/// keystrokes into it (TIOCSTI), which the caller's shell would run after it exits.
#[test]
fn a_foreground_container_cannot_type_into_the_callers_terminal() {
    let root = root();
    let vol = probe_volume();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gocker-script"));
    cmd.arg("--root").arg(root.path()).args([
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &vol,
        image(),
        "/opt/probe/probe",
        "tiocsti",
    ]);
    let (mut child, mut t) = on_pty(cmd, root.path(), None);
    t.expect("isatty=1");
    let line = t.expect("tiocsti=");
    let rest = t.expect("\n");
    assert!(
        rest.trim_start().starts_with("EPERM"),
        "TIOCSTI refused: {line}{rest}"
    );
    assert!(child.wait().success());
}

#[test]
fn capabilities_can_all_be_dropped_and_users_still_switch() {
    let root = root();
    let o = gocker(
        root.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--cap-drop",
            "ALL",
            "--user",
            "65534:65534",
            image(),
            "sh",
            "-c",
            "id -u; grep CapEff /proc/self/status",
        ],
    );
    assert_eq!(out(&o), "65534\nCapEff:\t0000000000000000\n", "{}", err(&o));
    let o = gocker(
        root.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--cap-drop",
            "ALL",
            image(),
            "true",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
}

/// The runtime's own signal dispositions (Rust ignores SIGPIPE) do not pass into the
/// container: a pipeline ends when its reader does.
#[test]
fn the_container_starts_with_default_signals() {
    let root = root();
    let o = gocker(
        root.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            image(),
            "sh",
            "-c",
            "grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -1",
        ],
    );
    assert_eq!(
        out(&o),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\ny\n",
        "{}",
        err(&o)
    );
    assert!(!err(&o).contains("Broken pipe"), "{}", err(&o));
}

#[test]
fn a_read_only_root_refuses_writes() {
    let root = root();
    let o = gocker(
        root.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            image(),
            "sh",
            "-c",
            "touch /etc/x || echo refused; touch /tmp/y || echo tmp refused",
        ],
    );
    assert_eq!(out(&o), "refused\ntmp refused\n", "{}", err(&o));
}

#[test]
fn bad_security_options_are_clear_errors() {
    let root = root();
    let r = root.path();
    let o = gocker(r, &["run", "--rm", "--cap-add", "FLY", image(), "true"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("unknown capability \"FLY\""),
        "{}",
        err(&o)
    );
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--security-opt",
            "apparmor=x",
            image(),
            "true",
        ],
    );
    assert!(
        err(&o).contains("unknown security option apparmor=x"),
        "{}",
        err(&o)
    );
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), r#"{"defaultAction": "SCMP_ACT_EXPLODE"}"#).unwrap();
    let opt = format!("seccomp={}", bad.path().display());
    let o = gocker(r, &["run", "--rm", "--security-opt", &opt, image(), "true"]);
    assert!(
        err(&o).contains(&bad.path().display().to_string()),
        "the error names the profile: {}",
        err(&o)
    );
    let o = gocker(r, &["run", "--rm", "--device", "/dev/shm", image(), "true"]);
    assert!(err(&o).contains("not a device node"), "{}", err(&o));
    assert!(
        gocker(r, &["ps", "-a", "--json"]).stdout.starts_with(b"[]"),
        "nothing was created"
    );
}
