//! commit: a container's writable layer becomes a new top layer of its image.
//!
//! The overlay upper directory is read back into an OCI layer tar: overlayfs whiteouts (0/0
//! character devices) become `.wh.NAME` entries and opaque directories (the
//! `trusted.overlay.opaque` xattr) a `.wh..wh..opq` entry, the inverse of what unpack does.
//! Every path is opened relative to a directory descriptor held inside the upper directory,
//! never following a symlink, so a container that swaps a directory for a link to the host
//! while it is being committed reads nothing outside its own layer. Entries are sorted and,
//! with SOURCE_DATE_EPOCH set, timestamps clamped to it: the same files give the same digest.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstatat, Mode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::oci::{self, Compression, Descriptor};
use super::store::LayerJob;
use super::{reference, Image, ImageStore};
use crate::error::{Error, Kind, Result};

/// What `commit` may change in the new image's config, as Docker's `--change` and
/// `--message`/`--author` do.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CommitOptions {
    pub message: Option<String>,
    pub author: Option<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// KEY=VALUE entries set over the image's.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: Vec<(String, String)>,
    pub stop_signal: Option<String>,
    /// Ports the image declares ("80/tcp").
    #[serde(default)]
    pub expose: Vec<String>,
    /// Paths the image declares as volumes.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// The image's health check, as its config holds it (Test, Interval, ...).
    #[serde(default)]
    pub healthcheck: Option<serde_json::Value>,
    /// Read a running container's files without pausing it (docker commit --pause=false).
    #[serde(default)]
    pub no_pause: bool,
}

/// Writes the layer tar of `upper` to `out`; returns its diff id (sha256 of the tar).
pub fn diff_layer(upper: &Path, out: &Path) -> Result<String> {
    let root = open_dir(None, upper.as_os_str(), upper)?;
    let file = File::create(out).map_err(|e| Error::io("cannot create", out, e))?;
    let mut writer = HashingWriter {
        inner: file,
        hash: Sha256::new(),
    };
    {
        let mut builder = tar::Builder::new(&mut writer);
        builder.mode(tar::HeaderMode::Complete);
        let clamp = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut walk = Walk {
            builder: &mut builder,
            seen: HashMap::new(),
            clamp,
        };
        walk.dir(&root, Path::new(""))?;
        builder
            .finish()
            .map_err(|e| Error::io("cannot write layer", out, e))?;
    }
    writer
        .inner
        .flush()
        .map_err(|e| Error::io("cannot write layer", out, e))?;
    Ok(format!("sha256:{}", hex::encode(writer.hash.finalize())))
}

struct HashingWriter {
    inner: File,
    hash: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Walk<'a, W: Write> {
    builder: &'a mut tar::Builder<W>,
    /// Files with more than one link: the first path each (device, inode) was written at.
    seen: HashMap<(u64, u64), PathBuf>,
    clamp: Option<u64>,
}

