//! The events of containers (docker events): each transition appended to the `events` table
//! by whoever makes it — the creator (create), the supervisor (start, oom, die), the remover
//! (destroy), the verbs (kill, stop, pause, unpause, rename) — and read back in order.

use rusqlite::params;
use serde::Serialize;

use crate::error::Result;
use crate::store::Db;

/// One event, as `events` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Its place in the log: later events have larger numbers.
    pub seq: i64,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds (Docker's timeNano), for ordering within a second.
    pub time_nano: i64,
    pub id: String,
    pub name: String,
    pub image: String,
    pub action: String,
    /// exitCode for die, signal for kill, oldName for rename.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// What to list: after `after` (a seq), from `since`, up to `until` (unix seconds), of
/// containers whose id starts with or name equals `container`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub after: i64,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub containers: Vec<String>,
}

/// Appends an event of a container (its name and image as its row has them now). An event
/// that cannot be written never undoes the transition it tells of: the log is a record, not
/// the state.
pub fn record(db: &Db, id: &str, action: &str) {
    record_with(db, id, action, serde_json::Map::new());
}

pub fn record_with(
    db: &Db,
    id: &str,
    action: &str,
    attributes: serde_json::Map<String, serde_json::Value>,
) {
    // The log is a record, not the state: a lost event is only traced.
    let _ = record_in(&db.lock(), id, action, attributes);
}

/// Appends an event on `conn`, inside whatever transaction it has open: the transition and
/// its event are one commit (one write of the log instead of two). A failed insert undoes
/// only itself and is not an error, unless SQLite rolled the whole transaction back with it
/// (a full disk, say): then the transition is undone too, and the error says so.
pub fn record_in(
    conn: &rusqlite::Connection,
    id: &str,
    action: &str,
    attributes: serde_json::Map<String, serde_json::Value>,
) -> rusqlite::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let attrs = serde_json::Value::Object(attributes).to_string();
    let written = conn.execute(
        "INSERT INTO events (time_nano, container, name, image, action, attributes)
         SELECT ?1, id, name, image, ?3, ?4 FROM containers WHERE id = ?2",
        params![nanos, id, action, attrs],
    );
    match written {
        Ok(_) => Ok(()),
        Err(e) => {
            crate::trace::step(|| format!("cannot record the {action} event of {id}: {e}"));
            // Outside a transaction, or in one SQLite has rolled back: an error.
            if conn.is_autocommit() {
                Err(e)
            } else {
                Ok(())
            }
        }
    }
}

/// The events a query asks for, oldest first.
pub fn list(db: &Db, q: &Query) -> Result<Vec<Event>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(
        "SELECT seq, time_nano, container, name, image, action, attributes FROM events
         WHERE seq > ?1 AND time_nano >= ?2 AND time_nano < ?3 ORDER BY seq",
    )?;
    let since = q
        .since
        .map(|s| s.saturating_mul(1_000_000_000))
        .unwrap_or(0);
    let until = q
        .until
        .map(|u| u.saturating_add(1).saturating_mul(1_000_000_000))
        .unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![q.after, since, until], |r| {
        let nano: i64 = r.get(1)?;
        let attrs: String = r.get(6)?;
        Ok(Event {
            seq: r.get(0)?,
            time: nano / 1_000_000_000,
            time_nano: nano,
            id: r.get(2)?,
            name: r.get(3)?,
            image: r.get(4)?,
            action: r.get(5)?,
            attributes: serde_json::from_str(&attrs).unwrap_or_default(),
        })
    })?;
    let mut out = Vec::new();
    for e in rows {
        let e = e?;
        let wanted = q.containers.is_empty()
            || q.containers
                .iter()
                .any(|c| e.name == *c || (c.len() >= 3 && e.id.starts_with(c.as_str())));
        if wanted {
            out.push(e);
        }
    }
    Ok(out)
}
