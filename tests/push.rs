//! push, login and logout against real registries: images pulled, loaded and committed here,
//! pushed and then pulled back and run by gocker-script and by podman, read by skopeo; blobs a
//! registry has are skipped; credentials from the call and from login; bad input. And `load`
//! of what skopeo writes (oci-archive, docker-archive).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::SystemTime;

use common::*;
use gocker::image::{BlobStatus, ImageStore, PushOptions};
use gocker::store::Paths;
use gocker::Kind;

/// Runs gocker-script on `root` with `DOCKER_CONFIG` set to `docker_config` (so the host's own
/// credentials never take part).
fn gocker_with(root: &Path, docker_config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .env("DOCKER_CONFIG", docker_config)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run gocker-script")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        out(&o),
        err(&o)
    );
    out(&o)
}

fn failed(o: Output) -> String {
    assert!(!o.status.success(), "should have failed: {}", out(&o));
    err(&o)
}

/// A deterministic stretch of bytes that does not compress: real upload work.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A `docker save` archive of `layers` (uncompressed tars), named `name`, as `docker save`
/// and skopeo write them.
fn docker_archive(path: &Path, name: &str, layers: &[Vec<u8>]) {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": { "Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config_raw = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", &sha256(&config_raw)[7..]);
    let layer_names: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}.tar", &d[7..]))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([
        { "Config": config_name, "RepoTags": [name], "Layers": layer_names }
    ]))
    .unwrap();
    let mut tar = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, data).unwrap();
    };
    for (n, l) in layer_names.iter().zip(layers) {
        add(n, l);
    }
    add(&config_name, &config_raw);
    add("manifest.json", &manifest);
    tar.finish().unwrap();
}

/// A layer of one file.
fn file_layer(path: &str, data: &[u8]) -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.file(path, data, 0o644);
    t.finish()
}

/// Loads an image of the busybox layer and a 2 MB layer of noise into `root`, as `name`.
fn load_image(root: &Path, name: &str, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("img.tar");
    docker_archive(
        &archive,
        name,
        &[busybox_layer(), file_layer("noise", &noise(2 << 20, seed))],
    );
    ok(gocker(root, &["load", "-i", archive.to_str().unwrap()]));
}

/// Every blob file of a registry's storage, with its size and modification time.
fn registry_blobs(reg: &TestRegistry) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, SystemTime)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p, (m.len(), m.modified().unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&reg.storage.join("docker/registry/v2/blobs"), &mut out);
    out
}

/// Upload sessions the registry holds for `repo` (none once every upload is finished).
fn open_uploads(reg: &TestRegistry, repo: &str) -> usize {
    std::fs::read_dir(
        reg.storage
            .join("docker/registry/v2/repositories")
            .join(repo)
            .join("_uploads"),
    )
    .map(|d| d.count())
    .unwrap_or(0)
}

#[test]
fn a_pulled_image_pushed_to_another_repo_pulls_back_and_runs() {
    let reg = registry();
    let src = push_busybox(reg, "push/src:1");
    let src_ref = format!("{}/push/src:1", reg.addr);
    let root = root();
    let r = root.path();
    ok(gocker(r, &["pull", "-q", &src_ref]));

    // Same registry: the layer is mounted from the repository it was pulled from, and the
    // image keeps its own manifest, so its digest.
    let copy = format!("{}/push/copy:1", reg.addr);
    let text = ok(gocker(r, &["push", &src_ref, &copy]));
    assert!(text.contains(": mounted"), "{text}");
    assert!(
        text.trim_end().ends_with(&format!(
            "digest: {} size: {}",
            src.manifest_digest, src.manifest_size
        )),
        "{text}"
    );

    // Docker's format: a new manifest over the same blobs.
    let docker = format!("{}/push/docker:1", reg.addr);
    let digest = ok(gocker(
        r,
        &["push", "-q", "--format", "docker", &src_ref, &docker],
    ));
    assert_ne!(digest.trim(), src.manifest_digest);

    for name in [&copy, &docker] {
        let fresh = common::root();
        let pulled = ok(gocker(fresh.path(), &["pull", "-q", name]));
        assert!(pulled.trim().starts_with("sha256:"), "{pulled}");
        let said = ok(gocker(
            fresh.path(),
            &[
                "run",
                "--rm",
                "--network",
                "none",
                name,
                "echo",
                "pushed and back",
            ],
        ));
        assert_eq!(said.trim(), "pushed and back");
    }
    let manifest = skopeo_raw(&docker);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    assert_eq!(manifest["config"]["digest"], src.config_digest);
}

