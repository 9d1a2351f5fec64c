//! The Rhai layer: the only module that imports rhai. It builds the engine (types, functions,
//! error conversion), loads the stdlib, and runs code for the REPL and the script runner.

pub mod api;
pub mod build;
pub mod containers;
pub mod docs;
pub mod observe;
pub mod ready;
pub mod table;
pub mod template;
pub mod value;

use std::cell::OnceCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, Map, Position};

use crate::container::ContainerStore;
use crate::error::Error;
use crate::image::ImageStore;
use crate::store::{Db, Paths};

/// The stdlib: Docker-like commands written in Rhai over the primitives, shipped inside
/// the binary. `GOCKER_STDLIB=dir` loads `dir/*.rhai` instead, to try changes.
pub const STDLIB: &[(&str, &str)] = &[
    (
        "containers.rhai",
        include_str!("../../stdlib/containers.rhai"),
    ),
    ("build.rhai", include_str!("../../stdlib/build.rhai")),
    (
        "workflows.rhai",
        include_str!("../../stdlib/workflows.rhai"),
    ),
    ("stacks.rhai", include_str!("../../stdlib/stacks.rhai")),
];

/// What every script function can reach: the root and the stores, opened on first use so
/// that `help()` or arithmetic in the REPL never touches the disk.
pub struct Context {
    pub paths: Paths,
    stores: OnceCell<(ImageStore, ContainerStore)>,
    helper: Option<PathBuf>,
    /// The supervisor `prepare_to_run` is starting.
    early: std::cell::Cell<Option<crate::container::EarlyStart>>,
    /// Whether its starts start the next one's supervisor ahead (a script's).
    ahead: std::cell::Cell<bool>,
    /// What this script made, in order ("container"/"network"/"volume", id or name): a script's
    /// undo on failure removes only its own, never another script's in the same root.
    made: std::cell::RefCell<Vec<(&'static str, String)>>,
}

impl Context {
    /// Notes something this script made (see `made`).
    pub fn record_made(&self, kind: &'static str, id: &str) {
        self.made.borrow_mut().push((kind, id.to_string()));
    }

    /// How many things this script has made so far (a mark for `made_since`).
    pub fn made_count(&self) -> usize {
        self.made.borrow().len()
    }

    /// What this script made after `mark`, newest first.
    pub fn made_since(&self, mark: usize) -> Vec<(&'static str, String)> {
        let made = self.made.borrow();
        made.get(mark..)
            .unwrap_or_default()
            .iter()
            .rev()
            .cloned()
            .collect()
    }

    /// Removes everything this script made and did not ask to keep, newest first
    /// (containers, forced; their volumes and networks after them), telling `say` each one:
    /// a script that ends with an uncaught error leaves nothing of its own behind.
    pub fn undo_made(&self, say: &mut dyn FnMut(String)) {
        let Ok(containers) = self.containers() else {
            return;
        };
        for (kind, id) in self.made_since(0) {
            let (name, done) = match kind {
                "container" => match containers.get(&id) {
                    Ok(c) => (c.name.clone(), containers.remove(&c.id, true)),
                    Err(_) => continue, // already gone (--rm, or removed by the script)
                },
                "network" => (id.clone(), containers.networks().remove(&id)),
                "volume" => (id.clone(), containers.volume_remove(&id)),
                _ => continue,
            };
            match done {
                Ok(()) => say(format!("undo: removed {kind} {name}")),
                Err(e) if e.kind() == crate::error::Kind::NotFound => {}
                Err(e) => say(format!("undo: cannot remove {kind} {name}: {}", e.chain())),
            }
        }
        self.made.borrow_mut().clear();
    }

    pub fn new(paths: Paths) -> Rc<Context> {
        Rc::new(Context {
            paths,
            stores: OnceCell::new(),
            helper: None,
            early: Default::default(),
            ahead: Default::default(),
            made: Default::default(),
        })
    }

