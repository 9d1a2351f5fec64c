//! Workflow scripts: waits with a timeout, and readiness (a port, an HTTP answer, a log
//! line, a command) on bridged and unnetworked containers, failing at once with the exit
//! code and last lines when the container ends first.

mod common;

use std::sync::OnceLock;

use common::*;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "workflows/busybox:1");
        format!("{}/workflows/busybox:1", reg.addr)
    })
}

fn script(root: &std::path::Path, code: &str) -> String {
    let o = gocker(root, &["-e", code]);
    assert!(o.status.success(), "{}\n{}", out(&o), err(&o));
    out(&o)
}

#[test]
fn a_server_is_waited_for_by_port_http_log_and_command() {
    let root = root();
    let r = root.path();
    for network in ["bridge", "none"] {
        let code = format!(
            r#"
            let c = run("{img}", ["sh", "-c", "sleep 1; mkdir -p /www; echo hello > /www/index.html; echo serving; httpd -f -p 8080 -h /www"],
                        #{{ detach: true, network: "{network}" }});
            print(port_open(c, 8080));
            wait_for_port(c, 8080, #{{ timeout: 20 }});
            wait_for_http(c, 8080, "/index.html", #{{ timeout: 20 }});
            print(http_get(c, 8080, "/index.html").body);
            wait_for_log(c, "serving", #{{ timeout: 20 }});
            wait_for_exec(c, ["test", "-e", "/www/index.html"], #{{ timeout: 20 }});
            try {{ wait_for_http(c, 8080, "/missing", #{{ timeout: 0.5, interval: 0.1 }}); }} catch (e) {{ print(e.kind); print(e.message); }}
            try {{ wait(c, #{{ timeout: "300ms" }}); }} catch (e) {{ print(e.kind); }}
            remove(c, #{{ force: true }});
            "#,
            img = image()
        );
        let o = script(r, &code);
        let lines: Vec<&str> = o.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(
            lines[0], "false",
            "{network}: not open before the server starts"
        );
        assert_eq!(lines[1], "hello", "{network}");
        assert_eq!(lines[2], "timeout", "{network}: {o}");
        assert!(
            lines[3].contains("no HTTP 200 from GET /missing on port 8080"),
            "{o}"
        );
        assert_eq!(lines[4], "timeout", "{network}");
    }
}

#[test]
fn a_container_that_ends_first_fails_the_wait_at_once_with_its_code_and_last_lines() {
    let root = root();
    let r = root.path();
    let code = format!(
        r#"
        let c = run("{img}", ["sh", "-c", "echo cannot bind; exit 3"], #{{ detach: true, network: "none" }});
        let t = timestamp();
        try {{ wait_for_port(c, 80, #{{ timeout: 60 }}); }} catch (e) {{ print(e.kind); print(e.message); }}
        print(t.elapsed < 30.0);
        try {{ wait(c, #{{ timeot: 1 }}); }} catch (e) {{ print(e.message); }}
        remove(c);
        "#,
        img = image()
    );
    let o = script(r, &code);
    assert!(o.starts_with("exited\n"), "{o}");
    assert!(o.contains("exited with code 3 before open port 80"), "{o}");
    assert!(o.contains("cannot bind"), "the last lines: {o}");
    assert!(o.contains("true\n"), "at once, not after the timeout: {o}");
    assert!(
        o.contains("unknown option \"timeot\" (did you mean \"timeout\"?"),
        "{o}"
    );
}

#[test]
fn a_run_captures_stdout_and_stderr_apart() {
    let root = root();
    let r = root.path();
    let code = format!(
        r#"
        let r = run("{img}", ["sh", "-c", "echo out; echo err >&2; dd if=/dev/zero bs=1000 count=300 2>/dev/null | wc -c; exit 4"],
                    #{{ capture: true, network: "none", rm: true }});
        print(r.code); print(r.stdout); print(r.stderr);
        try {{ run("{img}", [], #{{ capture: true, detach: true }}); }} catch (e) {{ print(e.message); }}
        "#,
        img = image()
    );
    let o = script(r, &code);
    let lines: Vec<&str> = o.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(&lines[..4], ["4", "out", "300000", "err"], "{o}");
    assert!(
        lines[4].contains("capture is for a foreground container"),
        "{o}"
    );
    assert_eq!(
        script(r, "print(containers().len())").trim(),
        "0",
        "--rm honoured"
    );
}

#[test]
fn a_free_host_port_is_chosen_at_start_and_told() {
    let root = root();
    let r = root.path();
    let code = format!(
        r#"
        let c = container(image("{img}"));
        c.unshare(["pid", "mount", "uts", "ipc", "net", "cgroup"]);
        c.mount_rootfs();
        c.set_network("bridge");
        c.publish(0, 8080);
        c.publish("9090");
        let p = c.spawn(["sh", "-c", "mkdir -p /www; echo free > /www/index.html; httpd -f -p 8080 -h /www"], #{{ detach: true }});
        let host = port(p.container, 8080);
        print(host);
        print(port(p.container).len());
        print(port(p.container, 9090) != host);
        wait_for_port(p.container, 8080, #{{ timeout: 20 }});
        print(p.container.id);
        "#,
        img = image()
    );
    let o = gocker(r, &["pull", "-q", image()]);
    assert!(o.status.success(), "{}", err(&o));
    let o = script(r, &code);
    let lines: Vec<&str> = o.lines().collect();
    let host: u16 = lines[0].parse().expect("a port");
    assert!(host > 0);
    assert_eq!(lines[1], "2");
    assert_eq!(lines[2], "true");
    // The chosen port reaches the container from the host, and ps shows it.
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", host)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            let _ = s.read_to_string(&mut body);
            if body.contains("free") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(body.contains("free"), "{body}");
    let ps = out(&gocker(r, &["ps"]));
    assert!(ps.contains(&format!(":{host}->8080/tcp")), "{ps}");
    let o = gocker(r, &["rm", "-f", lines[3]]);
    assert!(o.status.success(), "{}", err(&o));
    // Free again once the container is gone.
    assert!(std::net::TcpListener::bind(("0.0.0.0", host)).is_ok());
}

#[test]
fn a_failing_workflow_undoes_only_what_it_made() {
    let root = root();
    let r = root.path();
    // Another script's container, started before: it must survive the undo.
    script(
        r,
        &format!(
            r#"run("{}", ["sleep", "60"], #{{ detach: true, name: "other", network: "none" }});"#,
            image()
        ),
    );
    let (subnet, bridge) = unique_subnet();
    let code = format!(
        r#"
        try {{
            undo_on_error(|| {{
                network_create("wfnet", #{{ subnet: "{subnet}", bridge: "{bridge}" }});
                run("{img}", ["sleep", "60"], #{{ detach: true, name: "db", network: "wfnet" }});
                run("{img}", ["sleep", "60"], #{{ detach: true, name: "app", network: "wfnet" }});
                wait_for_exec("app", ["false"], #{{ timeout: 0.3 }});
            }});
        }} catch (e) {{ print(e.kind); }}
        print(containers().map(|c| c.name));
        print(networks().filter(|n| n.name == "wfnet").len());
        print(undo_on_error(|| 42));
        "#,
        img = image()
    );
    let o = script(r, &code);
    assert_eq!(o, "timeout\n[\"other\"]\n0\n42\n");
    let o = gocker(r, &["rm", "-f", "other"]);
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn named_volumes_outlive_containers_and_tmpfs_is_private_and_fresh() {
    let root = root();
    let r = root.path();
    let run = |args: &[&str]| gocker_ok(r, args);
    run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "pipeline:/data",
        image(),
        "sh",
        "-c",
        "echo step1 > /data/out",
    ]);
    let o = run(&[
        "run", "--rm", "--network", "none", "-v", "pipeline:/data:ro", "--tmpfs", "/scratch:size=1m", image(),
        "sh", "-c", "cat /data/out; touch /data/x 2>/dev/null || echo read-only; grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4",
    ]);
    assert_eq!(
        o,
        "step1\nread-only\ntmpfs rw,nosuid,nodev,noexec,relatime,size=1024k\n"
    );
    // In use: refused; unused: removed with its data.
    run(&[
        "run",
        "-d",
        "--name",
        "user",
        "--network",
        "none",
        "-v",
        "pipeline:/d",
        image(),
        "sleep",
        "60",
    ]);
    let o = gocker(r, &["volume", "rm", "pipeline"]);
    assert!(err(&o).contains("in use by user"), "{}", err(&o));
    run(&["rm", "-f", "user"]);
    run(&["volume", "rm", "pipeline"]);
    assert!(!r.join("volumes/pipeline").exists());
    assert_eq!(run(&["-e", "print(volumes().len())"]).trim(), "0");
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--tmpfs",
            "relative",
            image(),
            "true",
        ],
    );
    assert!(err(&o).contains("the path must be absolute"), "{}", err(&o));
}

#[test]
fn restart_policies_bring_containers_back_until_stopped() {
    let root = root();
    let r = root.path();
    let run = |args: &[&str]| gocker_ok(r, args);
    let count = |name: &str| -> i64 {
        run(&["-e", &format!("print(restart_count(\"{name}\"))")])
            .trim()
            .parse()
            .expect("a count")
    };
    // on-failure:2: three runs, then it stays down with its code.
    run(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        image(),
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count("flaky") < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(run(&["logs", "flaky"]), "run\nrun\nrun\n");
    assert_eq!(count("flaky"), 2);
    assert!(run(&["ps", "-a"]).contains("Exited (1)"));
    // A success is not a failure.
    run(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--network",
        "none",
        "--restart",
        "on-failure",
        image(),
        "true",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(count("fine"), 0);
    // always: back after every exit, until stop.
    run(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--network",
        "none",
        "--restart",
        "always",
        image(),
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    while count("loop") < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(count("loop") >= 2);
    run(&["stop", "-t", "1", "loop"]);
    let after = count("loop");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(count("loop"), after, "stopped stays stopped");
    assert!(!run(&["ps"]).contains("loop"));
    run(&["rm", "-f", "flaky", "fine", "loop"]);
    // Bad input.
    let o = gocker(r, &["run", "--rm", "--restart", "always", image(), "true"]);
    assert!(err(&o).contains("contradict"), "{}", err(&o));
    let o = gocker(r, &["run", "--restart", "sometimes", image(), "true"]);
    assert!(
        err(&o).contains("is not one of no, on-failure[:max], always, unless-stopped"),
        "{}",
        err(&o)
    );
}

#[test]
fn health_checks_run_by_the_supervisor_from_run_or_the_image() {
    let root = root();
    let r = root.path();
    let run = |args: &[&str]| gocker_ok(r, args);
    run(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--network",
        "none",
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "0.2s",
        "--health-retries",
        "2",
        "--health-start-period",
        "5s",
        image(),
        "sh",
        "-c",
        "sleep 1; touch /tmp/ready; sleep 60",
    ]);
    assert!(run(&["ps"]).contains("(starting)"));
    let o = run(&["-e", "wait_healthy(\"slow\", #{ timeout: 20 }); let h = health(\"slow\"); print(h.Status); print(h.Log[h.Log.len() - 1].ExitCode); print(find_container(\"slow\").health)"]);
    assert_eq!(o, "healthy\n0\nhealthy\n");
    assert!(run(&["ps"]).contains("(healthy)"));
    // A check that fails: unhealthy, and the wait says so at once.
    run(&[
        "run",
        "-d",
        "--name",
        "sick",
        "--network",
        "none",
        "--health-cmd",
        "echo no db; exit 1",
        "--health-interval",
        "0.2s",
        "--health-retries",
        "2",
        image(),
        "sleep",
        "60",
    ]);
    let o = gocker(r, &["-e", "wait_healthy(\"sick\", #{ timeout: 20 })"]);
    assert!(
        err(&o)
            .contains("unhealthy: sick is unhealthy after 2 failed checks; the last said: no db"),
        "{}",
        err(&o)
    );
    // The image's HEALTHCHECK is the default; --no-healthcheck turns it off.
    let code = format!(
        r#"let b = from("{}", #{{ network: "none" }}); b.healthcheck(#{{ test: ["CMD", "true"], interval: "0.2s" }}); b.commit("checked:1");"#,
        image()
    );
    run(&["-e", &code]);
    run(&[
        "run",
        "-d",
        "--name",
        "img",
        "--network",
        "none",
        "checked:1",
        "sleep",
        "60",
    ]);
    run(&["-e", "wait_healthy(\"img\", #{ timeout: 20 })"]);
    run(&[
        "run",
        "-d",
        "--name",
        "off",
        "--network",
        "none",
        "--no-healthcheck",
        "checked:1",
        "sleep",
        "60",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(run(&["-e", "print(health(\"off\"))"]).trim(), "");
    let o = gocker(r, &["-e", "wait_healthy(\"off\")"]);
    assert!(err(&o).contains("has no health check"), "{}", err(&o));
    run(&["rm", "-f", "slow", "sick", "img", "off"]);
}

#[test]
fn a_new_named_volume_starts_with_the_images_content_and_keeps_its_own_after() {
    let root = root();
    let r = root.path();
    let run = |cmd: &str, vol: &str| {
        gocker_ok(
            r,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                vol,
                image(),
                "sh",
                "-c",
                cmd,
            ],
        )
    };
    // First use: the image's /etc is copied in (busybox's passwd with root in it).
    assert_eq!(
        run(
            "grep -c ^root: /etc/passwd; rm /etc/group; echo mine > /etc/marker",
            "conf:/etc"
        ),
        "1\n"
    );
    // From then on the volume is what it holds: not copied again over the container's
    // changes, wherever it is mounted.
    assert_eq!(
        run(
            "ls /etc/marker /etc/group 2>&1; cat /etc/marker",
            "conf:/etc"
        ),
        "ls: /etc/group: No such file or directory\n/etc/marker\nmine\n"
    );
    assert_eq!(run("ls /v | grep -c passwd", "conf:/v"), "1\n");
    // A path the image does not have leaves the volume empty.
    assert_eq!(run("ls -A /nothing | wc -l", "blank:/nothing"), "0\n");
    gocker_ok(r, &["volume", "rm", "conf", "blank"]);
}

#[test]
fn env_files_and_publish_all() {
    let root = root();
    let r = root.path();
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("app.env");
    std::fs::write(
        &env,
        "# the app's settings\nGREETING=hello world\nLEVEL=info\nFROM_HOST\nUNSET_HERE\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .args(["--root"])
        .arg(r)
        .args(["run", "--rm", "--network", "none", "--env-file"])
        .arg(&env)
        .args(["-e", "LEVEL=debug", image(), "sh", "-c"])
        .arg("echo \"$GREETING|$LEVEL|$FROM_HOST|${UNSET_HERE-unset}\"")
        .env("FROM_HOST", "passed")
        .env_remove("UNSET_HERE")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "hello world|debug|passed|unset\n");
    let o = gocker(
        r,
        &["run", "--rm", "--env-file", "/no/such.env", image(), "true"],
    );
    assert!(err(&o).contains("/no/such.env"), "{}", err(&o));
    // -P: every port the image exposes, each to a free host port.
    gocker_ok(
        r,
        &[
            "run",
            "--name",
            "base",
            "--network",
            "none",
            image(),
            "true",
        ],
    );
    gocker_ok(
        r,
        &["commit", "-c", "EXPOSE 8080 9090/udp", "base", "exposing:1"],
    );
    let id = gocker_ok(
        r,
        &["run", "-d", "-P", "exposing:1", "httpd", "-f", "-p", "8080"],
    );
    let ports = gocker_ok(
        r,
        &[
            "-e",
            &format!(
                "print(port(\"{}\").map(|p| `${{p.container_port}}/${{p.proto}}`))",
                id.trim()
            ),
        ],
    );
    for p in ["8080/tcp", "9090/udp"] {
        assert!(ports.contains(p), "{ports}");
    }
    let host = gocker_ok(r, &["-e", &format!("print(port(\"{}\", 8080))", id.trim())]);
    assert!(host.trim().parse::<u16>().is_ok_and(|p| p > 0), "{host}");
    gocker_ok(r, &["rm", "-f", id.trim(), "base"]);
}

#[test]
fn a_failing_script_file_removes_what_it_made_unless_kept() {
    let root = root();
    let r = root.path();
    let dir = tempfile::tempdir().unwrap();
    let (subnet, bridge) = unique_subnet();
    let file = dir.path().join("stack.rhai");
    std::fs::write(
        &file,
        format!(
            r#"
            network_create("undonet", #{{ subnet: "{subnet}", bridge: "{bridge}" }});
            run("{img}", ["sleep", "60"], #{{ detach: true, name: "db", network: "undonet", volume: ["dbdata:/data"] }});
            run("{img}", ["sleep", "60"], #{{ detach: true, name: "kept", network: "none", keep: true }});
            run("{img}", ["true"], #{{ name: "job", network: "none" }});
            if ARGS.len() > 0 {{ throw "the migration failed"; }}
            "#,
            img = image()
        ),
    )
    .unwrap();
    let listing = || {
        gocker_ok(
            r,
            &[
                "-e",
                "print(containers().map(|c| c.name)); print(networks().map(|n| n.name)); print(volumes().map(|v| v.name))",
            ],
        )
    };
    // Success: everything stays.
    let o = gocker(r, &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let all = listing();
    assert!(
        all.contains("\"db\"") && all.contains("\"undonet\"") && all.contains("\"dbdata\""),
        "{all}"
    );
    gocker_ok(r, &["rm", "-f", "db", "kept", "job"]);
    gocker_ok(r, &["network", "rm", "undonet"]);
    gocker_ok(r, &["volume", "rm", "dbdata"]);
    // Failure: what it made is removed, each said, except what it asked to keep.
    let o = gocker(r, &[file.to_str().unwrap(), "fail"]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(e.contains("the migration failed"), "{e}");
    for said in [
        "undo: removed container job",
        "undo: removed container db",
        "undo: removed volume dbdata",
        "undo: removed network undonet",
    ] {
        assert!(e.contains(said), "{said}: {e}");
    }
    assert!(!e.contains("container kept"), "{e}");
    let all = listing();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines[0], "[\"kept\"]", "{all}");
    assert!(!lines[1].contains("undonet"), "{all}");
    assert_eq!(lines[2], "[]", "{all}");
    gocker_ok(r, &["rm", "-f", "kept"]);
    // --keep: the failing script's things stay for a look.
    let o = gocker(r, &["--keep", file.to_str().unwrap(), "fail"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!err(&o).contains("undo:"), "{}", err(&o));
    let all = listing();
    assert!(
        all.contains("\"db\"") && all.contains("\"undonet\""),
        "{all}"
    );
    gocker_ok(r, &["rm", "-f", "db", "kept", "job"]);
    gocker_ok(r, &["network", "rm", "undonet"]);
    gocker_ok(r, &["volume", "rm", "dbdata"]);
}

#[test]
fn resume_brings_back_what_its_restart_policy_wants_up() {
    let root = root();
    let r = root.path();
    let start = |name: &str, policy: &str| {
        gocker_ok(
            r,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "none",
                "--restart",
                policy,
                image(),
                "sleep",
                "300",
            ],
        )
        .trim()
        .to_string()
    };
    let always = start("always", "always");
    let unless = start("unless", "unless-stopped");
    start("stopped-unless", "unless-stopped");
    start("stopped-always", "always");
    let on_failure = start("on-failure", "on-failure");
    gocker_ok(r, &["stop", "-t", "0", "stopped-unless", "stopped-always"]);
    // The host "goes down": every supervisor is killed, and with it its container.
    for id in [&always, &unless, &on_failure] {
        kill_supervisor(r, id);
    }
    // Docker's rules at daemon start: always (even one its user stopped), and
    // unless-stopped unless its user stopped it; never on-failure.
    let mut started: Vec<String> = gocker_ok(r, &["resume"])
        .lines()
        .map(String::from)
        .collect();
    started.sort();
    assert_eq!(started, ["always", "stopped-always", "unless"]);
    let count = gocker_ok(
        r,
        &["-e", "print(find_container(\"always\").restart_count)"],
    );
    assert_eq!(
        count, "0\n",
        "a resume is a start, not a restart by the policy"
    );
    let status = |name: &str| {
        gocker_ok(
            r,
            &["-e", &format!("print(find_container(\"{name}\").status)")],
        )
        .trim()
        .to_string()
    };
    for (name, want) in [
        ("always", "running"),
        ("unless", "running"),
        ("stopped-always", "running"),
        ("stopped-unless", "exited"),
        ("on-failure", "exited"),
    ] {
        assert_eq!(status(name), want, "{name}");
    }
    // Nothing more to do the second time.
    assert_eq!(gocker_ok(r, &["resume"]), "");
    gocker_ok(
        r,
        &[
            "rm",
            "-f",
            "always",
            "unless",
            "stopped-unless",
            "stopped-always",
            "on-failure",
        ],
    );
}
