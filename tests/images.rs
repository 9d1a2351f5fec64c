//! Pulling from a real registry into a real store, checked file by file through mount_image.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;
use gocker::image::{ImageStore, PullOptions};
use gocker::store::Paths;
use gocker::Kind;

fn store(root: &tempfile::TempDir) -> ImageStore {
    ImageStore::open(Paths::new(root.path())).expect("open store")
}

fn no_users(_: &str) -> gocker::Result<Vec<String>> {
    Ok(Vec::new())
}

fn layer_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("layers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".split"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn scratch(root: &Path) -> Vec<String> {
    fs::read_dir(root.join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pulls_busybox_and_mounts_it() {
    let reg = registry();
    let pushed = push_busybox(reg, "busybox:latest");
    let root = root();
    let s = store(&root);
    let img = s
        .pull(&format!("{}/busybox", reg.addr), &PullOptions::default())
        .expect("pull");
    assert_eq!(img.id, pushed.config_digest);
    assert_eq!(img.digest, pushed.manifest_digest);
    assert_eq!(img.tags, vec![format!("{}/busybox:latest", reg.addr)]);
    assert_eq!(img.layers.len(), 1);
    assert_eq!(img.layers[0].diff_id, pushed.diff_ids[0]);
    assert_eq!(img.config.cmd, Some(vec!["sh".to_string()]));
    assert!(img.size > 500_000, "size {}", img.size);

    let mnt = s
        .mount(&format!("{}/busybox:latest", reg.addr))
        .expect("mount");
    let bb = fs::metadata(mnt.join("bin/busybox")).expect("busybox in image");
    assert_eq!(bb.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read(mnt.join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        fs::read_link(mnt.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        fs::metadata(mnt.join("tmp")).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        fs::metadata(mnt.join("bin/busybox")).unwrap().mtime(),
        1_700_000_000
    );
    // Read-only.
    assert!(fs::write(mnt.join("new-file"), b"x").is_err());
    // Mounting again gives the same place.
    assert_eq!(s.mount(&img.id).expect("mount again"), mnt);
    s.unmount(&img.id).expect("unmount");
    assert!(mounts_under(root.path()).is_empty());
    assert!(!mnt.exists());

    // Lookups by id prefix and by digest reference.
    assert_eq!(s.image(&img.id[7..19]).unwrap().id, img.id);
    assert_eq!(
        s.image(&format!("{}/busybox@{}", reg.addr, img.digest))
            .unwrap()
            .id,
        img.id
    );
    assert!(scratch(root.path()).is_empty());
}

#[test]
fn every_media_type_and_compression() {
    let reg = registry();
    let p = Pusher::new(reg);
    let root = root();
    let s = store(&root);
    for (i, (format, comp)) in [
        (Format::Oci, Comp::Gzip),
        (Format::Oci, Comp::Zstd),
        (Format::Oci, Comp::None),
        (Format::Docker, Comp::Gzip),
        (Format::Docker, Comp::None),
    ]
    .into_iter()
    .enumerate()
    {
        let tar = TarBuilder::new()
            .file(
                "hello.txt",
                format!("hello {i} {format:?} {comp:?}").as_bytes(),
                0o644,
            )
            .finish();
        let reference = format!("{}/media:{i}", reg.addr);
        let pushed = p.image(
            &reference,
            &[(tar, comp)],
            format,
            serde_json::json!({}),
            "amd64",
        );
        let img = s
            .pull(&reference, &PullOptions::default())
            .unwrap_or_else(|e| panic!("{format:?} {comp:?}: {}", e.chain()));
        assert_eq!(
            img.layers[0].diff_id, pushed.diff_ids[0],
            "{format:?} {comp:?}"
        );
        let mnt = s.mount(&reference).expect("mount");
        assert_eq!(
            fs::read_to_string(mnt.join("hello.txt")).unwrap(),
            format!("hello {i} {format:?} {comp:?}")
        );
        s.unmount(&reference).expect("unmount");
    }
}

/// Three layers exercising whiteouts, opaque directories, type changes, links and names.
fn tricky_layers() -> Vec<Vec<u8>> {
    let long = format!("deep/{}/{}", "d".repeat(80), "f".repeat(60));
    let l1 = TarBuilder::new()
        .dir("./etc/", 0o755)
        .file("./etc/keep", b"keep", 0o644)
        .file("./etc/gone", b"gone", 0o644)
        .dir("./opaque/", 0o755)
        .file("./opaque/old", b"old", 0o644)
        .file("./becomes-dir", b"file", 0o644)
        .dir("./a/", 0o755)
        .file("./a/orig", b"linked content", 0o640)
        .dir("./b/", 0o755)
        .hardlink("./b/hard", "a/orig")
        .symlink("./rel-link", "etc/keep")
        .symlink("./abs-link", "/etc/keep")
        .symlink("./dangling", "/nowhere/at/all")
        .file_owned("./owned", b"o", 0o4755, 1000, 1001)
        .dir("./sticky/", 0o1777)
        .file(&long, b"long name", 0o644)
        .file(
            "./unicode-\u{00e9}\u{00e8}-\u{6f22}\u{5b57}.txt",
            b"unicode",
            0o644,
        )
        .finish();
    let l2 = TarBuilder::new()
        .whiteout("etc/gone")
        .opaque("opaque")
        .file("opaque/new", b"new", 0o644)
        .whiteout("becomes-dir")
        .dir("becomes-dir/", 0o755)
        .file("becomes-dir/inside", b"inside", 0o644)
        .pax(&[
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
            ("mtime", b"1600000000.5"),
        ])
        .file("xattr-file", b"x", 0o600)
        .finish();
    let l3 = TarBuilder::new()
        .file("etc/keep", b"replaced", 0o600)
        .finish();
    vec![l1, l2, l3]
}

#[test]
fn flattened_filesystem_of_a_tricky_image() {
    let reg = registry();
    let p = Pusher::new(reg);
    let layers: Vec<(Vec<u8>, Comp)> = tricky_layers()
        .into_iter()
        .map(|l| (l, Comp::Gzip))
        .collect();
    let reference = format!("{}/tricky:1", reg.addr);
    p.image(
        &reference,
        &layers,
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let root = root();
    let s = store(&root);
    let img = s.pull(&reference, &PullOptions::default()).expect("pull");
    assert_eq!(img.layers.len(), 3);
    let m = s.mount(&reference).expect("mount");
    assert_eq!(fs::read_to_string(m.join("etc/keep")).unwrap(), "replaced");
    assert!(!m.join("etc/gone").exists(), "whiteout hides etc/gone");
    assert!(
        !m.join("opaque/old").exists(),
        "opaque dir hides old content"
    );
    assert_eq!(fs::read_to_string(m.join("opaque/new")).unwrap(), "new");
    assert!(m.join("becomes-dir").is_dir());
    assert_eq!(
        fs::read_to_string(m.join("becomes-dir/inside")).unwrap(),
        "inside"
    );
    let a = fs::metadata(m.join("a/orig")).unwrap();
    let b = fs::metadata(m.join("b/hard")).unwrap();
    assert_eq!(
        a.ino(),
        b.ino(),
        "hard link across directories shares the inode"
    );
    assert_eq!(a.nlink(), 2);
    assert_eq!(a.permissions().mode() & 0o7777, 0o640);
    assert_eq!(
        fs::read_link(m.join("rel-link")).unwrap(),
        Path::new("etc/keep")
    );
    assert_eq!(
        fs::read_link(m.join("abs-link")).unwrap(),
        Path::new("/etc/keep")
    );
    assert_eq!(
        fs::read_link(m.join("dangling")).unwrap(),
        Path::new("/nowhere/at/all")
    );
    let owned = fs::metadata(m.join("owned")).unwrap();
    assert_eq!((owned.uid(), owned.gid()), (1000, 1001));
    assert_eq!(
        owned.permissions().mode() & 0o7777,
        0o4755,
        "setuid survives chown"
    );
    assert_eq!(
        fs::metadata(m.join("sticky")).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    let long = format!("deep/{}/{}", "d".repeat(80), "f".repeat(60));
    assert_eq!(fs::read_to_string(m.join(long)).unwrap(), "long name");
    assert_eq!(
        fs::read_to_string(m.join("unicode-\u{00e9}\u{00e8}-\u{6f22}\u{5b57}.txt")).unwrap(),
        "unicode"
    );
    let xf = m.join("xattr-file");
    assert_eq!(fs::metadata(&xf).unwrap().mtime(), 1_600_000_000);
    assert_eq!(fs::metadata(&xf).unwrap().mtime_nsec(), 500_000_000);
    assert_eq!(
        xattr(&xf, "user.note").as_deref(),
        Some(&b"hello"[..]),
        "xattr kept"
    );
    assert_eq!(
        xattr(&xf, "trusted.overlay.redirect"),
        None,
        "overlay xattrs from a layer are dropped"
    );
    s.unmount(&reference).unwrap();
}

#[test]
fn images_share_layers_and_the_second_pull_downloads_only_what_is_new() {
    let reg = registry();
    let p = Pusher::new(reg);
    let base: Vec<(Vec<u8>, Comp)> = (0..3)
        .map(|i| {
            (
                TarBuilder::new()
                    .file(
                        &format!("layer{i}"),
                        format!("content {i} {}", reg.addr).as_bytes(),
                        0o644,
                    )
                    .finish(),
                Comp::Gzip,
            )
        })
        .collect();
    let mut more = base.clone();
    more.push((
        TarBuilder::new()
            .file("layer3", b"only in v2", 0o644)
            .finish(),
        Comp::Gzip,
    ));
    let latest = p.image(
        &format!("{}/multi:latest", reg.addr),
        &base,
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    p.image(
        &format!("{}/multi:v2", reg.addr),
        &more,
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );

    let root = root();
    let s = store(&root);
    s.pull(
        &format!("{}/multi:latest", reg.addr),
        &PullOptions::default(),
    )
    .expect("pull latest");
    assert_eq!(layer_dirs(root.path()).len(), 3);
    // Take the shared blobs away from the registry: v2 can only be pulled if they are not fetched.
    for d in &latest.layer_digests {
        let hex = d.trim_start_matches("sha256:");
        let blob = reg.storage.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ));
        let saved = fs::read(&blob).expect("blob in registry");
        fs::write(&blob, b"gone").unwrap();
        // Put it back at the end of the test even if it fails.
        std::mem::forget(Restore(blob, saved));
    }
    let v2 = s
        .pull(&format!("{}/multi:v2", reg.addr), &PullOptions::default())
        .expect("pull v2 without the shared blobs");
    assert_eq!(layer_dirs(root.path()).len(), 4);
    assert_eq!(s.images().unwrap().len(), 2);
    let m = s.mount(&v2.id).unwrap();
    for i in 0..4 {
        assert!(m.join(format!("layer{i}")).exists());
    }
    s.unmount(&v2.id).unwrap();

    // rmi of v2 deletes only its own layer; rmi of latest then deletes the rest.
    let r = s
        .remove(&format!("{}/multi:v2", reg.addr), false, &no_users)
        .expect("rmi v2");
    assert_eq!(r.deleted, vec![v2.id.clone()]);
    assert_eq!(layer_dirs(root.path()).len(), 3);
    s.remove(&format!("{}/multi:latest", reg.addr), false, &no_users)
        .expect("rmi latest");
    assert!(layer_dirs(root.path()).is_empty());
    assert!(s.images().unwrap().is_empty());
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the stated length.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| buf[..len as usize].to_vec())
}

struct Restore(std::path::PathBuf, Vec<u8>);
impl Drop for Restore {
    fn drop(&mut self) {
        let _ = fs::write(&self.0, &self.1);
    }
}

#[test]
fn image_index_picks_the_platform() {
    let reg = registry();
    let p = Pusher::new(reg);
    let amd = p.image(
        &format!("{}/multiarch:amd64", reg.addr),
        &[(
            TarBuilder::new().file("arch", b"amd64", 0o644).finish(),
            Comp::Gzip,
        )],
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let arm = p.image(
        &format!("{}/multiarch:arm64", reg.addr),
        &[(
            TarBuilder::new().file("arch", b"arm64", 0o644).finish(),
            Comp::Gzip,
        )],
        Format::Oci,
        serde_json::json!({}),
        "arm64",
    );
    let index = format!("{}/multiarch:both", reg.addr);
    p.index(&index, &[(&amd, "linux/amd64"), (&arm, "linux/arm64/v8")]);

    let root = root();
    let s = store(&root);
    let host = s.pull(&index, &PullOptions::default()).expect("pull index");
    assert_eq!(host.id, amd.config_digest);
    let arm_img = s
        .pull(
            &index,
            &PullOptions {
                platform: Some("linux/arm64".into()),
                ..Default::default()
            },
        )
        .expect("pull arm64");
    assert_eq!(arm_img.id, arm.config_digest);
    assert_eq!(arm_img.platform.architecture, "arm64");
    let err = s
        .pull(
            &index,
            &PullOptions {
                platform: Some("linux/s390x".into()),
                ..Default::default()
            },
        )
        .expect_err("no s390x");
    assert_eq!(err.kind(), Kind::NotFound);
    assert!(
        err.message().contains("linux/amd64") && err.message().contains("linux/arm64/v8"),
        "{}",
        err.message()
    );
    let err = s
        .pull(
            &index,
            &PullOptions {
                platform: Some("bogus".into()),
                ..Default::default()
            },
        )
        .expect_err("bad platform");
    assert_eq!(err.kind(), Kind::InvalidArgument);
}

#[test]
fn a_corrupted_blob_is_rejected_and_nothing_is_stored() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/corrupt:1", reg.addr);
    let tar = TarBuilder::new()
        .file("data", &vec![7u8; 100_000], 0o644)
        .finish();
    let pushed = p.image(
        &reference,
        &[(tar, Comp::Gzip)],
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let hex = pushed.layer_digests[0].trim_start_matches("sha256:");
    let blob = reg.storage.join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut data = fs::read(&blob).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    fs::write(&blob, &data).unwrap();

    let root = root();
    let s = store(&root);
    let err = s
        .pull(&reference, &PullOptions::default())
        .expect_err("corrupt blob must fail");
    assert_eq!(err.kind(), Kind::Corrupt, "{}", err.chain());
    assert!(
        err.chain().contains(&pushed.layer_digests[0]),
        "names the layer: {}",
        err.chain()
    );
    assert!(layer_dirs(root.path()).is_empty());
    assert!(
        scratch(root.path()).is_empty(),
        "scratch left: {:?}",
        scratch(root.path())
    );
    assert!(s.images().unwrap().is_empty());
}

#[test]
fn a_layer_whose_content_does_not_match_its_diff_id_is_rejected() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/wrongdiff:1", reg.addr);
    // Push a correct image, then a manifest pointing at a config whose diff id is wrong.
    let tar = TarBuilder::new().file("x", b"x", 0o644).finish();
    let good = p.image(
        &reference,
        &[(tar, Comp::Gzip)],
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let bad_config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", "0".repeat(64))] }
    }))
    .unwrap();
    let cfg = p.blob(&reference, &bad_config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": bad_config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": good.layer_digests[0],
                     "size": fs::metadata(reg.storage.join(format!("docker/registry/v2/blobs/sha256/{}/{}/data", &good.layer_digests[0][7..9], &good.layer_digests[0][7..]))).unwrap().len() }]
    }))
    .unwrap();
    p.manifest(
        &reference,
        &manifest,
        "application/vnd.oci.image.manifest.v1+json",
    );
    let root = root();
    let s = store(&root);
    let err = s
        .pull(&reference, &PullOptions::default())
        .expect_err("diff id mismatch");
    assert_eq!(err.kind(), Kind::Corrupt);
    assert!(
        err.message().contains(&good.diff_ids[0]) && err.message().contains(&"0".repeat(64)),
        "{}",
        err.message()
    );
    assert!(layer_dirs(root.path()).is_empty());
    assert!(scratch(root.path()).is_empty());
}

