//! Containers on a cgroup-v2-only host. These run for real in the v2 guest lane
//! (`scripts/v2-guest.sh`, started by scripts/test.sh), where GOCKER_V2_GUEST=1 makes a
//! missing v2 hierarchy a failure; on a hybrid or v1 host they have nothing to check and say
//! so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use gocker::container::exec::ExecRequest;
use gocker::container::spec::Spec;
use gocker::container::{Attach, ContainerStore};
use gocker::image::{ImageStore, PullOptions};
use gocker::runtime::cgroup::{Hierarchy, PARENT};
use gocker::store::{Db, Paths};

/// Whether this host is cgroup v2; inside the lane it must be.
fn v2() -> bool {
    let on = Hierarchy::host().is_v2();
    if std::env::var_os("GOCKER_V2_GUEST").is_some() {
        assert!(on, "the v2 lane runs on a cgroup-v2-only host");
    } else if !on {
        eprintln!("not a cgroup v2 host: this runs in the v2 guest lane (scripts/test.sh)");
    }
    on
}

struct Env {
    root: Root,
    images: ImageStore,
    containers: ContainerStore,
    image: String,
}

fn env() -> Env {
    static PUSHED: OnceLock<String> = OnceLock::new();
    let reg = registry();
    let image = PUSHED.get_or_init(|| {
        push_busybox(reg, "v2/busybox:1");
        format!("{}/v2/busybox:1", reg.addr)
    });
    let root = root();
    let paths = Paths::new(root.path());
    let db = Arc::new(Db::open(&paths.db()).unwrap());
    let images = ImageStore::with_db(paths.clone(), db.clone()).unwrap();
    images
        .pull(image, &PullOptions::default())
        .expect("pull busybox");
    let mut containers = ContainerStore::new(paths, db);
    containers.set_helper(env!("CARGO_BIN_EXE_gocker-script"));
    Env {
        root,
        images,
        containers,
        image: image.clone(),
    }
}

fn dir_of(id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(PARENT).join(id)
}

