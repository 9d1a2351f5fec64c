//! commit: a container's changes as a new image, run again — new files, deletions
//! (whiteouts), a directory replaced (opaque), hard links, config changes, a running container.

mod common;

use std::sync::OnceLock;

use common::*;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "commit/busybox:1");
        format!("{}/commit/busybox:1", reg.addr)
    })
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "{}\n{}", out(&o), err(&o));
    out(&o)
}

#[test]
fn committed_changes_run_again_with_deletions_and_replacements() {
    let root = root();
    let r = root.path();
    ok(gocker(
        r,
        &[
            "run",
            "--network",
            "none",
            "--name",
            "first",
            image(),
            "sh",
            "-c",
            "mkdir /data && echo a > /data/a && echo b > /data/b && ln /data/a /data/twin",
        ],
    ));
    let id = ok(gocker(
        r,
        &["commit", "-m", "data added", "first", "made:1"],
    ));
    assert!(id.trim().starts_with("sha256:"), "{id}");
    ok(gocker(
        r,
        &[
            "run",
            "--network",
            "none",
            "--name",
            "second",
            "made:1",
            "sh",
            "-c",
            "rm /etc/group && rm -rf /data && mkdir /data && echo c > /data/c",
        ],
    ));
    ok(gocker(
        r,
        &[
            "commit",
            "-c",
            r#"CMD ["sh", "-c", "echo $MODE; ls /data; ls /etc"]"#,
            "-c",
            "ENV MODE=committed",
            "second",
            "made:2",
        ],
    ));
    // The first image: its files, the hard link kept as one.
    let o = ok(gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "made:1",
            "sh",
            "-c",
            "cat /data/a /data/b; stat -c %h /data/twin",
        ],
    ));
    assert_eq!(o, "a\nb\n2\n");
    // The second: /data replaced (opaque: a and b gone), /etc/group deleted (whiteout), the
    // new command and environment; the runtime's own /etc files are not content.
    let o = ok(gocker(r, &["run", "--rm", "--network", "none", "made:2"]));
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "committed");
    assert_eq!(lines[1], "c", "only the new /data: {o}");
    assert!(!o.contains("group"), "/etc/group deleted: {o}");
    assert!(o.contains("passwd"), "/etc/passwd kept: {o}");
    let inspect = ok(gocker(r, &["-e", "to_json(image(\"made:2\").to_map())"]));
    assert!(inspect.contains("committed"), "{inspect}");
    // A round trip through save and load keeps the image's id.
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("made.tar");
    let before = ok(gocker(r, &["-e", "image(\"made:2\").id"]));
    ok(gocker(r, &["save", "made:2", "-o", tar.to_str().unwrap()]));
    ok(gocker(r, &["rmi", "made:2"]));
    ok(gocker(r, &["load", "-i", tar.to_str().unwrap()]));
    assert_eq!(ok(gocker(r, &["-e", "image(\"made:2\").id"])), before);
}

#[test]
fn a_running_container_can_be_committed() {
    let root = root();
    let r = root.path();
    ok(gocker(
        r,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "live",
            image(),
            "sleep",
            "60",
        ],
    ));
    ok(gocker(
        r,
        &["exec", "live", "sh", "-c", "echo now > /snapshot"],
    ));
    ok(gocker(
        r,
        &[
            "-e",
            "commit(\"live\", \"live:1\", #{ message: \"while running\" })",
        ],
    ));
    let o = ok(gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "live:1",
            "cat",
            "/snapshot",
        ],
    ));
    assert_eq!(o, "now\n");
}

#[test]
fn bad_commits_are_clear_errors() {
    let root = root();
    let r = root.path();
    let o = gocker(r, &["commit", "nosuch", "x:1"]);
    assert!(err(&o).contains("not_found"), "{}", err(&o));
    ok(gocker(
        r,
        &["run", "--network", "none", "--name", "c", image(), "true"],
    ));
    let o = gocker(r, &["commit", "-c", "RUN make", "c", "x:1"]);
    assert!(err(&o).contains("RUN"), "{}", err(&o));
    let o = gocker(
        r,
        &["-e", "commit(\"c\", \"x:1\", #{ changes: #{ typo: 1 } })"],
    );
    assert!(err(&o).contains("unknown option \"typo\""), "{}", err(&o));
    let o = gocker(r, &["-e", "images().len()"]);
    assert_eq!(out(&o).trim(), "1", "no image made by a failed commit");
}

#[test]
fn every_change_docker_commit_takes_reaches_the_config() {
    let root = root();
    let r = root.path();
    ok(gocker(
        r,
        &["run", "--network", "none", "--name", "src", image(), "true"],
    ));
    ok(gocker(
        r,
        &[
            "commit",
            "-c",
            "EXPOSE 8080 53/udp",
            "-c",
            "VOLUME [\"/data\", \"/logs\"]",
            "-c",
            "HEALTHCHECK --interval=5s --retries=2 CMD wget -q -O- http://localhost/",
            "-c",
            "ENV A=1 B=\"two words\"",
            "-c",
            "LABEL org.example.team=\"core team\"",
            "-c",
            "STOPSIGNAL SIGQUIT",
            "src",
            "changed:1",
        ],
    ));
    let o = ok(gocker(
        r,
        &[
            "-e",
            r#"let c = image("changed:1").config;
               print(c.ExposedPorts.keys()); print(c.Volumes.keys());
               print(c.Healthcheck.Test); print(c.Healthcheck.Interval); print(c.Healthcheck.Retries);
               print(c.Env.filter(|e| e.starts_with("A=") || e.starts_with("B=")));
               print(c.Labels["org.example.team"]); print(c.StopSignal);"#,
        ],
    ));
    assert_eq!(
        o,
        "[\"53/udp\", \"8080/tcp\"]\n[\"/data\", \"/logs\"]\n[\"CMD-SHELL\", \"wget -q -O- http://localhost/\"]\n5000000000\n2\n[\"A=1\", \"B=two words\"]\ncore team\nSIGQUIT\n"
    );
    let o = gocker(r, &["commit", "-c", "ONBUILD RUN x", "src", "bad:1"]);
    assert!(err(&o).contains("ONBUILD is not supported"), "{}", err(&o));
}
