//! The REPL, driven through a real pseudo terminal: one scope across lines, multi-line
//! input, Tab completion, errors with a caret that do not end the session, Ctrl-D.

mod common;

use std::process::Command;
use std::time::Duration;

use common::on_pty;

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
