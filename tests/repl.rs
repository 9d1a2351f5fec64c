//! The REPL, driven through a real pseudo terminal: one scope across lines, multi-line
//! input, Tab completion, errors with a caret that do not end the session, Ctrl-D.

mod common;

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Guard, Pty};

#[test]
fn repl_session() {
    let root = common::root();
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gocker-script"));
    cmd.arg("--root")
        .arg(root.path())
        .env("HOME", home.path())
        .env("TERM", "xterm")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // Its own session with the pty as controlling terminal, so Ctrl-C is a real SIGINT.
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = Guard {
        child: Some(cmd.spawn().expect("start the REPL")),
        root: root.path().to_path_buf(),
    };
    let mut t = Pty {
        master: std::fs::File::from(pty.master),
        seen: String::new(),
    };
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
