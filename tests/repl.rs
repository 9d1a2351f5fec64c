//! The REPL, driven through a real pseudo terminal: one scope across lines, multi-line
//! input, Tab completion, errors with a caret that do not end the session, Ctrl-D.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{on_pty, Guard, Pty};

/// The REPL on a fresh pseudo terminal, with `env` set, ready for input.
fn repl(root: &std::path::Path, home: &std::path::Path, env: &[(&str, &str)]) -> (Guard, Pty) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gocker-script"));
    cmd.arg("--root")
        .arg(root)
        .env("HOME", home)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (child, mut t) = on_pty(cmd, root, None);
    t.expect("\u{1b}[?2004h");
    (child, t)
}

fn busybox(repo: &str) -> String {
    let reg = common::registry();
    common::push_busybox(reg, repo);
    format!("{}/{repo}", reg.addr)
}

#[test]
fn repl_session() {
    let root = common::root();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gocker-script"));
    cmd.arg("--root")
        .arg(root.path())
        .env("HOME", home.path())
        .env("TERM", "xterm");
    let (mut child, mut t) = on_pty(cmd, root.path(), None);
    t.expect("\u{1b}[?2004h");
    t.line("let x = 40 + 2;");
    assert!(t.line("x").contains("42"));
    // A function over several lines, callable on a later line.
    t.line("fn double(n) {");
    t.expect("...> ");
    t.line("n * 2");
    t.expect("...> ");
    t.line("}");
    assert!(t.line("double(x)").contains("84"));
    // An error shows a caret and the session goes on.
    let screen = t.line("image(\"nope\")");
    assert!(
        screen.contains("not_found") && screen.contains('^'),
        "{screen:?}"
    );
    assert!(t.line("x + 1").contains("43"));
    // Tab completes a function name.
    t.send("help(\"pul");
    t.expect("pul");
    t.send("\t");
    t.expect("pull");
    let screen = t.line("\")");
    assert!(
        screen.contains("pull(ref) / pull(ref, #{") && screen.contains("example:"),
        "{screen:?}"
    );
    // Ctrl-C stops a running line, not the REPL.
    t.send("let n = 0; while true { n += 1; }\r");
    // rustyline switches bracketed paste off once the line is accepted, before it runs.
    t.expect("\u{1b}[?2004l");
    std::thread::sleep(Duration::from_millis(50));
    t.send("\x03");
    t.expect("interrupted");
    t.expect("\u{1b}[?2004h");
    assert!(t.line("n > 0").contains("true"));
    // Ctrl-D leaves, and the history was saved.
    t.send("\x04");
    let status = child.wait();
    assert!(status.success());
    let history =
        std::fs::read_to_string(home.path().join(".gocker_script_history")).unwrap_or_default();
    assert!(history.contains("let x = 40 + 2;"), "{history}");
}