fn open_dir(at: Option<&OwnedFd>, name: &OsStr, shown: &Path) -> Result<OwnedFd> {
    let fd = openat(
        at.map(|d| d.as_raw_fd()),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open directory", shown, e))?;
    Ok(crate::sys::path::owned(fd))
}

/// The names in a directory we hold, sorted.
fn names(dir: &OwnedFd, shown: &Path) -> Result<Vec<OsString>> {
    let listing = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let mut v: Vec<OsString> = std::fs::read_dir(&listing)
        .map_err(|e| Error::io("cannot list", shown, e))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    v.sort();
    Ok(v)
}

use crate::sys::xattr::content_xattrs as xattrs;

/// A PAX extended header carrying `SCHILY.xattr.NAME=VALUE` records, for the entry after it.
fn pax_xattrs<W: Write>(
    b: &mut tar::Builder<W>,
    attrs: &[(Vec<u8>, Vec<u8>)],
) -> std::io::Result<()> {
    if attrs.is_empty() {
        return Ok(());
    }
    let mut data = Vec::new();
    for (name, value) in attrs {
        let body_len = b" SCHILY.xattr.=\n".len() + name.len() + value.len();
        // The record's length counts its own digits.
        let mut len = body_len + 1;
        while len != body_len + len.to_string().len() {
            len = body_len + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} SCHILY.xattr.").as_bytes());
        data.extend_from_slice(name);
        data.push(b'=');
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("././@PaxHeader")?;
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data.as_slice())
}

impl<W: Write> Walk<'_, W> {
    fn header(&self, kind: tar::EntryType, st: &libc::stat, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        let mtime = st.st_mtime.max(0) as u64;
        h.set_mtime(self.clamp.map_or(mtime, |c| mtime.min(c)));
        h.set_size(size);
        h
    }

    fn empty(&mut self, path: &Path) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(self.clamp.unwrap_or(0));
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .map_err(|e| Error::io("cannot write layer entry", path, e))
    }

    fn dir(&mut self, dir: &OwnedFd, rel: &Path) -> Result<()> {
        if !rel.as_os_str().is_empty() && crate::sys::xattr::is_opaque(dir.as_fd()) {
            self.empty(&rel.join(".wh..wh..opq"))?;
        }
        for name in names(dir, rel)? {
            let path = rel.join(&name);
            // Written by the runtime at every start (Docker bind-mounts them): not content.
            if rel == Path::new("etc")
                && ["hostname", "hosts", "resolv.conf"]
                    .iter()
                    .any(|f| name.as_os_str() == OsStr::new(f))
            {
                continue;
            }
            let st = fstatat(
                Some(dir.as_raw_fd()),
                name.as_os_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| Error::sys("cannot stat", &path, e))?;
            let w = |e: std::io::Error| Error::io("cannot write layer entry", &path, e);
            match st.st_mode & libc::S_IFMT {
                libc::S_IFDIR => {
                    let child = open_dir(Some(dir), &name, &path)?;
                    pax_xattrs(self.builder, &xattrs(child.as_raw_fd())).map_err(w)?;
                    let mut h = self.header(tar::EntryType::Directory, &st, 0);
                    self.builder
                        .append_data(&mut h, &path, std::io::empty())
                        .map_err(w)?;
                    self.dir(&child, &path)?;
                }
                libc::S_IFCHR if st.st_rdev == 0 => {
                    // An overlayfs whiteout: NAME was deleted.
                    let mut hidden = OsString::from(".wh.");
                    hidden.push(&name);
                    self.empty(&rel.join(hidden))?;
                }
                libc::S_IFREG => {
                    let key = (st.st_dev, st.st_ino);
                    if st.st_nlink > 1 {
                        if let Some(first) = self.seen.get(&key) {
                            let mut h = self.header(tar::EntryType::Link, &st, 0);
                            self.builder.append_link(&mut h, &path, first).map_err(w)?;
                            continue;
                        }
                        self.seen.insert(key, path.clone());
                    }
                    // Non-blocking and no controlling tty: if a running container swapped a
                    // FIFO or a device in since the stat, opening it neither hangs nor takes
                    // the caller's terminal, and the check below refuses it.
                    let fd = openat(
                        Some(dir.as_raw_fd()),
                        name.as_os_str(),
                        OFlag::O_RDONLY
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_NONBLOCK
                            | OFlag::O_NOCTTY
                            | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| Error::sys("cannot open", &path, e))?;
                    let file = File::from(crate::sys::path::owned(fd));
                    let opened = nix::sys::stat::fstat(file.as_raw_fd())
                        .map_err(|e| Error::sys("cannot stat", &path, e))?;
                    if opened.st_mode & libc::S_IFMT != libc::S_IFREG
                        || (opened.st_dev, opened.st_ino) != key
                    {
                        return Err(Error::conflict(format!(
                            "{} changed while it was being committed; commit again (or stop the container first)",
                            path.display()
                        )));
                    }
                    let size = st.st_size.max(0) as u64;
                    pax_xattrs(self.builder, &xattrs(file.as_raw_fd())).map_err(w)?;
                    let mut h = self.header(tar::EntryType::Regular, &st, size);
                    // A file that shrinks meanwhile is padded, one that grows is cut: the
                    // entry is always the size its header says.
                    let reader = file.take(size).chain(std::io::repeat(0).take(size));
                    self.builder
                        .append_data(&mut h, &path, reader.take(size))
                        .map_err(w)?;
                }
                libc::S_IFLNK => {
                    let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name.as_os_str())
                        .map_err(|e| Error::sys("cannot read link", &path, e))?;
                    let mut h = self.header(tar::EntryType::Symlink, &st, 0);
                    self.builder
                        .append_link(&mut h, &path, Path::new(&target))
                        .map_err(w)?;
                }
                kind @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
                    let entry = match kind {
                        libc::S_IFCHR => tar::EntryType::Char,
                        libc::S_IFBLK => tar::EntryType::Block,
                        _ => tar::EntryType::Fifo,
                    };
                    let mut h = self.header(entry, &st, 0);
                    let _ = h.set_device_major(libc::major(st.st_rdev));
                    let _ = h.set_device_minor(libc::minor(st.st_rdev));
                    self.builder
                        .append_data(&mut h, &path, std::io::empty())
                        .map_err(w)?;
                }
                // Sockets are not content.
                _ => {}
            }
        }
        Ok(())
    }
}

