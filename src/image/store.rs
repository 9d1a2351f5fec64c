//! The local image store: pulling into it, listing, tagging, removing and mounting images.
//!
//! Layout (under `GOCKER_ROOT`): `db.sqlite` holds images, tags and layers, with each image's
//! manifest and config JSON, so that an image's metadata is committed in one transaction and
//! can never be torn; `layers/<chain-id>/` holds unpacked layers, each renamed into place only
//! once both of its digests have been verified; `layers/<chain-id>.split` is its tar-split.
//! Compressed layer blobs are not kept (as podman): the tar-split rebuilds the exact layer
//! for `save`, without writing every layer twice on `pull`.

use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_client::Reference;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::oci::{self, digest_hex, Compression, ConfigFile, Descriptor, Platform, RunConfig};
use super::reference;
use super::registry::{Credentials, Registry};
use super::unpack;
use crate::error::{Error, Kind, Result};
use crate::store::{lock, remove_tree, Db, Paths};
use crate::sys::{now, overlay};

/// How to pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; the host's platform when empty.
    pub platform: Option<String>,
    /// Registry credentials; otherwise from the Docker config file, otherwise anonymous.
    pub credentials: Option<Credentials>,
    /// Show progress bars (only ever on a terminal).
    pub progress: bool,
    /// How many layers download at once (default 3, as Docker).
    pub concurrency: Option<usize>,
}

/// One layer of an image.
#[derive(Debug, Clone, Serialize)]
pub struct LayerInfo {
    pub chain_id: String,
    pub diff_id: String,
    pub size: u64,
}

/// An image in the store.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// The config digest, `sha256:...`, as Docker's image id.
    pub id: String,
    /// The manifest digest the image was pulled by.
    pub digest: String,
    /// Names (`busybox:latest`, `127.0.0.1:5000/x:v1`) in their short form.
    pub tags: Vec<String>,
    /// `name@sha256:...` references.
    pub digests: Vec<String>,
    pub platform: Platform,
    /// When the image was built, as its config says.
    pub created: Option<String>,
    /// When it was stored here, unix seconds.
    pub stored: i64,
    /// Bytes of all its layers, unpacked.
    pub size: u64,
    pub config: RunConfig,
    pub layers: Vec<LayerInfo>,
}

impl Image {
    /// The first tag, or the short id for an untagged image.
    pub fn name(&self) -> String {
        self.tags
            .first()
            .cloned()
            .unwrap_or_else(|| self.short_id())
    }
    pub fn short_id(&self) -> String {
        self.id
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect()
    }
}

/// What `rmi` did, in Docker's words.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RemoveReport {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
}

