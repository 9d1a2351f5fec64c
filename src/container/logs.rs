//! A container's log: what it wrote to stdout and stderr, one record a line in the format
//! podman and Kubernetes keep (`TIME STREAM F|P TEXT`: RFC 3339 with nanoseconds, `stdout`
//! or `stderr`, F for a full line and P for part of one). The supervisor writes it, for
//! foreground and detached containers alike; `logs` reads it back, the streams apart or
//! together, with their times, between two times, or only the last lines.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys::time::{self, Nanos};

/// Bytes of log kept per file; one older file is kept beside it.
pub const LOG_LIMIT: u64 = 10 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Appends records to a container's `log`, moving it to `log.1` when it is full.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    written: u64,
    limit: u64,
}

impl LogWriter {
    pub fn open(dir: &Path) -> Result<LogWriter> {
        Self::with_limit(dir, LOG_LIMIT)
    }

    fn with_limit(dir: &Path, limit: u64) -> Result<LogWriter> {
        let path = dir.join("log");
        let file = Self::append(&path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogWriter {
            path,
            file,
            written,
            limit,
        })
    }

    fn append(path: &Path) -> Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io("cannot open", path, e))
    }

    /// Records what one read from a stream brought: each line a record, and what follows
    /// the last newline a partial one (the rest comes in a later record).
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) {
        let stamp = time::rfc3339_nanos(time::now_nanos());
        let mut records = Vec::with_capacity(bytes.len() + 64);
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            let (text, tag) = match line.strip_suffix(b"\n") {
                Some(text) => (text, "F"),
                None => (line, "P"),
            };
            records.extend_from_slice(format!("{stamp} {} {tag} ", stream.name()).as_bytes());
            records.extend_from_slice(text);
            records.push(b'\n');
        }
        if self.written + records.len() as u64 > self.limit {
            let _ = std::fs::rename(&self.path, self.path.with_file_name("log.1"));
            match Self::append(&self.path) {
                Ok(f) => self.file = f,
                Err(_) => return,
            }
            self.written = 0;
        }
        // A full disk loses log lines, never the container.
        if self.file.write_all(&records).is_ok() {
            self.written += records.len() as u64;
        }
    }
}

/// One line of a log as written.
#[derive(Debug, Clone, PartialEq)]
struct Record<'a> {
    time: Nanos,
    stream: Stream,
    partial: bool,
    text: &'a str,
}

/// Reads a record; a line in no known format (a log from before records) is a full line
/// of stdout from the beginning of time.
fn parse(line: &str) -> Record<'_> {
    let plain = Record {
        time: 0,
        stream: Stream::Stdout,
        partial: false,
        text: line,
    };
    let mut parts = line.splitn(4, ' ');
    let (Some(stamp), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return plain;
    };
    let stream = match stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return plain,
    };
    let partial = match tag {
        "F" => false,
        "P" => true,
        _ => return plain,
    };
    match time::parse_rfc3339(stamp) {
        Some(time) => Record {
            time,
            stream,
            partial,
            text: parts.next().unwrap_or(""),
        },
        None => plain,
    }
}

/// A line as the container wrote it (partial records joined), with the time it began.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub time: Nanos,
    pub stream: Stream,
    /// The line with its newline (none on a last line the container left unfinished).
    pub text: String,
}

impl Entry {
    /// The line as `logs` prints it: with `timestamps`, its time in front, as Docker's.
    pub fn render(&self, timestamps: bool) -> String {
        if timestamps {
            format!("{} {}", time::rfc3339_nanos(self.time), self.text)
        } else {
            self.text.clone()
        }
    }
}

/// Joins partial records into lines, each stream on its own.
#[derive(Default)]
struct Joiner {
    pending: [Option<Entry>; 2],
}

impl Joiner {
    fn push(&mut self, r: Record) -> Option<Entry> {
        let slot = &mut self.pending[r.stream as usize];
        let mut entry = slot.take().unwrap_or(Entry {
            time: r.time,
            stream: r.stream,
            text: String::new(),
        });
        entry.text.push_str(r.text);
        if r.partial {
            *slot = Some(entry);
            None
        } else {
            entry.text.push('\n');
            Some(entry)
        }
    }

    /// The unfinished lines, in the order they began.
    fn finish(&mut self) -> Vec<Entry> {
        let mut rest: Vec<Entry> = self.pending.iter_mut().filter_map(Option::take).collect();
        rest.sort_by_key(|e| e.time);
        rest
    }
}

/// Which lines `logs` shows.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub stdout: bool,
    pub stderr: bool,
    /// Lines written at or after this time.
    pub since: Option<Nanos>,
    /// Lines written before this time.
    pub until: Option<Nanos>,
    /// Only the last lines (after the other filters).
    pub tail: Option<usize>,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            stdout: true,
            stderr: true,
            since: None,
            until: None,
            tail: None,
        }
    }
}

impl LogQuery {
    pub fn wants(&self, e: &Entry) -> bool {
        let stream = match e.stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        };
        stream && self.since.is_none_or(|s| e.time >= s) && self.until.is_none_or(|u| e.time < u)
    }
}

