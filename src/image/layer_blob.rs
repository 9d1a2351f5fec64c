//! Layer blobs for push: a layer's exact original tar (rebuilt from its unpacked directory and
//! tar-split, checked against its diff id) compressed as asked, written as it is produced; and
//! what earlier pushes learnt about a layer's blobs.
//!
//! The store keeps no compressed blobs (see `store`), so a compressed digest is only known once
//! a blob has been made. Compression is deterministic (fixed level and block size, no timestamp
//! or name in the gzip header, single-threaded zstd), so the same layer always gives the same
//! blob; and each push records, next to the layer, the digest and size it got and the
//! repositories that hold it (`layers/<chain-id>.pushed`). The next push asks the registry for
//! that digest first (a HEAD) and uploads nothing it already has, or mounts it from a
//! repository that has it, as podman does with its blob info cache. A record is a fact about
//! content (this blob decompresses to this diff id), so it never goes stale; a wrong one could
//! only cost an upload.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::archive::export_layer_in;
use super::oci::{digest_hex, Compression};
use super::parallel_gzip::ParallelGzip;
use crate::error::{Error, Kind, Result};
use crate::store::{lock, write_atomic, Paths};

/// gzip level: the fastest, on every core (see parallel_gzip), as a push usually waits on it.
/// zlib-rs's level 1 is its quick mode (fixed codes): a 48 MB layer of /usr/bin took 0.25 s to
/// push to a local registry and came to 25.8 MB; level 2 took 0.33 s for 21.8 MB (podman's
/// default 20.7 MB). Over a slow link zstd does better than either.
const GZIP_LEVEL: u32 = 1;
/// zstd level: its default, already faster than gzip's fastest.
const ZSTD_LEVEL: i32 = 3;
/// The most repositories remembered per blob.
const MAX_REPOS: usize = 8;

/// Writes layer `chain_id`'s tar, compressed as asked, to `out`; `on_input` is told how many
/// uncompressed bytes went in, for progress. Fails (having written part of the blob) if the
/// layer cannot be rebuilt exactly.
pub fn encode_layer<W: Write>(
    paths: &Paths,
    chain_id: &str,
    diff_id: &str,
    compression: Compression,
    out: W,
    on_input: &dyn Fn(u64),
) -> Result<W> {
    let write_err = |e: io::Error| Error::with_source(Kind::Io, "cannot write layer blob", e);
    match compression {
        Compression::None => {
            let mut counted = Counted::new(out, on_input);
            export_layer_in(paths, chain_id, diff_id, &mut counted)?;
            Ok(counted.inner)
        }
        Compression::Gzip => {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
            let gz = ParallelGzip::new(out, GZIP_LEVEL, threads).map_err(write_err)?;
            let mut counted = Counted::new(gz, on_input);
            export_layer_in(paths, chain_id, diff_id, &mut counted)?;
            counted.inner.finish().map_err(write_err)
        }
        Compression::Zstd => {
            let z = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)
                .map_err(|e| Error::with_source(Kind::Io, "cannot start zstd encoder", e))?;
            let mut counted = Counted::new(z, on_input);
            export_layer_in(paths, chain_id, diff_id, &mut counted)?;
            counted.inner.finish().map_err(write_err)
        }
    }
}

/// Counts what is written through it.
struct Counted<'a, W> {
    inner: W,
    on_input: &'a dyn Fn(u64),
}

