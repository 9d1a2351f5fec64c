//! kill -9 at randomised (seeded) points of pull, rmi, run, rm and network_remove, each
//! followed by a consistency check: the database is intact, every container row has its
//! directory and every directory its row once the next command has looked, and in the end
//! rm + rmi + prune leave an empty store.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "kills/busybox:1");
        format!("{}/kills/busybox:1", reg.addr)
    })
}

/// A small deterministic generator (a seeded LCG): the same points every run.
struct Points(u64);

impl Points {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

/// Starts gocker-script with `args` and kills it (SIGKILL) after `ms` milliseconds; returns
/// whether it had already finished.
fn kill_after(root: &Path, args: &[&str], ms: u64) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gocker-script");
    std::thread::sleep(Duration::from_millis(ms));
    let finished = matches!(child.try_wait(), Ok(Some(_)));
    let _ = child.kill();
    let _ = child.wait();
    finished
}

fn sql_count(root: &Path, query: &str) -> i64 {
    let conn = rusqlite::Connection::open(root.join("db.sqlite")).expect("open db");
    conn.query_row(query, [], |r| r.get(0)).expect(query)
}

/// What is inconsistent in the store right now (empty when all is well).
fn violations(root: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let conn = rusqlite::Connection::open(root.join("db.sqlite")).expect("open db");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    if integrity != "ok" {
        bad.push(format!("database integrity: {integrity}"));
    }
    let rows: Vec<(String, String, i64)> = {
        let mut stmt = conn
            .prepare("SELECT id, status, COALESCE(shim_pid, 0) FROM containers")
            .unwrap();
        let v = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        v
    };
    for (id, status, shim) in &rows {
        // A running container's supervisor is alive.
        if status == "running" && !Path::new(&format!("/proc/{shim}")).exists() {
            bad.push(format!("running {id} has no supervisor"));
        }
        // Every row has its files, but for a container abandoned half-made (its creator was
        // killed between the row and the files: shown as Created, removed by prune or rm).
        let dir = root.join("containers").join(id);
        if !dir.join("launch.json").exists() && status != "created" {
            bad.push(format!("{status} container {id} has no launch file"));
        }
    }
    // Every directory has its row: a directory without one is a leak nothing would reclaim.
    if let Ok(dirs) = std::fs::read_dir(root.join("containers")) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            if !rows.iter().any(|(id, _, _)| *id == name) {
                bad.push(format!("container directory {name} has no row"));
            }
        }
    }
    bad
}

/// The store is consistent once the next command has looked at it. A supervisor that was
/// running when we looked (a killed caller's container ends on its own, --rm included) may
/// be between two steps of its own: then one more look, a moment later, must find it done.
fn check(root: &Path, what: &str) {
    let mut bad = Vec::new();
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
        let o = gocker(root, &["ps", "-a", "--json"]);
        assert!(
            o.status.success(),
            "{what}: the next command works: {}",
            err(&o)
        );
        bad = violations(root);
        if bad.is_empty() {
            return;
        }
    }
    panic!("{what}: {bad:#?}");
}

/// Removes everything, then checks that nothing at all is left.
fn empty_out(root: &Path) {
    let o = gocker(
        root,
        &[
            "-e",
            // A --rm container of a killed caller may end (and go) while this runs.
            "for c in containers() { try { remove(c, #{ force: true }) } catch (e) { if e.kind != \"not_found\" { throw e } } } for i in images() { rmi(i.id, #{ force: true }) } prune();",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    for table in [
        "containers",
        "images",
        "layers",
        "image_layers",
        "addresses",
    ] {
        assert_eq!(
            sql_count(root, &format!("SELECT COUNT(*) FROM {table}")),
            0,
            "rows left in {table}"
        );
    }
    for dir in ["layers", "containers", "tmp"] {
        let left: Vec<String> = std::fs::read_dir(root.join(dir))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "{dir} left: {left:?}");
    }
}

#[test]
fn killed_pulls_and_rmis_leave_a_consistent_store() {
    let root = root();
    let r = root.path();
    let mut points = Points(11);
    let mut finished = 0;
    for i in 0..12 {
        let ms = points.next_ms(40);
        if kill_after(r, &["pull", "-q", image()], ms) {
            finished += 1;
        }
        check(r, &format!("pull killed at {ms} ms (#{i})"));
        let ms = points.next_ms(12);
        if kill_after(r, &["rmi", "-f", image()], ms) {
            finished += 1;
        }
        check(r, &format!("rmi killed at {ms} ms (#{i})"));
    }
    eprintln!("pull/rmi: 24 kills, {finished} had finished first");
    empty_out(r);
}

#[test]
fn killed_runs_and_rms_leave_a_consistent_store() {
    let root = root();
    let r = root.path();
    let o = gocker(r, &["pull", "-q", image()]);
    assert!(o.status.success(), "{}", err(&o));
    let mut points = Points(23);
    let mut finished = 0;
    for i in 0..12 {
        let name = format!("k{i}");
        let ms = points.next_ms(30);
        finished += kill_after(
            r,
            &[
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                &name,
                image(),
                "sleep",
                "30",
            ],
            ms,
        ) as i32;
        check(r, &format!("run killed at {ms} ms (#{i})"));
        let ms = points.next_ms(20);
        finished += kill_after(r, &["rm", "-f", &name], ms) as i32;
        check(r, &format!("rm killed at {ms} ms (#{i})"));
        let ms = points.next_ms(30);
        finished += kill_after(
            r,
            &["run", "--rm", "--network", "none", image(), "true"],
            ms,
        ) as i32;
        check(r, &format!("run --rm killed at {ms} ms (#{i})"));
    }
    eprintln!("run/rm/run --rm: 36 kills, {finished} had finished first");
    empty_out(r);
}

#[test]
fn killed_network_removals_leave_a_consistent_host() {
    let root = root();
    let r = root.path();
    let o = gocker(r, &["pull", "-q", image()]);
    assert!(o.status.success(), "{}", err(&o));
    let mut points = Points(37);
    for i in 0..10 {
        let (subnet, bridge) = unique_subnet();
        let name = format!("kn{i}");
        let made = gocker(
            r,
            &[
                "network", "create", "--subnet", &subnet, "--bridge", &bridge, &name,
            ],
        );
        assert!(made.status.success(), "{}", err(&made));
        let o = gocker(r, &["run", "--rm", "--network", &name, image(), "true"]);
        assert!(o.status.success(), "{}", err(&o));
        let ms = points.next_ms(10);
        kill_after(r, &["network", "rm", &name], ms);
        check(r, &format!("network rm killed at {ms} ms (#{i})"));
        // Whatever the kill left, removing again finishes the job, and nothing stays.
        let _ = gocker(r, &["network", "rm", &name]);
        assert!(
            !Path::new("/sys/class/net").join(&bridge).exists(),
            "bridge {bridge} left (#{i})"
        );
    }
    empty_out(r);
}