#[test]
fn clear_errors_for_bad_references_and_missing_images() {
    let reg = registry();
    let root = root();
    let s = store(&root);
    let err = s
        .pull("Not A Reference!", &PullOptions::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), Kind::InvalidArgument);
    assert!(
        err.message().contains("\"Not A Reference!\""),
        "{}",
        err.message()
    );
    let err = s
        .pull(
            &format!("{}/no-such-repo:1", reg.addr),
            &PullOptions::default(),
        )
        .err()
        .unwrap();
    assert_eq!(err.kind(), Kind::NotFound, "{}", err.chain());
    assert!(err.message().contains("no-such-repo"), "{}", err.message());
    push_busybox(reg, "tagtest:exists");
    let err = s
        .pull(
            &format!("{}/tagtest:missing", reg.addr),
            &PullOptions::default(),
        )
        .err()
        .unwrap();
    assert_eq!(err.kind(), Kind::NotFound, "{}", err.chain());
    let err = s.image("never-pulled").err().unwrap();
    assert_eq!(err.kind(), Kind::NotFound);
    assert!(err.message().contains("never-pulled"));
}

#[test]
fn tag_rmi_and_prune() {
    let reg = registry();
    push_busybox(reg, "tagme:1");
    let root = root();
    let s = store(&root);
    let name = format!("{}/tagme:1", reg.addr);
    let img = s.pull(&name, &PullOptions::default()).unwrap();
    s.tag(&name, "mybox:dev").unwrap();
    let tags = s.image("mybox:dev").unwrap().tags;
    assert!(
        tags.contains(&"mybox:dev".to_string()) && tags.contains(&name),
        "{tags:?}"
    );
    // By id with two names: refused without force.
    let err = s.remove(&img.id, false, &no_users).err().unwrap();
    assert_eq!(err.kind(), Kind::Conflict);
    // By name: only untags.
    let r = s.remove("mybox:dev", false, &no_users).unwrap();
    assert_eq!(r.untagged, vec!["mybox:dev".to_string()]);
    assert!(r.deleted.is_empty());
    // In use by a container: refused.
    let busy = |_: &str| -> gocker::Result<Vec<String>> { Ok(vec!["c1".into()]) };
    let err = s.remove(&name, false, &busy).err().unwrap();
    assert_eq!(err.kind(), Kind::Conflict);
    assert!(err.message().contains("c1"));
    // Prune leaves tagged images alone, removes untagged ones.
    assert!(s.prune(false, &no_users).unwrap().is_empty());
    let r = s.remove(&name, false, &no_users).unwrap();
    assert_eq!(r.deleted, vec![img.id.clone()]);
    assert!(s.images().unwrap().is_empty());
    assert!(layer_dirs(root.path()).is_empty());
    let err = s.remove(&name, false, &no_users).err().unwrap();
    assert_eq!(err.kind(), Kind::NotFound);
}

#[test]
fn two_pulls_of_one_image_at_once_do_the_work_once() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/concurrent:1", reg.addr);
    let big: Vec<u8> = (0..8_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let tar = TarBuilder::new().file("big", &big, 0o644).finish();
    p.image(
        &reference,
        &[(tar, Comp::Gzip)],
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let root = root();
    let path = root.path().to_path_buf();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            let reference = reference.clone();
            std::thread::spawn(move || {
                let s = ImageStore::open(Paths::new(&path)).expect("open");
                s.pull(&reference, &PullOptions::default())
                    .map(|i| i.id)
                    .map_err(|e| e.chain())
            })
        })
        .collect();
    let ids: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().expect("thread").expect("pull"))
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(layer_dirs(&path).len(), 1);
    assert!(scratch(&path).is_empty());
}
