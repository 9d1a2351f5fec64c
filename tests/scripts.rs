//! Every script under scripts/ runs end to end against the local test registry, and its
//! output is checked.

mod common;

use std::process::Command;

use common::*;

fn run_script(name: &str, args: &[&str]) -> (i32, String, String) {
    let root = root();
    let o = Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(root.path())
        .arg(format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .output()
        .expect("run script");
    assert!(mounts_under(root.path()).is_empty(), "{name} left mounts");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn busybox() -> String {
    let reg = registry();
    push_busybox(reg, "scripts/busybox:latest");
    format!("{}/scripts/busybox:latest", reg.addr)
}

#[test]
fn every_script_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rhai"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "demo.rhai",
            "namespaces.rhai",
            "oom.rhai",
            "two-containers.rhai"
        ],
        "a new script needs a test here"
    );
}

#[test]
fn demo() {
    let reg = registry();
    push_busybox(reg, "busybox:latest");
    let (code, out, err) = run_script("demo.rhai", &[&reg.addr]);
    assert_eq!(code, 0, "{out}\n{err}");
    for want in [
        "inside: hello from demo-box, I am PID 1",
        "it exited with 3",
        "I am PID 1 of a fresh PID namespace, on runner",
        "demo-web",
        "serving",
        "limit now 50331648 bytes",
        "demo-web: exited (137)",
        "a neighbour fetched http://demo-site/hostname by name: site",
        "demo-net",
        "caught not_found",
        "images left: 0, containers left: 0",
    ] {
        assert!(out.contains(want), "demo prints {want:?}:\n{out}\n{err}");
    }
}

#[test]
fn two_containers() {
    let (code, out, err) = run_script("two-containers.rhai", &[&busybox()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("report: 5 rows"), "{out}\n{err}");
    assert!(out.contains("containers left: 0"), "{out}");
}

#[test]
fn oom() {
    let (code, out, err) = run_script("oom.rhai", &[&busybox()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("limit 16m: exit 137, oom_killed true"),
        "{out}\n{err}"
    );
    assert!(
        out.contains("limit 128m: exit 0, oom_killed false"),
        "{out}\n{err}"
    );
}

#[test]
fn namespaces() {
    let (code, out, err) = run_script("namespaces.rhai", &[&busybox()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("explorer"), "{out}");
    let net: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("net namespace"))
        .skip(1)
        .take_while(|l| !l.starts_with("--"))
        .collect();
    assert_eq!(net.len(), 2, "loopback and eth0: {out}");
    assert_eq!(net[0], "lo 127.0.0.1/8", "{out}");
    assert!(net[1].starts_with("eth0 10."), "{out}");
    assert!(out.contains("default via 10."), "{out}");
    assert!(out.contains("CapEff:\t00000000800405fb"), "{out}");
    assert!(out.contains("1 sleep"), "{out}");
}
