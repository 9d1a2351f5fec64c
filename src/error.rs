//! The library's error type.
//!
//! One enum for the whole library rather than one per module: every failure must end up, in a
//! script, as a `kind` the user can branch on (`not_found`, `conflict`, ...), so the kind is the
//! primary axis and the module that failed is carried in the message. Messages are lower case,
//! name the thing (reference, path, container) and keep their cause chain.

use std::fmt;
use std::path::Path;

/// What sort of failure this is; scripts see it as `e.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    InvalidArgument,
    Registry,
    Permission,
    Conflict,
    Io,
    Corrupt,
    Unsupported,
    Runtime,
    /// Waited for something that did not happen in time.
    Timeout,
    /// Waited for a container that ended first.
    Exited,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NotFound => "not_found",
            Kind::InvalidArgument => "invalid_argument",
            Kind::Registry => "registry",
            Kind::Permission => "permission",
            Kind::Conflict => "conflict",
            Kind::Io => "io",
            Kind::Corrupt => "corrupt",
            Kind::Unsupported => "unsupported",
            Kind::Runtime => "runtime",
            Kind::Timeout => "timeout",
            Kind::Exited => "exited",
        }
    }
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::NotFound,
            Kind::InvalidArgument,
            Kind::Registry,
            Kind::Permission,
            Kind::Conflict,
            Kind::Io,
            Kind::Corrupt,
            Kind::Unsupported,
            Kind::Runtime,
            Kind::Timeout,
            Kind::Exited,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A library error: a kind, a message naming the thing, and an optional cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: Kind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// Set when this is the container's command failing to start (see `command_failed`).
    command_status: Option<i32>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
            command_status: None,
        }
    }

    pub fn with_source(
        kind: Kind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
            command_status: None,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Marks this error as the container's command failing to start (not found, not
    /// executable), which Docker tells apart from its own failures by the exit status:
    /// 127 when the command is not found, 126 when it cannot be invoked.
    pub fn command_failed(mut self) -> Self {
        self.command_status = Some(if self.kind == Kind::NotFound {
            127
        } else {
            126
        });
        self
    }

    /// 127 or 126 for an error marked by `command_failed`; None for the rest.
    pub fn command_status(&self) -> Option<i32> {
        self.command_status
    }

    /// This error's message replaced (its kind and command status kept, its causes folded
    /// into the new message by the caller).
    pub fn reworded(&self, message: impl Into<String>) -> Self {
        Error {
            command_status: self.command_status,
            ..Error::new(self.kind, message)
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The operating system's error number behind this error, if there is one.
    pub fn source_errno(&self) -> Option<i32> {
        self.source
            .as_ref()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .and_then(|e| e.raw_os_error())
    }

    /// Whether an error of type `T` is among this one's causes (through io::Error wrappers
    /// too), for telling kinds of failure apart without reading their text.
    pub fn caused_by<T: std::error::Error + 'static>(&self) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            if e.is::<T>() {
                return true;
            }
            if let Some(inner) = e.downcast_ref::<Error>() {
                if inner.caused_by::<T>() {
                    return true;
                }
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if let Some(inner) = io.get_ref() {
                    if inner.is::<T>() {
                        return true;
                    }
                    if let Some(ours) = inner.downcast_ref::<Error>() {
                        if ours.caused_by::<T>() {
                            return true;
                        }
                    }
                }
            }
            cur = e.source();
        }
        false
    }

    /// The message followed by every cause, `: `-separated, as a user should see it.
    pub fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            let text = e.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cur = e.source();
        }
        out
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(Kind::NotFound, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Kind::InvalidArgument, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::new(Kind::Conflict, message)
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Error::new(Kind::Corrupt, message)
    }

    /// An I/O failure on `path` while doing `what`. ENOENT, EACCES and ENOSPC keep their meaning
    /// as kinds so a script can tell "missing" from "denied" from "disk full".
    pub fn io(what: &str, path: &Path, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => Kind::NotFound,
            std::io::ErrorKind::PermissionDenied => Kind::Permission,
            _ => Kind::Io,
        };
        Error::with_source(kind, format!("{what} {}", path.display()), err)
    }

    /// A failed system call on `path`.
    pub fn sys(what: &str, path: &Path, errno: nix::errno::Errno) -> Self {
        Error::io(what, path, std::io::Error::from(errno))
    }
}

/// An error as it crosses a pipe between processes (init → supervisor → caller, exec helper
/// → caller): its kind and its whole message, causes included.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WireError {
    pub kind: String,
    pub message: String,
    /// The error's `command_status`, when the container's command could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_status: Option<i32>,
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> Self {
        WireError {
            kind: e.kind().as_str().to_string(),
            message: e.chain(),
            command_status: e.command_status,
        }
    }
}

impl From<WireError> for Error {
    fn from(w: WireError) -> Self {
        Error {
            command_status: w.command_status,
            ..Error::new(Kind::parse(&w.kind).unwrap_or(Kind::Runtime), w.message)
        }
    }
}

impl WireError {
    /// Reads one error a process wrote as JSON; text that is not one is kept as a runtime
    /// error, so nothing a failing process said is lost.
    pub fn decode(text: &str) -> Error {
        match serde_json::from_str::<WireError>(text) {
            Ok(w) => w.into(),
            Err(_) => Error::new(Kind::Runtime, text.trim()),
        }
    }

    pub fn encode(e: &Error) -> Vec<u8> {
        serde_json::to_vec(&WireError::from(e)).unwrap_or_else(|_| e.chain().into_bytes())
    }
}

/// Adds a context message to any std error, keeping it as the cause.
pub trait Context<T> {
    fn context(self, kind: Kind, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, kind: Kind, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::with_source(kind, message(), e))
    }
}

impl From<rusqlite::Error> for Error {
    /// A missing row is not_found, a row that does not decode is corrupt; the rest is the
    /// database failing (io).
    fn from(e: rusqlite::Error) -> Self {
        let (kind, what) = match &e {
            rusqlite::Error::QueryReturnedNoRows => (Kind::NotFound, "state database: no such row"),
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => {
                (Kind::Corrupt, "state database: a damaged row")
            }
            _ => (Kind::Io, "state database"),
        };
        Error::with_source(kind, what, e)
    }
}

#[cfg(test)]
mod cause_tests {
    use super::*;

    #[derive(Debug)]
    struct Marker;
    impl std::fmt::Display for Marker {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("marker")
        }
    }
    impl std::error::Error for Marker {}

    #[test]
    fn a_cause_is_found_through_io_errors_and_our_own() {
        let direct = Error::with_source(Kind::Io, "a", Marker);
        assert!(direct.caused_by::<Marker>());
        let wrapped = Error::with_source(
            Kind::Io,
            "outer",
            std::io::Error::other(Error::with_source(Kind::Io, "inner", Marker)),
        );
        assert!(wrapped.caused_by::<Marker>());
        let plain = Error::new(Kind::Io, "marker");
        assert!(!plain.caused_by::<Marker>(), "text alone is not a cause");
    }
}
