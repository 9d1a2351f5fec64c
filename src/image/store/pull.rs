//! Pulling: resolving a reference to one manifest, fetching its config, streaming the
//! missing layers (up to three at once) through decompression and unpacking into scratch,
//! and committing the image once every digest has been verified.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use oci_client::Reference;
use rusqlite::params;

use super::progress::Progress;
use super::*;
use crate::image::oci::{self, digest_hex, Compression, ConfigFile, Descriptor, Platform};
use crate::image::registry::Registry;
use crate::image::unpack;

impl ImageStore {
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
                    .map(|f| f.caused_by::<Cancelled>())
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
            return Err(cancelled());
        }
        let bar = progress.bar(&job.desc.digest, job.desc.size.max(0) as u64);
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
                        .send(Err(io::Error::other(cancelled())))
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

    /// Installs one layer from a blob reader, if not present (load, commit). The caller holds
    /// the layer's lock (`lock_chain`) and keeps holding it until the image that uses the
    /// layer is committed, so prune's orphan sweep cannot take it meanwhile.
    pub(crate) fn install_locked(&self, blob: impl Read, job: &LayerJob) -> Result<()> {
        if self.layer_present(&job.chain_id)? {
            return Ok(());
        }
        install_layer(&self.paths, &self.db, blob, job)
    }

    /// The locks of every layer of a chain, taken in order, held until dropped.
    pub(crate) fn lock_chain(&self, chain: &[String]) -> Result<Vec<lock::LockGuard>> {
        let hexes: Vec<String> = chain
            .iter()
            .map(|c| digest_hex(c).map(str::to_string))
            .collect::<Result<_>>()?;
        lock::exclusive_all(&self.paths.locks(), &hexes)
    }
}

/// What a layer's download ends with when another layer failed first: told apart by its
/// type, not its text, so the first real failure is the one reported.
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

fn cancelled() -> Error {
    Error::with_source(
        Kind::Io,
        "pull cancelled after another layer failed",
        Cancelled,
    )
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
