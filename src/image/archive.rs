//! `load` and `save`: OCI image layout directories, and `docker save` tarballs (which, as
//! Docker 25+ writes them, are an OCI layout plus a `manifest.json`).
//!
//! `save` writes each layer as the exact tar it was pulled as, rebuilt from the unpacked
//! directory and its tar-split, so layer digests equal the image's diff ids and the image id
//! survives a save/load round trip.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::oci::{
    self, digest_hex, Compression, ConfigFile, Descriptor, Manifest, ManifestDoc, Platform,
};
use super::reference;
use super::store::{Image, ImageStore, LayerJob};
use super::unpack::{SplitReader, SplitRecord};
use crate::error::{Error, Kind, Result};
use crate::store::{remove_tree, Paths};
use crate::sys::path::open_dir_in;

const LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes a layer's original tar stream to `out`, checking it against its diff id.
pub fn export_layer(
    store: &ImageStore,
    chain_id: &str,
    diff_id: &str,
    out: &mut dyn Write,
) -> Result<u64> {
    export_layer_in(store.paths(), chain_id, diff_id, out)
}

/// `export_layer` from the layers of a root, for a thread that does not hold the store.
pub fn export_layer_in(
    paths: &Paths,
    chain_id: &str,
    diff_id: &str,
    out: &mut dyn Write,
) -> Result<u64> {
    let hex = digest_hex(chain_id)?;
    let dir = paths.layer(hex);
    let root = File::open(&dir).map_err(|e| Error::io("cannot open layer", &dir, e))?;
    let mut split = SplitReader::open(&paths.layer_split(hex))?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let write = |data: &[u8], hasher: &mut Sha256, out: &mut dyn Write| -> Result<()> {
        hasher.update(data);
        out.write_all(data)
            .map_err(|e| Error::with_source(Kind::Io, "cannot write layer", e))
    };
    while let Some(rec) = split.next_record()? {
        match rec {
            SplitRecord::Meta(bytes) => {
                write(&bytes, &mut hasher, out)?;
                total += bytes.len() as u64;
            }
            SplitRecord::File { path, size } => {
                let mut file = open_in_layer(&root, &path).map_err(|e| {
                    Error::with_source(
                        Kind::Corrupt,
                        format!("layer {chain_id} lost {}", path.display()),
                        e,
                    )
                })?;
                let mut left = size;
                while left > 0 {
                    let want = buf.len().min(left as usize);
                    let n = file
                        .read(&mut buf[..want])
                        .map_err(|e| Error::io("cannot read", &dir.join(&path), e))?;
                    if n == 0 {
                        return Err(Error::corrupt(format!(
                            "layer {chain_id}: {} is shorter than when it was pulled",
                            path.display()
                        )));
                    }
                    write(&buf[..n], &mut hasher, out)?;
                    left -= n as u64;
                }
                total += size;
            }
        }
    }
    let got = format!("sha256:{}", hex::encode(hasher.finalize()));
    if got != diff_id {
        return Err(Error::corrupt(format!(
            "layer {chain_id} cannot be rebuilt exactly: got {got}, expected {diff_id}"
        )));
    }
    Ok(total)
}

fn open_in_layer(root: &File, rel: &Path) -> io::Result<File> {
    let parent = rel.parent().unwrap_or(Path::new(""));
    let name = rel
        .file_name()
        .ok_or_else(|| io::Error::other("empty path"))?;
    let dir = open_dir_in(root.as_fd(), parent, false).map_err(io::Error::from)?;
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)?;
    // SAFETY: openat just returned this descriptor.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Saves an image to `path`: a `docker save`-style tarball when it ends in `.tar`, else an
