//! The Rhai layer: the only module that imports rhai. It builds the engine (types, functions,
//! error conversion), loads the stdlib, and runs code for the REPL and the script runner.

pub mod api;
pub mod docs;
pub mod value;

use std::cell::OnceCell;
use std::rc::Rc;

use rhai::{Dynamic, Engine, EvalAltResult, Map, Position};

use crate::error::Error;
use crate::image::ImageStore;
use crate::store::Paths;

/// What every script function can reach: the root and the stores, opened on first use so
/// that `help()` or arithmetic in the REPL never touches the disk.
pub struct Context {
    pub paths: Paths,
    images: OnceCell<ImageStore>,
}

impl Context {
    pub fn new(paths: Paths) -> Rc<Context> {
        Rc::new(Context {
            paths,
            images: OnceCell::new(),
        })
    }

    pub fn images(&self) -> Result<&ImageStore, Box<EvalAltResult>> {
        if let Some(s) = self.images.get() {
            return Ok(s);
        }
        let store = ImageStore::open(self.paths.clone()).map_err(script_error)?;
        Ok(self.images.get_or_init(|| store))
    }
}

/// A library error as a script error: a map with `kind` and `message`, so scripts can
/// `catch (e) { if e.kind == "not_found" { ... } }`.
pub fn script_error(e: Error) -> Box<EvalAltResult> {
    let mut m = Map::new();
    m.insert("kind".into(), e.kind().as_str().into());
    m.insert("message".into(), e.chain().into());
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from_map(m),
        Position::NONE,
    ))
}

/// An argument error raised by a binding itself.
pub fn invalid(message: impl Into<String>) -> Box<EvalAltResult> {
    script_error(Error::invalid(message))
}

/// Builds the engine the REPL, the runner and the tests share.
pub fn build_engine(ctx: Rc<Context>) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_expr_depths(256, 256);
    value::register(&mut engine);
    api::register(&mut engine, ctx);
    engine
}

/// Formats an error as a user should see it: `kind: message` for library errors.
pub fn describe(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorRuntime(v, _) => {
            if let Some(m) = v.read_lock::<Map>() {
                let kind = m.get("kind").map(|k| k.to_string()).unwrap_or_default();
                let msg = m.get("message").map(|k| k.to_string()).unwrap_or_default();
                if !kind.is_empty() {
                    return format!("{kind}: {msg}");
                }
            }
            format!("{v}")
        }
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _) if !name.starts_with('_') => {
            format!("{} (in {name})", describe(inner))
        }
        other => other.to_string(),
    }
}
