//! The SQLite state database: images, tags, layers (and, later, containers and IP leases).
//!
//! One file, WAL mode, a busy timeout so concurrent scripts queue instead of failing, and
//! `user_version` migrations so an old root opens with a new binary.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Kind, Result};

/// Each entry upgrades the schema by one version; never edit a released entry.
const MIGRATIONS: &[&str] = &[
    // 1: images and layers.
    "CREATE TABLE images (
        id TEXT PRIMARY KEY,              -- config digest, sha256:...
        manifest_digest TEXT NOT NULL,
        manifest TEXT NOT NULL,           -- raw manifest JSON as pulled
        config TEXT NOT NULL,             -- raw config JSON
        size INTEGER NOT NULL,            -- unpacked bytes of all layers
        created INTEGER NOT NULL          -- unix seconds when stored
     );
     CREATE TABLE tags (
        name TEXT PRIMARY KEY,            -- normalized reference: registry/repo:tag or repo@digest
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
     );
     CREATE INDEX tags_image ON tags(image_id);
     CREATE TABLE layers (
        chain_id TEXT PRIMARY KEY,
        diff_id TEXT NOT NULL,
        parent TEXT,
        size INTEGER NOT NULL             -- bytes of the uncompressed tar
     );
     CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        chain_id TEXT NOT NULL REFERENCES layers(chain_id),
        PRIMARY KEY (image_id, position)
     );
     CREATE INDEX image_layers_chain ON image_layers(chain_id);",
    // 2: containers.
    "CREATE TABLE containers (
        id TEXT PRIMARY KEY,              -- 64 hex digits
        name TEXT NOT NULL UNIQUE,
        image TEXT NOT NULL,              -- the reference as given
        image_id TEXT,                    -- NULL for a directory root filesystem
        command TEXT NOT NULL,            -- JSON array
        spec TEXT NOT NULL,               -- JSON Spec
        status TEXT NOT NULL,             -- created | running | exited
        pid INTEGER,                      -- the init, on the host, while running
        shim_pid INTEGER,
        exit_code INTEGER,
        oom_killed INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL,
        started INTEGER,
        finished INTEGER
     );
     CREATE INDEX containers_image ON containers(image_id);",
    // 3: bridge networks and the addresses of running containers (the IPAM).
    "CREATE TABLE networks (
        name TEXT PRIMARY KEY,
        bridge TEXT NOT NULL UNIQUE,
        subnet TEXT NOT NULL,
        created INTEGER NOT NULL,
        last_ip TEXT
     );
     CREATE TABLE addresses (
        network TEXT NOT NULL,
        ip TEXT NOT NULL,
        container TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        hostname TEXT NOT NULL,
        PRIMARY KEY (network, ip)
     );",
    // 4: the build cache (a step's key → the image it made) and the digests of context
    //    files, known by their stat so an unchanged file is not read again.
    "CREATE TABLE build_cache (
        key TEXT PRIMARY KEY,
        image_id TEXT NOT NULL,
        created INTEGER NOT NULL,
        parent TEXT NOT NULL DEFAULT '',  -- the key of the steps before (for explain)
        step TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL DEFAULT ''
     );
     CREATE INDEX build_cache_parent ON build_cache(parent);
     CREATE TABLE build_chain (             -- every step seen: what followed what (explain)
        key TEXT PRIMARY KEY,
        parent TEXT NOT NULL,
        step TEXT NOT NULL
     );
     CREATE INDEX build_chain_parent ON build_chain(parent);
     CREATE INDEX build_cache_image ON build_cache(image_id);
     CREATE TABLE file_digests (
        path TEXT PRIMARY KEY,
        stat TEXT NOT NULL,
        digest TEXT NOT NULL
     );",
    // 5: a running container's other names on its network (docker --network-alias),
    //    space-separated, for its peers' /etc/hosts.
    "ALTER TABLE addresses ADD COLUMN aliases TEXT NOT NULL DEFAULT '';",
    // 6: the events of containers (docker events), appended at each transition.
    "CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time_nano INTEGER NOT NULL,
        container TEXT NOT NULL,
        name TEXT NOT NULL,
        image TEXT NOT NULL,
        action TEXT NOT NULL,         -- create, start, die, oom, kill, stop, pause, ...
        attributes TEXT NOT NULL      -- JSON: exitCode, signal, oldName
     );
     CREATE INDEX events_time ON events(time_nano);",
];

