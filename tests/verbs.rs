//! Docker's everyday verbs and flags from the shell, against real containers: --format and
//! -q, inspect's Docker shape, and the verbs that read a running container.

mod common;

use common::*;

fn busybox() -> &'static str {
    static IMG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "verbs/box:1");
        format!("{}/verbs/box:1", reg.addr)
    })
}

/// A detached busybox running `cmd`, named `name`, with `flags` before the image.
fn detached(r: &std::path::Path, name: &str, flags: &[&str], cmd: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.push(busybox());
    args.extend_from_slice(cmd);
    gocker_ok(r, &args).trim().to_string()
}

#[test]
fn ps_and_images_take_quiet_and_go_templates() {
    let root = root();
    let r = root.path();
    let id = detached(
        r,
        "fmt-web",
        &["--network", "none", "-l", "tier=web"],
        &["sleep", "300"],
    );
    gocker_ok(
        r,
        &[
            "run",
            "--name",
            "fmt-done",
            "--network",
            "none",
            busybox(),
            "true",
        ],
    );

    // -q: the short ids, running ones only unless -a.
    assert_eq!(gocker_ok(r, &["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(gocker_ok(r, &["ps", "-aq"]).lines().count(), 2);

    // Fields, text between them, \t as a tab.
    let line = gocker_ok(
        r,
        &[
            "ps",
            "--format",
            "{{.Names}}\\t{{.ID}} {{.Image}} {{.State}}",
        ],
    );
    assert_eq!(
        line.trim_end(),
        format!("fmt-web\t{} {} running", &id[..12], busybox())
    );
    let status = gocker_ok(r, &["ps", "-a", "--format", "{{.Names}}={{.Status}}"]);
    assert!(status.contains("fmt-web=Up "), "{status}");
    assert!(status.contains("fmt-done=Exited (0) "), "{status}");
    let created = gocker_ok(
        r,
        &[
            "ps",
            "--format",
            "{{.CreatedAt}}|{{.RunningFor}}|{{.Command}}",
        ],
    );
    assert!(created.contains(" +0000 UTC|"), "{created}");
    assert!(created.contains(" ago|\"sleep 300\""), "{created}");

    // table: a header named as Docker's, then aligned columns.
    let t = gocker_ok(
        r,
        &[
            "ps",
            "--format",
            "table {{.ID}}\\t{{.Names}}\\t{{.RunningFor}}",
        ],
    );
    let mut lines = t.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("CONTAINER ID   NAMES     CREATED"),
        "{t}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("{}   fmt-web", &id[..12])),
        "{t}"
    );

    // {{json .}}: one object a line, Docker's keys.
    let j = gocker_ok(r, &["ps", "--format", "{{json .}}"]);
    let v: serde_json::Value = serde_json::from_str(j.trim()).expect("a JSON line");
    assert_eq!(v["Names"], "fmt-web");
    assert_eq!(v["Labels"], "tier=web");
    assert_eq!(v["ID"], &id[..12]);

    // An unknown field is an error naming the fields there are.
    let o = gocker(r, &["ps", "--format", "{{.Name}}"]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(e.contains("no field .Name (did you mean .Names?)"), "{e}");
    assert!(e.contains(".ID") && e.contains(".RunningFor"), "{e}");

    // images: -q once per image, --format with Docker's names.
    gocker_ok(r, &["tag", busybox(), "other:2"]);
    let ids = gocker_ok(r, &["images", "-q"]);
    assert_eq!(ids.lines().count(), 1, "{ids}");
    let short = ids.trim().to_string();
    let listed = gocker_ok(
        r,
        &[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}",
        ],
    );
    assert!(listed.contains(&format!("other:2 {short} ")), "{listed}");
    assert!(
        listed.lines().all(|l| l.ends_with("B")),
        "sizes as Docker's: {listed}"
    );
    let t = gocker_ok(
        r,
        &["images", "--format", "table {{.ID}}\\t{{.CreatedSince}}"],
    );
    assert!(t.starts_with("IMAGE ID       CREATED"), "{t}");
    // With nothing to show, a table is still its header.
    gocker_ok(r, &["rm", "-f", "fmt-web", "fmt-done"]);
    assert_eq!(
        gocker_ok(r, &["ps", "-a", "--format", "table {{.Names}}"]).trim(),
        "NAMES"
    );
    assert_eq!(gocker_ok(r, &["ps", "-aq"]), "");
}

#[test]
fn inspect_speaks_dockers_field_names_and_takes_a_template() {
    let root = root();
    let r = root.path();
    let id = detached(
        r,
        "insp",
        &[
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "-e",
            "K=V",
            "-p",
            "0:80",
            "--restart",
            "on-failure:3",
        ],
        &["sleep", "300"],
    );
    let f = |t: &str| {
        gocker_ok(r, &["inspect", "-f", t, "insp"])
            .trim()
            .to_string()
    };
    assert_eq!(
        f("{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}"),
        "running true 0"
    );
    let pid: i32 = f("{{.State.Pid}}").parse().expect("a pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(f("{{.Name}} {{.Id}}"), format!("/insp {id}"));
    assert_eq!(
        f("{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"),
        "67108864 500000000"
    );
    assert_eq!(f("{{.HostConfig.RestartPolicy.Name}}"), "on-failure");
    assert_eq!(f("{{.Config.Image}}"), busybox());
    assert!(f("{{.Config.Env}}").contains("K=V"));
    let ip = f("{{.NetworkSettings.IPAddress}}");
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    assert!(f("{{json .NetworkSettings.Networks}}").contains(&ip));
    // The templates people copy from Docker's docs: range over a map, if, variables.
    assert_eq!(
        f("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"),
        ip
    );
    assert_eq!(
        f("{{range $p, $b := .NetworkSettings.Ports}}{{$p}}{{end}} {{if .State.Running}}up{{else}}down{{end}}"),
        "80/tcp up"
    );
    let port = f("{{json .NetworkSettings.Ports}}");
    assert!(
        port.contains("\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\""),
        "{port}"
    );
    let config: serde_json::Value = serde_json::from_str(&f("{{json .Config}}")).unwrap();
    assert_eq!(config["Cmd"], serde_json::json!(["sleep", "300"]));

    // Without a template: a JSON array, one entry a name, images too (--type).
    let all: serde_json::Value =
        serde_json::from_str(&gocker_ok(r, &["inspect", "insp", busybox()])).unwrap();
    assert_eq!(all[0]["State"]["Status"], "running");
    assert!(
        all[1]["RepoTags"][0]
            .as_str()
            .unwrap()
            .ends_with("verbs/box:1"),
        "{all}"
    );
    assert_eq!(all[1]["Os"], "linux");
    assert!(all[1]["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let img = gocker_ok(
        r,
        &[
            "inspect",
            "--type",
            "image",
            "-f",
            "{{.Architecture}}",
            busybox(),
        ],
    );
    assert_eq!(
        img.trim(),
        std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64")
    );

    // One missing name is reported, the others still shown, and the verb fails.
    let o = gocker(r, &["inspect", "-f", "{{.Name}}", "nosuch", "insp"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out(&o).trim(), "/insp");
    assert!(err(&o).contains("nosuch"), "{}", err(&o));

    // After it ends: its exit code and times.
    gocker_ok(r, &["stop", "-t", "1", "insp"]);
    assert_eq!(
        f("{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}"),
        "exited 137 0"
    );
    assert!(f("{{.State.FinishedAt}}").ends_with('Z'));
}

#[test]
fn wait_port_top_diff_rename_and_update_on_a_running_container() {
    let root = root();
    let r = root.path();
    detached(
        r,
        "obs",
        &[
            "-p",
            "127.0.0.1:0:80",
            "-p",
            "0:53/udp",
            "--pids-limit",
            "50",
        ],
        &[
            "sh",
            "-c",
            "rm /etc/group; mkdir /made; echo x > /made/f; echo y >> /etc/passwd; sleep 300",
        ],
    );
    // port: every published port, or one.
    let ports = gocker_ok(r, &["port", "obs"]);
    assert!(ports.contains("80/tcp -> 127.0.0.1:"), "{ports}");
    assert!(ports.contains("53/udp -> 0.0.0.0:"), "{ports}");
    let one = gocker_ok(r, &["port", "obs", "80"]);
    assert!(one.trim().starts_with("127.0.0.1:"), "{one}");
    let o = gocker(r, &["port", "obs", "81"]);
    assert!(
        !o.status.success() && err(&o).contains("no public port 81/tcp"),
        "{}",
        err(&o)
    );

    // top: the container's processes, from /proc, as ps -ef.
    let t = gocker_ok(r, &["top", "obs"]);
    assert!(t.starts_with("UID"), "{t}");
    assert!(t.lines().any(|l| l.ends_with("sleep 300")), "{t}");

    // diff: A, C and D from the writable layer.
    let mut d = String::new();
    for _ in 0..50 {
        d = gocker_ok(r, &["diff", "obs"]);
        if d.contains("/made/f") && d.contains("/etc/passwd") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let lines: Vec<&str> = d.lines().collect();
    for want in [
        "A /made",
        "A /made/f",
        "C /etc",
        "C /etc/passwd",
        "D /etc/group",
    ] {
        assert!(lines.contains(&want), "{want} in {d}");
    }

    // update: live limits, in the cgroup and in inspect.
    gocker_ok(
        r,
        &[
            "update",
            "--memory",
            "96m",
            "--pids-limit",
            "77",
            "--restart",
            "always",
            "obs",
        ],
    );
    let f = |t: &str| {
        gocker_ok(r, &["inspect", "-f", t, "obs"])
            .trim()
            .to_string()
    };
    assert_eq!(
        f("{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"),
        "100663296 77"
    );
    assert_eq!(f("{{.HostConfig.RestartPolicy.Name}}"), "always");
    let s = gocker_ok(r, &["stats", "--no-stream", "obs"]);
    assert!(s.starts_with("CONTAINER ID"), "{s}");
    assert!(s.contains("/ 96MiB"), "the new limit: {s}");
    let o = gocker(r, &["update", "--cpus", "-3", "obs"]);
    assert!(!o.status.success(), "a negative cpus is refused");
    let o = gocker(r, &["-e", "update(\"obs\", #{ memroy: \"1g\" })"]);
    assert!(err(&o).contains("did you mean \"memory\""), "{}", err(&o));

    // rename: the new name finds it, the old does not; a taken name is a conflict.
    detached(r, "other", &["--network", "none"], &["sleep", "300"]);
    let o = gocker(r, &["rename", "obs", "other"]);
    assert!(err(&o).contains("already used"), "{}", err(&o));
    let o = gocker(r, &["rename", "obs", "bad name"]);
    assert!(err(&o).contains("invalid container name"), "{}", err(&o));
    gocker_ok(r, &["rename", "obs", "watched"]);
    assert_eq!(
        gocker_ok(r, &["ps", "--format", "{{.Names}}", "-a"])
            .lines()
            .filter(|l| *l == "watched")
            .count(),
        1
    );
    assert!(!gocker(r, &["inspect", "obs"]).status.success());

    // wait: each one's exit code once it stops.
    gocker_ok(r, &["update", "--restart", "no", "watched"]);
    gocker_ok(r, &["kill", "watched", "other"]);
    assert_eq!(gocker_ok(r, &["wait", "watched", "other"]), "137\n137\n");
}

#[test]
fn an_update_of_the_restart_policy_reaches_a_running_container() {
    let root = root();
    let r = root.path();
    detached(
        r,
        "later",
        &["--network", "none"],
        &["sh", "-c", "sleep 1; exit 3"],
    );
    gocker_ok(r, &["update", "--restart", "on-failure:1", "later"]);
    // It exits 3 after a second and its (new) policy starts it once more.
    let mut count = String::new();
    for _ in 0..100 {
        count = gocker_ok(r, &["inspect", "-f", "{{.RestartCount}}", "later"]);
        if count.trim() == "1" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(count.trim(), "1");
}

#[test]
fn events_are_recorded_at_each_transition_and_followed() {
    let root = root();
    let r = root.path();
    let since = gocker::sys::time::rfc3339(gocker::sys::now() - 1);
    let o = gocker(
        r,
        &[
            "run",
            "--name",
            "ev",
            "--network",
            "none",
            busybox(),
            "sh",
            "-c",
            "exit 4",
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    gocker_ok(r, &["rm", "ev"]);
    let until = gocker::sys::time::rfc3339(gocker::sys::now() + 1);
    let o = gocker_ok(
        r,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ],
    );
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "create ev <no value>", "{o}");
    assert_eq!(lines[1], "start ev <no value>", "{o}");
    assert_eq!(lines[2], "die ev 4", "{o}");
    assert_eq!(lines[3], "destroy ev <no value>", "{o}");
    // Docker's line, and the filter.
    let o = gocker_ok(
        r,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=nosuch",
        ],
    );
    assert_eq!(o, "");
    let o = gocker_ok(
        r,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=ev",
        ],
    );
    assert!(
        o.lines().next().unwrap().contains(" container create "),
        "{o}"
    );
    assert!(o.contains("(exitCode=4, image="), "{o}");
    assert!(
        !gocker(r, &["events", "--filter", "bogus=1", "--until", "0"])
            .status
            .success()
    );

    // Without --until it follows: a container started now shows up.
    let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .args(["--root"])
        .arg(r)
        .args([
            "events",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    gocker_ok(
        r,
        &[
            "run",
            "--rm",
            "--name",
            "ev2",
            "--network",
            "none",
            busybox(),
            "true",
        ],
    );
    let mut seen = String::new();
    {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
        while let Some(Ok(l)) = lines.next() {
            seen.push_str(&l);
            seen.push('\n');
            if l == "destroy ev2" {
                break;
            }
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert_eq!(seen, "create ev2\nstart ev2\ndie ev2\ndestroy ev2\n");

    // stop: the signal sent, the exit, then stop itself, as Docker's stream has them.
    detached(r, "evs", &["--network", "none"], &["sleep", "300"]);
    gocker_ok(r, &["stop", "-t", "0", "evs"]);
    let o = gocker_ok(
        r,
        &[
            "events",
            "--until",
            "0s",
            "--filter",
            "container=evs",
            "--format",
            "{{.Action}}:{{.Actor.Attributes.signal}}",
        ],
    );
    assert_eq!(
        o.lines().collect::<Vec<_>>(),
        [
            "create:<no value>",
            "start:<no value>",
            "kill:15",
            "kill:9",
            "die:<no value>",
            "stop:<no value>"
        ],
        "{o}"
    );
}

#[test]
fn version_info_and_system_df_and_prune() {
    let root = root();
    let r = root.path();
    let v = gocker_ok(r, &["version"]);
    assert!(
        v.contains(&format!("Version:        {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    assert!(v.contains("OS/Arch:        linux/"), "{v}");
    assert!(v.contains("Cgroup version: "), "{v}");

    detached(r, "up", &["--network", "none"], &["sleep", "300"]);
    gocker_ok(
        r,
        &[
            "run",
            "--name",
            "down",
            "--network",
            "none",
            busybox(),
            "sh",
            "-c",
            "head -c 300000 /dev/zero > /big",
        ],
    );
    gocker_ok(r, &["volume", "create", "spare"]);
    let i = gocker_ok(r, &["info"]);
    for want in [
        "Containers: 2",
        "Running: 1",
        "Stopped: 1",
        "Images: 1",
        "Storage Driver: overlay",
        "Cgroup Version: ",
        "seccomp: ",
        &format!("Root Dir: {}", r.display()),
    ] {
        assert!(i.contains(want), "{want} in {i}");
    }
    let df = gocker_ok(r, &["system", "df"]);
    let row = |name: &str| {
        df.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("Images")[1..3], ["1", "1"], "{df}");
    assert_eq!(row("Containers")[1..3], ["2", "1"], "{df}");
    assert!(
        row("Containers")[4].starts_with("300kB"),
        "the stopped one's file: {df}"
    );
    assert_eq!(row("Local")[2..4], ["1", "0"], "{df}");

    // prune: the stopped container, the unused volume with --volumes; the running one stays.
    let p = gocker_ok(r, &["system", "prune", "-f", "--volumes"]);
    assert!(
        p.contains("Deleted Containers:") && p.contains("down"),
        "{p}"
    );
    assert!(p.contains("Deleted Volumes:\nspare"), "{p}");
    assert_eq!(
        gocker_ok(r, &["ps", "-a", "--format", "{{.Names}}"]).trim(),
        "up"
    );
    // Without -f it asks, and a no keeps everything.
    gocker_ok(r, &["volume", "create", "kept"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(r)
        .args(["system", "prune", "--volumes"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"n\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(err(&o).contains("Are you sure"), "{}", err(&o));
    assert!(gocker_ok(r, &["volume", "ls"]).contains("kept"));
}

/// Runs busybox in the foreground with `flags`, the command `sh -c script`; its output.
fn sh(r: &std::path::Path, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[busybox(), "sh", "-c", script]);
    gocker_ok(r, &args)
}

#[test]
fn run_takes_dockers_mount_host_dns_shm_and_ulimit_flags() {
    let root = root();
    let r = root.path();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "from the host").unwrap();
    let bind = format!(
        "type=bind,source={},target=/data,readonly",
        host.path().display()
    );
    let out = sh(
        r,
        &["--network", "none", "--mount", &bind, "--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "--mount", "type=volume,source=vol1,target=/v"],
        "cat /data/f; echo; touch /data/x 2>/dev/null || echo read-only; grep ' /t ' /proc/mounts; echo v > /v/f && echo volume",
    );
    assert!(out.starts_with("from the host\nread-only\n"), "{out}");
    assert!(
        out.contains("tmpfs /t tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    assert!(out.contains("volume"), "{out}");
    assert!(gocker_ok(r, &["volume", "ls"]).contains("vol1"));
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,target=/x",
            busybox(),
            "true",
        ],
    );
    assert!(err(&o).contains("needs source="), "{}", err(&o));
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,src=/tmp,target=/x,bogus=1",
            busybox(),
            "true",
        ],
    );
    assert!(err(&o).contains("unknown key bogus"), "{}", err(&o));

    // /etc/hosts, /etc/resolv.conf, /dev/shm and the limits, with no network and on a bridge.
    for net in ["none", "bridge"] {
        let out = sh(
            r,
            &["--network", net, "--add-host", "db:10.1.2.3", "--dns", "10.9.9.9", "--shm-size", "16m", "--ulimit", "nofile=100:200"],
            "grep -w db /etc/hosts; grep nameserver /etc/resolv.conf; grep ' /dev/shm ' /proc/mounts; ulimit -n; ulimit -Hn",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "10.1.2.3\tdb", "{net}: {out}");
        assert_eq!(
            lines[1], "nameserver 10.9.9.9",
            "{net}: only the one asked: {out}"
        );
        assert!(lines[2].contains("size=16384k"), "{net}: {out}");
        assert_eq!(lines[3..], ["100", "200"], "{net}: {out}");
    }
    let o = gocker(
        r,
        &["run", "--rm", "--ulimit", "files=1", busybox(), "true"],
    );
    assert!(
        err(&o).contains("unknown limit files") && err(&o).contains("nofile"),
        "{}",
        err(&o)
    );
    let o = gocker(r, &["run", "--rm", "--add-host", "db", busybox(), "true"]);
    assert!(err(&o).contains("use NAME:IP"), "{}", err(&o));
}

#[test]
fn run_takes_stop_pull_and_platform_flags() {
    let root = root();
    let r = root.path();
    // --stop-signal: stop sends it; --stop-timeout: stop waits that long before it kills.
    let trap = "trap 'exit 7' USR1; trap 'sleep 5; exit 0' TERM; while :; do sleep 0.1; done";
    detached(
        r,
        "sig",
        &["--network", "none", "--stop-signal", "SIGUSR1"],
        &["sh", "-c", trap],
    );
    detached(
        r,
        "slow",
        &["--network", "none", "--stop-timeout", "1"],
        &["sh", "-c", trap],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    gocker_ok(r, &["stop", "sig", "slow"]);
    let f = |name: &str| {
        gocker_ok(
            r,
            &[
                "inspect",
                "-f",
                "{{.State.ExitCode}} {{.Config.StopSignal}} {{.Config.StopTimeout}}",
                name,
            ],
        )
        .trim()
        .to_string()
    };
    assert_eq!(f("sig"), "7 SIGUSR1 <no value>");
    assert_eq!(f("slow"), "137 SIGTERM 1");

    // --pull never: only what is here; --platform: only this host's.
    let missing = format!("{}/verbs/absent:1", registry().addr);
    let o = gocker(r, &["run", "--rm", "--pull", "never", &missing, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("not_found"), "{}", err(&o));
    let o = gocker(
        r,
        &["run", "--rm", "--pull", "sometimes", busybox(), "true"],
    );
    assert!(
        err(&o).contains("use always, missing or never"),
        "{}",
        err(&o)
    );
    let o = gocker(r, &["run", "--rm", "--pull", "always", busybox(), "true"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--platform",
            "linux/s390x",
            busybox(),
            "true",
        ],
    );
    assert!(err(&o).contains("is not this host's"), "{}", err(&o));
    let here = gocker_ok(r, &["-e", "host_platform()"]);
    let o = gocker(
        r,
        &["run", "--rm", "--platform", here.trim(), busybox(), "true"],
    );
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn run_init_puts_tini_first_to_reap_orphans_and_pass_signals_on() {
    let root = root();
    let r = root.path();
    // An orphan's new parent is the container's pid 1. Without an init that is the command
    // (here a sleep, which reaps nothing) and the orphan stays a zombie; tini reaps it.
    let orphan = ["sh", "-c", "(sleep 0.1 &); exec sleep 300"];
    detached(r, "bare", &["--network", "none"], &orphan);
    detached(r, "tini", &["--network", "none", "--init"], &orphan);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let zombies = |name: &str| {
        let script = "cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z '; true";
        gocker_ok(r, &["exec", name, "sh", "-c", script])
            .trim()
            .to_string()
    };
    assert_eq!(zombies("bare"), "1");
    assert_eq!(zombies("tini"), "0");
    let pid1 = gocker_ok(r, &["exec", "tini", "cat", "/proc/1/comm"]);
    assert_eq!(pid1.trim(), "docker-init");
    let o = gocker(r, &["exec", "tini", "touch", "/sbin/docker-init"]);
    assert!(!o.status.success(), "the init is bound read-only");

    // stop's SIGTERM reaches the command through the init (a sleep as pid 1 ignores it).
    gocker_ok(r, &["stop", "-t", "20", "tini"]);
    let state = gocker_ok(
        r,
        &[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.HostConfig.Init}}",
            "tini",
        ],
    );
    assert_eq!(state.trim(), "143 true");
    gocker_ok(r, &["rm", "-f", "bare"]);

    // The command's exit status is the container's; the script option is the flag.
    let o = gocker(
        r,
        &["run", "--rm", "--init", busybox(), "sh", "-c", "exit 3"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    let code = format!(
        "run({:?}, [\"cat\", \"/proc/1/comm\"], #{{ init: true, rm: true, network: \"none\", capture: true }}).stdout",
        busybox()
    );
    assert_eq!(gocker_ok(r, &["-e", &code]).trim(), "docker-init");

    // An init that needs a C library would not start in an image without one.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(r)
        .args(["run", "--rm", "--init", busybox(), "true"])
        .env("GOCKER_INIT_PATH", "/bin/ls")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(
        err(&o).contains("/bin/ls is dynamically linked"),
        "{}",
        err(&o)
    );
}

#[test]
fn stats_without_no_stream_draws_the_table_again_each_second() {
    let root = root();
    let r = root.path();
    detached(
        r,
        "busy",
        &["--network", "none", "-m", "32m"],
        &["sh", "-c", "while :; do :; done"],
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(r)
        .args(["stats", "busy"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Three tables, each after the screen is cleared.
        while seen.len() < 3 {
            match lines.next() {
                Some(Ok(l)) if l.contains("CONTAINER ID") => seen.push(l),
                Some(Ok(l)) if l.contains("busy") => seen.push(l),
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen[0].starts_with("\x1b[2J\x1b[HCONTAINER ID"), "{seen:?}");
    let row: Vec<&str> = seen[1].split_whitespace().collect();
    assert_eq!(row[1], "busy", "{seen:?}");
    // A busy loop uses CPU between two readings (how much depends on the host's load).
    let cpu: f64 = row[2].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 1.0, "{seen:?}");
    assert_eq!(&row[4..6], ["/", "32MiB"], "{seen:?}");
    assert!(seen[2].contains("CONTAINER ID"), "drawn again: {seen:?}");
}
