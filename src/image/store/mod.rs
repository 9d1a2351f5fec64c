//! The local image store: pulling into it, listing, tagging, removing and mounting images.
//!
//! Layout (under `GOCKER_ROOT`): `db.sqlite` holds images, tags and layers, with each image's
//! manifest and config JSON, so that an image's metadata is committed in one transaction and
//! can never be torn; `layers/<chain-id>/` holds unpacked layers, each renamed into place only
//! once both of its digests have been verified; `layers/<chain-id>.split` is its tar-split.
//! Compressed layer blobs are not kept (as podman): the tar-split rebuilds the exact layer
//! for `save`, without writing every layer twice on `pull`.
//!
//! This module holds the store and its queries; `pull` fetches and installs, `gc` removes
//! (rmi, prune, what killed processes left), `mounts` is podman's `image mount`.

mod gc;
mod mounts;
mod progress;
mod pull;
mod push;

pub(crate) use pull::LayerJob;
pub use push::{BlobStatus, ManifestFormat, PushOptions, PushReport, PushedBlob};

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::oci::{digest_hex, ConfigFile, Platform, RunConfig};
use super::reference;
use super::registry::Credentials;
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
    /// The image as `docker image inspect` shows it, with Docker's field names.
    pub fn inspect(&self) -> serde_json::Value {
        serde_json::json!({
            "Id": self.id,
            "RepoTags": self.tags,
            "RepoDigests": self.digests,
            "Created": self.created.clone().unwrap_or_default(),
            "Size": self.size,
            "Architecture": self.platform.architecture,
            "Variant": self.platform.variant,
            "Os": self.platform.os,
            "Config": self.config,
            "RootFS": {
                "Type": "layers",
                "Layers": self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "Metadata": { "LastTagTime": crate::sys::time::rfc3339(self.stored) },
        })
    }

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

    /// The images a user sees: without `all`, not the build's intermediate images (untagged
    /// ones the build cache holds), as `docker images` hides them.
    pub fn listed(&self, all: bool) -> Result<Vec<Image>> {
        let list = self.images()?;
        if all {
            return Ok(list);
        }
        let cached = self.build_cached()?;
        Ok(list
            .into_iter()
            .filter(|i| !(i.tags.is_empty() && cached.contains(&i.id)))
            .collect())
    }

    /// The ids of the images the build cache holds.
    pub fn build_cached(&self) -> Result<std::collections::HashSet<String>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare("SELECT image_id FROM build_cache")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Forgets the build cache; its images go with the next prune.
    pub fn clear_build_cache(&self) -> Result<usize> {
        Ok(self.db.lock().execute("DELETE FROM build_cache", [])?)
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