impl ImageStore {
    /// A new image: `parent` plus the layer tar at `tar` (whose diff id is `diff_id`), its
    /// config changed as asked, stored and named `name` if given.
    pub fn commit_layer(
        &self,
        parent: &Image,
        tar: &Path,
        diff_id: &str,
        opts: &CommitOptions,
        name: Option<&str>,
    ) -> Result<Image> {
        let (_, config_raw) = self.raw(&parent.id)?;
        let mut config: serde_json::Value = serde_json::from_str(&config_raw).map_err(|e| {
            Error::with_source(Kind::Corrupt, "the parent image's config is damaged", e)
        })?;
        let created = rfc3339_now();
        edit_config(&mut config, diff_id, opts, &created)?;
        self.store_config(&config, Some((tar, diff_id)), name)
    }

    /// Stores an image made here: its config (whose last diff id is `layer`'s, when one is
    /// given; every other layer already in the store) and a manifest for it; named `name`.
    pub fn store_config(
        &self,
        config: &serde_json::Value,
        layer: Option<(&Path, &str)>,
        name: Option<&str>,
    ) -> Result<Image> {
        let config_raw = serde_json::to_vec(&config)
            .map_err(|e| Error::with_source(Kind::Io, "cannot encode the config", e))?;
        let parsed: oci::ConfigFile = serde_json::from_slice(&config_raw)
            .map_err(|e| Error::with_source(Kind::Io, "cannot read back the config", e))?;
        let chain = oci::chain_ids(&parsed.rootfs.diff_ids)?;
        // Held until the image is committed: a prune meanwhile must not take the new layer
        // (or the parent's) for an orphan.
        let _locks = self.lock_chain(&chain)?;
        if let Some((tar, diff_id)) = layer {
            let n = chain.len();
            if parsed.rootfs.diff_ids.last().map(String::as_str) != Some(diff_id) {
                return Err(Error::invalid("the new layer must be the config's last"));
            }
            let job = LayerJob {
                desc: Descriptor {
                    media_type: oci::OCI_LAYER_TAR.into(),
                    digest: diff_id.to_string(),
                    size: std::fs::metadata(tar).map(|m| m.len() as i64).unwrap_or(0),
                    platform: None,
                    annotations: None,
                },
                compression: Compression::None,
                diff_id: diff_id.to_string(),
                chain_id: chain[n - 1].clone(),
                parent: (n > 1).then(|| chain[n - 2].clone()),
                source: "commit".into(),
            };
            let f = File::open(tar).map_err(|e| Error::io("cannot open", tar, e))?;
            self.install_locked(f, &job)?;
        }
        let layers: Vec<serde_json::Value> = parsed
            .rootfs
            .diff_ids
            .iter()
            .map(|d| serde_json::json!({ "mediaType": oci::OCI_LAYER_TAR, "digest": d, "size": 0 }))
            .collect();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": oci::OCI_MANIFEST,
            "config": { "mediaType": oci::OCI_CONFIG, "digest": oci::sha256_digest(&config_raw), "size": config_raw.len() },
            "layers": layers,
        }))
        .map_err(|e| Error::with_source(Kind::Io, "cannot encode the manifest", e))?;
        let names: Vec<String> = match name {
            Some(n) => vec![reference::canonical(&reference::parse(n)?)],
            None => Vec::new(),
        };
        self.commit_loaded(&manifest, &config_raw, &parsed, &names)
    }
}

