//! The real binary: verbs, -e, scripts, errors with positions, save/load round trips.

mod common;

use std::process::{Command, Output};

use common::*;

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn pull_images_tag_rmi_from_the_shell() {
    let reg = registry();
    let pushed = push_busybox(reg, "cli/box:1");
    let root = root();
    let name = format!("{}/cli/box:1", reg.addr);
    let o = gocker(root.path(), &["pull", &name]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.trim(), pushed.manifest_digest);
    gocker(root.path(), &["tag", &name, "mine:v1"]);
    let (out, _) = text(&gocker(root.path(), &["images"]));
    assert!(out.starts_with("REPOSITORY"), "{out}");
    assert!(
        out.contains("mine") && out.contains("v1") && out.contains(&pushed.config_digest[7..19]),
        "{out}"
    );
    let (out, _) = text(&gocker(root.path(), &["images", "--json"]));
    let json: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(json[0]["id"], pushed.config_digest);
    let (out, _) = text(&gocker(root.path(), &["rmi", "mine:v1"]));
    assert_eq!(out.trim(), "Untagged: mine:v1");
    let o = gocker(root.path(), &["rmi", &name]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains(&format!("Deleted: {}", pushed.config_digest)),
        "{out}"
    );
    let o = gocker(root.path(), &["rmi", "nothing-here"]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("not_found"), "{}", text(&o).1);
}