/// OCI layout directory.
pub fn save(store: &ImageStore, spec: &str, path: &Path) -> Result<()> {
    let img = store.image(spec)?;
    let (_, config_raw) = store.raw(&img.id)?;
    let config_hex = digest_hex(&img.id)?.to_string();
    let layers: Vec<Descriptor> = img
        .layers
        .iter()
        .map(|l| Descriptor {
            media_type: oci::OCI_LAYER_TAR.into(),
            digest: l.diff_id.clone(),
            size: l.size as i64,
            platform: None,
            annotations: None,
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": oci::OCI_MANIFEST,
        "config": { "mediaType": oci::OCI_CONFIG, "digest": img.id, "size": config_raw.len() },
        "layers": layers,
    }))
    .map_err(|e| Error::with_source(Kind::Io, "cannot encode manifest", e))?;
    let manifest_digest = oci::sha256_digest(&manifest);
    let names = full_names(&img)?;
    let mut index_entry = json!({ "mediaType": oci::OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len() });
    if let Some(first) = names.first() {
        index_entry["annotations"] = json!({
            "io.containerd.image.name": first,
            "org.opencontainers.image.ref.name": first.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest"),
        });
    }
    let index = serde_json::to_vec(
        &json!({ "schemaVersion": 2, "mediaType": oci::OCI_INDEX, "manifests": [index_entry] }),
    )
    .map_err(|e| Error::with_source(Kind::Io, "cannot encode index", e))?;
    let docker_manifest = serde_json::to_vec(&json!([{
        "Config": format!("blobs/sha256/{config_hex}"),
        "RepoTags": img.tags.iter().map(|t| reference::familiar(t)).collect::<Vec<_>>(),
        "Layers": img.layers.iter().map(|l| format!("blobs/sha256/{}", l.diff_id.trim_start_matches("sha256:"))).collect::<Vec<_>>(),
    }]))
    .map_err(|e| Error::with_source(Kind::Io, "cannot encode manifest.json", e))?;

    let tarball = path.extension().map(|e| e == "tar").unwrap_or(false);
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        if tarball {
            let file = File::create(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
            let mut tar = tar::Builder::new(BufWriter::new(file));
            let mut add = |name: &str, data: &[u8]| -> Result<()> {
                let mut h = tar::Header::new_ustar();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_mtime(0);
                tar.append_data(&mut h, name, data)
                    .map_err(|e| Error::io("cannot write", &tmp, e))
            };
            add("oci-layout", LAYOUT.as_bytes())?;
            add(&format!("blobs/sha256/{config_hex}"), config_raw.as_bytes())?;
            add(
                &format!("blobs/sha256/{}", digest_hex(&manifest_digest)?),
                &manifest,
            )?;
            add("index.json", &index)?;
            add("manifest.json", &docker_manifest)?;
            for l in &img.layers {
                let mut h = tar::Header::new_ustar();
                h.set_size(l.size);
                h.set_mode(0o644);
                h.set_mtime(0);
                let name = format!("blobs/sha256/{}", digest_hex(&l.diff_id)?);
                let mut w = tar
                    .append_writer(&mut h, &name)
                    .map_err(|e| Error::io("cannot write", &tmp, e))?;
                export_layer(store, &l.chain_id, &l.diff_id, &mut w)?;
                w.finish().map_err(|e| Error::io("cannot write", &tmp, e))?;
            }
            let mut inner = tar
                .into_inner()
                .map_err(|e| Error::io("cannot write", &tmp, e))?;
            inner
                .flush()
                .map_err(|e| Error::io("cannot write", &tmp, e))?;
        } else {
            let blobs = tmp.join("blobs/sha256");
            fs::create_dir_all(&blobs).map_err(|e| Error::io("cannot create", &blobs, e))?;
            let put = |name: &str, data: &[u8]| {
                fs::write(tmp.join(name), data)
                    .map_err(|e| Error::io("cannot write", &tmp.join(name), e))
            };
            put("oci-layout", LAYOUT.as_bytes())?;
            put(&format!("blobs/sha256/{config_hex}"), config_raw.as_bytes())?;
            put(
                &format!("blobs/sha256/{}", digest_hex(&manifest_digest)?),
                &manifest,
            )?;
            put("index.json", &index)?;
            for l in &img.layers {
                let p = blobs.join(digest_hex(&l.diff_id)?);
                let mut f = BufWriter::new(
                    File::create(&p).map_err(|e| Error::io("cannot create", &p, e))?,
                );
                export_layer(store, &l.chain_id, &l.diff_id, &mut f)?;
                f.flush().map_err(|e| Error::io("cannot write", &p, e))?;
            }
        }
        if path.is_dir() && !tarball {
            remove_tree(path)?;
        }
        fs::rename(&tmp, path).map_err(|e| Error::io("cannot rename into place", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        let _ = remove_tree(&tmp);
    }
    result
}

fn full_names(img: &Image) -> Result<Vec<String>> {
    img.tags
        .iter()
        .map(|t| reference::parse(t).map(|r| reference::canonical(&r)))
        .collect()
}

/// Loads every image in a `docker save` tarball or an OCI layout (directory or tar).
pub fn load(store: &ImageStore, path: &Path) -> Result<Vec<Image>> {
    let meta = fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?;
    if meta.is_dir() {
        return load_dir(store, path);
    }
    let scratch =
        store
            .paths()
            .tmp()
            .join(format!("load-x-{}-{}", std::process::id(), rand_suffix()));
    fs::create_dir_all(&scratch).map_err(|e| Error::io("cannot create", &scratch, e))?;
    let result = extract_plain(path, &scratch).and_then(|()| load_dir(store, &scratch));
    let _ = remove_tree(&scratch);
    result
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

/// Extracts the regular files of an image archive (blobs and JSON) into `dest`. A symbolic
/// link (skopeo and Docker write `<id>/layer.tar -> ../<other>/layer.tar` for a layer two
/// images share) becomes a hard link to the file it names inside the archive, never a link
/// on disk. Anything else, or any path that is not plainly relative, is refused: an archive is
/// input, not a layer.
fn extract_plain(path: &Path, dest: &Path) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut head = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let reader = super::unpack::decompress(file, Compression::sniff(&head[..n]))?;
    let mut archive = tar::Archive::new(reader);
    let bad = |e: io::Error| {
        Error::with_source(
            Kind::Corrupt,
            format!("{} is not a valid image archive", path.display()),
            e,
        )
    };
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.into_owned();
        if !name
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(Error::corrupt(format!(
                "{}: entry {:?} is not a plain relative path",
                path.display(),
                name
            )));
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let target = dest.join(&name);
                if let Some(p) = target.parent() {
                    fs::create_dir_all(p).map_err(|e| Error::io("cannot create", p, e))?;
                }
                let mut out =
                    File::create(&target).map_err(|e| Error::io("cannot create", &target, e))?;
                io::copy(&mut entry, &mut out)
                    .map_err(|e| Error::io("cannot write", &target, e))?;
            }
            tar::EntryType::Directory => {}
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .ok_or_else(|| {
                        Error::corrupt(format!("{}: link {name:?} has no target", path.display()))
                    })?
                    .into_owned();
                links.push((name, target));
            }
            other => {
                return Err(Error::corrupt(format!(
                    "{}: entry {:?} has unsupported type {other:?}",
                    path.display(),
                    name
                )))
            }
        }
    }
    resolve_links(path, dest, links)
}