    /// A context whose containers are supervised by `helper` (a gocker-script binary),
    /// for programs that embed the library.
    pub fn with_helper(paths: Paths, helper: PathBuf) -> Rc<Context> {
        Rc::new(Context {
            paths,
            stores: OnceCell::new(),
            helper: Some(helper),
            early: Default::default(),
            ahead: Default::default(),
            made: Default::default(),
        })
    }

    fn stores(&self) -> Result<&(ImageStore, ContainerStore), Box<EvalAltResult>> {
        if let Some(s) = self.stores.get() {
            return Ok(s);
        }
        let open = || -> crate::Result<(ImageStore, ContainerStore)> {
            self.paths.ensure()?;
            let db = Arc::new(Db::open(&self.paths.db())?);
            let images = ImageStore::with_db(self.paths.clone(), db.clone())?;
            let mut containers = ContainerStore::new(self.paths.clone(), db);
            if let Some(h) = &self.helper {
                containers.set_helper(h);
            }
            if let Some(early) = self.early.take() {
                containers.set_early_supervisor(early);
            }
            containers.set_start_ahead(self.ahead.get());
            Ok((images, containers))
        };
        let pair = open().map_err(script_error)?;
        Ok(self.stores.get_or_init(|| pair))
    }

    /// For a verb about to run a container (as `expected`): its supervisor is started ahead
    /// (see `EarlySupervisor`), on a thread of its own, while this one compiles the stdlib
    /// and records the container (issue 16). Best effort: a start without one starts its
    /// own supervisor.
    pub fn prepare_to_run(&self, expected: crate::container::Expected) {
        let program = self
            .helper
            .clone()
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
        self.early
            .set(crate::container::EarlySupervisor::start_on_thread(
                &self.paths,
                &program,
                expected,
            ));
    }

    /// A script's starts each start the next one's supervisor ahead (see
    /// `ContainerStore::set_start_ahead`).
    pub fn start_supervisors_ahead(&self) {
        self.ahead.set(true);
    }

    pub fn images(&self) -> Result<&ImageStore, Box<EvalAltResult>> {
        Ok(&self.stores()?.0)
    }

    pub fn containers(&self) -> Result<&ContainerStore, Box<EvalAltResult>> {
        Ok(&self.stores()?.1)
    }

    /// Image names and container names, for completion.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(images) = self.images().and_then(|s| s.images().map_err(script_error)) {
            for i in images {
                out.extend(i.tags);
            }
        }
        if let Ok(list) = self
            .containers()
            .and_then(|s| s.list().map_err(script_error))
        {
            out.extend(list.into_iter().map(|c| c.name));
        }
        out.sort();
        out
    }
}

/// Compiles the stdlib and registers each file as a global module: every script and REPL
/// line can call its functions, and an error inside one names the file it is in.
pub fn install_stdlib(engine: &mut Engine) -> Result<(), String> {
    install_stdlib_files(engine, |_| true)
}

/// Installs only the stdlib files `wanted` accepts (by file name, "containers.rhai"): a verb
/// that needs one file does not compile the others (the whole stdlib takes about 2.3 ms to
/// compile here, containers.rhai a fifth of it; issue 16).
pub fn install_stdlib_files(
    engine: &mut Engine,
    wanted: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let sources: Vec<(String, String)> = match std::env::var_os("GOCKER_STDLIB") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| format!("cannot read GOCKER_STDLIB {}: {e}", dir.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().map(|x| x == "rhai").unwrap_or(false))
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&wanted))
                .collect();
            files.sort();
            let mut out = Vec::new();
            for p in files {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                out.push((p.display().to_string(), text));
            }
            out
        }
        None => STDLIB
            .iter()
            .filter(|(n, _)| wanted(n))
            .map(|(n, s)| (format!("stdlib/{n}"), s.to_string()))
            .collect(),
    };
    for (name, source) in sources {
        // Not optimised: the optimiser took 0.3 of the 0.8 ms a start spent compiling
        // containers.rhai, and the stdlib's functions run no faster for it (a 40-run loop
        // measured the same; issue 16).
        let level = engine.optimization_level();
        engine.set_optimization_level(rhai::OptimizationLevel::None);
        let compiled = engine.compile(&source);
        engine.set_optimization_level(level);
        let ast = compiled.map_err(|e| format!("{name}: {e}"))?;
        let mut module = rhai::Module::eval_ast_as_new(rhai::Scope::new(), &ast, engine)
            .map_err(|e| format!("{name}: {e}"))?;
        module.set_id(name);
        engine.register_global_module(module.into());
    }
    Ok(())
}