#[test]
fn scripts_get_args_exit_codes_and_positioned_errors() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.rhai");
    std::fs::write(&ok, "print(ARGS[0] + \"-\" + ARGS.len());\nexit(3);\n").unwrap();
    let o = gocker(root.path(), &[ok.to_str().unwrap(), "a", "b"]);
    assert_eq!(text(&o).0.trim(), "a-2");
    assert_eq!(o.status.code(), Some(3));

    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "let x = 1;\nlet img = image(\"no-such-image\");\n").unwrap();
    let o = gocker(root.path(), &[bad.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("bad.rhai:2:11: error: not_found: image \"no-such-image\" not found"),
        "{err}"
    );
    assert!(
        err.contains("  let img = image(\"no-such-image\");\n            ^"),
        "{err}"
    );

    // Scripts can catch errors and branch on their kind.
    let o = gocker(
        root.path(),
        &[
            "-e",
            r#"let k = ""; try { image("nope") } catch (e) { k = e.kind } k"#,
        ],
    );
    assert_eq!(text(&o).0.trim(), "not_found");
    let o = gocker(
        root.path(),
        &[
            "-e",
            r#"let k = ""; try { pull("Bad Ref") } catch (e) { k = e.kind + ": " + e.message } k"#,
        ],
    );
    assert!(
        text(&o)
            .0
            .contains("invalid_argument: invalid image reference \"Bad Ref\""),
        "{:?}",
        text(&o)
    );
    let o = gocker(
        root.path(),
        &["-e", r#"pull("x", #{ plaform: "linux/amd64" })"#],
    );
    assert!(
        text(&o).1.contains("unknown option \"plaform\""),
        "{:?}",
        text(&o)
    );
    // An error inside the stdlib names the stdlib frames it passed through.
    let o = gocker(
        root.path(),
        &["-e", r#"run("127.0.0.1:1/nothing", ["true"])"#],
    );
    let e = text(&o).1;
    assert!(
        e.contains("error: registry:")
            && e.contains("stdlib/containers.rhai")
            && e.contains("in pull_if_missing"),
        "{e}"
    );
    let o = gocker(root.path(), &["-e", r#"help("pull")"#]);
    assert!(text(&o).0.contains("example:"), "{:?}", text(&o));
}

#[test]
fn save_and_load_round_trip_keeps_the_image_id() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/saveme:1", reg.addr);
    let layers = vec![
        (
            TarBuilder::new()
                .dir("etc/", 0o755)
                .file("etc/a", b"a", 0o644)
                .symlink("l", "etc/a")
                .finish(),
            Comp::Gzip,
        ),
        (
            TarBuilder::new()
                .whiteout("etc/a")
                .file("b", b"b", 0o600)
                .hardlink("c", "b")
                .finish(),
            Comp::Zstd,
        ),
    ];
    let pushed = p.image(
        &reference,
        &layers,
        Format::Oci,
        serde_json::json!({ "Cmd": ["sh"] }),
        "amd64",
    );
    let root = root();
    let r = root.path();
    assert!(gocker(r, &["pull", "-q", &reference]).status.success());
    let out = tempfile::tempdir().unwrap();
    for target in ["img.tar", "layout"] {
        let path = out.path().join(target);
        let o = gocker(r, &["save", &reference, "-o", path.to_str().unwrap()]);
        assert!(o.status.success(), "save {target}: {}", text(&o).1);
        // Load into a fresh root: same image id, same names, same files.
        let root2 = common::root();
        let o = gocker(root2.path(), &["load", "-i", path.to_str().unwrap()]);
        assert!(o.status.success(), "load {target}: {}", text(&o).1);
        let o = gocker(root2.path(), &["-e", &format!("image({:?}).id", reference)]);
        assert_eq!(
            text(&o).0.trim(),
            pushed.config_digest,
            "{target}: {}",
            text(&o).1
        );
        let o = gocker(root2.path(), &["-e", &format!("let d = mount_image({reference:?}); let r = [d]; unmount_image({reference:?}); r.len()")]);
        assert!(o.status.success(), "{}", text(&o).1);
        assert!(mounts_under(root2.path()).is_empty());
    }
    // Loading garbage is a clear error that names the file.
    let junk = out.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar at all").unwrap();
    let o = gocker(r, &["load", "-i", junk.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("junk.tar"), "{}", text(&o).1);
}

#[test]
fn a_pull_killed_midway_leaves_nothing_half_named_and_the_next_pull_completes() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/killme:1", reg.addr);
    let layers: Vec<(Vec<u8>, Comp)> = (0..4u32)
        .map(|l| {
            let data: Vec<u8> = (0..24_000_000u32)
                .map(|i| (i.wrapping_add(l * 7919).wrapping_mul(2654435761) >> 11) as u8)
                .collect();
            (
                TarBuilder::new()
                    .file(&format!("blob{l}"), &data, 0o644)
                    .finish(),
                Comp::Gzip,
            )
        })
        .collect();
    let pushed = p.image(
        &reference,
        &layers,
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let root = root();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(root.path())
        .args(["pull", "-q", &reference])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start pull");
    // Wait until unpacking has started, then kill it without warning.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let busy = std::fs::read_dir(root.path().join("tmp"))
            .map(|d| d.count() > 0)
            .unwrap_or(false);
        if busy || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let o = gocker(root.path(), &["images", "--json"]);
    assert_eq!(
        text(&o).0.trim(),
        "[]",
        "no image is recorded after a killed pull"
    );
    // Every layer directory present is complete: it is in the database.
    let db = rusqlite::Connection::open(root.path().join("db.sqlite")).unwrap();
    for e in std::fs::read_dir(root.path().join("layers"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".split") {
            continue;
        }
        let n: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM layers WHERE chain_id = ?1",
                [format!("sha256:{name}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "layer directory {name} is complete");
    }
    let o = gocker(root.path(), &["pull", "-q", &reference]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(text(&o).0.trim(), pushed.manifest_digest);
    let left: Vec<_> = std::fs::read_dir(root.path().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "scratch of the killed pull is cleared: {left:?}"
    );
}

// The verb layer as a Docker user meets it: unknown verbs, closed pipes, empty tables, errors
// and their statuses, strict options, -e NAME, rm of several names.

fn busybox() -> &'static str {
    static IMG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "cli/verbs:1");
        format!("{}/cli/verbs:1", reg.addr)
    })
}

/// A detached busybox that sleeps, named `name`.
fn sleeper(r: &std::path::Path, name: &str) {
    let o = gocker(r, &["run", "-d", "--name", name, busybox(), "sleep", "300"]);
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn an_unknown_verb_is_an_error_with_a_suggestion_not_a_script_name() {
    let root = root();
    let r = root.path();
    let o = gocker(r, &["restrat", "web"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).starts_with("error: unknown command: restrat (did you mean restart?)\n"),
        "{}",
        err(&o)
    );
    let o = gocker(r, &["imgaes"]);
    assert!(err(&o).contains("(did you mean images?)"), "{}", err(&o));
    let o = gocker(r, &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).starts_with("error: unknown command: frobnicate\n"),
        "{}",
        err(&o)
    );
    // What looks like a script's name is still read as one.
    let o = gocker(r, &["missing.rhai"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("cannot read missing.rhai"), "{}", err(&o));
}

#[test]
fn help_lists_every_verb() {
    let root = root();
    for args in [&["--help"][..], &["help"][..]] {
        let o = gocker(root.path(), args);
        assert!(o.status.success(), "{}", err(&o));
        let help = out(&o);
        for verb in [
            "run", "network", "ps", "exec", "logs", "stop", "kill", "pause", "unpause", "rm",
            "start", "restart", "inspect", "prune", "pull", "images", "rmi", "tag", "commit",
            "build", "cp", "save", "load", "push", "login", "logout",
        ] {
            assert!(
                help.lines().any(|l| l.starts_with(&format!("  {verb} "))),
                "{verb} missing from {args:?}:\n{help}"
            );
        }
    }
}

/// Runs the binary with its stdout a pipe whose reader is already gone.
fn into_a_closed_pipe(r: &std::path::Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(r)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start gocker-script");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait")
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let root = root();
    let r = root.path();
    sleeper(r, "piped");
    for args in [
        &["ps", "-a", "--json"][..],
        &["ps", "-a"],
        &["images"],
        &["images", "--json"],
        &["inspect", "piped"],
        &["-e", "for i in 0..100000 { print(i) }"],
        &["-e", "for i in 0..100000 { debug(i) }"],
    ] {
        let o = into_a_closed_pipe(r, args);
        let quiet = matches!(o.status.code(), Some(0) | Some(141))
            || o.status.signal() == Some(libc::SIGPIPE);
        assert!(quiet, "{args:?}: {:?} {}", o.status, err(&o));
        assert!(
            !err(&o).contains("panicked") && !err(&o).contains("Broken pipe"),
            "{args:?}: {}",
            err(&o)
        );
    }
    // The reader that reads the first line gets it whole.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --root {} ps -a --json | head -1",
            env!("CARGO_BIN_EXE_gocker-script"),
            r.display()
        ))
        .output()
        .unwrap();
    assert_eq!(out(&o), "[\n");
    assert_eq!(err(&o), "");
}

#[test]
fn tables_with_nothing_to_show_print_their_header() {
    let root = root();
    let r = root.path();
    for (args, header) in [
        (
            &["ps"][..],
            "CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES",
        ),
        (
            &["ps", "-a"],
            "CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES",
        ),
        (&["images"], "REPOSITORY   TAG   IMAGE ID   PLATFORM   SIZE"),
    ] {
        let o = gocker(r, args);
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(out(&o).trim_end(), header, "{args:?}");
    }
    // No network but the default one, and it has no containers: still a table.
    let o = gocker(r, &["network", "ls"]);
    assert!(out(&o).starts_with("NETWORK   BRIDGE"), "{}", out(&o));
    // A container that just started reads as Docker words it.
    sleeper(r, "fresh");
    let o = gocker(r, &["ps"]);
    let row = out(&o);
    assert!(
        row.contains(" ago") && row.contains("Up ") && !row.contains("1 seconds"),
        "{row}"
    );
}

#[test]
fn verb_errors_show_the_command_not_the_stdlib_and_debug_shows_where() {
    let root = root();
    let r = root.path();
    let o = gocker(r, &["run", "--rm", "127.0.0.1:1/nothing", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", err(&o));
    let e = err(&o);
    assert!(e.starts_with("error: registry: "), "{e}");
    assert_eq!(e.lines().count(), 1, "one line, no frames: {e}");
    assert!(
        !e.contains("stdlib") && !e.contains("pull_if_missing"),
        "{e}"
    );
    assert!(e.contains("is the registry running?"), "{e}");

    let o = gocker(
        r,
        &["--debug", "run", "--rm", "127.0.0.1:1/nothing", "true"],
    );
    assert_eq!(o.status.code(), Some(125));
    let e = err(&o);
    assert!(
        e.contains("stdlib/containers.rhai") && e.contains("in pull_if_missing"),
        "{e}"
    );
    let o = gocker(
        r,
        &["run", "--debug", "--rm", "127.0.0.1:1/nothing", "true"],
    );
    assert!(err(&o).contains("in pull_if_missing"), "after the verb too");

    // Other verbs fail with 1, as Docker's do.
    let o = gocker(r, &["logs", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        err(&o),
        "error: not_found: no container named or with id \"nosuch\"\n"
    );
}

#[test]
fn an_unreachable_registry_is_said_plainly_with_the_ways_around_it() {
    let root = root();
    // .invalid never resolves (RFC 2606): what an offline pull from docker.io meets.
    let o = gocker(root.path(), &["pull", "registry.invalid/library/busybox"]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains("registry registry.invalid cannot be reached (")
            && e.contains("127.0.0.1:5000/busybox")
            && e.contains("load -i")
            && e.contains("GOCKER_INSECURE_REGISTRIES"),
        "{e}"
    );
    assert!(!e.contains("stdlib"), "{e}");
}

#[test]
fn commands_that_cannot_start_exit_127_or_126_as_docker() {
    let root = root();
    let r = root.path();
    for (cmd, code, says) in [
        (&["no-such-command"][..], 127, "error: not_found: "),
        (&["/etc/passwd"], 126, "error: runtime: "),
        (&["sh", "-c", "exit 7"], 7, ""),
    ] {
        let mut args = vec!["run", "--rm", busybox()];
        args.extend(cmd);
        let o = gocker(r, &args);
        assert_eq!(o.status.code(), Some(code), "run {cmd:?}: {}", err(&o));
        assert!(err(&o).starts_with(says), "{}", err(&o));
        assert_eq!(err(&o).lines().count(), usize::from(code >= 126));
    }
    sleeper(r, "execbox");
    for (cmd, code) in [
        (&["no-such-command"][..], 127),
        (&["/etc/passwd"], 126),
        (&["sh", "-c", "exit 4"], 4),
    ] {
        let mut args = vec!["exec", "execbox"];
        args.extend(cmd);
        let o = gocker(r, &args);
        assert_eq!(o.status.code(), Some(code), "exec {cmd:?}: {}", err(&o));
    }
    // gocker-script's own failures: 125.
    let o = gocker(r, &["exec", "no-such-box", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", err(&o));
    // Scripts see the status as the error's exit_code.
    let o = gocker(
        r,
        &[
            "-e",
            r#"let c = ""; try { exec("execbox", ["no-such-command"]) } catch (e) { c = e.exit_code } c"#,
        ],
    );
    assert_eq!(out(&o).trim(), "127", "{}", err(&o));
}

#[test]
fn a_misspelt_run_option_is_refused_with_a_did_you_mean() {
    let root = root();
    let r = root.path();
    let o = gocker(
        r,
        &[
            "-e",
            &format!(r#"run({:?}, ["true"], #{{ detatch: true }})"#, busybox()),
        ],
    );
    assert!(!o.status.success());
    assert!(
        err(&o).contains(
            r#"invalid_argument: run: unknown option "detatch" (did you mean "detach"?; known: detach, rm, "#
        ),
        "{}",
        err(&o)
    );
    assert_eq!(
        out(&gocker(r, &["ps", "-a", "--json"])).trim(),
        "[]",
        "nothing ran"
    );
    // A shell line given as one string says what was expected.
    let o = gocker(r, &["-e", &format!(r#"run({:?}, "echo hi")"#, busybox())]);
    assert!(
        err(&o).contains("run: cmd must be an array of strings, got a string"),
        "{}",
        err(&o)
    );
    // The CLI's flags: the nearest flag, and a usage error.
    let o = gocker(r, &["run", "--detatch", busybox(), "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).starts_with("error: unknown flag for run: --detatch (did you mean --detach?)\n"),
        "{}",
        err(&o)
    );
    let o = gocker(r, &["run", "--memroy=64m", busybox(), "true"]);
    assert!(err(&o).contains("(did you mean --memory?)"), "{}", err(&o));
}

#[test]
fn options_are_named_as_the_cli_flags_with_the_old_names_as_aliases() {
    let root = root();
    let r = root.path();
    let limits = |name: &str, opts: &str| -> serde_json::Value {
        let o = gocker(
            r,
            &[
                "-e",
                &format!(
                    r#"let c = run({:?}, ["sleep", "300"], #{{ detach: true, name: {name:?}, {opts} }}); to_json(inspect(c.id).HostConfig)"#,
                    busybox()
                ),
            ],
        );
        assert!(o.status.success(), "{opts}: {}", err(&o));
        serde_json::from_str(&out(&o)).expect("limits as json")
    };
    let l = limits(
        "canonical",
        r#"memory: "64m", pids_limit: 50, cpu_shares: 512"#,
    );
    assert_eq!(l["Memory"], 64 << 20, "{l}");
    assert_eq!(l["PidsLimit"], 50, "{l}");
    assert_eq!(l["CpuShares"], 512, "{l}");
    let l = limits("aliased", r#"mem: "32m", pids: 40"#);
    assert_eq!(l["Memory"], 32 << 20, "{l}");
    assert_eq!(l["PidsLimit"], 40, "{l}");
    let o = gocker(
        r,
        &[
            "-e",
            &format!(
                r#"run({:?}, ["true"], #{{ mem: "1m", memory: "2m" }})"#,
                busybox()
            ),
        ],
    );
    assert!(
        err(&o).contains(r#"options "mem" and "memory" are the same"#),
        "{}",
        err(&o)
    );
    // The CLI's flags reach the same options.
    let o = gocker(
        r,
        &[
            "run",
            "-d",
            "--name",
            "flags",
            "--memory",
            "48m",
            "--pids-limit",
            "30",
            busybox(),
            "sleep",
            "300",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(r, &["inspect", "flags"]);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v[0]["HostConfig"]["Memory"], 48 << 20, "{v}");
    assert_eq!(v[0]["HostConfig"]["PidsLimit"], 30, "{v}");
    // stats: the limit of one without its own is the host's memory, not 2^63 - 4096.
    sleeper(r, "unlimited");
    let o = gocker(r, &["-e", "stats(\"unlimited\").memory_limit"]);
    let limit: u64 = out(&o).trim().parse().expect("a number");
    let host = std::fs::read_to_string("/proc/meminfo").unwrap();
    let host_kb: u64 = host
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(limit, host_kb * 1024, "the host's memory");
    let o = gocker(r, &["-e", "stats(\"flags\").memory_limit"]);
    assert_eq!(out(&o).trim(), (48u64 << 20).to_string());
}

#[test]
fn env_without_a_value_passes_the_callers() {
    let root = root();
    let r = root.path();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gocker-script"))
            .arg("--root")
            .arg(r)
            .args(args)
            .env("GOCKER_TEST_FROM_HOST", "host value")
            .env_remove("GOCKER_TEST_UNSET")
            .output()
            .unwrap()
    };
    let o = run(&[
        "run",
        "--rm",
        "-e",
        "GOCKER_TEST_FROM_HOST",
        "-e",
        "GOCKER_TEST_UNSET",
        "-e",
        "GIVEN=1",
        busybox(),
        "env",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let env = out(&o);
    assert!(env.contains("GOCKER_TEST_FROM_HOST=host value\n"), "{env}");
    assert!(env.contains("GIVEN=1\n"), "{env}");
    assert!(
        !env.contains("GOCKER_TEST_UNSET"),
        "unset on the host: left out: {env}"
    );
    sleeper(r, "envbox");
    let o = run(&["exec", "-e", "GOCKER_TEST_FROM_HOST", "envbox", "env"]);
    assert!(
        out(&o).contains("GOCKER_TEST_FROM_HOST=host value\n"),
        "{}",
        out(&o)
    );
}

#[test]
fn rm_of_several_names_removes_the_others_past_a_missing_one() {
    let root = root();
    let r = root.path();
    sleeper(r, "rm-a");
    sleeper(r, "rm-b");
    let o = gocker(r, &["rm", "-f", "rm-a", "rm-missing", "rm-b"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out(&o), "rm-a\nrm-b\n");
    assert_eq!(
        err(&o),
        "error: not_found: no container named or with id \"rm-missing\"\n"
    );
    assert_eq!(out(&gocker(r, &["ps", "-a", "--json"])).trim(), "[]");
    // restart: stop, then start again.
    sleeper(r, "again");
    let pid = |r| out(&gocker(r, &["-e", "find_container(\"again\").pid"]));
    let before = pid(r);
    let o = gocker(r, &["restart", "-t", "1", "again", "rm-missing"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out(&o), "again\n");
    let after = pid(r);
    assert!(
        before.trim() != after.trim() && after.trim() != "",
        "{before} {after}"
    );
    assert_eq!(
        out(&gocker(r, &["-e", "find_container(\"again\").status"])).trim(),
        "running"
    );
}

#[test]
fn words_after_the_image_are_the_commands_even_when_they_look_like_flags() {
    let root = root();
    let r = root.path();
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            busybox(),
            "-c",
            "echo via entrypoint",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "via entrypoint\n");
    let o = gocker(
        r,
        &[
            "run",
            "-d",
            "--name",
            "flags",
            "--network",
            "none",
            busybox(),
            "sleep",
            "60",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(
        r,
        &["exec", "-e", "B=2", "flags", "sh", "-c", "echo exec $B"],
    );
    assert_eq!(out(&o), "exec 2\n", "{}", err(&o));
    let o = gocker(r, &["rm", "-f", "flags"]);
    assert!(o.status.success(), "{}", err(&o));
}
