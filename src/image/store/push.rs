//! Pushing: a stored image to a registry reference. Each layer's blob is looked for first (a
//! HEAD for every digest the layer is known to have: its pulled blob, or one an earlier push
//! made), then mounted from another repository of the same registry that holds it, and only
//! then made and uploaded: rebuilt from the unpacked layer, compressed and streamed in chunks
//! as it is produced (never held whole in memory or written to disk). Then the config, then the
//! manifest (OCI by default, or Docker's v2 schema 2).
//!
//! An image whose layers are all in the registry as they were pulled is pushed with its own
//! manifest, so its digest does not change (as `docker push` of a pulled image).

use std::io::{self, Write};

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use oci_client::Reference;
use serde::Serialize;

use super::progress::Progress;
use super::*;
use crate::image::layer_blob::{encode_layer, KnownBlobs};
use crate::image::oci::{self, Compression, Descriptor, Manifest, ManifestDoc};
use crate::image::registry::Registry;

/// Which manifest format to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestFormat {
    /// OCI image manifest, `application/vnd.oci.image.manifest.v1+json`.
    Oci,
    /// Docker image manifest v2 schema 2.
    Docker,
}

impl ManifestFormat {
    /// `oci` or `docker`.
    pub fn parse(name: &str) -> Result<ManifestFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "oci" => Ok(ManifestFormat::Oci),
            "docker" | "v2s2" => Ok(ManifestFormat::Docker),
            _ => Err(Error::invalid(format!(
                "unknown manifest format {name:?}: use oci or docker"
            ))),
        }
    }

    fn manifest_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => oci::OCI_MANIFEST,
            ManifestFormat::Docker => oci::DOCKER_MANIFEST,
        }
    }

    fn config_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => oci::OCI_CONFIG,
            ManifestFormat::Docker => oci::DOCKER_CONFIG,
        }
    }

    /// The media type of a layer blob; Docker's format has none for zstd.
    fn layer_type(self, compression: Compression) -> Result<&'static str> {
        match (self, compression) {
            (ManifestFormat::Oci, Compression::None) => Ok(oci::OCI_LAYER_TAR),
            (ManifestFormat::Oci, Compression::Gzip) => Ok(oci::OCI_LAYER_GZIP),
            (ManifestFormat::Oci, Compression::Zstd) => Ok(oci::OCI_LAYER_ZSTD),
            (ManifestFormat::Docker, Compression::None) => Ok(oci::DOCKER_LAYER_TAR),
            (ManifestFormat::Docker, Compression::Gzip) => Ok(oci::DOCKER_LAYER_GZIP),
            (ManifestFormat::Docker, Compression::Zstd) => Err(Error::new(
                Kind::Unsupported,
                "zstd layers need the OCI manifest format: push with format oci, or compression gzip",
            )),
        }
    }

    /// The format of a stored manifest: OCI unless it says Docker.
    fn of(manifest: &Manifest) -> ManifestFormat {
        match manifest.media_type.as_deref() {
            Some(oci::DOCKER_MANIFEST) => ManifestFormat::Docker,
            _ => ManifestFormat::Oci,
        }
    }
}

/// How to push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Registry credentials; otherwise from the Docker config file, otherwise anonymous.
    pub credentials: Option<Credentials>,
    /// The manifest format. Unset: the image's own manifest when it can be pushed unchanged,
    /// else OCI.
    pub format: Option<ManifestFormat>,
    /// How layers are compressed (default gzip).
    pub compression: Option<Compression>,
    /// Show progress bars (only ever on a terminal).
    pub progress: bool,
    /// How many layers upload at once (default 3, as Docker).
    pub concurrency: Option<usize>,
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStatus {
    /// The repository had it: nothing was sent.
    Exists,
    /// Linked from another repository of the registry: nothing was sent.
    Mounted,
    /// Made and sent.
    Uploaded,
}

/// One blob of a pushed image.
#[derive(Debug, Clone, Serialize)]
pub struct PushedBlob {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// The uncompressed layer's digest (layers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    pub status: BlobStatus,
}

/// What `push` did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// Where it went: `registry/repository:tag`.
    pub reference: String,
    /// The manifest's digest, `sha256:...`.
    pub digest: String,
    pub media_type: String,
    /// Bytes of the manifest.
    pub size: u64,
    pub config: PushedBlob,
    pub layers: Vec<PushedBlob>,
}

/// A blob a layer is known to have, and the repositories of the target registry that may
/// hold it.
#[derive(Debug, Clone)]
struct Candidate {
    digest: String,
    size: u64,
    /// From the image's stored manifest (pulled or loaded), not from an earlier push.
    original: bool,
    repos: Vec<String>,
}

/// One layer to push.
#[derive(Clone)]
struct LayerPlan {
    layer: LayerInfo,
    candidates: Vec<Candidate>,
}