/// Makes each recorded link a hard link to the regular file it names, resolved inside the
/// archive (links to links too, in any order); a target outside it, or missing, is refused.
fn resolve_links(archive: &Path, dest: &Path, mut links: Vec<(PathBuf, PathBuf)>) -> Result<()> {
    while !links.is_empty() {
        let before = links.len();
        let mut waiting = Vec::new();
        for (name, target) in links {
            let resolved = within_archive(&name, &target).ok_or_else(|| {
                Error::corrupt(format!(
                    "{}: link {name:?} points outside the archive ({target:?})",
                    archive.display()
                ))
            })?;
            let from = dest.join(&resolved);
            if from.is_file() {
                let to = dest.join(&name);
                if let Some(p) = to.parent() {
                    fs::create_dir_all(p).map_err(|e| Error::io("cannot create", p, e))?;
                }
                fs::hard_link(&from, &to).map_err(|e| Error::io("cannot link", &to, e))?;
            } else {
                waiting.push((name, target));
            }
        }
        if waiting.len() == before {
            let (name, target) = &waiting[0];
            return Err(Error::corrupt(format!(
                "{}: link {name:?} names {target:?}, which is not a file of the archive",
                archive.display()
            )));
        }
        links = waiting;
    }
    Ok(())
}

/// `target` as seen from the directory of `link`, as a plain path inside the archive; None
/// when it leaves it (absolute, or too many `..`).
fn within_archive(link: &Path, target: &Path) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    let base = link.parent().unwrap_or(Path::new(""));
    for c in base.components().chain(target.components()) {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_slice(&data).map_err(|e| {
        Error::with_source(Kind::Corrupt, format!("{} is not valid", path.display()), e)
    })
}