/// A library error as a script error: a map with `kind` and `message`, so scripts can
/// `catch (e) { if e.kind == "not_found" { ... } }`.
pub fn script_error(e: Error) -> Box<EvalAltResult> {
    let mut m = Map::new();
    m.insert("kind".into(), e.kind().as_str().into());
    m.insert("message".into(), e.chain().into());
    // The container's command could not start: Docker's 127 (not found) or 126.
    if let Some(code) = e.command_status() {
        m.insert("exit_code".into(), (code as i64).into());
    }
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
/// Set by a Ctrl-C while a script runs in the REPL; the engine stops the script at its next
/// step (a foreground container gets the Ctrl-C itself and ends on its own terms).
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The value a script stopped by Ctrl-C terminates with.
pub const INTERRUPT: &str = "interrupted";

/// Set once stdout turns out to be a closed pipe (`gocker-script ps | head -1`): nothing more
/// is printed, and the script ends at its next step with 141 (128 + SIGPIPE), as the shell's
/// own tools do, instead of a panic.
pub static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The status a script ends with once its stdout is closed.
pub const BROKEN_PIPE_STATUS: i64 = 141;

/// Prints a line on stdout; a closed pipe is remembered (see STDOUT_CLOSED), never a panic.
/// Every print of the script layer, the runner and the REPL goes through here.
pub fn print_line(text: &str) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// The context of the engine this thread built last: how a Container nested in a list or
    /// map finds its live state when it is printed (Rhai's printing passes no context).
    static CURRENT: std::cell::RefCell<std::rc::Weak<Context>> = Default::default();
}

/// The context of the engine this thread built last, while it lives.
pub fn current_context() -> Option<Rc<Context>> {
    CURRENT.with(|c| c.borrow().upgrade())
}

pub fn build_engine(ctx: Rc<Context>) -> Engine {
    CURRENT.with(|c| *c.borrow_mut() = Rc::downgrade(&ctx));
    let mut engine = Engine::new();
    engine.set_max_expr_depths(256, 256);
    // Rhai's default is 64 calls deep in a release build but 8 in a debug one: the stdlib
    // nests deeper than 8 (up → undo_on_error → stack_start → build → build_step → ...),
    // and a script must not behave differently by how the binary was built.
    engine.set_max_call_levels(64);
    engine.on_progress(|_| {
        use std::sync::atomic::Ordering;
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Some(Dynamic::from(BROKEN_PIPE_STATUS));
        }
        INTERRUPTED
            .swap(false, Ordering::Relaxed)
            .then(|| Dynamic::from(INTERRUPT))
    });
    engine.on_print(print_line);
    // debug() as Rhai prints it, through the same closed-pipe-safe path.
    engine.on_debug(|text, source, pos| match (source, pos.is_none()) {
        (Some(source), true) => print_line(&format!("{source} | {text}")),
        (Some(source), false) => print_line(&format!("{source} @ {pos:?} | {text}")),
        (None, true) => print_line(text),
        (None, false) => print_line(&format!("{pos:?} | {text}")),
    });
    // Rhai reserves `spawn` for a future keyword; here it is the design's name for starting a
    // container, so the tokenizer hands it to the parser as a plain identifier.
    #[allow(deprecated)]
    engine.on_parse_token(|token, _, _| match token {
        rhai::Token::Reserved(s) if s.as_str() == "spawn" => rhai::Token::Identifier(s),
        other => other,
    });
    value::register(&mut engine);
    api::register(&mut engine, ctx.clone());
    let c = ctx.clone();
    engine.register_fn("table", move |v: Dynamic| {
        table::table(&c, &v).unwrap_or_else(|| table::pretty(&c, &v))
    });
    let c = ctx.clone();
    engine.register_fn(
        "table",
        move |v: Dynamic, kind: &str| -> Result<String, Box<EvalAltResult>> {
            table::table_of(&c, &v, kind).map_err(invalid)
        },
    );
    let c = ctx.clone();
    engine.register_fn(
        "template",
        move |v: Dynamic, format: &str| -> Result<String, Box<EvalAltResult>> {
            table::template(&c, &v, format).map_err(invalid)
        },
    );
    build::register(&mut engine, ctx.clone());
    ready::register(&mut engine, ctx.clone());
    observe::register(&mut engine, ctx.clone());
    containers::register(&mut engine, ctx);
    engine
}

