//! The REPL, driven through a real pseudo terminal: one scope across lines, multi-line
//! input, Tab completion, errors with a caret that do not end the session, Ctrl-D.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Pty {
    master: std::fs::File,
    seen: String,
}

impl Pty {
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = self.seen.find(needle) {
                let upto = self.seen[..i + needle.len()].to_string();
                self.seen.drain(..i + needle.len());
                return upto;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; screen so far: {:?}",
                self.seen
            );
            let mut fds = [libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 200) };
            if n > 0 {
                match self.master.read(&mut buf) {
                    Ok(0) | Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    Ok(k) => self.seen.push_str(&String::from_utf8_lossy(&buf[..k])),
                }
            }
        }
    }

    /// Types a line and returns what the screen showed until the REPL reads again (rustyline
    /// switches bracketed paste back on, ESC[?2004h, at every new read; it also discards
    /// typeahead then, so each line waits for it).
    fn line(&mut self, text: &str) -> String {
        self.send(text);
        self.send("\r");
        self.expect("\u{1b}[?2004h")
    }

    fn send(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("write to pty");
    }
}

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
    let mut child = cmd.spawn().expect("start the REPL");
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
    std::thread::sleep(Duration::from_millis(300));
    t.send("\x03");
    t.expect("interrupted");
    t.expect("\u{1b}[?2004h");
    assert!(t.line("n > 0").contains("true"));
    // Ctrl-D leaves, and the history was saved.
    t.send("\x04");
    let status = child.wait().expect("REPL exits");
    assert!(status.success());
    let history =
        std::fs::read_to_string(home.path().join(".gocker_script_history")).unwrap_or_default();
    assert!(history.contains("let x = 40 + 2;"), "{history}");
}
