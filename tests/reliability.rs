//! Nothing lost, nothing leaked: names under load and under races, a full disk at exit, a
//! supervisor killed under --rm, containers abandoned half-made, bad input at the boundary.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use gocker::container::spec::Spec;
use gocker::container::{Attach, ContainerStore, Status};
use gocker::image::{ImageStore, PullOptions};
use gocker::store::{Db, Paths};
use gocker::Kind;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "rel/busybox:1");
        format!("{}/rel/busybox:1", reg.addr)
    })
}

fn stores(root: &Path) -> (ImageStore, ContainerStore) {
    let paths = Paths::new(root);
    paths.ensure().unwrap();
    let db = Arc::new(Db::open(&paths.db()).unwrap());
    let images = ImageStore::with_db(paths.clone(), db.clone()).unwrap();
    images.pull(image(), &PullOptions::default()).expect("pull");
    let mut containers = ContainerStore::new(paths, db);
    containers.set_helper(env!("CARGO_BIN_EXE_gocker-script"));
    (images, containers)
}

/// 1500 unnamed containers in one root all get a name: generated names retry on collision.
#[test]
fn fifteen_hundred_unnamed_containers_all_get_names() {
    let root = root();
    let (images, containers) = stores(root.path());
    let spec = Spec::new(image());
    let mut names = std::collections::HashSet::new();
    for _ in 0..1500 {
        let c = containers
            .create(&images, &spec, Some(vec!["true".into()]))
            .expect("create");
        assert!(names.insert(c.name.clone()), "duplicate name {}", c.name);
    }
    assert_eq!(containers.list().unwrap().len(), 1500);
    let o = gocker(root.path(), &["prune"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        containers.list().unwrap().is_empty(),
        "prune removes abandoned ones"
    );
}

/// Eight scripts at once creating and removing the same names: the losers get a conflict,
/// never a database error, and nothing is left.
#[test]
fn eight_concurrent_scripts_fight_over_names() {
    let root = root();
    let (images, containers) = stores(root.path());
    drop((images, containers));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let r = root.path().to_path_buf();
            std::thread::spawn(move || {
                let mut conflicts = 0;
                for i in 0..10 {
                    let name = format!("shared-{}", (t + i) % 3);
                    let o = gocker(
                        &r,
                        &[
                            "-e",
                            &format!(
                                "try {{ let c = container(image(\"{}\")); c.unshare([\"mount\"]); c.mount_rootfs(); c.set_name(\"{name}\"); let p = c.spawn([\"true\"]); p.wait(); remove(\"{name}\"); }} catch (e) {{ print(e.kind) }}",
                                image()
                            ),
                        ],
                    );
                    let text = out(&o);
                    assert!(o.status.success(), "{}", err(&o));
                    for kind in text.lines() {
                        assert!(
                            kind == "conflict" || kind == "not_found",
                            "a race is a conflict (or the other side removed it first), not {kind}"
                        );
                        conflicts += 1;
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    eprintln!("8 scripts x 10 runs over 3 names: {conflicts} conflicts");
    let (_, containers) = stores(root.path());
    assert!(containers.list().unwrap().is_empty(), "nothing left");
}

/// A small tmpfs as the root: a container exits while the disk is full, and its exit code
/// and its --rm survive.
#[test]
fn a_full_disk_loses_no_exit_code_and_no_rm() {
    let mnt = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "gocker-full"])
        .arg(mnt.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount a small tmpfs");
    let root_dir = mnt.path().join("root");
    let result = std::panic::catch_unwind(|| {
        let (images, containers) = stores(&root_dir);
        let gate = mnt.path().join("gate");
        std::fs::create_dir(&gate).unwrap();
        let vol = format!("{}", gate.display());
        let mut spec = Spec::new(image());
        spec.binds.push(gocker::container::spec::Bind {
            source: gate.clone(),
            target: "/gate".into(),
            readonly: false,
        });
        let wait_gate = Some(vec![
            "sh".into(),
            "-c".into(),
            "while [ ! -e /gate/go ]; do sleep 0.05; done; exit 3".into(),
        ]);
        let kept = containers
            .run(&images, &spec, wait_gate.clone(), Attach::Detach)
            .expect("run");
        spec.auto_remove = true;
        let gone = containers
            .run(&images, &spec, wait_gate, Attach::Detach)
            .expect("run --rm");
        // Fill the disk, then let both exit.
        let filler = mnt.path().join("filler");
        let _ = std::process::Command::new("dd")
            .args(["if=/dev/zero", "bs=1M", "count=64"])
            .arg(format!("of={}", filler.display()))
            .output();
        std::fs::write(gate.join("go"), b"").ok();
        let _ = vol;
        // The supervisors give up on the database after a while; then space comes back.
        std::thread::sleep(Duration::from_secs(2));
        std::fs::remove_file(&filler).unwrap();
        let c = containers.get(&kept.container.id).expect("still recorded");
        let c = if c.status == Status::Running {
            containers
                .wait(&c.id, Some(Duration::from_secs(10)))
                .unwrap();
            containers.get(&c.id).unwrap()
        } else {
            c
        };
        assert_eq!(c.exit_code, Some(3), "the real exit code, not 137");
        let e = containers.get(&gone.container.id);
        assert!(
            matches!(&e, Err(e) if e.kind() == Kind::NotFound),
            "--rm honoured: {:?}",
            e.map(|c| c.status)
        );
        containers.remove(&c.id, true).unwrap();
    });
    let _ = gocker(
        &root_dir,
        &[
            "-e",
            "for c in containers() { remove(c, #{ force: true }) }",
        ],
    );
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(mnt.path())
        .status();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

/// A supervisor killed under a --rm container: the next look at the store finishes the
/// container's life, --rm included.
#[test]
fn a_killed_supervisor_still_honours_rm() {
    let root = root();
    let (images, containers) = stores(root.path());
    let mut spec = Spec::new(image());
    spec.auto_remove = true;
    let s = containers
        .run(
            &images,
            &spec,
            Some(vec!["sleep".into(), "60".into()]),
            Attach::Detach,
        )
        .expect("run");
    let shim = shim_of(&s.container.id);
    // SAFETY: killing the supervisor process we just found.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    // The init dies with it (PDEATHSIG); then any command finishes the container.
    let mut gone = false;
    for _ in 0..100 {
        if containers.list().unwrap().is_empty() {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        gone,
        "the --rm container was removed by whoever looked next"
    );
    assert!(!root
        .path()
        .join("containers")
        .join(&s.container.id)
        .exists());
    assert!(!Path::new(&format!(
        "/sys/fs/cgroup/memory/gocker-script/{}",
        s.container.id
    ))
    .exists());
}

/// The container once it has exited (looked at every 50 ms, 5 s at most).
fn exited(containers: &ContainerStore, id: &str) -> gocker::container::Container {
    let mut c = containers.get(id).unwrap();
    for _ in 0..100 {
        if c.status == Status::Exited {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        c = containers.get(id).unwrap();
    }
    c
}

/// A detached container running `sleep 60`, by id.
fn detached_sleeper(images: &ImageStore, containers: &ContainerStore) -> String {
    containers
        .run(
            images,
            &Spec::new(image()),
            Some(vec!["sleep".into(), "60".into()]),
            Attach::Detach,
        )
        .expect("run")
        .container
        .id
}

fn shim_of(id: &str) -> i32 {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let text = String::from_utf8_lossy(&cmd);
            if text.contains("__shim") && text.contains(id) {
                return pid;
            }
        }
    }
    panic!("no supervisor for {id}");
}

/// A supervisor of a version before the one lock file per container holds its own,
/// `shim-<id>.lock`, with flock: after an upgrade it is still taken for alive (its container
/// is not finished under it), and the file goes with the container.
#[test]
fn a_supervisor_holding_the_lock_of_an_earlier_version_is_alive() {
    let root = root();
    let (images, containers) = stores(root.path());
    let id = detached_sleeper(&images, &containers);
    let locks = root.path().join("locks");
    let legacy = gocker::store::lock::exclusive(&locks, &format!("shim-{id}")).unwrap();
    // The supervisor goes (its container with it); the lock of the earlier version stays.
    // SAFETY: killing the supervisor process we just found.
    unsafe { libc::kill(shim_of(&id), libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(containers.get(&id).unwrap().status, Status::Running);
    drop(legacy);
    let c = exited(&containers, &id);
    assert_eq!(c.status, Status::Exited, "finished once nobody holds it");
    containers.remove(&id, false).unwrap();
    assert!(!locks.join(format!("shim-{id}.lock")).exists());
    assert!(!locks.join(format!("container-{id}.lock")).exists());
}

/// A container whose creator died before starting it is abandoned: prune removes it, and
/// `start` says what happened instead of a not_found and a silent delete.
#[test]
fn abandoned_containers_are_pruned_and_explained() {
    let root = root();
    let (images, containers) = stores(root.path());
    let spec = Spec::new(image());
    let c = containers
        .create(&images, &spec, Some(vec!["true".into()]))
        .unwrap();
    // As if the creator had been killed between the row and its files.
    std::fs::remove_file(
        root.path()
            .join("containers")
            .join(&c.id)
            .join("launch.json"),
    )
    .unwrap();
    let e = containers
        .start(&c.id, Attach::Detach)
        .err()
        .expect("refused");
    assert_eq!(e.kind(), Kind::Conflict);
    assert!(e.message().contains("never completely created"), "{e}");
    assert!(containers
        .abandoned(&containers.get(&c.id).unwrap())
        .unwrap());
    let o = gocker(root.path(), &["-e", "prune().containers.len()"]);
    assert_eq!(out(&o).trim(), "1", "{}", err(&o));
    assert!(containers.list().unwrap().is_empty());
    assert!(!root.path().join("containers").join(&c.id).exists());
}

#[test]
fn bad_sizes_counts_and_paths_are_refused_at_the_boundary() {
    let root = root();
    let r = root.path();
    let cases = [
        (
            "container(\"x\").set_memory_limit(\"99999999999999999999g\")",
            "too large",
        ),
        ("container(\"x\").set_cpu_limit(1e300)", "this host has"),
        (
            "container(\"x\").set_cpu_limit(0.0 / 0.0)",
            "positive number",
        ),
        ("logs(\"x\", #{ tail: -5 })", "tail must be 0 or more"),
        ("save(\"x\", \"\")", "save needs a path"),
        (
            "container(\"x\").set_cpu_shares(1000000)",
            "between 2 and 262144",
        ),
        ("container(\"x\").set_pids_limit(-7)", "0 or -1 for none"),
    ];
    for (script, want) in cases {
        let o = gocker(r, &["-e", script]);
        assert!(!o.status.success(), "{script} refused");
        assert!(
            err(&o).contains("invalid_argument"),
            "{script}: {}",
            err(&o)
        );
        assert!(err(&o).contains(want), "{script}: {}", err(&o));
    }
}

/// The state a full disk leaves: the supervisor wrote the exit into its record (at the start
/// of the container's lock file), then could not write the database, and exited. Whoever
/// looks next keeps that exit code.
#[test]
fn an_exit_recorded_only_in_its_file_is_kept() {
    let root = root();
    let (images, containers) = stores(root.path());
    let id = detached_sleeper(&images, &containers);
    let shim = shim_of(&id);
    let lock_file = root
        .path()
        .join("locks")
        .join(format!("container-{id}.lock"));
    let mut record = b"42 1".to_vec();
    record.resize(64, b' ');
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new()
            .write(true)
            .open(&lock_file)
            .unwrap(),
        &record,
        0,
    )
    .unwrap();
    // SAFETY: killing the supervisor process we just found.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    let c = exited(&containers, &id);
    assert_eq!(c.status, Status::Exited);
    assert_eq!(c.exit_code, Some(42), "from the exit record, not 137");
    assert!(c.oom_killed);
    containers.remove(&id, false).unwrap();
}

/// A bridge left by a root that was deleted does not block another root from its name.
#[test]
fn a_stale_bridge_from_a_deleted_root_is_cleared() {
    let (subnet, bridge) = unique_subnet();
    let a = tempfile::Builder::new()
        .prefix("gocker-root-")
        .tempdir()
        .unwrap();
    let made = gocker(
        a.path(),
        &[
            "network", "create", "--subnet", &subnet, "--bridge", &bridge, "net",
        ],
    );
    assert!(made.status.success(), "{}", err(&made));
    let o = gocker(
        a.path(),
        &["run", "--rm", "--network", "net", image(), "true"],
    );
    assert!(o.status.success(), "{}", err(&o));
    // The root goes, the bridge stays behind (as after a demo or a deleted test root).
    drop(a);
    assert!(link_exists(&bridge));
    let b = root();
    let o = gocker(
        b.path(),
        &[
            "network", "create", "--subnet", &subnet, "--bridge", &bridge, "net",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(
        b.path(),
        &["run", "--rm", "--network", "net", image(), "true"],
    );
    assert!(
        o.status.success(),
        "the stale bridge is replaced: {}",
        err(&o)
    );
    let o = gocker(b.path(), &["network", "rm", "net"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(!link_exists(&bridge), "nothing left");
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Listing networks records nothing: the default network can still be made with the
/// user's own subnet afterwards.
#[test]
fn listing_networks_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = gocker(dir.path(), &["network", "ls"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("bridge"),
        "the default network is shown: {}",
        out(&o)
    );
    let (subnet, bridge) = unique_subnet();
    let o = gocker(
        dir.path(),
        &[
            "network", "create", "--subnet", &subnet, "--bridge", &bridge, "bridge",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = gocker(dir.path(), &["network", "rm", "bridge"]);
    assert!(o.status.success(), "{}", err(&o));
}

/// What killed pulls and rmis leave (rows without images, directories without rows, scratch)
/// is reclaimed by prune: after rmi of everything, the store is empty.
#[test]
fn prune_reclaims_what_killed_processes_left() {
    let root = root();
    let r = root.path();
    let (images, _containers) = stores(r);
    let layers = r.join("layers");
    let real: Vec<String> = std::fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".split"))
        .collect();
    assert!(!real.is_empty());
    // A killed rmi: a layer directory and its tar-split with no row.
    let orphan = "ab".repeat(32);
    std::fs::create_dir(layers.join(&orphan)).unwrap();
    std::fs::write(layers.join(&orphan).join("file"), b"x").unwrap();
    std::fs::write(layers.join(format!("{orphan}.split")), b"x").unwrap();
    // A killed pull: a half-unpacked layer in scratch, from a process long gone.
    let scratch = r
        .join("tmp")
        .join(format!("layer-{}-4194000-0", "cd".repeat(32)));
    std::fs::create_dir_all(scratch.join("etc")).unwrap();
    // And an image whose row went while its layers stayed recorded.
    let conn = rusqlite::Connection::open(r.join("db.sqlite")).unwrap();
    conn.execute("DELETE FROM images", []).unwrap();
    drop(conn);
    drop(images);
    let o = gocker(r, &["-e", "prune()"]);
    assert!(o.status.success(), "{}", err(&o));
    let left: Vec<String> = std::fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "layers left: {left:?}");
    assert!(!scratch.exists(), "scratch left");
    let conn = rusqlite::Connection::open(r.join("db.sqlite")).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM layers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "layer rows left");
}

/// A remover never deletes the files of a container a supervisor is starting (its creator
/// may have been killed, releasing the creator's lock): it waits for the start lock.
#[test]
fn rm_waits_for_a_supervisor_that_is_starting_the_container() {
    let root = root();
    let (images, containers) = stores(root.path());
    let mut spec = Spec::new(image());
    spec.network = gocker::container::spec::NetworkMode::None;
    let c = containers
        .create(&images, &spec, Some(vec!["true".into()]))
        .expect("create");
    // Play the supervisor: hold the start lock (byte 1 of the container's lock file) as it
    // does from before it reads the launch file.
    let locks = root.path().join("locks");
    let lock =
        gocker::store::lock::exclusive_byte(&locks, &format!("container-{}", c.id), 1).unwrap();
    let mut rm = std::process::Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(root.path())
        .args(["rm", "-f", &c.id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rm");
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        rm.try_wait().unwrap().is_none(),
        "rm went ahead of a starting supervisor"
    );
    let launch = root
        .path()
        .join("containers")
        .join(&c.id)
        .join("launch.json");
    assert!(
        launch.exists(),
        "the files went while the supervisor held the start"
    );
    drop(lock);
    assert!(rm.wait().unwrap().success());
    assert!(!launch.exists());
    let gone = containers.get(&c.id).map(|_| ()).unwrap_err();
    assert_eq!(gone.kind(), Kind::NotFound);
}

/// A --rm container's supervisor tells its caller the exit once the container is out of the
/// store, with its files set aside under tmp, and removes them after: if it is killed before
/// that, the next look sweeps them (but never while a supervisor is still at them).
#[test]
fn files_set_aside_by_a_killed_supervisor_are_swept() {
    let root = root();
    let (images, containers) = stores(root.path());
    let id = "ef".repeat(32);
    let aside = root.path().join("tmp").join(format!("removed-{id}"));
    std::fs::create_dir_all(aside.join("upper/etc")).unwrap();
    std::fs::write(aside.join("upper/etc/f"), b"x").unwrap();
    // And its cgroup, which its supervisor destroys after telling the exit.
    let cgroups: Vec<String> = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        vec![format!("/sys/fs/cgroup/gocker-script/{id}")]
    } else {
        ["memory", "pids"]
            .iter()
            .map(|c| format!("/sys/fs/cgroup/{c}/gocker-script/{id}"))
            .collect()
    };
    for c in &cgroups {
        std::fs::create_dir_all(c).unwrap();
    }
    // Its supervisor still at it: kept.
    let held =
        // (The supervisor's lock: byte 2 of the container's lock file.)
        gocker::store::lock::exclusive_byte(&root.path().join("locks"), &format!("container-{id}"), 2)
            .unwrap();
    containers.list().unwrap();
    assert!(
        aside.exists(),
        "a live supervisor's files are its own to remove"
    );
    drop(held);
    containers.list().unwrap();
    assert!(
        !aside.exists(),
        "swept once nobody holds its supervisor lock"
    );
    for c in &cgroups {
        assert!(!Path::new(c).exists(), "{c} swept too");
    }

    // And a real --rm run leaves nothing under tmp or containers once it has returned and
    // its supervisor is done.
    let mut spec = Spec::new(image());
    spec.auto_remove = true;
    let mut s = containers
        .run(&images, &spec, Some(vec!["true".into()]), Attach::Output)
        .expect("run");
    assert_eq!(s.wait(&containers).unwrap(), 0);
    assert!(
        containers.list().unwrap().is_empty(),
        "out of the store at once"
    );
    let mut clean = false;
    for _ in 0..100 {
        let tmp = std::fs::read_dir(root.path().join("tmp")).unwrap().count();
        let dirs = std::fs::read_dir(root.path().join("containers"))
            .unwrap()
            .count();
        if tmp == 0 && dirs == 0 {
            clean = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(clean, "its files are gone soon after");
}