/// The image store of one root.
pub struct ImageStore {
    paths: Paths,
    db: Arc<Db>,
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl ImageStore {
    pub fn open(paths: Paths) -> Result<ImageStore> {
        paths.ensure()?;
        let db = Arc::new(Db::open(&paths.db())?);
        Ok(ImageStore {
            paths,
            db,
            runtime: OnceLock::new(),
        })
    }

    /// Shares an already open database (the container store uses the same one).
    pub fn with_db(paths: Paths, db: Arc<Db>) -> Result<ImageStore> {
        paths.ensure()?;
        Ok(ImageStore {
            paths,
            db,
            runtime: OnceLock::new(),
        })
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// The library's own async runtime, made on first network use: scripts stay synchronous.
    pub(crate) fn runtime(&self) -> Result<&tokio::runtime::Runtime> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gocker-net")
            .enable_all()
            .build()
            .map_err(|e| Error::with_source(Kind::Io, "cannot start the network runtime", e))?;
        Ok(self.runtime.get_or_init(|| rt))
    }

    /// Pulls `reference` from its registry and stores it; returns the stored image.
    pub fn pull(&self, input: &str, opts: &PullOptions) -> Result<Image> {
        let image_ref = reference::parse(input)?;
        let reference = image_ref.to_oci();
        let platform = match &opts.platform {
            Some(p) if !p.is_empty() => Platform::parse(p)?,
            _ => Platform::host(),
        };
        crate::trace::step(|| {
            format!(
                "resolve {reference} for {platform}: GET /v2/{}/manifests/{}",
                reference.repository(),
                reference.digest().or(reference.tag()).unwrap_or("latest")
            )
        });
        let registry = Registry::new(&reference, opts.credentials.clone());
        let rt = self.runtime()?;
        let resolved = rt.block_on(registry.resolve(&reference, &platform))?;
        let image_id = oci::sha256_digest(&resolved.config_raw);
        let diff_ids = resolved.config.rootfs.diff_ids.clone();
        let chain = oci::chain_ids(&diff_ids)?;
        let hexes: Vec<String> = chain
            .iter()
            .map(|c| digest_hex(c).map(str::to_string))
            .collect::<Result<_>>()?;

        // Hold every layer of the image until it is committed: a second pull of the same
        // image waits here and then finds the work done; `rmi` cannot delete a layer from
        // under us.
        let _locks = lock::exclusive_all(&self.paths.locks(), &hexes)?;
        let mut jobs = Vec::new();
        for (i, desc) in resolved.manifest.layers.iter().enumerate() {
            if self.layer_present(&chain[i])? {
                continue;
            }
            jobs.push(LayerJob {
                desc: desc.clone(),
                compression: Compression::from_media_type(&desc.media_type)?,
                diff_id: diff_ids[i].clone(),
                chain_id: chain[i].clone(),
                parent: if i == 0 {
                    None
                } else {
                    Some(chain[i - 1].clone())
                },
                source: reference.to_string(),
            });
        }
        let progress = Progress::new(opts.progress);
        let concurrency = opts.concurrency.unwrap_or(3).max(1);
        rt.block_on(self.fetch_layers(&registry, &reference, jobs, concurrency, &progress))?;
        progress.finish();

        let names = stored_names(&image_ref, &resolved.manifest_digest);
        self.commit(
            &image_id,
            &resolved.manifest_digest,
            &resolved.manifest_raw,
            &resolved.config_raw,
            &chain,
            &names,
        )?;
        self.get(&image_id)
    }

    /// Whether a layer is fully present; a directory left by a crash before its row was
    /// written is removed (we hold its lock).
    fn layer_present(&self, chain_id: &str) -> Result<bool> {
        let hex = digest_hex(chain_id)?;
        let dir = self.paths.layer(hex);
        let row: Option<i64> = self
            .db
            .lock()
            .query_row(
                "SELECT size FROM layers WHERE chain_id = ?1",
                [chain_id],
                |r| r.get(0),
            )
            .optional()?;
        match (row.is_some(), dir.is_dir()) {
            (true, true) => Ok(true),
            (false, true) => {
                remove_tree(&dir)?;
                Ok(false)
            }
            (true, false) => {
                self.db.lock().execute("DELETE FROM layers WHERE chain_id = ?1 AND NOT EXISTS (SELECT 1 FROM image_layers WHERE chain_id = ?1)", [chain_id])?;
                Ok(false)
            }
            (false, false) => Ok(false),
        }
    }

    async fn fetch_layers(
        &self,
        registry: &Registry,
        reference: &Reference,
        jobs: Vec<LayerJob>,
        concurrency: usize,
        progress: &Progress,
    ) -> Result<()> {
        let cancel = AtomicBool::new(false);
        let results: Vec<Result<()>> = futures_util::stream::iter(jobs)
            .map(|job| self.fetch_layer(registry, reference, job, &cancel, progress))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        // The first real failure, not the "cancelled" of the others it stopped.
        let mut first: Option<Error> = None;
        for r in results {
            if let Err(e) = r {
                if first
                    .as_ref()
                    .map(|f| f.message() == CANCELLED)
                    .unwrap_or(true)
                {
                    first = Some(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    async fn fetch_layer(
        &self,
        registry: &Registry,
        reference: &Reference,
        job: LayerJob,
        cancel: &AtomicBool,
        progress: &Progress,
    ) -> Result<()> {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::new(Kind::Io, CANCELLED));
        }
        let bar = progress.bar(&job.desc);
        let result = async {
            crate::trace::step(|| {
                format!(
                    "download layer {} ({} bytes) and unpack it into layers/{}",
                    job.desc.digest,
                    job.desc.size,
                    digest_hex(&job.chain_id).unwrap_or("")
                )
            });
            let mut stream = registry.blob_stream(reference, &job.desc.digest).await?;
            let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(64);
            let paths = self.paths.clone();
            let db = self.db.clone();
            let job2 = job.clone();
            let unpacker = tokio::task::spawn_blocking(move || {
                install_layer(
                    &paths,
                    &db,
                    ChannelReader {
                        rx,
                        cur: Bytes::new(),
                    },
                    &job2,
                )
            });
            // Exactly the descriptor's size: a registry that sends more (or claims a huge
            // size) cannot fill the disk past it, and one that sends less is caught here.
            let expected = u64::try_from(job.desc.size).unwrap_or(0);
            let mut received: u64 = 0;
            loop {
                let item = match stream.next().await {
                    Some(Ok(bytes)) => {
                        received += bytes.len() as u64;
                        if received > expected {
                            Err(io::Error::other(Error::corrupt(format!(
                                "layer {} is larger than its descriptor's {expected} bytes: the registry sent more",
                                job.desc.digest
                            ))))
                        } else {
                            Ok(bytes)
                        }
                    }
                    Some(Err(e)) => Err(io::Error::other(stream_error(e, &job))),
                    None if received < expected => Err(io::Error::other(Error::corrupt(format!(
                        "layer {} ended after {received} of its descriptor's {expected} bytes",
                        job.desc.digest
                    )))),
                    None => break,
                };
                let failed = item.is_err();
                if let Ok(b) = &item {
                    bar.inc(b.len() as u64);
                }
                if tx.send(item).await.is_err() || failed {
                    break;
                }
                if cancel.load(Ordering::Relaxed) {
                    let _ = tx
                        .send(Err(io::Error::other(Error::new(Kind::Io, CANCELLED))))
                        .await;
                    break;
                }
            }
            drop(tx);
            unpacker.await.map_err(|e| {
                Error::with_source(
                    Kind::Runtime,
                    format!("unpacking layer {} failed", job.desc.digest),
                    e,
                )
            })?
        }
        .await;
        match &result {
            Ok(()) => bar.finish_with_message("done"),
            Err(_) => {
                cancel.store(true, Ordering::Relaxed);
                bar.abandon_with_message("failed");
            }
        }
        result
    }

    /// Writes the image, its layer list and its names in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        id: &str,
        manifest_digest: &str,
        manifest_raw: &[u8],
        config_raw: &[u8],
        chain: &[String],
        names: &[String],
    ) -> Result<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut size: i64 = 0;
        for c in chain {
            size += tx.query_row("SELECT size FROM layers WHERE chain_id = ?1", [c], |r| {
                r.get::<_, i64>(0)
            })?;
        }
        tx.execute(
            "INSERT INTO images (id, manifest_digest, manifest, config, size, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest, manifest = excluded.manifest",
            params![id, manifest_digest, String::from_utf8_lossy(manifest_raw), String::from_utf8_lossy(config_raw), size, now()],
        )?;
        tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [id])?;
        for (i, c) in chain.iter().enumerate() {
            tx.execute(
                "INSERT INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)",
                params![id, i as i64, c],
            )?;
        }
        for name in names {
            tx.execute(
                "INSERT INTO tags (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                params![name, id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores an image whose layers are already installed (used by `load`).
    pub(crate) fn commit_loaded(
        &self,
        manifest_raw: &[u8],
        config_raw: &[u8],
        config: &ConfigFile,
        names: &[String],
    ) -> Result<Image> {
        let id = oci::sha256_digest(config_raw);
        let chain = oci::chain_ids(&config.rootfs.diff_ids)?;
        let manifest_digest = oci::sha256_digest(manifest_raw);
        self.commit(
            &id,
            &manifest_digest,
            manifest_raw,
            config_raw,
            &chain,
            names,
        )?;
        self.get(&id)
    }

    /// Installs one layer from a blob reader, if not present (used by `load`).
    pub(crate) fn install_from_reader(&self, blob: impl Read, job: &LayerJob) -> Result<()> {
        let hex = digest_hex(&job.chain_id)?.to_string();
        let _lock = lock::exclusive(&self.paths.locks(), &hex)?;
        if self.layer_present(&job.chain_id)? {
            return Ok(());
        }
        install_layer(&self.paths, &self.db, blob, job)
    }

    /// The image with this id.
    pub fn get(&self, id: &str) -> Result<Image> {
        let conn = self.db.lock();
        load_image(&conn, id)?.ok_or_else(|| Error::not_found(format!("image {id} not found")))
    }

    /// Finds an image by reference (`busybox`, `host:5000/x:v1`, `x@sha256:...`) or by id
    /// or unique id prefix.
    pub fn resolve(&self, spec: &str) -> Result<String> {
        let conn = self.db.lock();
        if let Ok(r) = reference::parse(spec) {
            let name = reference::canonical(&r);
            let hit: Option<String> = conn
                .query_row("SELECT image_id FROM tags WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(id) = hit {
                return Ok(id);
            }
            if let Some(d) = r.digest() {
                // Pulled under another repository name, or loaded: match the manifest digest.
                let hit: Option<String> = conn
                    .query_row(
                        "SELECT id FROM images WHERE manifest_digest = ?1",
                        [d],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(id) = hit {
                    return Ok(id);
                }
            }
        }
        let hex = spec.strip_prefix("sha256:").unwrap_or(spec);
        if hex.len() >= 4
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            let mut stmt = conn.prepare(
                "SELECT id FROM images WHERE id LIKE ?1 OR manifest_digest = ?2 LIMIT 2",
            )?;
            let ids: Vec<String> = stmt
                .query_map(
                    params![format!("sha256:{hex}%"), format!("sha256:{hex}")],
                    |r| r.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?;
            match ids.len() {
                1 => return Ok(ids[0].clone()),
                2.. => {
                    return Err(Error::conflict(format!(
                        "image id prefix {spec:?} is ambiguous: use more digits"
                    )))
                }
                _ => {}
            }
        }
        if let Err(e) = reference::parse(spec) {
            if hex.len() < 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(e);
            }
        }
        Err(Error::not_found(format!(
            "image {spec:?} not found: pull it first"
        )))
    }

    /// The image a reference or id names.
    pub fn image(&self, spec: &str) -> Result<Image> {
        let id = self.resolve(spec)?;
        self.get(&id)
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<Image>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare("SELECT id FROM images ORDER BY created DESC, id")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.iter()
            .filter_map(|id| load_image(&conn, id).transpose())
            .collect()
    }

    /// Gives the image `source` the additional name `target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<Image> {
        let id = self.resolve(source)?;
        let r = reference::parse(target)?;
        if r.digest().is_some() {
            return Err(Error::invalid(format!(
                "cannot tag with a digest reference {target:?}"
            )));
        }
        self.db.lock().execute(
            "INSERT INTO tags (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![reference::canonical(&r), id],
        )?;
        self.get(&id)
    }

    /// Removes a name, and the image with it when it was the last name (or when `spec` is an
    /// id); layers no other image uses are deleted. `in_use` says which containers use an
    /// image; such an image is refused unless `force`.
    pub fn remove(
        &self,
        spec: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> Result<Vec<String>>,
    ) -> Result<RemoveReport> {
        let id = self.resolve(spec)?;
        let tag_name = reference::parse(spec)
            .ok()
            .map(|r| reference::canonical(&r));
        let mut report = RemoveReport::default();
        let names: Vec<String> = {
            let conn = self.db.lock();
            let mut stmt =
                conn.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
            let names = stmt
                .query_map([&id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            names
        };
        let is_tag = |n: &String| !n.contains('@');
        let by_name = tag_name.as_ref().filter(|n| names.contains(n)).cloned();
        if let Some(name) = &by_name {
            let others = names.iter().filter(|n| *n != name && is_tag(n)).count();
            if others > 0 || (!is_tag(name) && names.iter().any(is_tag)) {
                self.db
                    .lock()
                    .execute("DELETE FROM tags WHERE name = ?1", [name])?;
                report.untagged.push(reference::familiar(name));
                return Ok(report);
            }
        } else if names.iter().filter(|n| is_tag(n)).count() > 1 && !force {
            let tags: Vec<String> = names
                .iter()
                .filter(|n| is_tag(n))
                .map(|n| reference::familiar(n))
                .collect();
            return Err(Error::conflict(format!(
                "image {} has several names ({}): remove them by name, or force",
                short(&id),
                tags.join(", ")
            )));
        }
        let users = in_use(&id)?;
        if !users.is_empty() && !force {
            return Err(Error::conflict(format!(
                "image {} is used by container{} {}: remove {} first, or force",
                spec,
                if users.len() > 1 { "s" } else { "" },
                users.join(", "),
                if users.len() > 1 { "them" } else { "it" }
            )));
        }
        self.unmount_id(&id)?;
        let chain: Vec<String> = {
            let mut conn = self.db.lock();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let chain = {
                let mut stmt = tx.prepare(
                    "SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY position",
                )?;
                let chain = stmt
                    .query_map([&id], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                chain
            };
            tx.execute("DELETE FROM images WHERE id = ?1", [&id])?;
            tx.commit()?;
            chain
        };
        report
            .untagged
            .extend(names.iter().map(|n| reference::familiar(n)));
        report.deleted.push(id);
        self.collect_layers(&chain)?;
        Ok(report)
    }

    /// Deletes those of `candidates` no image uses any more.
    fn collect_layers(&self, candidates: &[String]) -> Result<Vec<String>> {
        let hexes: Vec<String> = candidates
            .iter()
            .map(|c| digest_hex(c).map(str::to_string))
            .collect::<Result<_>>()?;
        let _locks = lock::exclusive_all(&self.paths.locks(), &hexes)?;
        let doomed: Vec<String> = {
            let mut conn = self.db.lock();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut doomed = Vec::new();
            for c in candidates {
                let used: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM image_layers WHERE chain_id = ?1",
                    [c],
                    |r| r.get(0),
                )?;
                if used == 0 && tx.execute("DELETE FROM layers WHERE chain_id = ?1", [c])? > 0 {
                    doomed.push(c.clone());
                }
            }
            tx.commit()?;
            doomed
        };
        for c in &doomed {
            let hex = digest_hex(c)?;
            // Rename first so a crash mid-delete never leaves a half layer under its real name.
            let dir = self.paths.layer(hex);
            let trash = self
                .paths
                .tmp()
                .join(format!("trash-{hex}-{}", std::process::id()));
            match std::fs::rename(&dir, &trash) {
                Ok(()) => remove_tree(&trash)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("cannot remove layer", &dir, e)),
            }
            let _ = std::fs::remove_file(self.paths.layer_split(hex));
        }
        Ok(doomed)
    }

    /// Removes untagged images (all unused images with `all`), and whatever a crashed
    /// process left in the scratch directory. Returns the removed image ids.
    pub fn prune(
        &self,
        all: bool,
        in_use: &dyn Fn(&str) -> Result<Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for img in self.images()? {
            if (all || img.tags.is_empty()) && in_use(&img.id)?.is_empty() {
                let r = self.remove(&img.id, true, in_use)?;
                removed.extend(r.deleted);
            }
        }
        self.reclaim_orphans()?;
        self.sweep_scratch()?;
        Ok(removed)
    }

    /// What killed processes left in the store: layers recorded but used by no image (the
    /// finished layers of a pull killed before its image was committed), and layer
    /// directories or tar-splits with no row (an rmi killed between its row and its files).
    /// A layer somebody is working on holds its lock and is left alone.
    fn reclaim_orphans(&self) -> Result<()> {
        let unused: Vec<String> = {
            let conn = self.db.lock();
            let mut stmt = conn.prepare(
                "SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)",
            )?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            rows
        };
        if !unused.is_empty() {
            self.collect_layers(&unused)?;
        }
        let Ok(entries) = std::fs::read_dir(self.paths.layers()) else {
            return Ok(());
        };
        let mut hexes: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .map(|n| n.trim_end_matches(".split").to_string())
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        hexes.sort();
        hexes.dedup();
        for hex in hexes {
            let Some(_busy_otherwise) = lock::try_exclusive(&self.paths.locks(), &hex)? else {
                continue;
            };
            if self.layer_present(&format!("sha256:{hex}"))? {
                continue;
            }
            crate::trace::step(|| format!("remove orphan layer {hex} (no row)"));
            let dir = self.paths.layer(&hex);
            let trash = self
                .paths
                .tmp()
                .join(format!("trash-{hex}-{}", std::process::id()));
            match std::fs::rename(&dir, &trash) {
                Ok(()) => remove_tree(&trash)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("cannot remove layer", &dir, e)),
            }
            let _ = std::fs::remove_file(self.paths.layer_split(&hex));
        }
        Ok(())
    }

    /// Removes scratch entries of processes that are gone.
    fn sweep_scratch(&self) -> Result<()> {
        let tmp = self.paths.tmp();
        let Ok(entries) = std::fs::read_dir(&tmp) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .split('-')
                .nth(2)
                .and_then(|p| p.split('.').next())
                .and_then(|p| p.parse::<i32>().ok());
            // A layer's scratch is garbage once nobody holds that layer's lock (a pid can
            // be reused); other scratch, once its process is gone.
            let layer_hex = name
                .strip_prefix("layer-")
                .or_else(|| name.strip_prefix("split-"))
                .and_then(|r| r.split('-').next());
            let alive = match layer_hex {
                Some(hex) => lock::try_exclusive(&self.paths.locks(), hex)?.is_none(),
                None => pid
                    .map(|p| Path::new(&format!("/proc/{p}")).exists())
                    .unwrap_or(true),
            };
            if !alive {
                let path = e.path();
                if path.is_dir() {
                    remove_tree(&path)?;
                } else {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(())
    }

    /// Mounts the image's flattened filesystem read-only and returns where (podman's
    /// `image mount`). Mounting a mounted image returns the same path.
    pub fn mount(&self, spec: &str) -> Result<PathBuf> {
        let img = self.image(spec)?;
        let target = self
            .paths
            .image_mounts()
            .join(img.id.trim_start_matches("sha256:"));
        if overlay::is_mounted(&target) {
            return Ok(target);
        }
        std::fs::create_dir_all(&target).map_err(|e| Error::io("cannot create", &target, e))?;
        let lowers = self.layer_dirs(&img)?;
        if let Err(e) =
            overlay::mount_overlay(&lowers, None, &target, &self.paths.root.join("empty"))
        {
            let _ = std::fs::remove_dir(&target);
            return Err(e);
        }
        Ok(target)
    }

    /// Undoes `mount`.
    pub fn unmount(&self, spec: &str) -> Result<()> {
        let id = self.resolve(spec)?;
        self.unmount_id(&id)
    }

    fn unmount_id(&self, id: &str) -> Result<()> {
        let target = self
            .paths
            .image_mounts()
            .join(id.trim_start_matches("sha256:"));
        if overlay::is_mounted(&target) {
            overlay::unmount(&target)?;
        }
        match std::fs::remove_dir(&target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("cannot remove", &target, e)),
        }
    }

    /// The unpacked directories of an image's layers, bottom first.
    pub fn layer_dirs(&self, img: &Image) -> Result<Vec<PathBuf>> {
        img.layers
            .iter()
            .map(|l| Ok(self.paths.layer(digest_hex(&l.chain_id)?)))
            .collect()
    }

    /// The raw manifest and config JSON of an image (for `save` and `inspect`).
    pub fn raw(&self, id: &str) -> Result<(String, String)> {
        let conn = self.db.lock();
        conn.query_row(
            "SELECT manifest, config FROM images WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::not_found(format!("image {id} not found")))
    }
}

const CANCELLED: &str = "pull cancelled after another layer failed";

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// The names a pulled image is stored under: the tag (if pulled by tag) and repo@digest.
fn stored_names(r: &reference::ImageRef, manifest_digest: &str) -> Vec<String> {
    let mut names = Vec::new();
    if r.digest().is_none() {
        names.push(reference::canonical(r));
    } else if let Some(t) = r.tag() {
        names.push(format!("{}/{}:{}", r.registry(), r.repository(), t));
    }
    names.push(format!(
        "{}/{}@{}",
        r.registry(),
        r.repository(),
        manifest_digest
    ));
    names
}

fn load_image(conn: &Connection, id: &str) -> Result<Option<Image>> {
    let row: Option<(String, String, i64, i64)> = conn
        .query_row(
            "SELECT manifest_digest, config, size, created FROM images WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((digest, config_raw, size, stored)) = row else {
        return Ok(None);
    };
    let config: ConfigFile = serde_json::from_str(&config_raw).map_err(|e| {
        Error::with_source(
            Kind::Corrupt,
            format!("stored config of image {id} is damaged"),
            e,
        )
    })?;
    let mut stmt = conn.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
    let names: Vec<String> = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let (digests, tags): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| n.contains('@'));
    let mut stmt = conn.prepare(
        "SELECT l.chain_id, l.diff_id, l.size FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
         WHERE il.image_id = ?1 ORDER BY il.position",
    )?;
    let layers: Vec<LayerInfo> = stmt
        .query_map([id], |r| {
            Ok(LayerInfo {
                chain_id: r.get(0)?,
                diff_id: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(Image {
        id: id.to_string(),
        digest,
        tags: tags.iter().map(|t| reference::familiar(t)).collect(),
        digests: digests.iter().map(|t| reference::familiar(t)).collect(),
        platform: Platform {
            os: config.os.clone(),
            architecture: config.architecture.clone(),
            variant: config.variant.clone(),
        },
        created: config.created.clone(),
        stored,
        size: size as u64,
        config: config.config,
        layers,
    }))
}

/// One layer to download (or read) and install.
#[derive(Clone)]
pub(crate) struct LayerJob {
    pub desc: Descriptor,
    pub compression: Compression,
    pub diff_id: String,
    pub chain_id: String,
    pub parent: Option<String>,
    /// The image reference or file, for messages.
    pub source: String,
}

static SCRATCH_SEQ: AtomicU64 = AtomicU64::new(0);

/// Unpacks a layer into scratch, checks its diff id, renames it into place and records it.
/// Runs on a blocking thread; on any failure it leaves nothing behind.
fn install_layer(paths: &Paths, db: &Db, blob: impl Read, job: &LayerJob) -> Result<()> {
    let hex = digest_hex(&job.chain_id)?;
    // We hold this layer's lock, so scratch work on it by anyone else is from a process
    // that died mid-unpack: clear it.
    if let Ok(entries) = std::fs::read_dir(paths.tmp()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("layer-{hex}-")) {
                let _ = remove_tree(&e.path());
            } else if name.starts_with(&format!("split-{hex}-")) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let seq = SCRATCH_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = paths
        .tmp()
        .join(format!("layer-{hex}-{}-{seq}", std::process::id()));
    let split_tmp = paths
        .tmp()
        .join(format!("split-{hex}-{}-{seq}", std::process::id()));
    std::fs::create_dir(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
    let result = (|| {
        let unpacked = unpack::unpack_layer(blob, job.compression, &tmp, Some(&split_tmp))
            .map_err(|e| {
                if e.kind() == Kind::Corrupt && !e.message().contains(&job.desc.digest) {
                    Error::with_source(
                        Kind::Corrupt,
                        format!("layer {} of {} is corrupt", job.desc.digest, job.source),
                        e,
                    )
                } else {
                    e
                }
            })?;
        if unpacked.diff_id != job.diff_id {
            return Err(Error::corrupt(format!(
                "layer {} of {} is corrupt: its content has digest {}, the image config says {}",
                job.desc.digest, job.source, unpacked.diff_id, job.diff_id
            )));
        }
        let dir = paths.layer(hex);
        remove_tree(&dir)?;
        let split = paths.layer_split(hex);
        std::fs::rename(&split_tmp, &split)
            .map_err(|e| Error::io("cannot rename into place", &split, e))?;
        std::fs::rename(&tmp, &dir).map_err(|e| Error::io("cannot rename into place", &dir, e))?;
        db.lock().execute(
            "INSERT INTO layers (chain_id, diff_id, parent, size) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(chain_id) DO UPDATE SET size = excluded.size",
            params![job.chain_id, job.diff_id, job.parent, unpacked.size as i64],
        )?;
        Ok(())
    })();
    if result.is_err() {
        let _ = remove_tree(&tmp);
        let _ = std::fs::remove_file(&split_tmp);
    }
    result
}

/// Turns an error from the download stream into ours, naming the layer.
fn stream_error(e: io::Error, job: &LayerJob) -> Error {
    let text = e.to_string();
    if let Some(inner) = e.get_ref() {
        if let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) =
            inner.downcast_ref::<oci_client::errors::DigestError>()
        {
            return Error::corrupt(format!(
                "layer {} of {} is corrupt: expected digest {expected}, got {actual}",
                job.desc.digest, job.source
            ));
        }
    }
    Error::with_source(
        Kind::Registry,
        format!(
            "download of layer {} of {} failed: {text}",
            job.desc.digest, job.source
        ),
        e,
    )
}

/// A blocking reader over the chunks the download task sends.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

/// Per-layer progress bars, on a terminal only.
struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    fn new(wanted: bool) -> Progress {
        let multi = (wanted && io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    fn bar(&self, desc: &Descriptor) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = multi.add(ProgressBar::new(desc.size.max(0) as u64));
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(
            desc.digest
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>(),
        );
        bar
    }

    fn finish(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}