/// The layer, with the target as its registry sees it.
struct Target<'a> {
    registry: &'a Registry,
    reference: &'a Reference,
    /// `registry/repository`, as the push records remember it.
    repo: String,
    compression: Compression,
    progress: &'a Progress,
}

impl ImageStore {
    /// Pushes the stored image `source` (a name, id or id prefix) to `dest`, or to `source`
    /// itself when it is a registry reference and `dest` is None; returns what was done.
    pub fn push(&self, source: &str, dest: Option<&str>, opts: &PushOptions) -> Result<PushReport> {
        let img = self.image(source)?;
        let dest_ref = destination(source, dest, &img)?;
        let compression = opts.compression.unwrap_or(Compression::Gzip);
        if let Some(f) = opts.format {
            f.layer_type(compression)?;
        }
        let (manifest_raw, config_raw) = self.raw(&img.id)?;
        if oci::sha256_digest(config_raw.as_bytes()) != img.id {
            return Err(Error::corrupt(format!(
                "stored config of image {} does not match its id",
                img.short_id()
            )));
        }
        let original = stored_manifest(&manifest_raw, &img);
        let reference = dest_ref.to_oci();
        let registry = Registry::new(&reference, opts.credentials.clone());
        let repo = format!("{}/{}", dest_ref.registry(), dest_ref.repository());
        let name_repos = same_registry_repos(&img, &dest_ref);
        let plans: Vec<LayerPlan> = img
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| LayerPlan {
                layer: layer.clone(),
                candidates: candidates(
                    &self.paths,
                    layer,
                    original.as_ref().map(|m| &m.layers[i]),
                    compression,
                    &name_repos,
                    &dest_ref,
                ),
            })
            .collect();
        crate::trace::step(|| {
            format!(
                "push {} ({} layers, {}) to {reference}",
                img.short_id(),
                plans.len(),
                compression.name()
            )
        });
        let progress = Progress::new(opts.progress);
        let target = Target {
            registry: &registry,
            reference: &reference,
            repo,
            compression,
            progress: &progress,
        };
        let concurrency = opts.concurrency.unwrap_or(3).max(1);
        let rt = self.runtime()?;
        let result = rt.block_on(async {
            // In order, at most `concurrency` at once; the first failure drops the others
            // (their uploads stop, their producers see the channel closed).
            let layers: Vec<(PushedBlob, bool)> = futures_util::stream::iter(plans)
                .map(|plan| self.push_layer(&target, plan))
                .buffered(concurrency)
                .try_collect()
                .await?;
            let mut config = push_config(&target, &img.id, config_raw.into_bytes()).await?;
            let all_original = layers.iter().all(|(_, orig)| *orig);
            let mut layers: Vec<PushedBlob> = layers.into_iter().map(|(b, _)| b).collect();
            let own = original.as_ref().filter(|m| {
                all_original
                    && m.config.digest == img.id
                    && opts.format.is_none_or(|f| f == ManifestFormat::of(m))
            });
            let (body, manifest) = match own {
                Some(m) => {
                    crate::trace::step(|| {
                        "every layer is in the registry as pulled: push the image's own manifest"
                            .to_string()
                    });
                    (manifest_raw.clone().into_bytes(), m.clone())
                }
                None => {
                    let format = opts.format.unwrap_or(ManifestFormat::Oci);
                    let m = build_manifest(format, compression, &config, &layers)?;
                    let body = serde_json::to_vec(&m).map_err(|e| {
                        Error::with_source(Kind::Io, "cannot encode the manifest", e)
                    })?;
                    (body, m)
                }
            };
            let media_type = ManifestFormat::of(&manifest).manifest_type();
            config.media_type = manifest.config.media_type.clone();
            for (l, d) in layers.iter_mut().zip(&manifest.layers) {
                l.media_type = d.media_type.clone();
            }
            let digest = oci::sha256_digest(&body);
            let size = body.len() as u64;
            crate::trace::step(|| {
                format!(
                    "PUT /v2/{}/manifests/{} ({media_type}, {digest})",
                    reference.repository(),
                    reference.tag().unwrap_or("latest")
                )
            });
            registry.push_manifest(&reference, body, media_type).await?;
            Ok::<_, Error>(PushReport {
                reference: dest_ref.to_string(),
                digest,
                media_type: media_type.to_string(),
                size,
                config,
                layers,
            })
        });
        progress.finish();
        result
    }

    /// Pushes one layer's blob; says whether it is the blob the image was pulled with.
    async fn push_layer(&self, t: &Target<'_>, plan: LayerPlan) -> Result<(PushedBlob, bool)> {
        let layer = &plan.layer;
        let bar = t.progress.bar(&layer.diff_id, layer.size);
        let result = self.place_layer(t, &plan, &bar).await;
        match &result {
            Ok((b, _)) => bar.finish_with_message(match b.status {
                BlobStatus::Exists => "exists",
                BlobStatus::Mounted => "mounted",
                BlobStatus::Uploaded => "pushed",
            }),
            Err(_) => bar.abandon_with_message("failed"),
        }
        if let Ok((b, _)) = &result {
            // Only a cache: a failure to write it costs the next push an upload, nothing more.
            if let Err(e) = KnownBlobs::record(
                &self.paths,
                &layer.chain_id,
                t.compression,
                &b.digest,
                b.size,
                &t.repo,
            ) {
                crate::trace::step(|| format!("cannot record push of {}: {}", b.digest, e.chain()));
            }
        }
        result
    }

    async fn place_layer(
        &self,
        t: &Target<'_>,
        plan: &LayerPlan,
        bar: &ProgressBar,
    ) -> Result<(PushedBlob, bool)> {
        let layer = &plan.layer;
        let found = |c: &Candidate, status| {
            (
                PushedBlob {
                    digest: c.digest.clone(),
                    size: c.size,
                    media_type: String::new(),
                    diff_id: Some(layer.diff_id.clone()),
                    status,
                },
                c.original,
            )
        };
        for c in &plan.candidates {
            if t.registry.has_blob(t.reference, &c.digest).await? {
                crate::trace::step(|| {
                    format!(
                        "layer {}: blob {} exists in {}, skipped",
                        layer.diff_id, c.digest, t.repo
                    )
                });
                return Ok(found(c, BlobStatus::Exists));
            }
        }
        for c in &plan.candidates {
            for from in c.repos.iter().take(3) {
                crate::trace::step(|| {
                    format!(
                        "POST /v2/{}/blobs/uploads/?mount={}&from={from}",
                        t.reference.repository(),
                        c.digest
                    )
                });
                if t.registry.mount_blob(t.reference, from, &c.digest).await {
                    return Ok(found(c, BlobStatus::Mounted));
                }
            }
        }
        crate::trace::step(|| {
            format!(
                "layer {}: upload as {} ({} bytes uncompressed) to {}",
                layer.diff_id,
                t.compression.name(),
                layer.size,
                t.repo
            )
        });
        let (digest, size) = self.upload_layer(t, layer, bar).await?;
        Ok((
            PushedBlob {
                digest,
                size,
                media_type: String::new(),
                diff_id: Some(layer.diff_id.clone()),
                status: BlobStatus::Uploaded,
            },
            false,
        ))
    }

    /// Makes the layer's blob on a blocking thread and streams it to the registry as it comes.
    async fn upload_layer(
        &self,
        t: &Target<'_>,
        layer: &LayerInfo,
        bar: &ProgressBar,
    ) -> Result<(String, u64)> {
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        let paths = self.paths.clone();
        let job = layer.clone();
        let compression = t.compression;
        let counter = bar.clone();
        let producer = tokio::task::spawn_blocking(move || {
            let sink = ChunkSender {
                tx: tx.clone(),
                buf: BytesMut::with_capacity(CHUNK),
            };
            let made = encode_layer(
                &paths,
                &job.chain_id,
                &job.diff_id,
                compression,
                sink,
                &|n| counter.inc(n),
            )
            .and_then(|mut sink| {
                sink.send_rest()
                    .map_err(|e| Error::with_source(Kind::Io, "cannot write layer blob", e))
            });
            if made.is_err() {
                // The upload must not be completed with part of a blob.
                let _ = tx.blocking_send(Err(io::Error::other(Stopped)));
            }
            made
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let pushed = t.registry.push_blob_stream(t.reference, stream).await;
        let produced = producer.await.map_err(|e| {
            Error::with_source(
                Kind::Runtime,
                format!("making the blob of layer {} failed", layer.diff_id),
                e,
            )
        })?;
        match (produced, pushed) {
            // The upload failed first, and the producer then found nobody listening.
            (Err(e), Err(up)) if e.caused_by::<Stopped>() => Err(up),
            (Err(e), _) => Err(e),
            (Ok(()), Err(up)) => Err(up),
            (Ok(()), Ok(done)) => Ok(done),
        }
    }
}

/// Pushes the config blob, unless the repository has it.
async fn push_config(t: &Target<'_>, id: &str, data: Vec<u8>) -> Result<PushedBlob> {
    let size = data.len() as u64;
    let status = if t.registry.has_blob(t.reference, id).await? {
        BlobStatus::Exists
    } else {
        t.registry.push_blob(t.reference, data, id).await?;
        BlobStatus::Uploaded
    };
    crate::trace::step(|| format!("config {id}: {status:?}").to_lowercase());
    Ok(PushedBlob {
        digest: id.to_string(),
        size,
        media_type: String::new(),
        diff_id: None,
        status,
    })
}

/// The manifest of pushed blobs in `format`, every layer compressed as `compression`.
fn build_manifest(
    format: ManifestFormat,
    compression: Compression,
    config: &PushedBlob,
    layers: &[PushedBlob],
) -> Result<Manifest> {
    let layer_type = format.layer_type(compression)?;
    Ok(Manifest {
        schema_version: 2,
        media_type: Some(format.manifest_type().to_string()),
        config: descriptor(format.config_type(), config),
        layers: layers.iter().map(|l| descriptor(layer_type, l)).collect(),
    })
}

fn descriptor(media_type: &str, b: &PushedBlob) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: b.digest.clone(),
        size: b.size as i64,
        platform: None,
        annotations: None,
    }
}

