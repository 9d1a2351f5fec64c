//! Trace mode: when on, each primitive prints the system-level steps it takes, one line each,
//! to stderr. This is how gocker-script teaches what a container is made of.

use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

pub fn set(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Prints one step when tracing; the closure is not run otherwise. A closed stderr (`2>&1 |
/// head`) loses the line, never the step: a supervisor must not die half-way through a start
/// for want of a reader (eprintln! would panic there).
pub fn step(line: impl FnOnce() -> String) {
    if enabled() {
        use std::io::{IsTerminal, Write};
        let mut err = std::io::stderr();
        let _ = if err.is_terminal() {
            writeln!(err, "\x1b[2m[trace] {}\x1b[0m", line())
        } else {
            writeln!(err, "[trace] {}", line())
        };
    }
}
