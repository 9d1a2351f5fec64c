//! Hostile layers: no tar entry may create, change or link anything outside its layer.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use gocker::image::{ImageStore, PullOptions};
use gocker::store::Paths;
use gocker::Kind;

/// A host directory the hostile layers aim at; it must stay empty.
struct Target(PathBuf);

impl Target {
    fn new(name: &str) -> Target {
        let p = std::env::temp_dir().join(format!("gocker-victim-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Target(p)
    }
    fn untouched(&self) -> bool {
        fs::read_dir(&self.0)
            .map(|d| d.count() == 0)
            .unwrap_or(false)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn pull_layers(name: &str, layers: Vec<Vec<u8>>) -> (Root, gocker::Result<gocker::image::Image>) {
    let reg = registry();
    let reference = format!("{}/hostile-{name}:1", reg.addr);
    Pusher::new(reg).image(
        &reference,
        &layers
            .into_iter()
            .map(|l| (l, Comp::Gzip))
            .collect::<Vec<_>>(),
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let root = root();
    let s = ImageStore::open(Paths::new(root.path())).unwrap();
    let r = s.pull(&reference, &PullOptions::default());
    (root, r)
}

fn nothing_stored(root: &Path) {
    let layers: Vec<_> = fs::read_dir(root.join("layers"))
        .unwrap()
        .flatten()
        .collect();
    assert!(layers.is_empty(), "layers left: {layers:?}");
    let tmp: Vec<_> = fs::read_dir(root.join("tmp")).unwrap().flatten().collect();
    assert!(tmp.is_empty(), "scratch left: {tmp:?}");
}

#[test]
fn dot_dot_traversal_is_refused() {
    let t = Target::new("dotdot");
    let rel = format!("../../../../../../../..{}/pwned", t.0.display());
    let (root, r) = pull_layers(
        "dotdot",
        vec![TarBuilder::new().file(&rel, b"x", 0o644).finish()],
    );
    let err = r.expect_err("traversal must fail");
    assert_eq!(err.kind(), Kind::Corrupt, "{}", err.chain());
    assert!(err.chain().contains("outside the layer"), "{}", err.chain());
    assert!(t.untouched());
    nothing_stored(root.path());
}

#[test]
fn absolute_paths_stay_inside_the_layer() {
    let t = Target::new("abs");
    let abs = format!("{}/pwned", t.0.display());
    let (root, r) = pull_layers(
        "abs",
        vec![TarBuilder::new().file(&abs, b"x", 0o644).finish()],
    );
    let img = r.expect("absolute names are relative to the layer root");
    assert!(t.untouched());
    let s = ImageStore::open(Paths::new(root.path())).unwrap();
    let m = s.mount(&img.id).unwrap();
    assert!(m.join(abs.trim_start_matches('/')).exists());
    s.unmount(&img.id).unwrap();
}

#[test]
fn symlink_then_write_resolves_inside_the_layer() {
    let t = Target::new("symlink");
    let layer = TarBuilder::new()
        .symlink("evil", &t.0.display().to_string())
        .file("evil/pwned", b"x", 0o644)
        .symlink("up", &format!("../../../../../../..{}", t.0.display()))
        .file("up/pwned2", b"x", 0o644)
        .symlink("dir/../../escape", "/")
        .finish();
    let (root, r) = pull_layers("symlink", vec![layer]);
    // Whether the layer is refused or unpacked inside, the host must be untouched.
    if let Ok(img) = &r {
        let s = ImageStore::open(Paths::new(root.path())).unwrap();
        let m = s.mount(&img.id).unwrap();
        assert!(
            m.join(t.0.strip_prefix("/").unwrap())
                .join("pwned")
                .exists(),
            "the write landed inside the layer"
        );
        s.unmount(&img.id).unwrap();
    }
    assert!(t.untouched());
}

#[test]
fn symlink_from_an_earlier_layer_cannot_redirect_a_later_one() {
    let t = Target::new("crosslayer");
    let l1 = TarBuilder::new()
        .symlink("sneaky", &t.0.display().to_string())
        .finish();
    let l2 = TarBuilder::new().file("sneaky/pwned", b"x", 0o644).finish();
    let (_root, r) = pull_layers("crosslayer", vec![l1, l2]);
    r.expect("pull");
    assert!(t.untouched());
}

#[test]
fn hardlinks_cannot_reach_host_files() {
    let t = Target::new("hardlink");
    let secret = t.0.join("secret");
    // The victim directory holds one file for this test; compare its link count after.
    fs::write(&secret, b"host secret").unwrap();
    let (root, r) = pull_layers(
        "hardlink-abs",
        vec![TarBuilder::new()
            .hardlink("stolen", &secret.display().to_string())
            .finish()],
    );
    assert!(
        r.is_err(),
        "a hard link to a path not in the layer must fail"
    );
    nothing_stored(root.path());
    let (root, r) = pull_layers(
        "hardlink-rel",
        vec![TarBuilder::new()
            .hardlink("stolen", &format!("../../../../../..{}", secret.display()))
            .finish()],
    );
    assert!(r.is_err());
    nothing_stored(root.path());
    // Through a symlink to the host directory: resolved inside the layer, so not found.
    let layer = TarBuilder::new()
        .symlink("hostdir", &t.0.display().to_string())
        .hardlink("stolen", "hostdir/secret")
        .finish();
    let (root, r) = pull_layers("hardlink-sym", vec![layer]);
    assert!(r.is_err());
    nothing_stored(root.path());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(&secret).unwrap().nlink(),
        1,
        "no link was made to the host file"
    );
}

#[test]
fn whiteouts_cannot_delete_outside() {
    let t = Target::new("whiteout");
    fs::write(t.0.join("victim"), b"v").unwrap();
    let rel = format!("../../../../../../..{}/.wh.victim", t.0.display());
    let (root, r) = pull_layers(
        "whiteout",
        vec![TarBuilder::new().file(&rel, b"", 0o644).finish()],
    );
    assert!(r.is_err());
    assert!(t.0.join("victim").exists());
    nothing_stored(root.path());
    // Through a symlink: resolved inside the layer.
    let layer = TarBuilder::new()
        .symlink("link", &t.0.display().to_string())
        .file("link/.wh.victim", b"", 0o644)
        .finish();
    let (_root, _r) = pull_layers("whiteout-sym", vec![layer]);
    assert!(t.0.join("victim").exists());
}

#[test]
fn a_decompression_bomb_fails_cleanly_when_the_disk_fills() {
    // A 16 MiB tmpfs as the whole store; the layer unpacks to 64 MiB of zeros (~64 KiB gzip).
    let root = root();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "gocker-test-bomb"])
        .arg(root.path())
        .status()
        .expect("mount tmpfs");
    assert!(status.success(), "mounting a tmpfs needs root");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _guard = Unmount(root.path().to_path_buf());
    let reg = registry();
    let reference = format!("{}/bomb:1", reg.addr);
    let zeros = vec![0u8; 64 << 20];
    let layer = TarBuilder::new().file("zeros", &zeros, 0o644).finish();
    Pusher::new(reg).image(
        &reference,
        &[(layer, Comp::Gzip)],
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    let s = ImageStore::open(Paths::new(root.path())).unwrap();
    let err = s
        .pull(&reference, &PullOptions::default())
        .expect_err("the disk fills");
    assert!(
        err.chain().to_lowercase().contains("space"),
        "{}",
        err.chain()
    );
    nothing_stored(root.path());
    assert!(s.images().unwrap().is_empty());
    // The store still works afterwards.
    push_busybox(reg, "after-bomb:1");
    s.pull(
        &format!("{}/after-bomb:1", reg.addr),
        &PullOptions::default(),
    )
    .expect("pull after the bomb");
}
