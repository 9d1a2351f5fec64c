//! Images made here: Dockerfile builds (multi-stage, COPY --from, ARG, .dockerignore), script
//! builds, the step cache (hits, misses after a change, the same image id again),
//! reproducible layers, bad Dockerfiles, docker cp in and out (never through a container's
//! symlinks onto the host), and a built image run by podman.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::*;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "build/busybox:1");
        format!("{}/build/busybox:1", reg.addr)
    })
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "{}\n{}", out(&o), err(&o));
    out(&o)
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A context with a two-stage Dockerfile: a build stage that copies sources and runs a
/// command over them, and a final stage that takes its output with COPY --from.
fn context(dir: &Path, base: &str) {
    write(
        dir,
        "Dockerfile",
        &format!(
            "ARG BASE={base}\n\
             FROM $BASE AS builder\n\
             ARG GREETING=hello\n\
             ENV WHO=world\n\
             WORKDIR /work\n\
             COPY src/ ./src/\n\
             RUN echo \"$GREETING $WHO\" > out.txt && cat src/*.txt >> out.txt && ls src > list.txt\n\
             \n\
             FROM $BASE\n\
             LABEL stage=final\n\
             COPY --from=builder /work/out.txt /work/list.txt /app/\n\
             COPY --chmod=755 run.sh /app/run.sh\n\
             RUN echo app:x:1234:1234::/home/app:/bin/sh >> /etc/passwd && echo app:x:1234: >> /etc/group\n\
             COPY --chown=app:app notes/ /home/app/notes/\n\
             USER app\n\
             EXPOSE 8080\n\
             CMD [\"/app/run.sh\"]\n"
        ),
    );
    write(dir, "src/a.txt", "alpha\n");
    write(dir, "src/b.txt", "beta\n");
    write(dir, "src/skip.tmp", "ignored\n");
    write(dir, "run.sh", "#!/bin/sh\ncat /app/out.txt\n");
    write(dir, "notes/n1", "note\n");
    write(dir, ".dockerignore", "# scratch files\nsrc/*.tmp\n");
}

fn build(root: &Path, dir: &Path, extra: &[&str]) -> String {
    let d = dir.to_str().expect("utf-8");
    let mut args = vec!["build", "-t", "app:1", "--network", "none"];
    args.extend(extra);
    args.push(d);
    ok(gocker(root, &args))
}