/// Gives every layer of `config` a history entry: an image whose history lists fewer
/// non-empty entries than it has layers (one made without history) gets entries for its
/// first layers, so that tools that pair them (buildah) accept the images made from it.
pub(crate) fn pad_history(config: &mut serde_json::Value) {
    let layers = config
        .pointer("/rootfs/diff_ids")
        .and_then(|d| d.as_array())
        .map_or(0, |d| d.len());
    let created = config
        .get("created")
        .cloned()
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let Some(obj) = config.as_object_mut() else {
        return;
    };
    let history = obj
        .entry("history")
        .or_insert_with(|| serde_json::json!([]));
    if !history.is_array() {
        *history = serde_json::json!([]);
    }
    let Some(h) = history.as_array_mut() else {
        return;
    };
    let with_layers = h
        .iter()
        .filter(|e| {
            !e.get("empty_layer")
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        })
        .count();
    if with_layers < layers {
        let missing = (0..layers - with_layers)
            .map(|_| serde_json::json!({ "created": created, "created_by": "(a layer of the base image, without history)" }));
        h.splice(0..0, missing);
    }
}

/// The new config: one more diff id and history entry, the changes asked for, a new date.
fn edit_config(
    config: &mut serde_json::Value,
    diff_id: &str,
    opts: &CommitOptions,
    created: &str,
) -> Result<()> {
    let bad = || Error::corrupt("the parent image's config has no rootfs");
    pad_history(config);
    let obj = config.as_object_mut().ok_or_else(bad)?;
    obj.insert("created".into(), created.into());
    if let Some(a) = &opts.author {
        obj.insert("author".into(), a.clone().into());
    }
    obj.entry("rootfs")
        .or_insert_with(|| serde_json::json!({ "type": "layers", "diff_ids": [] }))
        .get_mut("diff_ids")
        .and_then(|d| d.as_array_mut())
        .ok_or_else(bad)?
        .push(diff_id.into());
    let mut entry = serde_json::json!({ "created": created, "created_by": "gocker-script commit" });
    if let Some(m) = &opts.message {
        entry["comment"] = m.clone().into();
    }
    if let Some(a) = &opts.author {
        entry["author"] = a.clone().into();
    }
    match obj.get_mut("history").and_then(|h| h.as_array_mut()) {
        Some(h) => h.push(entry),
        None => {
            obj.insert("history".into(), serde_json::json!([entry]));
        }
    }
    let run = obj
        .entry("config")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(bad)?;
    if let Some(c) = &opts.cmd {
        run.insert("Cmd".into(), serde_json::json!(c));
    }
    if let Some(e) = &opts.entrypoint {
        run.insert("Entrypoint".into(), serde_json::json!(e));
    }
    if let Some(w) = &opts.workdir {
        run.insert("WorkingDir".into(), w.clone().into());
    }
    if let Some(u) = &opts.user {
        run.insert("User".into(), u.clone().into());
    }
    if let Some(s) = &opts.stop_signal {
        run.insert("StopSignal".into(), s.clone().into());
    }
    if !opts.env.is_empty() {
        let mut env: Vec<String> = run
            .get("Env")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default();
        for kv in &opts.env {
            let key = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
            env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
            env.push(kv.clone());
        }
        run.insert("Env".into(), serde_json::json!(env));
    }
    for (list, key) in [(&opts.expose, "ExposedPorts"), (&opts.volumes, "Volumes")] {
        if list.is_empty() {
            continue;
        }
        let set = run.entry(key).or_insert_with(|| serde_json::json!({}));
        if !set.is_object() {
            *set = serde_json::json!({});
        }
        for item in list {
            let item = if key == "ExposedPorts" && !item.contains('/') {
                format!("{item}/tcp")
            } else {
                item.clone()
            };
            set[item] = serde_json::json!({});
        }
    }
    if let Some(h) = &opts.healthcheck {
        run.insert("Healthcheck".into(), h.clone());
    }
    if !opts.labels.is_empty() {
        let labels = run.entry("Labels").or_insert_with(|| serde_json::json!({}));
        if !labels.is_object() {
            *labels = serde_json::json!({});
        }
        for (k, v) in &opts.labels {
            labels[k] = v.clone().into();
        }
    }
    Ok(())
}

/// Now as RFC 3339 in UTC (or SOURCE_DATE_EPOCH when set, for reproducible images).
pub(crate) fn rfc3339_now() -> String {
    crate::sys::time::rfc3339(
        std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or_else(crate::sys::now),
    )
}

#[cfg(test)]
mod tests {
    use super::pad_history;

