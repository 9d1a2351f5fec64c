//! The container verbs through the real binary: foreground and detached runs, exit codes,
//! signals, exec, logs, stop, rm, supervisor loss, and cleanup.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::*;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "run/busybox:1");
        format!("{}/run/busybox:1", reg.addr)
    })
}

fn no_leftovers(root: &Path) {
    assert!(
        mounts_under(root).is_empty(),
        "mounts left: {:?}",
        mounts_under(root)
    );
}

#[test]
fn foreground_runs_pass_output_and_exit_codes() {
    let root = root();
    let r = root.path();
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            image(),
            "sh",
            "-c",
            "echo hello; echo oops >&2; exit 3",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert_eq!(out(&o), "hello\n");
    assert_eq!(err(&o), "oops\n");
    // A signal gives 128 + its number. (PID 1 of a namespace is immune to its own
    // namespace's signals, as under Docker, so the signal comes from the host.)
    let o = gocker(
        r,
        &["run", "-d", "--name", "victim", image(), "sleep", "60"],
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(r, &["kill", "-s", "KILL", "victim"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(r, &["-e", "wait(\"victim\")"]);
    assert_eq!(out(&o).trim(), "137");
    gocker(r, &["rm", "victim"]);
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "--hostname",
            "hal",
            "-u",
            "1000:1000",
            image(),
            "sh",
            "-c",
            "echo $A $(pwd) $(hostname) $(id -u):$(id -g)",
        ],
    );
    assert_eq!(out(&o), "1 /tmp hal 1000:1000\n", "{}", err(&o));
    let o = gocker(r, &["run", "--rm", "-u", "nobody", image(), "id", "-un"]);
    assert_eq!(out(&o), "nobody\n", "{}", err(&o));
    // The image's default command is sh; with no command it runs and reads stdin (none here).
    let o = gocker(r, &["run", "--rm", image()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = gocker(r, &["ps", "-a", "--json"]);
    assert_eq!(out(&o).trim(), "[]", "--rm removed them");
    let o = gocker(r, &["run", "--rm", image(), "no-such-command"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(err(&o).contains("no-such-command"), "{}", err(&o));
    assert_eq!(
        out(&gocker(r, &["ps", "-a", "--json"])).trim(),
        "[]",
        "a failed start leaves no container"
    );
    no_leftovers(r);
}

/// A --rm container's writable layer is thrown away with it: its overlay is mounted
/// `volatile`, so that unmounting it at the exit does not sync the host's filesystem (podman
/// does the same). A kept container's layer is synced as ever: its files must survive.
#[test]
fn a_removed_containers_layer_is_never_synced_a_kept_ones_is() {
    let root = root();
    let r = root.path();
    // The root's mount (the overlay's own line) of each container's mountinfo.
    let root_line = "grep ' / / ' /proc/self/mountinfo";
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
            root_line,
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("overlay") && out(&o).contains("volatile"),
        "{}",
        out(&o)
    );
    let o = gocker(
        r,
        &[
            "run",
            "--name",
            "kept",
            "--network",
            "none",
            image(),
            "sh",
            "-c",
            root_line,
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("overlay") && !out(&o).contains("volatile"),
        "{}",
        out(&o)
    );
    // Started again, the kept one mounts its layer again (no volatile marker in the way).
    let o = gocker(r, &["start", "kept"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(r, &["wait", "kept"]);
    assert_eq!(out(&o).trim(), "0", "{}", err(&o));
    gocker(r, &["rm", "kept"]);
    no_leftovers(r);
}

/// Supervisors of this root's still waiting to be given a container (`__shim-early`).
fn waiting_supervisors(root: &Path) -> Vec<(i32, String)> {
    let root = root.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse().ok()?;
            let c = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&c).replace('\0', " ")))
        })
        .filter(|(_, c)| c.contains("__shim-early") && c.contains(&root))
        .collect()
}

/// `run --rm --network none IMAGE cmd...` with --trace, whose supervisor was started ahead
/// (its trace says so).
fn run_traced_with_a_supervisor_started_ahead(root: &Path, cmd: &[&str]) -> std::process::Output {
    let mut args = vec!["--trace", "run", "--rm", "--network", "none", image()];
    args.extend_from_slice(cmd);
    let o = gocker(root, &args);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("to the supervisor started ahead"),
        "{}",
        err(&o)
    );
    o
}

/// The run verb, whose supervisor was started ahead.
fn run_with_a_supervisor_started_ahead(root: &Path) {
    let o = run_traced_with_a_supervisor_started_ahead(root, &["echo", "hi"]);
    assert_eq!(out(&o), "hi\n");
}

/// The run verb's supervisor is started ahead of its container, while the verb compiles and
/// records it; a script's runs each start the next one's (issue 16). One never given a
/// container ends by itself: after a run that failed first, and after a script's last run.
#[test]
fn supervisors_started_ahead_take_their_container_or_end() {
    let root = root();
    let r = root.path();
    run_with_a_supervisor_started_ahead(r);
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--pull",
            "never",
            "--network",
            "none",
            "nosuch:1",
            "true",
        ],
    );
    assert_eq!(o.status.code(), Some(125), "{}", err(&o));
    let script = r.join("three.rhai");
    std::fs::write(
        &script,
        format!(
            "for i in 0..3 {{ run({:?}, [\"true\"], #{{ rm: true, network: \"none\" }}); }}",
            image()
        ),
    )
    .unwrap();
    let o = gocker(r, &["--trace", script.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    // The first run starts its own; the second and third find theirs waiting.
    assert_eq!(
        err(&o).matches("to the supervisor started ahead").count(),
        2,
        "{}",
        err(&o)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !waiting_supervisors(r).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left waiting: {:?}",
            waiting_supervisors(r)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(out(&gocker(r, &["ps", "-a", "-q"])), "");
    no_leftovers(r);
}

/// A script of two runs: a `sleep 1`, while which the second's supervisor waits (started
/// ahead), then an `echo second`.
fn two_runs_script(r: &Path) -> std::path::PathBuf {
    let script = r.join("two.rhai");
    std::fs::write(
        &script,
        format!(
            "run({0:?}, [\"sleep\", \"1\"], #{{ rm: true, network: \"none\" }});\n\
             run({0:?}, [\"echo\", \"second\"], #{{ rm: true, network: \"none\" }});",
            image()
        ),
    )
    .unwrap();
    script
}

/// A Ctrl-C reaches the whole foreground process group, the next run's supervisor (started
/// ahead, waiting) too: it is the caller's to handle, and the next run still starts. On a
/// root that does not exist yet, the supervisor started ahead opens it once it is made.
#[test]
fn a_supervisor_started_ahead_survives_a_ctrl_c_and_a_new_root() {
    use std::os::unix::process::CommandExt;
    let root = root();
    let r = root.path();
    let script = two_runs_script(r);
    let child = Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(r)
        .arg(&script)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While the first container sleeps (PID 1 ignores the forwarded SIGINT), a Ctrl-C.
    std::thread::sleep(std::time::Duration::from_millis(600));
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "second\n");
    let fresh = r.join("fresh");
    run_with_a_supervisor_started_ahead(&fresh);
}

/// A supervisor started ahead is started on the CPUs its caller is not on, so that it does
/// not wait behind the caller (issue 16); its container may run on every CPU the caller may.
#[test]
fn a_container_whose_supervisor_was_started_ahead_may_use_every_cpu() {
    let root = root();
    let r = root.path();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap()
        .to_string();
    for _ in 0..3 {
        let o = run_traced_with_a_supervisor_started_ahead(
            r,
            &["grep", "Cpus_allowed_list", "/proc/self/status"],
        );
        assert_eq!(out(&o).trim().replace('\t', " "), ours.replace('\t', " "));
    }
}

/// A supervisor started ahead makes its container's network namespace while it waits (issue
/// 16): each container still gets one of its own, with only its loopback, up; never the
/// host's nor another container's.
#[test]
fn a_network_namespace_made_ahead_is_the_containers_alone() {
    let root = root();
    let r = root.path();
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host = host.to_str().unwrap();
    // One that runs on (a namespace's number is reused only once it is gone).
    let o = gocker(
        r,
        &[
            "--trace",
            "run",
            "-d",
            "--name",
            "held",
            "--network",
            "none",
            image(),
            "sleep",
            "60",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let held = out(&gocker(
        r,
        &["exec", "held", "readlink", "/proc/self/ns/net"],
    ));
    assert!(held.starts_with("net:["), "{held}");
    assert_ne!(held.trim(), host);
    for _ in 0..2 {
        let o = run_traced_with_a_supervisor_started_ahead(
            r,
            &[
                "sh",
                "-c",
                "readlink /proc/self/ns/net; ls /sys/class/net; cat /sys/class/net/lo/operstate",
            ],
        );
        assert!(
            err(&o).contains("the network namespace made ahead"),
            "{}",
            err(&o)
        );
        let text = out(&o);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_ne!(lines[0], host, "not the host's");
        assert_ne!(lines[0], held.trim(), "not another container's");
        assert_eq!(&lines[1..], ["lo", "unknown"], "only lo, up");
    }
    let o = gocker(r, &["rm", "-f", "held"]);
    assert!(o.status.success(), "{}", err(&o));
}

/// A supervisor started ahead makes its container's cgroup while it waits (cgroup v1; it
/// renames it the container's when it is given one). Killed while it waits, it leaves that
/// cgroup behind: the run it was for starts its own supervisor, and a look sweeps it.
#[test]
fn a_cgroup_made_ahead_by_a_supervisor_killed_while_it_waits_is_swept() {
    let root = root();
    let r = root.path();
    let script = two_runs_script(r);
    let child = Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(r)
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The second run's supervisor waits while the first container sleeps.
    let v1 = Path::new("/sys/fs/cgroup/memory").is_dir();
    let made =
        |pid: i32| Path::new(&format!("/sys/fs/cgroup/memory/gocker-script/ahead-{pid}")).is_dir();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let pid = loop {
        if let Some((pid, _)) = waiting_supervisors(r).first() {
            if !v1 || made(*pid) {
                break *pid;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no supervisor waits");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "second\n");
    // Killed, it could not remove its cgroup: the second run's look at the store, or this
    // one, sweeps it.
    assert_eq!(out(&gocker(r, &["ps", "-a", "-q"])), "");
    assert!(!made(pid), "swept");
    no_leftovers(r);
}

#[test]
fn detached_containers_outlive_the_script_and_are_managed_by_name() {
    let root = root();
    let r = root.path();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("start.rhai");
    std::fs::write(&script, format!("let c = run({:?}, [\"sh\", \"-c\", \"echo started; sleep 60\"], #{{ detach: true, name: \"sleeper\", mem: \"64m\" }});\nprint(c.name);\n", image())).unwrap();
    let o = gocker(r, &[script.to_str().unwrap()]);
    assert_eq!(out(&o).trim(), "sleeper", "{}", err(&o));
    // The script has exited; the container runs on.
    let o = gocker(r, &["ps"]);
    assert!(
        out(&o).contains("sleeper") && out(&o).contains("Up"),
        "{}",
        out(&o)
    );
    let o = gocker(r, &["exec", "sleeper", "cat", "/proc/1/cmdline"]);
    assert!(out(&o).contains("sleep"), "{}{}", out(&o), err(&o));
    let o = gocker(r, &["exec", "sleeper", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    // The supervisor copies output to the log as it comes: wait for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut o = gocker(r, &["logs", "sleeper"]);
    while out(&o).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        o = gocker(r, &["logs", "sleeper"]);
    }
    assert_eq!(out(&o), "started\n", "{}", err(&o));
    let o = gocker(r, &["-e", "stats(\"sleeper\").memory > 0"]);
    assert_eq!(out(&o).trim(), "true", "{}", err(&o));
    // A second container may not take the name.
    let o = gocker(r, &["run", "-d", "--name", "sleeper", image(), "true"]);
    assert!(
        err(&o).contains("conflict") && err(&o).contains("already used"),
        "{}",
        err(&o)
    );
    // Running containers are not removed without force; the image is not removed while used.
    let o = gocker(r, &["rm", "sleeper"]);
    assert!(err(&o).contains("running"), "{}", err(&o));
    let o = gocker(r, &["rmi", image()]);
    assert!(
        err(&o).contains("sleeper"),
        "rmi names the user of the image: {}",
        err(&o)
    );
    let o = gocker(r, &["stop", "-t", "1", "sleeper"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(
        r,
        &[
            "-e",
            "let c = find_container(\"sleeper\"); [c.status, c.exit_code]",
        ],
    );
    assert!(
        out(&o).contains("exited") && out(&o).contains("137"),
        "PID 1 ignores SIGTERM, so SIGKILL after the timeout: {}",
        out(&o)
    );
    // start again, then remove by force.
    let o = gocker(r, &["start", "sleeper"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&gocker(r, &["ps"])).contains("sleeper"));
    let o = gocker(r, &["rm", "-f", "sleeper"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&gocker(r, &["ps", "-a", "--json"])).trim(), "[]");
    no_leftovers(r);
}

#[test]
fn logs_follow_until_the_container_exits() {
    let root = root();
    let r = root.path();
    let o = gocker(
        r,
        &[
            "run",
            "-d",
            "--name",
            "ticker",
            image(),
            "sh",
            "-c",
            "for i in 1 2 3; do echo tick $i; sleep 0.2; done",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(r, &["logs", "-f", "ticker"]);
    assert_eq!(out(&o), "tick 1\ntick 2\ntick 3\n", "{}", err(&o));
    let o = gocker(r, &["logs", "--tail", "1", "ticker"]);
    assert_eq!(out(&o), "tick 3\n");
    gocker(r, &["rm", "ticker"]);
}

#[test]
fn logs_keep_a_foreground_runs_output_with_streams_apart_and_times() {
    let root = root();
    let r = root.path();
    let script = "echo out1; echo err1 >&2; sleep 0.3; echo out2; printf unfinished";
    let o = gocker(
        r,
        &[
            "run",
            "--name",
            "fg",
            "--network",
            "none",
            image(),
            "sh",
            "-c",
            script,
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    // Passed on as it came, each stream to its own...
    assert_eq!(out(&o), "out1\nout2\nunfinished");
    assert_eq!(err(&o), "err1\n");
    // ...and kept: logs prints each line to the stream it came from.
    let o = gocker(r, &["logs", "fg"]);
    assert_eq!(out(&o), "out1\nout2\nunfinished", "{}", err(&o));
    assert_eq!(err(&o), "err1\n");
    let only_err = gocker_ok(r, &["-e", "print(logs(\"fg\", #{ stdout: false }))"]);
    assert_eq!(only_err, "err1\n\n");
    // -t: each line's time in front, RFC 3339 with nanoseconds (fixed width, so the texts
    // order as the times do).
    let o = gocker(r, &["logs", "-t", "fg"]);
    let stamped: Vec<(String, String)> = out(&o)
        .split_inclusive('\n')
        .map(|l| {
            let (t, text) = l.split_once(' ').expect("a time in front");
            assert!(t.len() == 30 && t.ends_with('Z'), "{t}");
            (t.to_string(), text.to_string())
        })
        .collect();
    assert_eq!(stamped.len(), 3, "{stamped:?}");
    assert!(err(&o).ends_with(" err1\n"), "{}", err(&o));
    // --since and --until split the log at out2's time, as the -t output says it.
    let t2 = stamped[1].0.clone();
    let before: String = stamped
        .iter()
        .filter(|(t, _)| *t < t2)
        .map(|(_, l)| l.as_str())
        .collect();
    let after: String = stamped
        .iter()
        .filter(|(t, _)| *t >= t2)
        .map(|(_, l)| l.as_str())
        .collect();
    assert!(after.starts_with("out2\n"), "{after}");
    assert_eq!(gocker_ok(r, &["logs", "--until", &t2, "fg"]), before);
    assert_eq!(gocker_ok(r, &["logs", "--since", &t2, "fg"]), after);
    // A duration is before now: everything was written in the last hour, nothing after now.
    assert_eq!(
        gocker_ok(r, &["logs", "--since", "1h", "fg"]),
        "out1\nout2\nunfinished"
    );
    assert_eq!(gocker_ok(r, &["logs", "--since", "0s", "fg"]), "");
    let o = gocker(r, &["logs", "--since", "yesterday", "fg"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("since must be a time"), "{}", err(&o));
    let o = gocker(r, &["-e", "logs(\"fg\", #{ stream: \"stdout\" })"]);
    assert!(err(&o).contains("unknown option \"stream\""), "{}", err(&o));
    gocker_ok(r, &["rm", "fg"]);
    no_leftovers(r);
}

#[test]
fn out_of_memory_is_reported() {
    let root = root();
    let r = root.path();
    let o = gocker(
        r,
        &[
            "run",
            "--name",
            "hog",
            "-m",
            "16m",
            image(),
            "sh",
            "-c",
            "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}",
        ],
    );
    assert_eq!(o.status.code(), Some(137), "{}", err(&o));
    let o = gocker(r, &["inspect", "hog"]);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).expect("inspect is JSON");
    assert_eq!(v[0]["State"]["OOMKilled"], true, "{v}");
    assert_eq!(v[0]["State"]["ExitCode"], 137, "{v}");
    assert_eq!(v[0]["HostConfig"]["Memory"], 16 << 20, "{v}");
    gocker(r, &["rm", "hog"]);
    no_leftovers(r);
}

#[test]
fn killing_the_supervisor_takes_the_container_down_and_leaves_nothing() {
    let root = root();
    let r = root.path();
    let o = gocker(
        r,
        &["run", "-d", "--name", "orphan", image(), "sleep", "60"],
    );
    assert!(o.status.success(), "{}", err(&o));
    let id = out(&o).trim().to_string();
    // The init dies with its supervisor (PDEATHSIG).
    kill_supervisor(r, &id);
    let o = gocker(r, &["ps", "-a"]);
    assert!(out(&o).contains("Exited"), "{}", out(&o));
    for c in ["memory", "cpu", "pids"] {
        assert!(
            !Path::new(&format!("/sys/fs/cgroup/{c}/gocker-script/{id}")).exists(),
            "cgroup left in {c}"
        );
    }
    gocker(r, &["rm", "orphan"]);
    assert!(!r.join("containers").join(&id).exists());
    no_leftovers(r);
}

#[test]
fn trace_mode_explains_the_steps() {
    let root = root();
    let o = gocker(root.path(), &["--trace", "run", "--rm", image(), "true"]);
    let e = err(&o);
    for step in [
        "clone(CLONE_NEWPID",
        "mount overlay",
        "pivot_root",
        "execve(/bin/true",
    ] {
        assert!(e.contains(step), "trace shows {step}: {e}");
    }
    // How the init enters its cgroup: born there (v2), or its own thread joins (v1).
    assert!(
        e.contains("CLONE_INTO_CGROUP") || e.contains("/tasks = 0 (this thread joins)"),
        "trace shows the cgroup join: {e}"
    );
}

#[test]
fn an_interactive_shell_on_a_pseudo_terminal() {
    let root = root();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gocker-script"));
    cmd.arg("--root")
        .arg(root.path())
        .args(["run", "-it", "--rm", image(), "sh"]);
    let (mut child, mut t) = on_pty(cmd, root.path(), Some((30, 100)));
    t.expect("# ");
    t.send("tty; stty size; echo $((6 * 7))\r");
    t.expect("/dev/pts/0");
    t.expect("30 100");
    t.expect("42");
    t.send("exit 4\r");
    let status = child.wait();
    assert_eq!(status.code(), Some(4));
    no_leftovers(root.path());
}

/// The stdlib shows how a container is made, and each step counts: a script's bare spec has
/// no root and no namespaces until it says so, and spawn names what is missing.
#[test]
fn a_bare_spec_says_what_it_still_needs() {
    let root = root();
    let r = root.path();
    let script = |body: &str| {
        gocker(
            r,
            &[
                "-e",
                &format!(
                    "let c = container(pull_if_missing(\"{}\")); {body}",
                    image()
                ),
            ],
        )
    };
    let o = script("c.spawn([\"true\"])");
    assert!(err(&o).contains("call mount_rootfs()"), "{}", err(&o));
    let o = script("c.mount_rootfs(); c.spawn([\"true\"])");
    assert!(err(&o).contains("keep \"mount\" in unshare"), "{}", err(&o));
    let o = script("c.mount_rootfs(); c.unshare([\"mount\", \"pid\"]); print(c.spawn([\"sh\", \"-c\", \"echo $$\"]).wait())");
    assert_eq!(out(&o), "1\n0\n", "{}", err(&o));
    no_leftovers(r);
}

/// The children of process `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // The fields after the command's closing parenthesis: state, then the parent.
        let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(pid) {
            out.extend(e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()));
        }
    }
    out
}

/// Where the descriptors of process `pid` lead.
fn fd_targets(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A foreground container's supervisor (gocker-shim) and an exec helper (a fork of the
/// caller) keep none of the caller's descriptors, its database connection above all (SQLite's
/// locks are per process), only what they open themselves; another process looking at the
/// container meanwhile finds its supervisor alive.
#[test]
fn supervisors_and_exec_helpers_keep_none_of_the_callers_descriptors() {
    let root = root();
    let r = root.path();
    gocker_ok(r, &["pull", "-q", image()]);
    let db = r.join("db.sqlite").display().to_string();

    let caller = |args: &[&str]| Guard {
        child: Some(
            Command::new(env!("CARGO_BIN_EXE_gocker-script"))
                .arg("--root")
                .arg(r)
                .args(args)
                .spawn()
                .unwrap(),
        ),
        root: r.to_path_buf(),
    };
    let mut fg = caller(&[
        "run",
        "--name",
        "fg",
        "--network",
        "none",
        image(),
        "sleep",
        "3",
    ]);
    for _ in 0..100 {
        let up = gocker(r, &["inspect", "-f", "{{.State.Running}}", "fg"]);
        if out(&up).trim() == "true" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let fg_pid = fg.child.as_ref().unwrap().id();
    let shims = children_of(fg_pid);
    assert_eq!(shims.len(), 1, "one supervisor: {shims:?}");
    let fds = fd_targets(shims[0]);
    assert_eq!(
        fds.iter().filter(|t| **t == db).count(),
        1,
        "its own database connection only: {fds:?}"
    );

    let mut helper = caller(&["exec", "fg", "sleep", "1"]);
    let exec_pid = helper.child.as_ref().unwrap().id();
    let mut helpers = Vec::new();
    for _ in 0..100 {
        helpers = children_of(exec_pid);
        if !helpers.is_empty() && children_of(helpers[0]).len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(helpers.len(), 1, "one exec helper: {helpers:?}");
    let fds = fd_targets(helpers[0]);
    assert!(
        !fds.iter().any(|t| t.starts_with(&db)),
        "no database file: {fds:?}"
    );
    assert!(helper.wait().success());
    let o = gocker(r, &["--trace", "exec", "fg", "true"]);
    assert!(err(&o).contains("fork: the exec helper"), "{}", err(&o));
    assert!(fg.wait().success());

    // A detached container's supervisor is the small gocker-shim, beside gocker-script.
    let id = gocker_ok(
        r,
        &["run", "-d", "--network", "none", image(), "sleep", "30"],
    );
    let id = id.trim();
    // The supervisor: the init's parent (started ahead of the container, its command line
    // does not name it).
    let init = gocker_ok(r, &["inspect", "-f", "{{.State.Pid}}", id]);
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", init.trim())).unwrap();
    let supervisor = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(1))
        .expect("the init's parent");
    let exe = std::fs::read_link(format!("/proc/{supervisor}/exe")).unwrap();
    assert!(exe.ends_with("gocker-shim"), "{}", exe.display());
    gocker_ok(r, &["rm", "-f", id]);
}

/// `--trace ... 2>&1 | head -c 1`: the reader of the trace goes away early; the caller and the
/// supervisor lose their lines, never the container: it runs, ends and is removed (--rm), and
/// nothing is left half-started.
#[test]
fn a_closed_trace_reader_leaves_no_container_half_started() {
    let root = root();
    let r = root.path();
    gocker_ok(r, &["pull", "-q", image()]);
    let line = format!(
        "{bin} --root {root} --trace run --rm --network none {image} true 2>&1 | head -c 1",
        bin = env!("CARGO_BIN_EXE_gocker-script"),
        root = r.display(),
        image = image(),
    );
    let o = Command::new("sh").arg("-c").arg(&line).output().unwrap();
    assert_eq!(out(&o), "[");
    let mut left = String::new();
    for _ in 0..50 {
        left = gocker_ok(r, &["ps", "-a", "-q"]);
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(left, "", "a container was left half-started");
    no_leftovers(r);
}
