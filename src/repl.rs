//! The interactive REPL: one Scope and one set of functions across lines, multi-line input
//! for unfinished statements, history, Tab completion, pretty tables, errors with a caret.

use std::borrow::Cow;
use std::process::ExitCode;

use gocker::script::{self, docs::docs, table::pretty, Context as ScriptContext};
use rhai::{Dynamic, Engine, EvalAltResult, ParseErrorType, Position, Scope, AST};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

/// Completion: function names, and inside a string, image references and container names.
struct ReplHelper {
    names: Box<dyn Fn() -> Vec<String>>,
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let in_string = before.matches('"').count() % 2 == 1;
        let pair = |n: &str| Pair {
            display: n.to_string(),
            replacement: n.to_string(),
        };
        if in_string {
            let start = before.rfind('"').map(|i| i + 1).unwrap_or(0);
            let word = &line[start..pos];
            let mut out: Vec<Pair> = (self.names)()
                .iter()
                .filter(|n| n.starts_with(word))
                .map(|n| pair(n))
                .collect();
            out.dedup_by(|a, b| a.display == b.display);
            let functions: Vec<Pair> = docs()
                .iter()
                .map(|d| d.1.as_str())
                .filter(|n| n.starts_with(word) && !word.is_empty())
                .map(pair)
                .collect();
            // In help("...") a function name is what is wanted.
            if before[..start].ends_with("help(\"") {
                return Ok((start, functions));
            }
            return Ok((start, out));
        }
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &line[start..pos];
        let mut out: Vec<Pair> = docs()
            .iter()
            .map(|d| d.1.as_str())
            .chain([
                "print", "let", "for", "while", "if", "else", "fn", "return", "exit",
            ])
            .filter(|n| n.starts_with(word))
            .map(pair)
            .collect();
        out.dedup_by(|a, b| a.display == b.display);
        Ok((start, out))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos < line.len() || line.is_empty() {
            return None;
        }
        let start = line
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &line[start..];
        if word.len() < 2 {
            return None;
        }
        docs()
            .iter()
            .find(|d| d.1.starts_with(word) && d.1 != word)
            .map(|d| d.1[word.len()..].to_string())
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }
}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

/// While a line runs, Ctrl-C stops the script instead of the REPL.
struct CtrlC {
    old: Option<nix::sys::signal::SigAction>,
}

extern "C" fn on_interrupt(_: libc::c_int) {
    script::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

impl CtrlC {
    fn catch() -> CtrlC {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        script::INTERRUPTED.store(false, std::sync::atomic::Ordering::Relaxed);
        let action = SigAction::new(
            SigHandler::Handler(on_interrupt),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic.
        let old = unsafe { sigaction(Signal::SIGINT, &action) }.ok();
        CtrlC { old }
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            // SAFETY: restores the previous disposition.
            unsafe {
                let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, old);
            }
        }
    }
}

/// Whether a parse error only means "the statement is not finished yet".
fn unfinished(err: &ParseErrorType) -> bool {
    matches!(
        err,
        ParseErrorType::UnexpectedEOF | ParseErrorType::MissingToken(..)
    )
}

pub fn run(engine: &Engine, ctx: &std::rc::Rc<ScriptContext>) -> ExitCode {
    let mut editor: Editor<ReplHelper, rustyline::history::DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the REPL: {e}");
            return ExitCode::from(1);
        }
    };
    let names_ctx = ctx.clone();
    editor.set_helper(Some(ReplHelper {
        names: Box::new(move || names_ctx.names()),
    }));
    let history = std::env::var_os("HOME")
        .map(|h| std::path::PathBuf::from(h).join(".gocker_script_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    script::print_line(&format!(
        "gocker-script {} — help() lists the functions, Ctrl-D exits",
        env!("CARGO_PKG_VERSION")
    ));
    let mut scope = Scope::new();
    let mut functions = AST::empty();
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "gocker> "
        } else {
            "   ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
                let ast = match engine.compile_with_scope(&scope, &buffer) {
                    Ok(ast) => ast,
                    Err(e) if unfinished(&e.0) && !line.trim().is_empty() => continue,
                    Err(e) => {
                        print_error(&buffer, "repl", &EvalAltResult::ErrorParsing(*e.0, e.1));
                        let _ = editor.add_history_entry(buffer.trim_end());
                        buffer.clear();
                        continue;
                    }
                };
                let _ = editor.add_history_entry(buffer.trim_end());
                let source = std::mem::take(&mut buffer);
                functions = functions.merge(&ast.clone_functions_only());
                let runnable = functions.merge(&ast);
                let guard = CtrlC::catch();
                let result = engine.eval_ast_with_scope::<Dynamic>(&mut scope, &runnable);
                drop(guard);
                match result {
                    Ok(v) if v.is_unit() => {}
                    Ok(v) => script::print_line(&pretty(ctx, &v)),
                    Err(e) => {
                        if let EvalAltResult::ErrorTerminated(v, _) = &*e {
                            if v.clone()
                                .into_string()
                                .map(|s| s == script::INTERRUPT)
                                .unwrap_or(false)
                            {
                                eprintln!("interrupted");
                                continue;
                            }
                            break;
                        }
                        print_error(&source, "repl", &e);
                    }
                }
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    ExitCode::SUCCESS
}

/// Prints `file:line:col: error`, the line, and a caret under the position.
pub fn print_error(source: &str, name: &str, err: &EvalAltResult) {
    let pos = error_position(err);
    let message = script::describe(err);
    match (pos.line(), pos.position()) {
        (Some(line), col) => {
            let col = col.unwrap_or(1);
            eprintln!("{name}:{line}:{col}: error: {message}");
            if let Some(text) = source.lines().nth(line - 1) {
                eprintln!("  {text}");
                eprintln!("  {}^", " ".repeat(col.saturating_sub(1)));
            }
        }
        _ => eprintln!("{name}: error: {message}"),
    }
    let mut inner = err;
    while let EvalAltResult::ErrorInFunctionCall(fname, src, next, p) = inner {
        if !p.is_none() {
            eprintln!(
                "  in {fname}{}, called at {p}",
                if src.is_empty() {
                    String::new()
                } else {
                    format!(" ({src})")
                }
            );
        }
        inner = next;
    }
}

fn error_position(err: &EvalAltResult) -> Position {
    err.position()
}