/// Values print as themselves, lists of images and containers as tables; no Rust type name
/// ever reaches the screen.
#[test]
fn repl_prints_values_as_themselves() {
    let root = common::root();
    let home = tempfile::tempdir().unwrap();
    let image = busybox("repl/show:1");
    let (mut child, mut t) = repl(root.path(), home.path(), &[("NO_COLOR", "1")]);
    let mut screen = String::new();
    // Nothing yet: a header, as docker ps shows, not [].
    let s = t.line("ps()");
    assert!(s.contains("CONTAINER ID") && !s.contains("[]"), "{s:?}");
    t.line(&format!(r#"let c = container("{image}");"#));
    let s = t.line(r#"c.set_memory_limit("64m")"#);
    assert!(
        s.contains(&format!("Spec({image}, mem=64m, net=none)")),
        "{s:?}"
    );
    screen += &s;
    let s = t.line(&format!(
        r#"let img = pull("{image}", #{{ quiet: true }}); img"#
    ));
    assert!(s.contains(&format!("Image({image}, ")), "{s:?}");
    screen += &s;
    let s = t.line("images()");
    assert!(s.contains("REPOSITORY") && s.contains("IMAGE ID"), "{s:?}");
    screen += &s;
    t.line(r#"c.unshare(["pid", "mount"]); c.mount_rootfs(); c.set_name("repl-show");"#);
    let s = t.line(r#"let p = c.spawn(["sleep", "30"], #{ detach: true }); p"#);
    assert!(s.contains("Process(repl-show, pid "), "{s:?}");
    screen += &s;
    let s = t.line("c.container");
    assert!(s.contains("Container(repl-show, running"), "{s:?}");
    screen += &s;
    let s = t.line("containers()");
    assert!(
        s.contains("CONTAINER ID") && s.contains("NAMES") && s.contains("repl-show"),
        "{s:?}"
    );
    screen += &s;
    let s = t.line("[c, c.container]");
    assert!(
        s.contains("Spec(") && s.contains("Container(repl-show"),
        "{s:?}"
    );
    screen += &s;
    let s = t.line("print(c); c.to_string()");
    screen += &s;
    assert!(
        !screen.contains("gocker::") && !screen.contains("SpecRef"),
        "{screen:?}"
    );
    t.line("kill(c); remove(c)");
    t.send("\x04");
    assert!(child.wait().success());
}

/// Types `text`, presses Tab twice, and returns the candidates listed; clears the line.
fn candidates(t: &mut Pty, text: &str) -> String {
    t.send("\x03");
    t.expect("\u{1b}[?2004h");
    t.send(text);
    t.expect(text);
    t.send("\t\t");
    t.expect("gocker> ")
}

/// Tab after `x.` lists what x's type has: a Spec's methods, a string's; after something
/// unknown, the functions.
#[test]
fn repl_completes_by_the_receivers_type() {
    let root = common::root();
    let home = tempfile::tempdir().unwrap();
    let (mut child, mut t) = repl(root.path(), home.path(), &[("NO_COLOR", "1")]);
    t.line(r#"let c = container("busybox");"#);
    // One Tab completes what all candidates share; the second lists them (and the prompt
    // is drawn again below the list).
    t.send("c.set_m");
    t.expect("set_m");
    t.send("\t");
    t.expect("set_memory_");
    t.send("\t");
    let listed = t.expect("gocker> ");
    assert!(
        listed.contains("set_memory_limit") && listed.contains("set_memory_swap"),
        "{listed:?}"
    );
    // Everything a Spec has, nothing it has not.
    let listed = candidates(&mut t, "c.");
    assert!(
        listed.contains("set_hostname") && listed.contains("spawn") && listed.contains("unshare"),
        "{listed:?}"
    );
    assert!(
        !listed.contains("pull") && !listed.contains("network_create"),
        "{listed:?}"
    );
    // A string's methods.
    let listed = candidates(&mut t, "\"abc\".to_");
    assert!(
        listed.contains("to_upper")
            && listed.contains("to_lower")
            && !listed.contains("to_seconds"),
        "{listed:?}"
    );
    // Unknown receiver: the functions.
    let listed = candidates(&mut t, "zz.pu");
    assert!(
        listed.contains("push") && listed.contains("pull_if_missing"),
        "{listed:?}"
    );
    // The inline hint after `c.` is the rest of one of a Spec's own members.
    t.send("\x03");
    t.expect("\u{1b}[?2004h");
    t.send("c.set_hostn");
    t.expect("c.set_hostname");
    t.send("\x03");
    t.expect("\u{1b}[?2004h");
    t.send("\x04");
    assert!(child.wait().success());
}

/// Keywords, strings, numbers and comments are coloured on a terminal, and not with NO_COLOR.
#[test]
fn repl_colours_syntax_unless_no_color() {
    let root = common::root();
    let home = tempfile::tempdir().unwrap();
    let (mut child, mut t) = repl(root.path(), home.path(), &[]);
    let s = t.line(r#"let n = 42; let s = "hi"; // note"#);
    for want in [
        "\u{1b}[35mlet\u{1b}[0m",
        "\u{1b}[33m42\u{1b}[0m",
        "\u{1b}[32m\"hi\"\u{1b}[0m",
        "\u{1b}[90m// note",
    ] {
        assert!(s.contains(want), "{want:?} in {s:?}");
    }
    t.send("\x04");
    assert!(child.wait().success());

    let (mut child, mut t) = repl(root.path(), home.path(), &[("NO_COLOR", "1")]);
    let s = t.line(r#"let n = 42; let s = "hi"; // note"#);
    assert!(
        !s.contains("\u{1b}[35m") && !s.contains("\u{1b}[32m"),
        "{s:?}"
    );
    t.send("\x04");
    assert!(child.wait().success());
}

/// help(run) needs no quotes; help(Container) and help(c) list a type's properties and
/// methods.
#[test]
fn repl_help_takes_bare_names_and_types() {
    let root = common::root();
    let home = tempfile::tempdir().unwrap();
    let (mut child, mut t) = repl(root.path(), home.path(), &[("NO_COLOR", "1")]);
    let s = t.line("help(run)");
    assert!(s.contains("run(image) / run(image, cmd)"), "{s:?}");
    let s = t.line("help(Container)");
    assert!(
        s.contains("Container: ") && s.contains(".status") && s.contains(".exec"),
        "{s:?}"
    );
    let s = t.line(r#"help("Image")"#);
    assert!(s.contains(".mount_image") && s.contains(".tags"), "{s:?}");
    // A variable is its value: help for its type.
    t.line(r#"let c = container("busybox");"#);
    let s = t.line("help(c)");
    assert!(
        s.contains("Spec: ") && s.contains(".set_memory_limit"),
        "{s:?}"
    );
    t.send("\x04");
    assert!(child.wait().success());
}

/// The first running container of a root, once there is one.
fn running(root: &std::path::Path) -> String {
    for _ in 0..200 {
        let out = common::gocker_ok(
            root,
            &[
                "-e",
                r#"let r = containers(#{ running: true }); if r.len() > 0 { print(r[0].id) }"#,
            ],
        );
        if !out.trim().is_empty() {
            return out.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no container started");
}

/// Ctrl-C on a foreground container reaches it; one whose PID 1 ignores SIGINT is killed
/// by a second Ctrl-C, recorded as 130; the REPL survives both and prompts again. A Ctrl-C
/// also ends a sleep at once.
#[test]
fn repl_ctrl_c_stops_a_foreground_container() {
    let root = common::root();
    let home = tempfile::tempdir().unwrap();
    let image = busybox("repl/ctrlc:1");
    let (mut child, mut t) = repl(root.path(), home.path(), &[("NO_COLOR", "1")]);
    t.line(&format!(r#"pull("{image}", #{{ quiet: true }});"#));
    // A container that handles SIGINT ends of the first Ctrl-C, in its own way.
    t.send(&format!(
        r#"run("{image}", ["sh", "-c", "trap 'exit 7' INT; sleep 30 & wait"], #{{ network: "none", name: "repl-trap" }})"#
    ));
    t.send("\r");
    running(root.path());
    std::thread::sleep(Duration::from_millis(300));
    t.send("\x03");
    let s = t.expect("\u{1b}[?2004h");
    assert!(s.contains("\n7\r") || s.contains("7\r\n"), "{s:?}");
    // sleep 30 as PID 1 ignores SIGINT: the second Ctrl-C within 2 s kills it.
    t.send(&format!(
        r#"run("{image}", ["sleep", "30"], #{{ network: "none", name: "repl-sleep" }})"#
    ));
    t.send("\r");
    running(root.path());
    t.send("\x03");
    t.expect("Ctrl-C again within 2 s kills it");
    t.send("\x03");
    let s = t.expect("\u{1b}[?2004h");
    assert!(s.contains("130"), "{s:?}");
    let s = t.line(r#"find_container("repl-sleep").exit_code"#);
    assert!(s.contains("130"), "{s:?}");
    // Waiting for a detached container is stopped too; the container keeps running.
    t.line(&format!(
        r#"let d = run("{image}", ["sleep", "30"], #{{ network: "none", name: "repl-bg", detach: true }});"#
    ));
    t.send("wait(d)\r");
    t.expect("\u{1b}[?2004l");
    std::thread::sleep(Duration::from_millis(200));
    t.send("\x03");
    t.expect("interrupted");
    t.expect("\u{1b}[?2004h");
    assert!(t.line("d.status").contains("running"));
    t.line("kill(d); remove(d, #{ force: true });");
    // The REPL is still here, and Ctrl-C ends a sleeping line too.
    t.send("sleep(30); 1\r");
    t.expect("\u{1b}[?2004l");
    std::thread::sleep(Duration::from_millis(200));
    t.send("\x03");
    t.expect("interrupted");
    t.expect("\u{1b}[?2004h");
    assert!(t.line("40 + 2").contains("42"));
    t.send("\x04");
    assert!(child.wait().success());
}