#[test]
fn a_second_push_skips_every_blob_and_gives_the_same_digest() {
    let reg = registry();
    let root = root();
    let r = root.path();
    load_image(r, "skip/img:1", 7);
    let store = ImageStore::open(Paths::new(r)).unwrap();
    let dest = format!("{}/skip/a:1", reg.addr);
    let quiet = PushOptions::default();

    let first = store.push("skip/img:1", Some(&dest), &quiet).unwrap();
    assert_eq!(first.layers.len(), 2);
    for l in first.layers.iter().chain([&first.config]) {
        assert_eq!(l.status, BlobStatus::Uploaded, "{first:?}");
    }
    assert!(first.layers[1].size > 2 << 20, "noise does not compress");
    let blobs = registry_blobs(reg);

    let second = store.push("skip/img:1", Some(&dest), &quiet).unwrap();
    for l in second.layers.iter().chain([&second.config]) {
        assert_eq!(l.status, BlobStatus::Exists, "{second:?}");
    }
    assert_eq!(second.digest, first.digest);
    // Nothing was written: the same blob files, untouched, and no upload left open.
    assert_eq!(registry_blobs(reg), blobs);
    assert_eq!(open_uploads(reg, "skip/a"), 0);

    // The same through the verb, as its trace tells.
    let docker_config = tempfile::tempdir().unwrap();
    let o = gocker_with(
        r,
        docker_config.path(),
        &["--trace", "push", "skip/img:1", &dest],
    );
    let trace = err(&o);
    assert_eq!(
        out(&o).lines().last(),
        Some(format!("{dest}: digest: {} size: {}", first.digest, first.size).as_str()),
        "{trace}"
    );
    assert_eq!(trace.matches(", skipped").count(), 2, "{trace}");
    assert!(!trace.contains("upload as"), "{trace}");
    assert_eq!(registry_blobs(reg), blobs);

    // Another repository of the registry: mounted from the first, still nothing written.
    let other = store
        .push(
            "skip/img:1",
            Some(&format!("{}/skip/b:1", reg.addr)),
            &quiet,
        )
        .unwrap();
    for l in &other.layers {
        assert_eq!(l.status, BlobStatus::Mounted, "{other:?}");
    }
    assert_eq!(other.digest, first.digest);
    assert_eq!(registry_blobs(reg), blobs);

    // What was pushed is what was loaded: pulled back, its files are the same.
    let fresh = common::root();
    ok(gocker(
        fresh.path(),
        &["pull", "-q", &format!("{}/skip/b:1", reg.addr)],
    ));
    let sum = ok(gocker(
        fresh.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &format!("{}/skip/b:1", reg.addr),
            "sh",
            "-c",
            "wc -c < /noise",
        ],
    ));
    assert_eq!(sum.trim(), (2 << 20).to_string());

    // The push records go with their layers.
    assert!(std::fs::read_dir(r.join("layers"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".pushed")));
    drop(store);
    ok(gocker(r, &["rmi", "skip/img:1"]));
    let left: Vec<String> = std::fs::read_dir(r.join("layers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A private podman (its own storage, run and tmp directories) that leaves nothing behind.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn new() -> Podman {
        Podman {
            dir: tempfile::Builder::new()
                .prefix("gocker-podman-")
                .tempdir()
                .unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new("podman")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            // This host's cgroups are hybrid, which crun refuses; runc works.
            .args(["--storage-driver", "overlay", "--cgroup-manager=cgroupfs"])
            .args(["--events-backend=file", "--runtime", "runc"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("podman is installed")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["system", "reset", "-f"]);
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("root"))
            .stderr(Stdio::null())
            .status();
    }
}

fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed")
}

fn skopeo_raw(name: &str) -> serde_json::Value {
    let o = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]);
    serde_json::from_str(&ok(o)).unwrap()
}