#[test]
fn a_multi_stage_dockerfile_builds_runs_and_rebuilds_from_the_cache() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    context(ctx.path(), image());
    let first = build(r, ctx.path(), &["--build-arg", "GREETING=hi"]);
    assert!(first.contains("STEP 7/"), "{first}");
    assert!(
        !first.contains("Using cache"),
        "a fresh root has no cache: {first}"
    );
    // The image runs its CMD as its user, with the files of both stages.
    let o = ok(gocker(r, &["run", "--rm", "--network", "none", "app:1"]));
    assert_eq!(o, "hi world\nalpha\nbeta\n");
    let o = ok(gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "app:1",
            "sh",
            "-c",
            "id -u; cat /app/list.txt; stat -c '%a %U' /app/run.sh /home/app/notes/n1",
        ],
    ));
    assert_eq!(
        o, "1234\na.txt\nb.txt\n755 root\n644 app\n",
        "ignored file left out, owners and modes as asked"
    );
    let inspect = ok(gocker(r, &["-e", "let c = image(\"app:1\").config; print(`${c.User} ${c.ExposedPorts.keys()} ${c.Labels.stage}`)"]));
    assert_eq!(inspect.trim(), "app [\"8080/tcp\"] final");

    // Again: every layer step from the cache, the same image.
    let id = |o: &str| {
        o.lines()
            .rev()
            .find_map(|l| l.strip_prefix("--> ").map(String::from))
            .expect("an image id line")
    };
    let second = build(r, ctx.path(), &["--build-arg", "GREETING=hi"]);
    assert_eq!(second.matches("Using cache").count(), 6, "{second}");
    assert_eq!(
        id(&first),
        id(&second),
        "a cached rebuild makes the same image"
    );

    // An ignored file changing changes nothing; a copied one re-runs its step and those after.
    write(ctx.path(), "src/skip.tmp", "changed\n");
    let third = build(r, ctx.path(), &["--build-arg", "GREETING=hi"]);
    assert_eq!(third.matches("Using cache").count(), 6, "{third}");
    write(ctx.path(), "notes/n1", "changed\n");
    let fourth = build(r, ctx.path(), &["--build-arg", "GREETING=hi", "--explain"]);
    assert!(
        fourth.contains(
            "Cache miss: the files of COPY --chown=app:app notes/ /home/app/notes/ changed"
        ),
        "{fourth}"
    );
    assert_eq!(
        fourth.matches("Using cache").count(),
        5,
        "only the last COPY re-ran: {fourth}"
    );
    write(ctx.path(), "src/a.txt", "ALPHA\n");
    let fifth = build(r, ctx.path(), &["--build-arg", "GREETING=hi"]);
    assert_eq!(fifth.matches("Using cache").count(), 0, "{fifth}");
    // A build argument is part of RUN's key.
    let sixth = build(r, ctx.path(), &["--explain"]);
    assert!(
        sixth.contains("ran with other build arguments before"),
        "{sixth}"
    );
    assert_eq!(
        sixth.matches("Using cache").count(),
        1,
        "only COPY src/ from the cache: {sixth}"
    );
    let o = ok(gocker(r, &["run", "--rm", "--network", "none", "app:1"]));
    assert_eq!(o, "hello world\nALPHA\nbeta\n");

    // The intermediate images are hidden, and a plain prune leaves the cache.
    let count = |all: &str| -> usize {
        ok(gocker(
            r,
            &["-e", &format!("print(images(#{{ all: {all} }}).len())")],
        ))
        .trim()
        .parse()
        .expect("a count")
    };
    // busybox, app:1 and the three images app:1 was before (dangling, as Docker shows them).
    assert_eq!(count("false"), 5, "{}", ok(gocker(r, &["images", "-a"])));
    assert!(count("true") > 5 + 6);
    ok(gocker(r, &["prune"]));
    let again = build(r, ctx.path(), &[]);
    assert_eq!(again.matches("Using cache").count(), 6, "{again}");
    let gone = ok(gocker(r, &["-e", "print(prune_build_cache().len())"]));
    assert!(
        gone.trim().parse::<usize>().expect("a count") >= 6,
        "{gone}"
    );
    let last = build(r, ctx.path(), &["--no-cache"]);
    assert_eq!(last.matches("Using cache").count(), 0, "{last}");
    assert_eq!(
        ok(gocker(r, &["ps", "-a", "--json"])).trim(),
        "[]",
        "no build container left"
    );
}

#[test]
fn a_script_builds_with_the_same_steps() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    write(ctx.path(), "site/index.html", "<h1>made by a script</h1>\n");
    let script = format!(
        r#"
        let b = from("{img}", #{{ context: "{ctx}", network: "none" }});
        b.workdir("/srv");
        b.copy("site/", "www/");
        b.run(["sh", "-c", "echo built > /srv/stamp"]);
        b.env("GREETING", "hey");
        b.entrypoint(["sh", "-c"]);
        b.cmd(["cat /srv/www/index.html; echo $GREETING; cat /srv/stamp"]);
        let img = b.commit("site:1");
        print(b.steps.filter(|s| s.cached).len());
        "#,
        img = image(),
        ctx = ctx.path().display()
    );
    assert_eq!(ok(gocker(r, &["-e", &script])).trim(), "0");
    let o = ok(gocker(r, &["run", "--rm", "--network", "none", "site:1"]));
    assert_eq!(o, "<h1>made by a script</h1>\nhey\nbuilt\n");
    assert_eq!(
        ok(gocker(r, &["-e", &script])).trim(),
        "2",
        "both layer steps cached"
    );
}

#[test]
fn the_same_inputs_give_the_same_image_in_another_root() {
    let ctx = tempfile::tempdir().expect("ctx");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nCOPY f /f\nRUN touch /made && mkdir /d\nCMD [\"cat\", \"/f\"]\n",
            image()
        ),
    );
    write(ctx.path(), "f", "same\n");
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let root = root();
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_gocker-script"))
                .arg("--root")
                .arg(root.path())
                .args(["build", "-q", "--network", "none"])
                .arg(ctx.path())
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .output()
                .expect("build");
            ok(o).trim().to_string()
        })
        .collect();
    assert!(ids[0].starts_with("sha256:"), "{ids:?}");
    assert_eq!(
        ids[0], ids[1],
        "SOURCE_DATE_EPOCH makes builds reproducible"
    );
}