fn blob_path(root: &Path, digest: &str) -> Result<PathBuf> {
    Ok(root.join("blobs/sha256").join(digest_hex(digest)?))
}

/// Reads a blob of the layout, checking its digest.
fn read_blob(root: &Path, digest: &str) -> Result<Vec<u8>> {
    let p = blob_path(root, digest)?;
    let data = fs::read(&p).map_err(|e| Error::io("cannot read", &p, e))?;
    if oci::sha256_digest(&data) != digest {
        return Err(Error::corrupt(format!(
            "blob {digest} of the archive does not match its digest"
        )));
    }
    Ok(data)
}

fn load_dir(store: &ImageStore, root: &Path) -> Result<Vec<Image>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct DockerEntry {
        config: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        layers: Vec<String>,
    }
    let mut out = Vec::new();
    let docker = root.join("manifest.json");
    if docker.exists() {
        let entries: Vec<DockerEntry> = read_json(&docker)?;
        for e in entries {
            let config_path = safe_join(root, &e.config)?;
            let config_raw = fs::read(&config_path)
                .map_err(|err| Error::io("cannot read", &config_path, err))?;
            let config = parse_config(&config_raw, e.layers.len())?;
            let files: Vec<PathBuf> = e
                .layers
                .iter()
                .map(|l| safe_join(root, l))
                .collect::<Result<_>>()?;
            let names = e.repo_tags.unwrap_or_default();
            out.push(install(store, &config_raw, &config, &files, None, &names)?);
        }
        return Ok(out);
    }
    let index_path = root.join("index.json");
    if !index_path.exists() {
        return Err(Error::invalid(format!(
            "{} is neither an OCI image layout nor a docker save archive",
            root.display()
        )));
    }
    let index: oci::Index = read_json(&index_path)?;
    for entry in &index.manifests {
        let mut names = Vec::new();
        if let Some(a) = &entry.annotations {
            if let Some(n) = a.get("io.containerd.image.name") {
                names.push(n.clone());
            } else if let Some(n) = a.get("org.opencontainers.image.ref.name") {
                if reference::parse(n)
                    .map(|r| r.repository() != "library/latest")
                    .unwrap_or(false)
                    && n.contains([':', '/'])
                {
                    names.push(n.clone());
                }
            }
        }
        let raw = read_blob(root, &entry.digest)?;
        let (manifest_raw, manifest) =
            match ManifestDoc::parse(&raw, Some(&entry.media_type), &entry.digest)? {
                ManifestDoc::Image(m) => (raw, m),
                ManifestDoc::Index(inner) => {
                    let chosen = super::registry::choose_platform(
                        &inner.manifests,
                        &Platform::host(),
                        &entry.digest,
                    )?;
                    let raw = read_blob(root, &chosen.digest)?;
                    match ManifestDoc::parse(&raw, None, &chosen.digest)? {
                        ManifestDoc::Image(m) => (raw, m),
                        ManifestDoc::Index(_) => {
                            return Err(Error::new(
                                Kind::Unsupported,
                                "nested image indexes are not supported",
                            ))
                        }
                    }
                }
            };
        let config_raw = read_blob(root, &manifest.config.digest)?;
        let config = parse_config(&config_raw, manifest.layers.len())?;
        let files: Vec<PathBuf> = manifest
            .layers
            .iter()
            .map(|l| blob_path(root, &l.digest))
            .collect::<Result<_>>()?;
        out.push(install(
            store,
            &config_raw,
            &config,
            &files,
            Some((&manifest, &manifest_raw)),
            &names,
        )?);
    }
    Ok(out)
}

/// Parses an image config from an archive and checks it lists as many layers as the manifest.
fn parse_config(raw: &[u8], layers: usize) -> Result<ConfigFile> {
    let config: ConfigFile = serde_json::from_slice(raw).map_err(|err| {
        Error::with_source(
            Kind::Corrupt,
            "image config in the archive is not valid",
            err,
        )
    })?;
    if config.rootfs.diff_ids.len() != layers {
        return Err(Error::corrupt(format!(
            "the archive's manifest lists {layers} layers but its config lists {}",
            config.rootfs.diff_ids.len()
        )));
    }
    Ok(config)
}