/// The innermost error: the one a function call passed up through its callers' frames.
pub fn innermost(err: &EvalAltResult) -> &EvalAltResult {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => innermost(inner),
        other => other,
    }
}

/// The exit status Docker gives an error that kept the container's command from starting
/// (127 not found, 126 cannot be invoked), carried as the error's `exit_code`.
pub fn command_status(err: &EvalAltResult) -> Option<i64> {
    match innermost(err) {
        EvalAltResult::ErrorRuntime(v, _) => v
            .read_lock::<Map>()
            .and_then(|m| m.get("exit_code").and_then(|c| c.as_int().ok())),
        _ => None,
    }
}

/// An error as a command's user should see it: `kind: message`, without the places in the
/// code that ran (the shell verbs' code is ours, not theirs).
pub fn describe_plain(err: &EvalAltResult) -> String {
    match innermost(err) {
        e @ (EvalAltResult::ErrorRuntime(..)
        | EvalAltResult::ErrorFunctionNotFound(..)
        | EvalAltResult::ErrorDotExpr(..)) => describe(e),
        other => {
            let text = other.to_string();
            let place = format!(" ({})", other.position());
            match text.strip_suffix(&place) {
                Some(t) if !other.position().is_none() => t.to_string(),
                _ => text,
            }
        }
    }
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
        // The frames are printed separately, with their places.
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => describe(inner),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => no_such_call(sig),
        EvalAltResult::ErrorDotExpr(text, _) => {
            no_such_property(text).unwrap_or_else(|| text.clone())
        }
        other => other.to_string(),
    }
}

/// Rhai's "Function not found: spawn (Spec, &str | ImmutableString | String, map)" as the
/// user would say it: which argument types were given, and the forms the function has
/// (from its doc entry), or the nearest function for a name that is none.
pub fn no_such_call(sig: &str) -> String {
    let (name, args) = match sig.split_once(" (") {
        Some((n, a)) => (n.trim(), a.trim_end_matches(')')),
        None => (sig.trim(), ""),
    };
    let name = name.rsplit("::").next().unwrap_or(name);
    let given: Vec<String> = if args.trim().is_empty() {
        Vec::new()
    } else {
        args.split(", ").map(type_word).collect()
    };
    // x.bogus() on one of our values: what that value has.
    let first = given.first().and_then(|t| docs::type_doc(t));
    let known = docs::docs().iter().any(|d| d.1 == name);
    if let (Some(t), false) = (first, known) {
        let members = docs::members(t);
        let hint = match api::closest(name, members.iter().copied()) {
            Some(near) => format!(" (did you mean {near}?)"),
            None => String::new(),
        };
        return format!(
            "a {} has no method {name}{hint}; help({}) lists what it has",
            t.name, t.name
        );
    }
    let given = if given.is_empty() {
        "no arguments".to_string()
    } else {
        format!("({})", given.join(", "))
    };
    match docs::docs().iter().find(|d| d.1 == name) {
        Some(doc) => format!(
            "{name} does not take {given}: it is {}; see help(\"{name}\")",
            doc.2
        ),
        None => {
            let names = docs::docs().iter().map(|d| d.1.as_str());
            match api::closest(name, names) {
                Some(near) => format!("no function {name} taking {given} (did you mean {near}?)"),
                None => format!("no function {name} taking {given}; help() lists them"),
            }
        }
    }
}