#[test]
fn bad_dockerfiles_name_the_line_and_leave_nothing() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    let images_before = ok(gocker(r, &["-e", "print(images(#{ all: true }).len())"]));
    for (dockerfile, says) in [
        ("FROM busybox\nFROBNICATE x\n", "line 2"),
        (
            &*format!("FROM {}\nCOPY missing.txt /x\n", image()),
            "line 2 (COPY missing.txt /x): COPY failed: missing.txt is not in the build context",
        ),
        (
            &*format!("FROM {}\nENV A=1\nRUN exit 3\n", image()),
            "line 3 (RUN exit 3): RUN exit 3 returned a non-zero code: 3",
        ),
        (
            &*format!("FROM {}\nRUN --mount=type=cache,target=/x true\n", image()),
            "line 2: RUN --mount is not supported",
        ),
        (
            &*format!("FROM {}/build/nosuch:1 AS x\nFROM x\n", registry().addr),
            "not_found",
        ),
    ] {
        write(ctx.path(), "Dockerfile", dockerfile);
        let o = gocker(
            r,
            &[
                "build",
                "--network",
                "none",
                "-t",
                "bad:1",
                ctx.path().to_str().expect("utf-8"),
            ],
        );
        assert!(!o.status.success(), "{dockerfile}");
        assert!(err(&o).contains(says), "{dockerfile}: {}", err(&o));
    }
    let o = gocker(
        r,
        &[
            "build",
            "--platform",
            "linux/s390x",
            ctx.path().to_str().expect("utf-8"),
        ],
    );
    assert!(
        err(&o).contains("cannot build for linux/s390x"),
        "{}",
        err(&o)
    );
    let o = gocker(
        r,
        &[
            "build",
            "--target",
            "nope",
            ctx.path().to_str().expect("utf-8"),
        ],
    );
    assert!(err(&o).contains("no stage named nope"), "{}", err(&o));
    let o = gocker(
        r,
        &[
            "-e",
            &format!("build(\"{}\", #{{ tags: \"x\" }})", ctx.path().display()),
        ],
    );
    assert!(
        err(&o).contains("unknown option \"tags\" (did you mean \"tag\"?"),
        "{}",
        err(&o)
    );
    assert_eq!(
        ok(gocker(r, &["ps", "-a", "--json"])).trim(),
        "[]",
        "no container left"
    );
    let tagged = ok(gocker(
        r,
        &[
            "-e",
            "print(images().filter(|i| i.tags.contains(\"bad:1\")).len())",
        ],
    ));
    assert_eq!(tagged.trim(), "0", "no image named");
    // Only the pulled base (and the steps that did succeed) were added.
    let after: usize = ok(gocker(r, &["-e", "print(images(#{ all: true }).len())"]))
        .trim()
        .parse()
        .expect("n");
    let before: usize = images_before.trim().parse().expect("n");
    assert!(after <= before + 3, "{before} → {after}");
    let tmp = std::fs::read_dir(r.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(tmp, 0, "no scratch left in the root's tmp");
}