/// Where a push goes: `dest`, or the source's own name when it is a reference the image has.
fn destination(source: &str, dest: Option<&str>, img: &Image) -> Result<reference::ImageRef> {
    let given = match dest {
        Some(d) if !d.trim().is_empty() => d,
        _ => {
            let named = reference::parse(source).ok().filter(|r| {
                let want = reference::canonical(r);
                r.digest().is_none()
                    && img.tags.iter().any(|t| {
                        reference::parse(t)
                            .map(|t| reference::canonical(&t) == want)
                            .unwrap_or(false)
                    })
            });
            return named.ok_or_else(|| {
                Error::invalid(format!(
                    "push of {source:?} needs a destination such as registry.example/repo:tag \
                     (the image is not named by such a tag)"
                ))
            });
        }
    };
    let r = reference::parse(given)?;
    if r.digest().is_some() {
        return Err(Error::invalid(format!(
            "cannot push to {given:?}: a push goes to a tag, not a digest"
        )));
    }
    Ok(r)
}

/// The image's stored manifest, when it describes exactly the stored layers.
fn stored_manifest(raw: &str, img: &Image) -> Option<Manifest> {
    match ManifestDoc::parse(raw.as_bytes(), None, &img.id).ok()? {
        ManifestDoc::Image(m) if m.layers.len() == img.layers.len() => Some(m),
        _ => None,
    }
}