fn file(id: &str, name: &str) -> String {
    std::fs::read_to_string(dir_of(id).join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .trim()
        .to_string()
}

fn sh(script: &str) -> Option<Vec<String>> {
    Some(vec!["sh".into(), "-c".into(), script.into()])
}

fn exec(e: &Env, id: &str, script: &str) -> gocker::container::exec::ExecOutput {
    e.containers
        .exec(
            id,
            &ExecRequest {
                argv: vec!["sh".into(), "-c".into(), script.into()],
                ..Default::default()
            },
            true,
        )
        .expect("exec")
}

#[test]
fn limits_have_dockers_meanings_on_v2() {
    if !v2() {
        return;
    }
    let e = env();
    let mut spec = Spec::new(&e.image);
    spec.limits.memory = Some(64 << 20);
    spec.limits.cpus = Some(0.5);
    spec.limits.cpu_shares = Some(1024);
    spec.limits.pids = Some(64);
    let s = e
        .containers
        .run(&e.images, &spec, sh("sleep 60"), Attach::Detach)
        .expect("run");
    let id = s.container.id.clone();
    // Printed for the closing note's side-by-side table.
    for f in [
        "memory.max",
        "memory.swap.max",
        "cpu.max",
        "cpu.weight",
        "pids.max",
    ] {
        eprintln!("v2 {f} = {}", file(&id, f));
    }
    assert_eq!(file(&id, "memory.max"), "67108864");
    assert_eq!(
        file(&id, "memory.swap.max"),
        "67108864",
        "64m of swap, not 128m"
    );
    assert_eq!(file(&id, "cpu.max"), "50000 100000");
    assert_eq!(
        file(&id, "cpu.weight"),
        "100",
        "1024 shares is the default weight"
    );
    assert_eq!(file(&id, "pids.max"), "64");
    // The init was born in its cgroup: it is listed there, and sees it as its root.
    let pid = e.containers.get(&id).unwrap().pid.unwrap();
    assert!(file(&id, "cgroup.procs")
        .lines()
        .any(|l| l == pid.to_string()));
    let out = exec(
        &e,
        &id,
        "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max",
    );
    assert_eq!(
        out.stdout, "0::/\n67108864\n",
        "exec joins the cgroup: {out:?}"
    );
    // Live changes.
    let mut limits = spec.limits.clone();
    limits.memory = Some(128 << 20);
    limits.pids = Some(32);
    e.containers.update_limits(&id, &limits).unwrap();
    assert_eq!(file(&id, "memory.max"), "134217728");
    assert_eq!(file(&id, "memory.swap.max"), "134217728");
    assert_eq!(file(&id, "pids.max"), "32");
    let stats = e.containers.stats(&id).unwrap();
    assert!(
        stats.memory > 0 && stats.pids >= 1 && stats.memory_limit == 128 << 20,
        "{stats:?}"
    );
    // Block I/O from io.stat (the guest's roots are on tmpfs: counted, though nothing is read).
    assert!(
        stats.block_read.is_some() && stats.block_write.is_some(),
        "{stats:?}"
    );
    // A pids limit holds.
    let out = exec(&e, &id, "for i in $(seq 40); do sleep 5 & done 2>&1; wait");
    assert!(
        out.stdout.contains("fork") || out.stderr.contains("fork"),
        "{out:?}"
    );
    e.containers.remove(&id, true).unwrap();
    assert!(!dir_of(&id).exists(), "no cgroup left after rm");
    assert!(mounts_under(e.root.path()).is_empty());
}

#[test]
fn exit_codes_and_oom_on_v2() {
    if !v2() {
        return;
    }
    let e = env();
    let mut s = e
        .containers
        .run(
            &e.images,
            &Spec::new(&e.image),
            sh("exit 7"),
            Attach::Detach,
        )
        .expect("run");
    assert_eq!(s.wait(&e.containers).unwrap(), 7);
    assert!(!dir_of(&s.container.id).exists());
    let mut spec = Spec::new(&e.image);
    spec.limits.memory = Some(16 << 20);
    spec.limits.memory_swap = Some(16 << 20);
    let mut s = e
        .containers
        .run(
            &e.images,
            &spec,
            sh("x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}"),
            Attach::Detach,
        )
        .expect("run");
    assert_eq!(s.wait(&e.containers).unwrap(), 137);
    let c = e.containers.get(&s.container.id).unwrap();
    assert!(c.oom_killed, "memory.events oom_kill is read");
    assert!(!dir_of(&c.id).exists());
    e.containers.remove(&c.id, false).unwrap();
}

#[test]
fn cpu_max_throttles() {
    if !v2() {
        return;
    }
    let e = env();
    let mut spec = Spec::new(&e.image);
    spec.limits.cpus = Some(0.2);
    let s = e
        .containers
        .run(&e.images, &spec, sh("while :; do :; done"), Attach::Detach)
        .expect("run");
    let id = s.container.id.clone();
    std::thread::sleep(Duration::from_secs(2));
    let stat = file(&id, "cpu.stat");
    let throttled: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(throttled > 0, "cpu.max throttles a busy loop: {stat}");
    e.containers.stop(&id, Duration::from_secs(1)).unwrap();
    e.containers.remove(&id, false).unwrap();
    assert!(!dir_of(&id).exists());
}

#[test]
fn a_refused_limit_is_an_error_at_once_and_leaves_nothing() {
    if !v2() {
        return;
    }
    let e = env();
    let mut spec = Spec::new(&e.image);
    // A quota under the kernel's 1 ms minimum: cpu.max refuses it.
    spec.limits.cpus = Some(0.0001);
    let started = Instant::now();
    let err = e
        .containers
        .run(&e.images, &spec, sh("true"), Attach::Detach)
        .err()
        .expect("refused");
    // An error, never a hang. (The guest is emulated, several times slower than hardware,
    // and the bound leaves room for that; on the host the same failure takes ~15 ms.)
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.message().contains("cpu.max"), "{}", err.chain());
    assert!(e.containers.list().unwrap().is_empty());
    // Other tests' containers run meanwhile: look for this one's (named in the error).
    let short = err
        .message()
        .split(['(', ')'])
        .nth(1)
        .expect("the message names the container id")
        .to_string();
    let left: Vec<_> = std::fs::read_dir(Path::new("/sys/fs/cgroup").join(PARENT))
        .unwrap()
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with(&short))
        .map(|d| d.file_name())
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