#[test]
fn a_committed_image_runs_under_podman_and_skopeo_reads_it() {
    let reg = registry();
    push_busybox(reg, "podman/base:1");
    let base = format!("{}/podman/base:1", reg.addr);
    let root = root();
    let r = root.path();
    ok(gocker(r, &["pull", "-q", &base]));
    ok(gocker(
        r,
        &[
            "run",
            "--network",
            "none",
            "--name",
            "maker",
            &base,
            "sh",
            "-c",
            "echo made here > /file && rm /etc/group",
        ],
    ));
    let name = format!("{}/podman/made:1", reg.addr);
    ok(gocker(
        r,
        &["commit", "-c", "CMD [\"cat\", \"/file\"]", "maker", &name],
    ));
    ok(gocker(r, &["rm", "maker"]));
    // No destination: the image's own name is a registry reference.
    let digest = ok(gocker(r, &["push", "-q", &name])).trim().to_string();
    let docker_name = format!("{}/podman/made:docker", reg.addr);
    let docker_digest = ok(gocker(
        r,
        &["push", "-q", "--format", "docker", &name, &docker_name],
    ))
    .trim()
    .to_string();

    let o = skopeo(&["inspect", "--tls-verify=false", &format!("docker://{name}")]);
    let info: serde_json::Value = serde_json::from_str(&ok(o)).unwrap();
    assert_eq!(info["Digest"], digest);
    assert_eq!(
        info["Layers"].as_array().map(|l| l.len()),
        Some(2),
        "{info}"
    );
    assert_eq!(info["Os"], "linux");
    let raw = skopeo_raw(&name);
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        raw["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    let podman = Podman::new();
    for (n, d) in [(&name, &digest), (&docker_name, &docker_digest)] {
        let o = podman.run(&["pull", "-q", "--tls-verify=false", n]);
        assert!(o.status.success(), "podman pull {n}: {}", err(&o));
        let o = podman.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            n,
        ]);
        assert!(o.status.success(), "podman run {n}: {}", err(&o));
        assert_eq!(out(&o).trim(), "made here");
        let o = podman.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            n,
            "ls",
            "/etc/group",
        ]);
        assert!(
            !o.status.success(),
            "the deletion travels as a whiteout: {}",
            out(&o)
        );
        // The digest podman pulled by is ours (both names are one image to it: one config).
        let o = podman.run(&["image", "inspect", "--format", "{{.RepoDigests}}", n]);
        let repo = n.rsplit_once(':').map(|(repo, _)| repo).unwrap_or(n);
        let digests = ok(o);
        assert!(digests.contains(&format!("{repo}@{d}")), "{digests}");
    }
}

#[test]
fn credentials_from_the_call_from_login_and_gone_after_logout() {
    let open = registry();
    let auth = auth_registry();
    push_busybox(open, "auth/src:1");
    let src = format!("{}/auth/src:1", open.addr);
    let root = root();
    let r = root.path();
    let cfg = tempfile::tempdir().unwrap();
    let cfg_file = cfg.path().join("config.json");
    std::fs::write(&cfg_file, r#"{"psFormat":"table {{.ID}}"}"#).unwrap();
    let g = |args: &[&str]| gocker_with(r, cfg.path(), args);
    ok(g(&["pull", "-q", &src]));
    let dest = format!("{}/private/img:1", auth.addr);

    // Anonymous, and a wrong password: refused, naming the registry.
    let e = failed(g(&["push", "-q", &src, &dest]));
    assert!(e.contains("permission") && e.contains(&auth.addr), "{e}");
    let wrong = format!(
        r#"try {{ push("{src}", #{{ dest: "{dest}", username: "{USER}", password: "wrong" }}) }} catch (e) {{ print(e.kind); print(e.message) }}"#
    );
    let said = ok(g(&["-e", &wrong]));
    assert!(said.starts_with("permission\n"), "{said}");
    assert!(said.contains(&auth.addr), "{said}");

    // Explicit credentials win.
    let right = format!(
        r#"print(push("{src}", #{{ dest: "{dest}", username: "{USER}", password: "{PASSWORD}", quiet: true }}).layers[0].status)"#
    );
    assert_eq!(ok(g(&["-e", &right])).trim(), "uploaded");

    // login checks the password before keeping it.
    let mut login = Command::new(env!("CARGO_BIN_EXE_gocker-script"));
    login
        .env("DOCKER_CONFIG", cfg.path())
        .args([
            "--root",
            r.to_str().unwrap(),
            "login",
            "-u",
            USER,
            "--password-stdin",
            &auth.addr,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut attempt = |password: &str| {
        let mut child = login.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let e = failed(attempt("wrong"));
    assert!(e.contains("permission") && e.contains(&auth.addr), "{e}");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_file).unwrap()).unwrap();
    assert!(doc.get("auths").is_none(), "nothing kept: {doc}");
    assert_eq!(ok(attempt(PASSWORD)).trim(), "Login Succeeded");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cfg_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_file).unwrap()).unwrap();
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert_eq!(doc["auths"][&auth.addr]["auth"], expected.as_str());
    assert_eq!(doc["psFormat"], "table {{.ID}}", "other keys kept");

    // Logged in: no credentials needed, for push and pull.
    let second = format!("{}/private/img:2", auth.addr);
    let digest = ok(g(&["push", "-q", &src, &second]));
    let fresh = common::root();
    let pulled = ok(gocker_with(
        fresh.path(),
        cfg.path(),
        &["pull", "-q", &second],
    ));
    assert_eq!(pulled.trim(), digest.trim());

    // Logged out: refused again; logging out twice says so.
    let said = ok(g(&["logout", &auth.addr]));
    assert!(said.contains(&auth.addr), "{said}");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_file).unwrap()).unwrap();
    assert!(doc["auths"].get(&auth.addr).is_none(), "{doc}");
    assert_eq!(doc["psFormat"], "table {{.ID}}");
    let e = failed(g(&["logout", &auth.addr]));
    assert!(
        e.contains("not_found") && e.contains("not logged in"),
        "{e}"
    );
    let e = failed(g(&[
        "push",
        "-q",
        &src,
        &format!("{}/private/img:3", auth.addr),
    ]));
    assert!(e.contains("permission") && e.contains(&auth.addr), "{e}");
    // Nothing but the config file in its directory.
    let names: Vec<String> = std::fs::read_dir(cfg.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["config.json"]);
}