fn safe_join(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if !p
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Error::corrupt(format!(
            "archive path {rel:?} is not plainly relative"
        )));
    }
    Ok(root.join(p))
}

fn install(
    store: &ImageStore,
    config_raw: &[u8],
    config: &ConfigFile,
    files: &[PathBuf],
    manifest: Option<(&Manifest, &[u8])>,
    names: &[String],
) -> Result<Image> {
    let chain = oci::chain_ids(&config.rootfs.diff_ids)?;
    // Held until the image is committed: a prune meanwhile must not take a layer installed
    // here, and not yet used by any image, for an orphan.
    let _locks = store.lock_chain(&chain)?;
    let mut descs = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let desc = match manifest {
            Some((m, _)) => {
                // Check the blob digest before unpacking anything from it.
                let mut f = File::open(file).map_err(|e| Error::io("cannot open", file, e))?;
                let mut h = Sha256::new();
                io::copy(&mut f, &mut h).map_err(|e| Error::io("cannot read", file, e))?;
                let got = format!("sha256:{}", hex::encode(h.finalize()));
                if got != m.layers[i].digest {
                    return Err(Error::corrupt(format!(
                        "layer {} of the archive is corrupt: got digest {got}",
                        m.layers[i].digest
                    )));
                }
                m.layers[i].clone()
            }
            None => Descriptor {
                media_type: String::new(),
                digest: config.rootfs.diff_ids[i].clone(),
                size: 0,
                platform: None,
                annotations: None,
            },
        };
        let mut head = [0u8; 4];
        let n = File::open(file)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| Error::io("cannot read", file, e))?;
        let compression = match Compression::from_media_type(&desc.media_type) {
            Ok(c) if !desc.media_type.is_empty() => c,
            _ => Compression::sniff(&head[..n]),
        };
        let f = File::open(file).map_err(|e| Error::io("cannot open", file, e))?;
        let job = LayerJob {
            desc: desc.clone(),
            compression,
            diff_id: config.rootfs.diff_ids[i].clone(),
            chain_id: chain[i].clone(),
            parent: if i == 0 {
                None
            } else {
                Some(chain[i - 1].clone())
            },
            source: file.display().to_string(),
        };
        store.install_locked(f, &job)?;
        descs.push(Descriptor {
            media_type: oci::OCI_LAYER_TAR.into(),
            digest: config.rootfs.diff_ids[i].clone(),
            size: 0,
            platform: None,
            annotations: None,
        });
    }
    let manifest_raw = match manifest {
        Some((_, raw)) => raw.to_vec(),
        None => serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": oci::OCI_MANIFEST,
            "config": { "mediaType": oci::OCI_CONFIG, "digest": oci::sha256_digest(config_raw), "size": config_raw.len() },
            "layers": descs,
        }))
        .map_err(|e| Error::with_source(Kind::Io, "cannot encode manifest", e))?,
    };
    let canonical: Vec<String> = names
        .iter()
        .filter_map(|n| reference::parse(n).ok())
        .map(|r| reference::canonical(&r))
        .collect();
    store.commit_loaded(&manifest_raw, config_raw, config, &canonical)
}

#[cfg(test)]
mod tests {
    use super::within_archive;
    use std::path::{Path, PathBuf};

    #[test]
    fn links_resolve_inside_the_archive_only() {
        fn p(s: &str) -> &Path {
            Path::new(s)
        }
        assert_eq!(
            within_archive(p("abc/layer.tar"), p("../def/layer.tar")),
            Some(PathBuf::from("def/layer.tar"))
        );
        assert_eq!(
            within_archive(p("a.tar"), p("./b.tar")),
            Some(PathBuf::from("b.tar"))
        );
        assert_eq!(
            within_archive(p("abc/layer.tar"), p("../../etc/passwd")),
            None
        );
        assert_eq!(within_archive(p("abc/layer.tar"), p("/etc/passwd")), None);
    }
}