fn is_busy(e: &Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cur {
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = c.downcast_ref::<rusqlite::Error>() {
            return matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            );
        }
        cur = c.source();
    }
    false
}

/// A handle on the state database, shareable between threads of one process.
pub struct Db {
    conn: Mutex<Connection>,
}

/// While another process holds a lock this connection needs (a commit, or rebuilding the
/// WAL index after the last connection closed: well under a millisecond each), it tries
/// again after 50 µs, doubling up to 5 ms, for 30 s in all. SQLite's own busy timeout sleeps
/// 1, 2, 5, 10, 15 ms... between tries: two processes opening an idle store at once (a run
/// and its supervisor, started ahead) lost 10 ms and more to it (issue 16).
fn wait_when_busy(tries: i32) -> bool {
    const TRIES: i32 = 6_000;
    let delay = Duration::from_micros(50 << tries.clamp(0, 7)).min(Duration::from_millis(5));
    std::thread::sleep(delay);
    tries < TRIES
}

impl Db {
    pub fn open(path: &Path) -> Result<Db> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, lean: bool) -> Result<Db> {
        // Two processes opening a new root at once can both try to switch it to WAL; SQLite
        // answers BUSY at once there (no busy handler applies), so retry for a while.
        let mut delay = Duration::from_millis(5);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match Self::try_open(path, lean) {
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// As `open`, for a process that keeps its connection as long as a container runs (a
    /// supervisor): without SQLite's lookaside buffers (about 120 KB a connection, each page
    /// of it dirty once used) and with a page cache of 64 KB, not 2 MB (issue 16).
    pub fn open_lean(path: &Path) -> Result<Db> {
        Self::open_with(path, true)
    }

    fn try_open(path: &Path, lean: bool) -> Result<Db> {
        let conn = Self::connect(path, lean)?;
        if lean {
            conn.pragma_update(None, "cache_size", -64)?;
        }
        let db = Db {
            conn: Mutex::new(conn),
        };
        db.migrate()?;
        Ok(db)
    }

    /// A connection with this store's settings.
    fn connect(path: &Path, lean: bool) -> Result<Connection> {
        const WAL_PAGES: i64 = 64;
        let conn = Connection::open(path).map_err(|e| {
            Error::with_source(
                Kind::Io,
                format!("cannot open state database {}", path.display()),
                e,
            )
        })?;
        if lean {
            // Before any statement, while none of it is in use.
            // SAFETY: the handle is this open connection's; a null buffer with no slots
            // turns lookaside off, which SQLite refuses (BUSY, harmless) once it is in use.
            unsafe {
                rusqlite::ffi::sqlite3_db_config(
                    conn.handle(),
                    rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
                    std::ptr::null_mut::<std::ffi::c_void>(),
                    0 as std::ffi::c_int,
                    0 as std::ffi::c_int,
                );
            }
        }
        conn.busy_handler(Some(wait_when_busy))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Every verb is a short process: checkpointing the WAL (two fsyncs) as each one exits
        // would cost more than its work. But the first process to open the database after
        // the last one closed reads the whole WAL to rebuild its index: at SQLite's default
        // of 1000 pages (4 MB, about 45 runs' worth) that took 1 ms and more of every verb's
        // start. A checkpoint every 64 pages (256 KB) keeps that read short, and costs a few
        // hundred microseconds once every few runs (issue 16).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", WAL_PAGES * 4096 * 4)?;
        Ok(conn)
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.lock();
        let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current == MIGRATIONS.len() {
            return Ok(());
        }
        // IMMEDIATE: take the write lock first so two processes opening a new root at once
        // cannot both apply migration 1.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > MIGRATIONS.len() {
            return Err(Error::new(
                Kind::Unsupported,
                format!(
                    "state database schema {version} is newer than this gocker-script understands"
                ),
            ));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The connection, for one short unit of work. Never hold it across network I/O.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (transactions roll
        // back on drop), so a poisoned mutex is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}