    #[test]
    fn every_layer_gets_a_history_entry() {
        let mut c = serde_json::json!({ "created": "2026-01-01T00:00:00Z",
            "rootfs": { "diff_ids": ["sha256:a", "sha256:b"] },
            "history": [{ "created_by": "ENV A=1", "empty_layer": true }, { "created_by": "RUN x" }] });
        pad_history(&mut c);
        let h = c["history"].as_array().unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[0]["created"], "2026-01-01T00:00:00Z");
        assert_eq!(h[2]["created_by"], "RUN x");
        let mut none = serde_json::json!({ "rootfs": { "diff_ids": ["sha256:a"] } });
        pad_history(&mut none);
        assert_eq!(none["history"].as_array().unwrap().len(), 1);
        let before = c.clone();
        pad_history(&mut c);
        assert_eq!(c, before, "a complete history is left alone");
    }

    #[test]
    fn extended_attributes_are_committed_but_overlays_own_are_not() {
        let t = tempfile::tempdir().unwrap();
        let upper = t.path().join("upper");
        std::fs::create_dir_all(upper.join("d")).unwrap();
        std::fs::write(upper.join("d/f"), b"x").unwrap();
        let set = |p: &Path, name: &str, value: &[u8]| {
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
            let n = std::ffi::CString::new(name).unwrap();
            // SAFETY: valid strings and buffer.
            unsafe {
                libc::setxattr(
                    c.as_ptr(),
                    n.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
        };
        if set(&upper.join("d/f"), "user.note", b"kept\0binary") != 0 {
            eprintln!("skipped: this filesystem has no user xattrs");
            return;
        }
        set(&upper.join("d"), "user.dir", b"yes");
        set(&upper.join("d"), "trusted.overlay.origin", b"internal");
        let out = t.path().join("layer.tar");
        diff_layer(&upper, &out).unwrap();
        let mut ar = tar::Archive::new(File::open(&out).unwrap());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().to_string();
            if let Ok(Some(ext)) = e.pax_extensions() {
                for x in ext {
                    let x = x.unwrap();
                    seen.push((
                        path.clone(),
                        x.key().unwrap().to_string(),
                        x.value_bytes().to_vec(),
                    ));
                }
            }
        }
        assert!(
            seen.contains(&(
                "d/f".into(),
                "SCHILY.xattr.user.note".into(),
                b"kept\0binary".to_vec()
            )),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("d".into(), "SCHILY.xattr.user.dir".into(), b"yes".to_vec())),
            "{seen:?}"
        );
        assert!(
            !seen.iter().any(|s| s.1.contains("trusted.overlay")),
            "{seen:?}"
        );
    }

    use super::*;

    #[test]
    fn the_config_gains_a_layer_history_and_changes() {
        let mut c = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": { "Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"] },
            "rootfs": { "type": "layers", "diff_ids": ["sha256:aa"] },
            "history": [{ "created_by": "base" }],
        });
        let opts = CommitOptions {
            message: Some("snapshot".into()),
            cmd: Some(vec!["httpd".into()]),
            env: vec!["A=2".into(), "B=3".into()],
            labels: vec![("k".into(), "v".into())],
            ..Default::default()
        };
        edit_config(&mut c, "sha256:bb", &opts, "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            c["rootfs"]["diff_ids"],
            serde_json::json!(["sha256:aa", "sha256:bb"])
        );
        assert_eq!(c["history"][1]["comment"], "snapshot");
        assert_eq!(c["config"]["Cmd"], serde_json::json!(["httpd"]));
        assert_eq!(
            c["config"]["Env"],
            serde_json::json!(["PATH=/bin", "A=2", "B=3"])
        );
        assert_eq!(c["config"]["Labels"]["k"], "v");
    }

    #[test]
    fn an_upper_dir_becomes_an_oci_layer() {
        let t = tempfile::tempdir().unwrap();
        let upper = t.path().join("upper");
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/new"), b"hello").unwrap();
        std::fs::hard_link(upper.join("etc/new"), upper.join("etc/twin")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", upper.join("link")).unwrap();
        let out = t.path().join("layer.tar");
        let diff = diff_layer(&upper, &out).unwrap();
        let again = diff_layer(&upper, &t.path().join("again.tar")).unwrap();
        assert_eq!(diff, again, "the same files, the same digest");
        let mut a = tar::Archive::new(File::open(&out).unwrap());
        let entries: Vec<(String, tar::EntryType)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                )
            })
            .collect();
        assert!(entries.contains(&("etc/new".into(), tar::EntryType::Regular)));
        assert!(
            entries.contains(&("etc/twin".into(), tar::EntryType::Link)),
            "{entries:?}"
        );
        assert!(entries.contains(&("link".into(), tar::EntryType::Symlink)));
    }
}