#[test]
fn cp_copies_in_and_out_and_never_through_a_containers_symlinks() {
    let root = root();
    let r = root.path();
    let host = tempfile::tempdir().expect("host dir");
    write(host.path(), "in/f.txt", "payload\n");
    write(host.path(), "in/sub/g.txt", "deep\n");
    ok(gocker(
        r,
        &[
            "run",
            "-d",
            "--name",
            "box",
            "--network",
            "none",
            image(),
            "sleep",
            "600",
        ],
    ));
    // A container planting links to the host's root and to a host file.
    ok(gocker(
        r,
        &[
            "exec",
            "box",
            "sh",
            "-c",
            "ln -s / /escape && ln -s /etc/shadow /shadow && mkdir /dir",
        ],
    ));
    let src = host.path().join("in");
    ok(gocker(r, &["cp", src.to_str().expect("utf-8"), "box:/dir"]));
    let o = ok(gocker(
        r,
        &[
            "exec",
            "box",
            "sh",
            "-c",
            "cat /dir/in/f.txt /dir/in/sub/g.txt",
        ],
    ));
    assert_eq!(o, "payload\ndeep\n");
    // Into /escape/tmp: the link resolves inside the container, not to the host's /tmp.
    let marker = format!("gocker-cp-escape-{}", std::process::id());
    let f = host.path().join("in/f.txt");
    ok(gocker(
        r,
        &[
            "cp",
            f.to_str().expect("utf-8"),
            &format!("box:/escape/tmp/{marker}"),
        ],
    ));
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "cp followed a container's link onto the host"
    );
    assert_eq!(
        ok(gocker(
            r,
            &["exec", "box", "cat", &format!("/tmp/{marker}")]
        )),
        "payload\n"
    );
    // Out of the container: a link is copied as a link (as docker cp does), and a path
    // through /escape (a link to /) names the container's files, never the host's.
    let out_file = host.path().join("shadow-copy");
    ok(gocker(
        r,
        &["cp", "box:/shadow", out_file.to_str().expect("utf-8")],
    ));
    let copied = std::fs::read_link(&out_file).expect("copied as a link");
    assert_eq!(copied, Path::new("/etc/shadow"));
    ok(gocker(
        r,
        &[
            "exec",
            "box",
            "sh",
            "-c",
            "echo container-secret > /etc/secret-of-box",
        ],
    ));
    std::fs::write(host.path().join("probe"), b"host").expect("probe");
    let through = host.path().join("through");
    ok(gocker(
        r,
        &[
            "cp",
            "box:/escape/etc/secret-of-box",
            through.to_str().expect("utf-8"),
        ],
    ));
    assert_eq!(
        std::fs::read_to_string(&through).expect("read"),
        "container-secret\n"
    );
    let probe = format!("box:/escape{}", host.path().join("probe").display());
    let o = gocker(
        r,
        &[
            "cp",
            &probe,
            host.path().join("through2").to_str().expect("utf-8"),
        ],
    );
    assert!(
        !o.status.success(),
        "a host file came out through the container's link"
    );
    assert!(err(&o).contains("not_found"), "{}", err(&o));
    // A stopped container: files in and out of its writable layer.
    ok(gocker(r, &["stop", "-t", "0", "box"]));
    ok(gocker(
        r,
        &["cp", &format!("{}/.", src.display()), "box:/copied"],
    ));
    let back = host.path().join("back");
    ok(gocker(
        r,
        &["cp", "box:/copied", back.to_str().expect("utf-8")],
    ));
    assert_eq!(
        std::fs::read_to_string(back.join("sub/g.txt")).expect("read"),
        "deep\n"
    );
    // `dir/.` into an existing directory: the contents, not the directory itself.
    ok(gocker(
        r,
        &["cp", "box:/copied/.", back.to_str().expect("utf-8")],
    ));
    assert!(back.join("sub/g.txt").exists() && !back.join("copied").exists());
    assert!(
        mounts_under(r).is_empty(),
        "the copy helper left a mount: {:?}",
        mounts_under(r)
    );
    // Clear errors.
    let o = gocker(
        r,
        &["cp", "box:/nonexistent", back.to_str().expect("utf-8")],
    );
    assert!(err(&o).contains("not_found"), "{}", err(&o));
    let o = gocker(r, &["cp", "nobox:/x", back.to_str().expect("utf-8")]);
    assert!(err(&o).contains("no container named"), "{}", err(&o));
    let o = gocker(r, &["cp", "a", "b"]);
    assert!(
        err(&o).contains("exactly one side must be CONTAINER:PATH"),
        "{}",
        err(&o)
    );
}

#[test]
fn a_built_image_runs_under_podman() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    write(ctx.path(), "Dockerfile", &format!("FROM {}\nRUN rm /etc/group && mkdir -p /app\nCOPY hello /app/hello\nCMD [\"sh\", \"-c\", \"cat /app/hello; test -e /etc/group || echo no-group\"]\n", image()));
    write(ctx.path(), "hello", "hello from a gocker-script build\n");
    ok(gocker(
        r,
        &[
            "build",
            "-q",
            "--network",
            "none",
            "-t",
            "interop:1",
            ctx.path().to_str().expect("utf-8"),
        ],
    ));
    let tar = ctx.path().join("interop.tar");
    ok(gocker(
        r,
        &["save", "interop:1", "-o", tar.to_str().expect("utf-8")],
    ));
    let pod = tempfile::tempdir().expect("podman dirs");
    let podman = |args: &[&str]| {
        std::process::Command::new("podman")
            .arg("--root")
            .arg(pod.path().join("root"))
            .arg("--runroot")
            .arg(pod.path().join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--runtime",
                "runc",
            ])
            .args(args)
            .output()
            .expect("podman (scripts/setup.sh installs it)")
    };
    let loaded = podman(&["load", "-i", tar.to_str().expect("utf-8")]);
    let o = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        "docker.io/library/interop:1",
    ]);
    // podman builds on it too (buildah pairs history entries with layers).
    let child = tempfile::tempdir().expect("child ctx");
    write(
        child.path(),
        "Dockerfile",
        "FROM docker.io/library/interop:1\nRUN echo child > /child\n",
    );
    let built = podman(&[
        "build",
        "-q",
        "--network",
        "none",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        "-t",
        "child:1",
        child.path().to_str().expect("utf-8"),
    ]);
    let _ = podman(&["system", "reset", "-f"]);
    assert!(
        built.status.success(),
        "podman build FROM our image: {}",
        err(&built)
    );
    assert!(loaded.status.success(), "{}", err(&loaded));
    assert_eq!(
        out(&o),
        "hello from a gocker-script build\nno-group\n",
        "{}",
        err(&o)
    );
}