/// The other repositories of the destination's registry the image is named in (it was pulled
/// from or tagged for them): where its blobs may be mounted from.
fn same_registry_repos(img: &Image, dest: &reference::ImageRef) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in img.tags.iter().chain(img.digests.iter()) {
        if let Ok(r) = reference::parse(name) {
            if r.registry() == dest.registry()
                && r.repository() != dest.repository()
                && !out.iter().any(|o| o == r.repository())
            {
                out.push(r.repository().to_string());
            }
        }
    }
    out
}

/// The blobs layer `layer` is known to have in `compression`, with where each may be.
fn candidates(
    paths: &Paths,
    layer: &LayerInfo,
    stored: Option<&Descriptor>,
    compression: Compression,
    name_repos: &[String],
    dest: &reference::ImageRef,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    if let Some(d) = stored {
        let same = Compression::from_media_type(&d.media_type).ok() == Some(compression);
        if same && d.size > 0 && oci::digest_hex(&d.digest).is_ok() {
            out.push(Candidate {
                digest: d.digest.clone(),
                size: d.size as u64,
                original: true,
                repos: name_repos.to_vec(),
            });
        }
    }
    let prefix = format!("{}/", dest.registry());
    let here = |repos: &[String]| -> Vec<String> {
        repos
            .iter()
            .filter_map(|r| r.strip_prefix(&prefix))
            .filter(|r| *r != dest.repository())
            .map(str::to_string)
            .collect()
    };
    let known = KnownBlobs::read(paths, &layer.chain_id);
    if let Some(k) = known.get(compression) {
        match out.iter_mut().find(|c| c.digest == k.digest) {
            Some(c) => {
                for r in here(&k.repos) {
                    if !c.repos.contains(&r) {
                        c.repos.push(r);
                    }
                }
            }
            None => out.push(Candidate {
                digest: k.digest.clone(),
                size: k.size,
                original: false,
                repos: here(&k.repos),
            }),
        }
    }
    // Uncompressed, the blob is the tar: its digest is the diff id.
    if compression == Compression::None && !out.iter().any(|c| c.digest == layer.diff_id) {
        out.push(Candidate {
            digest: layer.diff_id.clone(),
            size: layer.size,
            original: false,
            repos: Vec::new(),
        });
    }
    out
}

/// How much of a blob is handed to the upload at once.
const CHUNK: usize = 1 << 20;

/// Why a producer stopped: its upload went away (the failure is the upload's to tell).
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upload stopped")
    }
}

impl std::error::Error for Stopped {}

/// A writer that sends what it is given to the upload in CHUNK-sized pieces.
struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: BytesMut,
}

impl ChunkSender {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK);
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::other(Stopped))
    }

    /// Sends what is left; the blob is complete once this returns.
    fn send_rest(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