/// The whole lines in a container's log (`log.1`, then `log`), and a follower that goes on
/// exactly where they end.
fn snapshot(dir: &Path) -> (Vec<Entry>, Follower) {
    let mut joiner = Joiner::default();
    let mut lines = Vec::new();
    let mut offset = 0;
    for name in ["log.1", "log"] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let text = String::from_utf8_lossy(&bytes[..end]);
        lines.extend(text.lines().filter_map(|l| joiner.push(parse(l))));
        offset = end as u64;
    }
    let follower = Follower {
        path: dir.join("log"),
        offset,
        carry: Vec::new(),
        joiner,
    };
    (lines, follower)
}

fn select(mut lines: Vec<Entry>, q: &LogQuery) -> Vec<Entry> {
    lines.retain(|e| q.wants(e));
    if let Some(n) = q.tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
    lines
}

/// The lines of a container's log that the query asks for.
pub fn read(dir: &Path, q: &LogQuery) -> Vec<Entry> {
    let (mut lines, mut rest) = snapshot(dir);
    lines.extend(rest.finish());
    select(lines, q)
}

/// The lines the query asks for, and a follower for the lines written after them (its own
/// lines still to be filtered with `LogQuery::wants`).
pub fn read_and_follow(dir: &Path, q: &LogQuery) -> (Vec<Entry>, Follower) {
    let (lines, follower) = snapshot(dir);
    (select(lines, q), follower)
}

/// Follows a log as it grows: `next` hands over the lines written since the last call.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    /// Bytes after the last newline read: the next record's beginning.
    carry: Vec<u8>,
    joiner: Joiner,
}

impl Follower {
    /// The whole lines written since the last call.
    pub fn more(&mut self) -> Result<Vec<Entry>> {
        use std::io::{Read, Seek, SeekFrom};
        let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Moved to log.1: the new file is read from its start.
            self.offset = 0;
            self.carry.clear();
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        let mut f = File::open(&self.path).map_err(|e| Error::io("cannot open", &self.path, e))?;
        f.seek(SeekFrom::Start(self.offset))
            .map_err(|e| Error::io("cannot read", &self.path, e))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| Error::io("cannot read", &self.path, e))?;
        self.offset += buf.len() as u64;
        self.carry.extend_from_slice(&buf);
        let Some(end) = self.carry.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        let complete: Vec<u8> = self.carry.drain(..=end).collect();
        let text = String::from_utf8_lossy(&complete);
        Ok(text
            .lines()
            .filter_map(|l| self.joiner.push(parse(l)))
            .collect())
    }

    /// The lines left unfinished when the container ended.
    pub fn finish(&mut self) -> Vec<Entry> {
        self.joiner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> LogQuery {
        LogQuery::default()
    }

    #[test]
    fn lines_keep_their_stream_and_partial_lines_are_joined() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path()).unwrap();
        w.write(Stream::Stdout, b"one\ntw");
        w.write(Stream::Stderr, b"oops\n");
        w.write(Stream::Stdout, b"o\nthree");
        let all = read(dir.path(), &query());
        let texts: Vec<(&str, Stream)> = all.iter().map(|e| (e.text.as_str(), e.stream)).collect();
        assert_eq!(
            texts,
            [
                ("one\n", Stream::Stdout),
                ("oops\n", Stream::Stderr),
                ("two\n", Stream::Stdout),
                ("three", Stream::Stdout),
            ]
        );
        let err = read(
            dir.path(),
            &LogQuery {
                stdout: false,
                ..query()
            },
        );
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].text, "oops\n");
        let last = read(
            dir.path(),
            &LogQuery {
                tail: Some(2),
                ..query()
            },
        );
        assert_eq!(last.len(), 2);
        assert_eq!(last[0].text, "two\n");
    }

    #[test]
    fn times_filter_and_show() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("log"),
            "2026-01-01T00:00:00.000000001Z stdout F early\n\
             2026-01-01T00:00:10.000000000Z stdout F late\n",
        )
        .unwrap();
        let at = |t: &str| time::parse_rfc3339(t).unwrap();
        let since = read(
            dir.path(),
            &LogQuery {
                since: Some(at("2026-01-01T00:00:05Z")),
                ..query()
            },
        );
        assert_eq!(since.len(), 1);
        assert_eq!(since[0].text, "late\n");
        let until = read(
            dir.path(),
            &LogQuery {
                until: Some(at("2026-01-01T00:00:10Z")),
                ..query()
            },
        );
        assert_eq!(until.len(), 1);
        assert_eq!(
            until[0].render(true),
            "2026-01-01T00:00:00.000000001Z early\n"
        );
    }

    #[test]
    fn a_full_log_moves_aside_and_both_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::with_limit(dir.path(), 200).unwrap();
        for i in 0..6 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        assert!(dir.path().join("log.1").exists());
        let all = read(dir.path(), &query());
        assert_eq!(all.last().map(|e| e.text.as_str()), Some("line 5\n"));
        assert!(all.len() >= 3, "{all:?}");
    }

    #[test]
    fn unknown_lines_are_stdout_and_followers_see_only_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log"), "plain old line\n").unwrap();
        assert_eq!(read(dir.path(), &query())[0].text, "plain old line\n");
        let (old, mut f) = read_and_follow(dir.path(), &query());
        assert_eq!(old.len(), 1);
        assert!(f.more().unwrap().is_empty());
        let mut w = LogWriter::open(dir.path()).unwrap();
        w.write(Stream::Stderr, b"half");
        assert!(f.more().unwrap().is_empty());
        w.write(Stream::Stderr, b" and half\n");
        let lines = f.more().unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "half and half\n");
        assert_eq!(lines[0].stream, Stream::Stderr);
    }
}