#[test]
fn add_extracts_local_archives_inside_the_image() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    let archive = TarBuilder::new()
        .dir("app", 0o755)
        .file("app/hello.txt", b"from the archive\n", 0o644)
        .symlink("app/link", "hello.txt")
        .hardlink("app/twin", "app/hello.txt")
        .file_owned("app/owned", b"x", 0o640, 1234, 5678)
        .finish();
    std::fs::write(
        ctx.path().join("app.tar.gz"),
        compress(&archive, Comp::Gzip),
    )
    .expect("write");
    std::fs::write(ctx.path().join("plain.txt"), b"not an archive\n").expect("write");
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nADD app.tar.gz plain.txt /opt/\n", image()),
    );
    ok(gocker(
        r,
        &[
            "build",
            "-q",
            "--network",
            "none",
            "-t",
            "added:1",
            ctx.path().to_str().expect("utf-8"),
        ],
    ));
    let o = ok(gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "added:1",
            "sh",
            "-c",
            "cat /opt/app/link /opt/plain.txt; stat -c %h /opt/app/twin; stat -c '%u %g %a' /opt/app/owned",
        ],
    ));
    assert_eq!(
        o, "from the archive\nnot an archive\n2\n1234 5678 640\n",
        "the archive's owners kept"
    );
    // An archive whose names climb out of the destination is refused, and builds nothing.
    let evil = TarBuilder::new()
        .file("../../escaped", b"x", 0o644)
        .finish();
    std::fs::write(ctx.path().join("evil.tar"), &evil).expect("write");
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nADD evil.tar /opt/\n", image()),
    );
    let o = gocker(
        r,
        &[
            "build",
            "-q",
            "--network",
            "none",
            "-t",
            "evil:1",
            ctx.path().to_str().expect("utf-8"),
        ],
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("climbs out"), "{}", err(&o));
}

#[test]
fn squash_makes_the_added_layers_one_with_deletions_kept() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\n\
             RUN mkdir -p /data/keep /data/gone && echo 1 > /data/keep/a && echo 2 > /data/gone/b && echo tmp > /tmp/scratch\n\
             RUN rm -rf /data/gone /tmp/scratch /etc/group && echo 3 > /data/keep/c\n\
             RUN rm -rf /data/keep && mkdir /data/keep && echo fresh > /data/keep/d\n\
             RUN rm -rf /home && mkdir /home && echo new > /home/only\n\
             ENV SQUASHED=yes\n\
             USER nobody\n\
             RUN test \"$SQUASHED\" = yes && test \"$(id -u)\" = 65534\n\
             USER root\n",
            image()
        ),
    );
    let d = ctx.path().to_str().expect("utf-8");
    ok(gocker(
        r,
        &["build", "-q", "--network", "none", "-t", "layered:1", d],
    ));
    ok(gocker(
        r,
        &[
            "build",
            "-q",
            "--network",
            "none",
            "--squash",
            "-t",
            "flat:1",
            d,
        ],
    ));
    let layers = |name: &str| -> String {
        ok(gocker(
            r,
            &["-e", &format!("print(image(\"{name}\").layers.len())")],
        ))
        .trim()
        .to_string()
    };
    assert_eq!(layers("layered:1"), "6");
    assert_eq!(layers("flat:1"), "2", "the base's layer and one more");
    let check = "find /data /home | sort; test -e /tmp/scratch || echo no-scratch; test -e /etc/group || echo no-group; echo $SQUASHED";
    let want = "/data\n/data/keep\n/data/keep/d\n/home\n/home/only\nno-scratch\nno-group\nyes\n";
    for img in ["layered:1", "flat:1"] {
        let o = ok(gocker(
            r,
            &["run", "--rm", "--network", "none", img, "sh", "-c", check],
        ));
        assert_eq!(o, want, "{img}");
    }
    // A rebuild takes the steps and the squash from the cache: the same image.
    let id = |name: &str| ok(gocker(r, &["-e", &format!("print(image(\"{name}\").id)")]));
    let before = id("flat:1");
    ok(gocker(
        r,
        &[
            "build",
            "-q",
            "--network",
            "none",
            "--squash",
            "-t",
            "flat:1",
            d,
        ],
    ));
    assert_eq!(id("flat:1"), before);
}

