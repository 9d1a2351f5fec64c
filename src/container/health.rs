//! Health checks, run by the supervisor (docker's HEALTHCHECK): every interval the check
//! runs inside the container (as `exec` does) and its state — starting, healthy, unhealthy —
//! is kept in the container's `health` file, which ps, health() and wait_healthy read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::exec::ExecRequest;
use super::ContainerStore;
use crate::error::{Error, Result};

/// A check, as Docker's config holds it (Test, and durations in nanoseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

impl Check {
    /// From an image config's (or a spec's) Healthcheck: None for none or ["NONE"].
    pub fn from_config(v: &serde_json::Value) -> Result<Option<Check>> {
        let test: Vec<String> = v
            .get("Test")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        let argv = match test.split_first() {
            None => return Ok(None),
            Some((kind, _)) if kind == "NONE" => return Ok(None),
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            _ => {
                return Err(Error::invalid(format!(
                    "health check test {test:?} must be [\"CMD\", ...], [\"CMD-SHELL\", \"...\"] or [\"NONE\"]"
                )))
            }
        };
        let ns = |key: &str, default: Duration| {
            v.get(key)
                .and_then(|n| n.as_u64())
                .filter(|n| *n > 0)
                .map(Duration::from_nanos)
                .unwrap_or(default)
        };
        Ok(Some(Check {
            argv,
            interval: ns("Interval", Duration::from_secs(30)),
            timeout: ns("Timeout", Duration::from_secs(30)),
            start_period: ns("StartPeriod", Duration::ZERO),
            retries: v
                .get("Retries")
                .and_then(|n| n.as_u64())
                .filter(|n| *n > 0)
                .unwrap_or(3) as u32,
        }))
    }
}

/// The state kept in the `health` file, with Docker's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy or unhealthy.
    pub status: String,
    pub failing_streak: u32,
    /// The last five checks: exit code and output.
    pub log: Vec<Probe>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub exit_code: i64,
    pub output: String,
}

impl Health {
    /// One more check's result: healthy at the first success, unhealthy after `retries`
    /// failures in a row (failures during the start period do not count).
    pub fn record(&mut self, check: &Check, code: i64, output: String, in_start_period: bool) {
        self.log.push(Probe {
            exit_code: code,
            output,
        });
        if self.log.len() > 5 {
            self.log.remove(0);
        }
        if code == 0 {
            self.status = "healthy".into();
            self.failing_streak = 0;
        } else if !in_start_period {
            self.failing_streak += 1;
            if self.failing_streak >= check.retries {
                self.status = "unhealthy".into();
            }
        }
    }
}

fn file(store: &ContainerStore, id: &str) -> PathBuf {
    store.paths().containers().join(id).join("health")
}

/// The container's health, if it has a check.
pub fn read(store: &ContainerStore, id: &str) -> Option<Health> {
    let text = std::fs::read(file(store, id)).ok()?;
    serde_json::from_slice(&text).ok()
}

fn write(path: &Path, h: &Health) {
    if let Ok(data) = serde_json::to_vec(h) {
        let _ = crate::store::write_atomic(path, &data);
    }
}

/// The supervisor's checker: runs until the container is no longer running.
pub fn run_checks(store: ContainerStore, id: String, check: Check) {
    let path = file(&store, &id);
    let mut health = Health {
        status: "starting".into(),
        ..Default::default()
    };
    write(&path, &health);
    let started = Instant::now();
    loop {
        std::thread::sleep(check.interval);
        let req = ExecRequest {
            argv: check.argv.clone(),
            ..Default::default()
        };
        // The check in its own thread: one that hangs past its timeout is a failure (it
        // finishes, or dies with the container, on its own).
        let (tx, rx) = std::sync::mpsc::channel();
        let (s, i) = (store.clone(), id.clone());
        std::thread::spawn(move || {
            let _ = tx.send(s.exec(&i, &req, true));
        });
        let (code, output) = match rx.recv_timeout(check.timeout) {
            Ok(Ok(out)) => (out.code, format!("{}{}", out.stdout, out.stderr)),
            Ok(Err(e)) if e.kind() == crate::Kind::Conflict => return, // not running any more
            Ok(Err(e)) if e.kind() == crate::Kind::NotFound => return, // removed
            Ok(Err(e)) => (-1, e.chain()),
            Err(_) => (-1, format!("the check ran longer than {:?}", check.timeout)),
        };
        let output: String = output.chars().take(4096).collect();
        health.record(&check, code, output, started.elapsed() < check.start_period);
        write(&path, &health);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_read_dockers_config_and_count_like_docker() {
        let c = Check::from_config(&serde_json::json!({ "Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 2_000_000_000u64, "Retries": 2 }))
            .unwrap()
            .unwrap();
        assert_eq!(c.argv, ["/bin/sh", "-c", "curl -f localhost"]);
        assert_eq!(
            (c.interval, c.timeout, c.retries),
            (Duration::from_secs(2), Duration::from_secs(30), 2)
        );
        assert!(Check::from_config(&serde_json::json!({ "Test": ["NONE"] }))
            .unwrap()
            .is_none());
        assert!(Check::from_config(&serde_json::json!({ "Test": ["WHAT"] })).is_err());
        let mut h = Health {
            status: "starting".into(),
            ..Default::default()
        };
        h.record(&c, 1, "no".into(), true);
        assert_eq!(
            (h.status.as_str(), h.failing_streak),
            ("starting", 0),
            "the start period forgives"
        );
        h.record(&c, 1, "no".into(), false);
        assert_eq!(h.status, "starting");
        h.record(&c, 1, "no".into(), false);
        assert_eq!(h.status, "unhealthy");
        h.record(&c, 0, "ok".into(), false);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            h.record(&c, 0, "ok".into(), false);
        }
        assert_eq!(h.log.len(), 5);
    }
}
