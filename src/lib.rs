//! gocker-script: Linux container primitives for the Rhai scripting language.
//!
//! The library is plain Rust and usable without Rhai; `script` is the only module that knows
//! about the scripting language.

pub mod build;
pub mod compose;
pub mod container;
pub mod error;
pub mod image;
pub mod network;
pub mod runtime;
pub mod script;
pub mod store;
pub mod sys;
pub mod trace;

pub use error::{Error, Kind, Result};
