//! The interactive REPL: one Scope and one set of functions across lines, multi-line input
//! for unfinished statements, history, Tab completion, pretty tables, errors with a caret.

use std::borrow::Cow;
use std::process::ExitCode;

use gocker::script::{self, docs::DOCS, table::pretty, Context as ScriptContext};
use rhai::{Dynamic, Engine, EvalAltResult, ParseErrorType, Position, Scope, AST};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

struct ReplHelper;

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &line[start..pos];
        let mut out: Vec<Pair> = DOCS
            .iter()
            .map(|d| d.1)
            .chain([
                "print", "let", "for", "while", "if", "else", "fn", "return", "exit",
            ])
            .filter(|n| n.starts_with(word))
            .map(|n| Pair {
                display: n.to_string(),
                replacement: n.to_string(),
            })
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
        DOCS.iter()
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

/// Whether a parse error only means "the statement is not finished yet".
fn unfinished(err: &ParseErrorType) -> bool {
    matches!(
        err,
        ParseErrorType::UnexpectedEOF | ParseErrorType::MissingToken(..)
    )
}

pub fn run(engine: &Engine, ctx: &ScriptContext, stdlib: AST) -> ExitCode {
    let mut editor: Editor<ReplHelper, rustyline::history::DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the REPL: {e}");
            return ExitCode::from(1);
        }
    };
    editor.set_helper(Some(ReplHelper));
    let history = std::env::var_os("HOME")
        .map(|h| std::path::PathBuf::from(h).join(".gocker_script_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "gocker-script {} — help() lists the functions, Ctrl-D exits",
        env!("CARGO_PKG_VERSION")
    );
    let mut scope = Scope::new();
    let mut functions = stdlib;
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
                match engine.eval_ast_with_scope::<Dynamic>(&mut scope, &runnable) {
                    Ok(v) if v.is_unit() => {}
                    Ok(v) => println!("{}", pretty(ctx, &v)),
                    Err(e) => {
                        if let EvalAltResult::ErrorTerminated(..) = *e {
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
                "  in {fname}{} at {p}",
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