#[test]
fn bad_input_is_named_and_says_what_would_work() {
    let reg = registry();
    let root = root();
    let r = root.path();
    load_image(r, "bad/img:1", 3);
    let store = ImageStore::open(Paths::new(r)).unwrap();
    let id = store.image("bad/img:1").unwrap().id;
    let dest = format!("{}/bad/x:1", reg.addr);
    let check = |kind: Kind, code: &str, words: &[&str]| {
        let script = format!(
            r#"try {{ {code}; print("no error") }} catch (e) {{ print(e.kind); print(e.message) }}"#
        );
        let said = ok(gocker(r, &["-e", &script]));
        assert!(
            said.starts_with(&format!("{}\n", kind.as_str())),
            "{code}: {said}"
        );
        for w in words {
            assert!(said.contains(w), "{code}: {said} should name {w:?}");
        }
    };
    check(
        Kind::NotFound,
        &format!(r#"push("no/such:1", "{dest}")"#),
        &["no/such:1"],
    );
    check(
        Kind::InvalidArgument,
        r#"push("bad/img:1", "UPPER/x:1")"#,
        &["UPPER/x:1", "lowercase"],
    );
    check(
        Kind::InvalidArgument,
        &format!(r#"push("bad/img:1", #{{ dest: "{dest}", compresion: "gzip" }})"#),
        &[
            "compresion",
            "dest",
            "format",
            "compression",
            "username",
            "password",
            "quiet",
        ],
    );
    check(
        Kind::InvalidArgument,
        &format!(
            r#"push("bad/img:1", "{}/bad/x@sha256:{}")"#,
            reg.addr,
            "a".repeat(64)
        ),
        &["tag, not a digest"],
    );
    check(
        Kind::InvalidArgument,
        &format!(r#"push("{}")"#, &id[7..19]),
        &["needs a destination"],
    );
    check(
        Kind::InvalidArgument,
        &format!(r#"push("bad/img:1", #{{ dest: "{dest}", format: "xml" }})"#),
        &["xml", "oci or docker"],
    );
    check(
        Kind::InvalidArgument,
        &format!(r#"push("bad/img:1", #{{ dest: "{dest}", compression: "lz4" }})"#),
        &["lz4", "gzip, zstd or none"],
    );
    check(
        Kind::Unsupported,
        &format!(
            r#"push("bad/img:1", #{{ dest: "{dest}", format: "docker", compression: "zstd" }})"#
        ),
        &["zstd", "format oci"],
    );
    check(
        Kind::InvalidArgument,
        &format!(r#"push("bad/img:1", #{{ dest: "{dest}", username: "me" }})"#),
        &["username and password go together"],
    );
    // Nobody listens on port 9 of the loopback.
    check(
        Kind::Registry,
        r#"push("bad/img:1", "127.0.0.1:9/bad/x:1")"#,
        &["127.0.0.1:9"],
    );
    check(
        Kind::InvalidArgument,
        r#"login("not a host", #{ username: "u", password: "p" })"#,
        &["not a host", "host[:port]"],
    );
    // Verbs: the same errors, and clap's for a wrong flag.
    let e = failed(gocker(r, &["push", "--format", "xml", "bad/img:1", &dest]));
    assert!(
        e.contains("invalid_argument") && e.contains("oci or docker"),
        "{e}"
    );
    let e = failed(gocker(r, &["push", "no/such:1"]));
    assert!(e.contains("not_found") && e.contains("no/such:1"), "{e}");
    // login without a terminal to ask on.
    let e = failed(gocker(r, &["login", "-u", "me", &reg.addr]));
    assert!(e.contains("-p PASSWORD or --password-stdin"), "{e}");
    // A failed push leaves no scratch behind in the store.
    let tmp: Vec<_> = std::fs::read_dir(r.join("tmp"))
        .unwrap()
        .flatten()
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

#[test]
fn a_layer_changed_on_disk_is_refused_and_nothing_is_named_in_the_registry() {
    let reg = registry();
    let root = root();
    let r = root.path();
    load_image(r, "damaged/img:1", 5);
    let store = ImageStore::open(Paths::new(r)).unwrap();
    let img = store.image("damaged/img:1").unwrap();
    let noise_layer = &img.layers[1];
    let file = Paths::new(r)
        .layer(&noise_layer.chain_id[7..])
        .join("noise");
    let len = std::fs::metadata(&file).unwrap().len() as usize;
    std::fs::write(&file, vec![0u8; len]).unwrap();

    let dest = format!("{}/damaged/img:1", reg.addr);
    let e = store
        .push("damaged/img:1", Some(&dest), &PushOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Corrupt, "{}", e.chain());
    assert!(
        e.message().contains(&noise_layer.chain_id),
        "{}",
        e.message()
    );
    // No manifest, and the upload was cancelled: its data is gone. (This registry re-saves
    // an empty hash state of a cancelled session, so the session's directory stays.)
    let o = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]);
    assert!(!o.status.success(), "{}", out(&o));
    let uploads = reg
        .storage
        .join("docker/registry/v2/repositories/damaged/img/_uploads");
    let data: Vec<PathBuf> = std::fs::read_dir(&uploads)
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("data"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    assert!(data.is_empty(), "{data:?}");
    let tmp: Vec<_> = std::fs::read_dir(r.join("tmp"))
        .unwrap()
        .flatten()
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

#[test]
fn load_reads_what_skopeo_writes() {
    let reg = registry();
    push_busybox(reg, "skopeo/src:1");
    let src = format!("{}/skopeo/src:1", reg.addr);
    // And an image pushed here with zstd layers, which an oci-archive keeps as they are.
    let maker = root();
    load_image(maker.path(), "skopeo/zstd:1", 11);
    let zstd = format!("{}/skopeo/zstd:1", reg.addr);
    ok(gocker(
        maker.path(),
        &[
            "push",
            "-q",
            "--compression",
            "zstd",
            "skopeo/zstd:1",
            &zstd,
        ],
    ));

    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: String| {
        ok(skopeo(&[
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{from}"),
            &to,
        ]));
    };
    let oci = dir.path().join("oci.tar");
    let docker = dir.path().join("docker.tar");
    let named = dir.path().join("named.tar");
    let oci_zstd = dir.path().join("zstd.tar");
    copy(&src, format!("oci-archive:{}", oci.display()));
    copy(&src, format!("docker-archive:{}", docker.display()));
    copy(
        &src,
        format!("docker-archive:{}:skopeo/named:2", named.display()),
    );
    copy(&zstd, format!("oci-archive:{}", oci_zstd.display()));

    for (archive, name) in [
        (&oci, None),
        (&docker, None),
        (&named, Some("skopeo/named:2")),
        (&oci_zstd, None),
    ] {
        let fresh = common::root();
        let f = fresh.path();
        let said = ok(gocker(f, &["load", "-i", archive.to_str().unwrap()]));
        let loaded = said
            .trim()
            .strip_prefix("Loaded image: ")
            .unwrap_or_else(|| panic!("{said}"))
            .to_string();
        if let Some(n) = name {
            assert_eq!(loaded, n);
        }
        let o = gocker(
            f,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &loaded,
                "sh",
                "-c",
                "echo loaded; ls /noise 2>/dev/null || true",
            ],
        );
        let text = ok(o);
        assert!(text.starts_with("loaded"), "{}: {text}", archive.display());
        assert_eq!(archive == &oci_zstd, text.contains("/noise"), "{text}");
    }
}