/// Rhai's "Unknown property 'status' - a getter is not registered for type 'Spec'" for one
/// of our types: what it has instead.
fn no_such_property(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Unknown property '")?;
    let (prop, rest) = rest.split_once('\'')?;
    let ty = rest.rsplit_once("type '")?.1.trim_end_matches('\'');
    let t = docs::type_doc(ty)?;
    let names: Vec<&str> = t.properties.iter().map(|p| p.0).collect();
    let hint = match api::closest(prop, names.iter().copied()) {
        Some(near) => format!(" (did you mean {near}?)"),
        None => String::new(),
    };
    Some(format!(
        "a {} has no property {prop}{hint}; it has {}; help({}) shows them",
        t.name,
        names.join(", "),
        t.name
    ))
}

/// A Rust-side type name in Rhai's messages as a script writer knows it.
fn type_word(t: &str) -> String {
    let t = t.trim();
    if t.contains("ImmutableString") || t == "&str" || t == "String" {
        return "string".into();
    }
    match t.rsplit("::").next().unwrap_or(t) {
        "i64" | "i32" | "INT" => "integer".into(),
        "f64" | "f32" | "FLOAT" => "float".into(),
        "Array" | "array" => "array".into(),
        "Map" | "map" => "map".into(),
        "()" => "()".into(),
        "bool" => "bool".into(),
        "char" => "char".into(),
        "SpecRef" => "Spec".into(),
        "ContainerRef" => "Container".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(script: &str) -> String {
        let ctx = Context::new(crate::store::Paths::new("/nonexistent"));
        let mut engine = build_engine(ctx);
        install_stdlib(&mut engine).expect("stdlib");
        match engine.eval::<Dynamic>(script) {
            Ok(v) => panic!("{script} gave {v}"),
            Err(e) => describe_plain(&e),
        }
    }

    /// Rhai's "Function not found" and "Unknown property" with Rust type names become what
    /// the function takes or what the value has.
    #[test]
    fn wrong_calls_and_properties_say_what_there_is() {
        for (script, want) in [
            (
                r#"container("x").set_hostname(42)"#,
                "set_hostname does not take (Spec, integer): it is set_hostname(spec, name)",
            ),
            (
                r#"container("x").set_hostnme("a")"#,
                "a Spec has no method set_hostnme (did you mean set_hostname?); help(Spec) lists what it has",
            ),
            (
                r#"container("x").statsu"#,
                "a Spec has no property statsu",
            ),
            (r#"contaner("x")"#, "no function contaner taking (string) (did you mean container?)"),
        ] {
            let got = error_of(script);
            assert!(got.starts_with(want), "{script}: {got}");
            assert!(!got.contains("ImmutableString") && !got.contains("gocker::"), "{got}");
        }
        // A value of the wrong type is named in words, never by its Rust type.
        for (script, want) in [
            (
                r#"container("x").set_memory_limit(container("y"))"#,
                "must be a size like \"64m\" or a number of bytes, not a Spec",
            ),
            (
                r#"container("x").unshare([container("y")])"#,
                "namespaces must be strings, not a Spec",
            ),
            (r#"container("x").cap_add(1)"#, "not a number"),
        ] {
            let got = error_of(script);
            assert!(got.contains(want), "{script}: {got}");
        }
    }
}
