//! A registry or an archive that lies about what it holds: blobs longer or shorter than their
//! descriptors, an index entry of the wrong kind, archives whose layers are links.

mod common;

use std::sync::Arc;

use common::*;
use gocker::image::{ImageStore, PullOptions};
use gocker::store::{Db, Paths};
use gocker::Kind;

fn store(root: &Root) -> ImageStore {
    let paths = Paths::new(root.path());
    let db = Arc::new(Db::open(&paths.db()).unwrap());
    ImageStore::with_db(paths, db).unwrap()
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Pushes one layer and a config; returns the manifest's body with the layer's size and
/// the config's size as given by `sizes` (real sizes when None).
fn manifest_with_sizes(
    p: &Pusher,
    reference: &str,
    layer_size: impl Fn(usize) -> usize,
    config_size: impl Fn(usize) -> usize,
) -> Vec<u8> {
    let tar = TarBuilder::new()
        .file("data", &vec![3u8; 50_000], 0o644)
        .finish();
    let layer = p.blob(reference, &tar);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [sha256(&tar)] },
    }))
    .unwrap();
    let config_digest = p.blob(reference, &config);
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size(config.len()) },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size(tar.len()) }],
    }))
    .unwrap()
}

fn pull_err(reference: &str) -> gocker::Error {
    let root = root();
    let s = store(&root);
    let e = s
        .pull(reference, &PullOptions::default())
        .expect_err("the pull must fail");
    assert!(
        std::fs::read_dir(root.path().join("layers"))
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "no layer kept"
    );
    assert!(s.images().unwrap().is_empty(), "no image kept");
    e
}

#[test]
fn a_layer_longer_than_its_descriptor_is_cut_off() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/integrity/long:1", reg.addr);
    let body = manifest_with_sizes(&p, &reference, |n| n - 1000, |n| n);
    p.manifest(&reference, &body, OCI_MANIFEST);
    let e = pull_err(&reference);
    assert_eq!(e.kind(), Kind::Corrupt, "{}", e.chain());
    assert!(
        e.chain().contains("larger than its descriptor"),
        "{}",
        e.chain()
    );
}

#[test]
fn a_layer_shorter_than_its_descriptor_is_an_error() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/integrity/short:1", reg.addr);
    let body = manifest_with_sizes(&p, &reference, |n| n + 1000, |n| n);
    p.manifest(&reference, &body, OCI_MANIFEST);
    let e = pull_err(&reference);
    assert!(e.chain().contains("ended after"), "{}", e.chain());
}

#[test]
fn a_config_of_the_wrong_size_or_a_huge_claim_is_refused() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/integrity/config:1", reg.addr);
    let body = manifest_with_sizes(&p, &reference, |n| n, |n| n - 1);
    p.manifest(&reference, &body, OCI_MANIFEST);
    let e = pull_err(&reference);
    assert_eq!(e.kind(), Kind::Corrupt, "{}", e.chain());
    let reference = format!("{}/integrity/config:2", reg.addr);
    let body = manifest_with_sizes(&p, &reference, |n| n, |_| 1 << 40);
    p.manifest(&reference, &body, OCI_MANIFEST);
    let e = pull_err(&reference);
    assert!(
        e.chain().contains("claims 1099511627776 bytes"),
        "{}",
        e.chain()
    );
}

#[test]
fn an_index_entry_must_be_what_it_points_at() {
    let reg = registry();
    let p = Pusher::new(reg);
    let reference = format!("{}/integrity/index:img", reg.addr);
    let image = p.image(
        &reference,
        &[(
            TarBuilder::new().file("x", b"x", 0o644).finish(),
            Comp::None,
        )],
        Format::Oci,
        serde_json::json!({}),
        "amd64",
    );
    // An index whose entry says "index" but points at an image manifest.
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_INDEX,
            "digest": image.manifest_digest,
            "size": image.manifest_size,
            "platform": { "os": "linux", "architecture": "amd64" },
        }],
    }))
    .unwrap();
    let index_ref = format!("{}/integrity/index:1", reg.addr);
    p.manifest(&index_ref, &index, OCI_INDEX);
    let e = pull_err(&index_ref);
    assert!(e.chain().contains("not an image manifest"), "{}", e.chain());
}

/// skopeo and Docker write a layer two images share once, and the second as a symlink.
#[test]
fn a_docker_archive_with_linked_layers_loads() {
    let layer = TarBuilder::new().file("hello", b"shared\n", 0o644).finish();
    let diff = sha256(&layer);
    let config = |cmd: &str| {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": { "Cmd": [cmd] },
            "rootfs": { "type": "layers", "diff_ids": [diff] },
        }))
        .unwrap()
    };
    let (c1, c2) = (config("one"), config("two"));
    let manifest = serde_json::to_vec(&serde_json::json!([
        { "Config": "one.json", "RepoTags": ["linked:one"], "Layers": ["aaa/layer.tar"] },
        { "Config": "two.json", "RepoTags": ["linked:two"], "Layers": ["bbb/layer.tar"] },
    ]))
    .unwrap();
    let archive = TarBuilder::new()
        .file("manifest.json", &manifest, 0o644)
        .file("one.json", &c1, 0o644)
        .file("two.json", &c2, 0o644)
        // The link comes first: order in the archive does not matter.
        .symlink("bbb/layer.tar", "../aaa/layer.tar")
        .file("aaa/layer.tar", &layer, 0o644)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("linked.tar");
    std::fs::write(&path, &archive).unwrap();
    let root = root();
    let s = store(&root);
    let images = gocker::image::archive::load(&s, &path).expect("load");
    assert_eq!(images.len(), 2);
    // A link out of the archive is refused.
    let evil = TarBuilder::new()
        .file("manifest.json", &manifest, 0o644)
        .file("one.json", &c1, 0o644)
        .symlink("aaa/layer.tar", "../../../etc/passwd")
        .finish();
    std::fs::write(&path, &evil).unwrap();
    let e = gocker::image::archive::load(&s, &path).expect_err("escaping link");
    assert!(
        e.chain().contains("points outside the archive"),
        "{}",
        e.chain()
    );
}
