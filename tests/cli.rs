//! The real binary: verbs, -e, scripts, errors with positions, save/load round trips.

mod common;

use std::process::{Command, Output};

use common::*;

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn pull_images_tag_rmi_from_the_shell() {
    let reg = registry();
    let pushed = push_busybox(reg, "cli/box:1");
    let root = root();
    let name = format!("{}/cli/box:1", reg.addr);
    let o = gocker(root.path(), &["pull", &name]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.trim(), pushed.manifest_digest);
    gocker(root.path(), &["tag", &name, "mine:v1"]);
    let (out, _) = text(&gocker(root.path(), &["images"]));
    assert!(out.starts_with("REPOSITORY"), "{out}");
    assert!(
        out.contains("mine") && out.contains("v1") && out.contains(&pushed.config_digest[7..19]),
        "{out}"
    );
    let (out, _) = text(&gocker(root.path(), &["images", "--json"]));
    let json: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(json[0]["id"], pushed.config_digest);
    let (out, _) = text(&gocker(root.path(), &["rmi", "mine:v1"]));
    assert_eq!(out.trim(), "Untagged: mine:v1");
    let o = gocker(root.path(), &["rmi", &name]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains(&format!("Deleted: {}", pushed.config_digest)),
        "{out}"
    );
    let o = gocker(root.path(), &["rmi", "nothing-here"]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("not_found"), "{}", text(&o).1);
}

#[test]
fn scripts_get_args_exit_codes_and_positioned_errors() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.rhai");
    std::fs::write(&ok, "print(ARGS[0] + \"-\" + ARGS.len());\nexit(3);\n").unwrap();
    let o = gocker(root.path(), &[ok.to_str().unwrap(), "a", "b"]);
    assert_eq!(text(&o).0.trim(), "a-2");
    assert_eq!(o.status.code(), Some(3));

    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "let x = 1;\nlet img = image(\"no-such-image\");\n").unwrap();
    let o = gocker(root.path(), &[bad.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("bad.rhai:2:11: error: not_found: image \"no-such-image\" not found"),
        "{err}"
    );
    assert!(
        err.contains("  let img = image(\"no-such-image\");\n            ^"),
        "{err}"
    );

    // Scripts can catch errors and branch on their kind.
    let o = gocker(
        root.path(),
        &[
            "-e",
            r#"let k = ""; try { image("nope") } catch (e) { k = e.kind } k"#,
        ],
    );
    assert_eq!(text(&o).0.trim(), "not_found");
    let o = gocker(
        root.path(),
        &[
            "-e",
            r#"let k = ""; try { pull("Bad Ref") } catch (e) { k = e.kind + ": " + e.message } k"#,
        ],
    );
    assert!(
        text(&o)
            .0
            .contains("invalid_argument: invalid image reference \"Bad Ref\""),
        "{:?}",
        text(&o)
    );
    let o = gocker(
        root.path(),
        &["-e", r#"pull("x", #{ plaform: "linux/amd64" })"#],
    );
    assert!(
        text(&o).1.contains("unknown option \"plaform\""),
        "{:?}",
        text(&o)
    );
    // An error inside the stdlib names the stdlib frames it passed through.
    let o = gocker(
        root.path(),
        &["-e", r#"run("127.0.0.1:1/nothing", ["true"])"#],
    );
    let e = text(&o).1;
    assert!(
        e.contains("error: registry:")
            && e.contains("stdlib/containers.rhai")
            && e.contains("in pull_if_missing"),
        "{e}"
    );
    let o = gocker(root.path(), &["-e", r#"help("pull")"#]);
    assert!(text(&o).0.contains("example:"), "{:?}", text(&o));
}

#[test]
fn save_and_load_round_trip_keeps_the_image_id() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/saveme:1", reg.addr);
    let layers = vec![
        (
            TarBuilder::new()
                .dir("etc/", 0o755)
                .file("etc/a", b"a", 0o644)
                .symlink("l", "etc/a")
                .finish(),
            Comp::Gzip,
        ),
        (
            TarBuilder::new()
                .whiteout("etc/a")
                .file("b", b"b", 0o600)
                .hardlink("c", "b")
                .finish(),
            Comp::Zstd,
        ),
    ];
    let pushed = p.image(
        &reference,
        &layers,
        Format::Oci,
        serde_json::json!({ "Cmd": ["sh"] }),
        "amd64",
    );
    let root = root();
    let r = root.path();
    assert!(gocker(r, &["pull", "-q", &reference]).status.success());
    let out = tempfile::tempdir().unwrap();
    for target in ["img.tar", "layout"] {
        let path = out.path().join(target);
        let o = gocker(r, &["save", &reference, "-o", path.to_str().unwrap()]);
        assert!(o.status.success(), "save {target}: {}", text(&o).1);
        // Load into a fresh root: same image id, same names, same files.
        let root2 = common::root();
        let o = gocker(root2.path(), &["load", "-i", path.to_str().unwrap()]);
        assert!(o.status.success(), "load {target}: {}", text(&o).1);
        let o = gocker(root2.path(), &["-e", &format!("image({:?}).id", reference)]);
        assert_eq!(
            text(&o).0.trim(),
            pushed.config_digest,
            "{target}: {}",
            text(&o).1
        );
        let o = gocker(root2.path(), &["-e", &format!("let d = mount_image({reference:?}); let r = [d]; unmount_image({reference:?}); r.len()")]);
        assert!(o.status.success(), "{}", text(&o).1);
        assert!(mounts_under(root2.path()).is_empty());
    }
    // Loading garbage is a clear error that names the file.
    let junk = out.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar at all").unwrap();
    let o = gocker(r, &["load", "-i", junk.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("junk.tar"), "{}", text(&o).1);
}

#[test]
fn a_pull_killed_midway_leaves_nothing_half_named_and_the_next_pull_completes() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/killme:1", reg.addr);
    let layers: Vec<(Vec<u8>, Comp)> = (0..4u32)
        .map(|l| {
            let data: Vec<u8> = (0..24_000_000u32)
                .map(|i| (i.wrapping_add(l * 7919).wrapping_mul(2654435761) >> 11) as u8)
                .collect();
            (
                TarBuilder::new()
                    .file(&format!("blob{l}"), &data, 0o644)
                    .finish(),
                Comp::Gzip,
            )
        })
        .collect();
    let pushed = p.image(
        &reference,
        &layers,
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let root = root();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(root.path())
        .args(["pull", "-q", &reference])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start pull");
    // Wait until unpacking has started, then kill it without warning.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let busy = std::fs::read_dir(root.path().join("tmp"))
            .map(|d| d.count() > 0)
            .unwrap_or(false);
        if busy || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let o = gocker(root.path(), &["images", "--json"]);
    assert_eq!(
        text(&o).0.trim(),
        "[]",
        "no image is recorded after a killed pull"
    );
    // Every layer directory present is complete: it is in the database.
    let db = rusqlite::Connection::open(root.path().join("db.sqlite")).unwrap();
    for e in std::fs::read_dir(root.path().join("layers"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".split") {
            continue;
        }
        let n: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM layers WHERE chain_id = ?1",
                [format!("sha256:{name}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "layer directory {name} is complete");
    }
    let o = gocker(root.path(), &["pull", "-q", &reference]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(text(&o).0.trim(), pushed.manifest_digest);
    let left: Vec<_> = std::fs::read_dir(root.path().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "scratch of the killed pull is cleared: {left:?}"
    );
}
