//! gocker-shim: a container's supervisor and the exec helper, as a program of their own.
//!
//! gocker-script starts a detached container's supervisor (and an exec helper) from this
//! small program when it is installed beside it: a supervisor lives as long as its container
//! and should cost little memory, and this program holds no scripting engine, no registry
//! client and no command-line parser, only what supervising and joining a container need.
//! It is not run by hand; its command lines are `__shim '{json}'`, `__shim-early '{json}'`
//! (a supervisor started before its container, given its id on descriptor 4) and
//! `__exec '{json}'`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match gocker::container::process::internal_entry(&args) {
        Some(code) => ExitCode::from(code.clamp(0, 255) as u8),
        None => {
            eprintln!("gocker-shim is a helper of gocker-script and is not run by hand (it takes __shim, __shim-early or __exec and their JSON arguments)");
            ExitCode::from(2)
        }
    }
}