#[test]
fn arg_and_env_scoping_follow_docker() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "ARG V=global\n\
             FROM {}\n\
             ARG V\n\
             ARG TARGETARCH\n\
             ENV A=1\n\
             ENV A=2 B=$A\n\
             RUN echo \"$V $TARGETARCH $A $B\" > /out\n\
             CMD [\"/out\"]\n\
             ENTRYPOINT [\"cat\"]\n",
            image()
        ),
    );
    let d = ctx.path().to_str().expect("utf-8");
    ok(gocker(
        r,
        &["build", "-q", "--network", "none", "-t", "scoped:1", d],
    ));
    let arch = ok(gocker(r, &["-e", "print(host_platform())"]));
    let arch = arch.trim().rsplit('/').next().expect("arch").to_string();
    let o = ok(gocker(r, &["run", "--rm", "--network", "none", "scoped:1"]));
    assert_eq!(
        o,
        format!("global {arch} 2 1\n"),
        "a bare ARG takes the global, ENV pairs see the env before, CMD kept by ENTRYPOINT"
    );
    // The given value wins over the global default.
    ok(gocker(
        r,
        &[
            "build",
            "-q",
            "--network",
            "none",
            "--build-arg",
            "V=given",
            "-t",
            "scoped:2",
            d,
        ],
    ));
    let o = ok(gocker(r, &["run", "--rm", "--network", "none", "scoped:2"]));
    assert_eq!(o, format!("given {arch} 2 1\n"));
}

#[test]
fn the_context_is_the_only_thing_a_build_reads() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("hostsecret"), b"not for images").expect("write");
    std::os::unix::fs::symlink(outside.path(), ctx.path().join("link")).expect("link");
    write(ctx.path(), "secret.key", "excluded\n");
    write(ctx.path(), ".dockerignore", "secret.key\n");
    let d = ctx.path().to_str().expect("utf-8");
    for (dockerfile, says) in [
        ("COPY link/hostsecret /x\n", "is not in the build context"),
        (
            "COPY secret.key /s/\n",
            "secret.key is excluded by .dockerignore",
        ),
    ] {
        write(
            ctx.path(),
            "Dockerfile",
            &format!("FROM {}\n{dockerfile}", image()),
        );
        let o = gocker(r, &["build", "--network", "none", d]);
        assert!(!o.status.success(), "{dockerfile}");
        assert!(err(&o).contains(says), "{dockerfile}: {}", err(&o));
    }
    // Nothing outside the context was read, not even to digest it.
    let conn = rusqlite::Connection::open(r.join("db.sqlite")).expect("db");
    let read: Vec<String> = conn
        .prepare("SELECT path FROM file_digests")
        .expect("query")
        .query_map([], |row| row.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("paths");
    assert!(read.iter().all(|p| p.starts_with(d)), "{read:?}");
    assert!(!read.iter().any(|p| p.contains("hostsecret")), "{read:?}");
}

#[test]
fn a_tree_of_many_hard_links_copies_as_links() {
    let root = root();
    let r = root.path();
    let ctx = tempfile::tempdir().expect("ctx");
    let files = ctx.path().join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    for i in 0..2500 {
        let f = files.join(format!("f{i}"));
        std::fs::write(&f, format!("{i}")).expect("write");
        std::fs::hard_link(&f, files.join(format!("g{i}"))).expect("link");
    }
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nCOPY files/ /files/\n", image()),
    );
    let d = ctx.path().to_str().expect("utf-8");
    ok(gocker(
        r,
        &["build", "-q", "--network", "none", "-t", "links:1", d],
    ));
    let o = ok(gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "links:1",
            "sh",
            "-c",
            "ls /files | wc -l; stat -c %h /files/f2499",
        ],
    ));
    assert_eq!(o.split_whitespace().collect::<Vec<_>>(), ["5000", "2"]);
}