/// gocker-script inside a "container": a cgroup namespace whose root holds processes, as in
/// a CI job or Docker-in-Docker. The controllers can only reach children once those
/// processes move into a leaf, which gocker-script does itself.
#[test]
fn nested_in_a_cgroup_namespace_with_processes() {
    if !v2() {
        return;
    }
    let e = env();
    let ci = Path::new("/sys/fs/cgroup").join(format!("ci-{}", std::process::id()));
    std::fs::create_dir(&ci).unwrap();
    let bin = env!("CARGO_BIN_EXE_gocker-script");
    let script = format!(
        "echo $$ > {ci}/cgroup.procs && exec unshare -Cm sh -c 'umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && {bin} --root {root} run --rm --network none -m 32m {image} cat /sys/fs/cgroup/memory.max'",
        ci = ci.display(),
        root = e.root.path().display(),
        image = e.image,
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let removed = (|| -> std::io::Result<()> {
        for d in ["init", PARENT, ""] {
            let p = ci.join(d);
            if p.exists() {
                std::fs::remove_dir(&p)?;
            }
        }
        Ok(())
    })();
    assert!(o.status.success(), "{}\n{}", out(&o), err(&o));
    assert_eq!(out(&o), "33554432\n");
    removed.expect("the nested cgroups go once their processes are gone");
}

/// pause/unpause and commit's pause, with the v1 freezer here and cgroup.freeze in the lane.
#[test]
fn pause_freezes_every_process_and_commit_pauses_a_running_container() {
    let e = env();
    let r = e.root.path();
    let run = |args: &[&str]| gocker_ok(r, args);
    run(&[
        "run",
        "-d",
        "--name",
        "pz",
        "--network",
        "none",
        &e.image,
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/count; sleep 0.01; done",
    ]);
    let count = || -> u64 {
        let f = e.root.path().join("count-copy");
        let _ = std::fs::remove_file(&f);
        run(&["cp", "pz:/tmp/count", f.to_str().expect("utf-8")]);
        std::fs::read_to_string(&f)
            .expect("count")
            .trim()
            .parse()
            .expect("a number")
    };
    let advances = || {
        let a = count();
        std::thread::sleep(Duration::from_millis(300));
        count() > a
    };
    assert!(advances(), "the loop runs");
    run(&["pause", "pz"]);
    assert!(run(&["ps"]).contains("(Paused)"));
    assert!(!advances(), "a paused container does nothing");
    let o = gocker(r, &["exec", "pz", "true"]);
    assert!(err(&o).contains("is paused"), "{}", err(&o));
    // commit of a paused container leaves it paused; of a running one leaves it running.
    run(&["commit", "pz", "paused:1"]);
    assert!(!advances(), "still paused after commit");
    run(&["unpause", "pz"]);
    assert!(advances(), "running again");
    let o = gocker(r, &["unpause", "pz"]);
    assert!(err(&o).contains("is not paused"), "{}", err(&o));
    run(&["commit", "pz", "running:1"]);
    assert!(!run(&["ps"]).contains("(Paused)"));
    assert!(advances(), "running after a commit that paused it");
    // A paused container still stops (thawed first) and leaves no cgroup behind.
    run(&["pause", "pz"]);
    let t = Instant::now();
    run(&["stop", "-t", "1", "pz"]);
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    let id = run(&["-e", "print(find_container(\"pz\").id)"]);
    run(&["rm", "pz"]);
    let left: Vec<PathBuf> = ["", "freezer", "memory", "pids"]
        .iter()
        .map(|c| {
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join(PARENT)
                .join(id.trim())
        })
        .filter(|p| p.exists())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