impl<'a, W> Counted<'a, W> {
    fn new(inner: W, on_input: &'a dyn Fn(u64)) -> Self {
        Counted { inner, on_input }
    }
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        (self.on_input)(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A blob of a layer a push made or found: its digest, size, and where it has been seen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KnownBlob {
    pub digest: String,
    pub size: u64,
    /// `registry/repository` names holding it, most recent first.
    #[serde(default)]
    pub repos: Vec<String>,
}

/// The blobs known for one layer, by compression name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KnownBlobs(BTreeMap<String, KnownBlob>);

impl KnownBlobs {
    /// What is recorded for layer `chain_id`; nothing when there is no record or it is damaged
    /// (it is only a cache).
    pub fn read(paths: &Paths, chain_id: &str) -> KnownBlobs {
        let Ok(hex) = digest_hex(chain_id) else {
            return KnownBlobs::default();
        };
        std::fs::read(paths.layer_pushed(hex))
            .ok()
            .and_then(|data| serde_json::from_slice(&data).ok())
            .unwrap_or_default()
    }

    pub fn get(&self, compression: Compression) -> Option<&KnownBlob> {
        self.0
            .get(compression.name())
            .filter(|b| digest_hex(&b.digest).is_ok())
    }

    /// Adds `repo` as a holder of the blob (replacing a record of another digest).
    fn note(&mut self, compression: Compression, digest: &str, size: u64, repo: &str) {
        let entry = self
            .0
            .entry(compression.name().to_string())
            .or_insert_with(|| KnownBlob {
                digest: digest.to_string(),
                size,
                repos: Vec::new(),
            });
        if entry.digest != digest || entry.size != size {
            *entry = KnownBlob {
                digest: digest.to_string(),
                size,
                repos: Vec::new(),
            };
        }
        entry.repos.retain(|r| r != repo);
        entry.repos.insert(0, repo.to_string());
        entry.repos.truncate(MAX_REPOS);
    }

    /// Records that the blob `digest` (`size` bytes, `compression` of layer `chain_id`) is in
    /// repository `repo`. Done under the layer's lock, and only while the layer exists, so a
    /// record never outlives its layer; skipped (it is a cache) when a pull or rmi holds it.
    pub fn record(
        paths: &Paths,
        chain_id: &str,
        compression: Compression,
        digest: &str,
        size: u64,
        repo: &str,
    ) -> Result<()> {
        let hex = digest_hex(chain_id)?;
        let Some(_held) = lock::try_exclusive(&paths.locks(), hex)? else {
            return Ok(());
        };
        if !paths.layer(hex).is_dir() {
            return Ok(());
        }
        let mut known = KnownBlobs::read(paths, chain_id);
        known.note(compression, digest, size, repo);
        let data = serde_json::to_vec(&known)
            .map_err(|e| Error::with_source(Kind::Io, "cannot encode push record", e))?;
        write_atomic(&paths.layer_pushed(hex), &data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_the_latest_repos_first_and_forget_another_digest() {
        let d1 = format!("sha256:{}", "1".repeat(64));
        let d2 = format!("sha256:{}", "2".repeat(64));
        let mut k = KnownBlobs::default();
        k.note(Compression::Gzip, &d1, 10, "r/a");
        k.note(Compression::Gzip, &d1, 10, "r/b");
        k.note(Compression::Gzip, &d1, 10, "r/a");
        assert_eq!(k.get(Compression::Gzip).unwrap().repos, vec!["r/a", "r/b"]);
        assert!(k.get(Compression::Zstd).is_none());
        for i in 0..20 {
            k.note(Compression::Gzip, &d1, 10, &format!("r/{i}"));
        }
        assert_eq!(k.get(Compression::Gzip).unwrap().repos.len(), MAX_REPOS);
        k.note(Compression::Gzip, &d2, 11, "r/z");
        let b = k.get(Compression::Gzip).unwrap();
        assert_eq!(
            (b.digest.as_str(), b.size, b.repos.len()),
            (d2.as_str(), 11, 1)
        );
    }

    #[test]
    fn a_damaged_record_is_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        paths.ensure().unwrap();
        let chain = format!("sha256:{}", "a".repeat(64));
        std::fs::write(paths.layer_pushed(&"a".repeat(64)), b"{not json").unwrap();
        assert!(KnownBlobs::read(&paths, &chain)
            .get(Compression::Gzip)
            .is_none());
        // Without the layer, nothing is recorded.
        KnownBlobs::record(&paths, &chain, Compression::Gzip, &chain, 1, "r/a").unwrap();
        assert!(KnownBlobs::read(&paths, &chain)
            .get(Compression::Gzip)
            .is_none());
        std::fs::create_dir(paths.layer(&"a".repeat(64))).unwrap();
        KnownBlobs::record(&paths, &chain, Compression::Gzip, &chain, 1, "r/a").unwrap();
        assert_eq!(
            KnownBlobs::read(&paths, &chain)
                .get(Compression::Gzip)
                .unwrap()
                .repos,
            vec!["r/a"]
        );
    }
}
