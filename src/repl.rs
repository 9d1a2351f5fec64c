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

/// Completion and colour. After `x.` the candidates are what x's type has (a Container's
/// properties and methods, a string's methods...); elsewhere function names; inside a string
/// image and container names.
struct ReplHelper {
    names: Box<dyn Fn() -> Vec<String>>,
    /// The REPL scope's variables and their types' names ("Container", "string"), kept
    /// after every line.
    vars: std::rc::Rc<std::cell::RefCell<std::collections::HashMap<String, String>>>,
    /// ANSI colours: only on a terminal, and never with NO_COLOR set.
    color: bool,
}

/// Rhai's own methods of its value types, for completion after `"text".` and `list.`.
const STRING_METHODS: &[&str] = &[
    "len",
    "is_empty",
    "contains",
    "starts_with",
    "ends_with",
    "index_of",
    "sub_string",
    "split",
    "split_rev",
    "trim",
    "to_upper",
    "to_lower",
    "make_upper",
    "make_lower",
    "replace",
    "pad",
    "crop",
    "truncate",
    "remove",
    "chars",
    "bytes",
    "get",
    "to_blob",
    "to_json",
];
const ARRAY_METHODS: &[&str] = &[
    "len", "is_empty", "push", "pop", "shift", "insert", "remove", "append", "contains",
    "index_of", "filter", "map", "reduce", "some", "all", "find", "sort", "reverse", "split",
    "extract", "retain", "drain", "clear", "truncate", "dedup", "for_each", "to_json",
];
const MAP_METHODS: &[&str] = &[
    "len",
    "is_empty",
    "keys",
    "values",
    "contains",
    "remove",
    "get",
    "set",
    "mixin",
    "fill_with",
    "clear",
    "to_json",
];
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "while", "loop", "for", "in", "do", "until", "return",
    "throw", "try", "catch", "break", "continue", "switch", "true", "false", "this", "private",
    "import", "export", "as",
];

/// The type of what a function returns, when it is one of ours: for `container("x").`.
fn returns(function: &str) -> Option<&'static str> {
    match function {
        "container" => Some("Spec"),
        "find_container" | "start" | "stop" | "pause" | "unpause" => Some("Container"),
        "spawn" => Some("Process"),
        "pull" | "image" | "tag" | "commit" | "pull_if_missing" => Some("Image"),
        // The Spec's setters return the Spec, for chains.
        f if f != "to_map"
            && gocker::script::docs::type_doc("Spec")
                .is_some_and(|t| gocker::script::docs::methods(t).iter().any(|m| m.0 == f)) =>
        {
            Some("Spec")
        }
        _ => None,
    }
}

impl ReplHelper {
    /// The type of the expression that ends `before` (what is left of a `.`), if known.
    fn receiver_type(&self, before: &str) -> Option<String> {
        let before = before.trim_end();
        if before.ends_with('"') || before.ends_with('`') {
            return Some("string".into());
        }
        if before.ends_with(']')
            && before.rfind('[').is_some_and(|i| {
                before[..i].trim_end().is_empty()
                    || before[..i].trim_end().ends_with(['=', '(', ','])
            })
        {
            return Some("array".into());
        }
        if let Some(inner) = before.strip_suffix(')') {
            // The matching parenthesis, then the function named before it.
            let mut depth = 1;
            let mut open = None;
            for (i, ch) in inner.char_indices().rev() {
                match ch {
                    ')' => depth += 1,
                    '(' => {
                        depth -= 1;
                        if depth == 0 {
                            open = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let head = &inner[..open?];
            let start = head
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map(|i| i + 1)
                .unwrap_or(0);
            return returns(&head[start..]).map(String::from);
        }
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        if word.is_empty() || before[..start].ends_with('.') {
            return None;
        }
        self.vars.borrow().get(word).cloned()
    }

    /// What completes after `value.` for a value of this type; None for one we do not know.
    fn members(&self, ty: &str) -> Option<Vec<String>> {
        let own = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect());
        match ty {
            "string" => own(STRING_METHODS),
            "array" => own(ARRAY_METHODS),
            "map" => own(MAP_METHODS),
            t => gocker::script::docs::type_doc(t).map(|t| {
                gocker::script::docs::members(t)
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
        }
    }
}

fn function_names() -> impl Iterator<Item = &'static str> {
    docs().iter().map(|d| d.1.as_str())
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
            // In help("...") a function or type name is what is wanted.
            if before[..start].ends_with("help(\"") {
                let mut out: Vec<Pair> = function_names()
                    .chain(gocker::script::docs::TYPES.iter().map(|t| t.name))
                    .filter(|n| n.starts_with(word) && !word.is_empty())
                    .map(pair)
                    .collect();
                out.dedup_by(|a, b| a.display == b.display);
                return Ok((start, out));
            }
            let mut out: Vec<Pair> = (self.names)()
                .iter()
                .filter(|n| n.starts_with(word))
                .map(|n| pair(n))
                .collect();
            out.dedup_by(|a, b| a.display == b.display);
            return Ok((start, out));
        }
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &line[start..pos];
        if before[..start].ends_with('.') {
            let receiver = &before[..start - 1];
            if let Some(members) = self.receiver_type(receiver).and_then(|t| self.members(&t)) {
                let out = members
                    .iter()
                    .filter(|m| m.starts_with(word))
                    .map(|m| pair(m))
                    .collect();
                return Ok((start, out));
            }
            // Unknown receiver: any function can be called as a method.
            let mut out: Vec<Pair> = function_names()
                .filter(|n| n.starts_with(word))
                .map(pair)
                .collect();
            out.sort_by(|a, b| a.display.cmp(&b.display));
            out.dedup_by(|a, b| a.display == b.display);
            return Ok((start, out));
        }
        let vars: Vec<String> = self.vars.borrow().keys().cloned().collect();
        let mut all: Vec<&str> = function_names()
            .chain(KEYWORDS.iter().copied())
            .chain(["print", "debug", "type_of", "exit"])
            .collect();
        all.extend(vars.iter().map(String::as_str));
        let mut out: Vec<Pair> = all
            .into_iter()
            .filter(|n| n.starts_with(word))
            .map(pair)
            .collect();
        out.sort_by(|a, b| a.display.cmp(&b.display));
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
        // After `value.` of one of gocker-script's types: the first of its members that the
        // word begins (Rhai's own string, array and map methods are left to Tab).
        if let Some(receiver) = line[..start].strip_suffix('.') {
            let mut members = self
                .receiver_type(receiver)
                .filter(|t| gocker::script::docs::type_doc(t).is_some())
                .and_then(|t| self.members(&t))?;
            members.sort();
            return members
                .into_iter()
                .find(|m| !word.is_empty() && m.starts_with(word) && m != word)
                .map(|m| m[word.len()..].to_string());
        }
        if word.len() < 2 {
            return None;
        }
        docs()
            .iter()
            .find(|d| d.1.starts_with(word) && d.1 != word)
            .map(|d| d.1[word.len()..].to_string())
    }
}

const KEYWORD_COLOR: &str = "\x1b[35m";
const STRING_COLOR: &str = "\x1b[32m";
const NUMBER_COLOR: &str = "\x1b[33m";
const COMMENT_COLOR: &str = "\x1b[90m";
const RESET: &str = "\x1b[0m";

/// A line of Rhai with ANSI colours: keywords, strings, numbers, comments.
pub fn colorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    let end_of = |k: usize| chars.get(k).map(|c| c.0).unwrap_or(line.len());
    while i < chars.len() {
        let (at, ch) = chars[i];
        if ch == '/' && chars.get(i + 1).is_some_and(|c| c.1 == '/') {
            out.push_str(COMMENT_COLOR);
            out.push_str(&line[at..]);
            out.push_str(RESET);
            return out;
        }
        if ch == '"' || ch == '`' || ch == '\'' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1 != ch {
                if chars[j].1 == '\\' {
                    j += 1;
                }
                j += 1;
            }
            let stop = end_of((j + 1).min(chars.len()));
            out.push_str(STRING_COLOR);
            out.push_str(&line[at..stop]);
            out.push_str(RESET);
            i = j + 1;
            continue;
        }
        if ch.is_ascii_digit() {
            let mut j = i;
            while j < chars.len()
                && (chars[j].1.is_ascii_alphanumeric()
                    || chars[j].1 == '_'
                    || chars[j].1 == '.' && chars.get(j + 1).is_some_and(|c| c.1.is_ascii_digit()))
            {
                j += 1;
            }
            out.push_str(NUMBER_COLOR);
            out.push_str(&line[at..end_of(j)]);
            out.push_str(RESET);
            i = j;
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].1.is_alphanumeric() || chars[j].1 == '_') {
                j += 1;
            }
            let word = &line[at..end_of(j)];
            if KEYWORDS.contains(&word) {
                out.push_str(KEYWORD_COLOR);
                out.push_str(word);
                out.push_str(RESET);
            } else {
                out.push_str(word);
            }
            i = j;
            continue;
        }
        out.push(ch);
        i += 1;
    }
    out
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color {
            Cow::Owned(colorize(line))
        } else {
            Cow::Borrowed(line)
        }
    }
    fn highlight_char(&self, _line: &str, _pos: usize, _forced: bool) -> bool {
        self.color
    }
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}{RESET}"))
        } else {
            Cow::Borrowed(hint)
        }
    }
}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

/// `help(run)`: a bare name that is not a variable is the name of a function or type, as if
/// quoted, so help works as people first type it (in the REPL and in `-e`).
pub fn quote_help_names(source: &str, is_var: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(i) = rest.find("help(") {
        let (head, tail) = rest.split_at(i + "help(".len());
        out.push_str(head);
        rest = tail;
        // Not inside a string, not a method called help, not part of another name.
        let before = &out[..out.len() - "help(".len()];
        let quoted = before.matches('"').count() % 2 == 1;
        let joined = before
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        if quoted || joined {
            continue;
        }
        let inner = rest.trim_start();
        let len = inner
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let name = &inner[..len];
        let after = inner[len..].trim_start();
        let starts_right = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_');
        if starts_right && after.starts_with(')') && !is_var(name) {
            out.push_str(&format!("\"{name}\""));
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A line that is one call of a listing function (ps(), images(), ...) whose list came back
/// empty: the kind to show as an empty table (a header), as `docker ps` does, not `[]`.
fn empty_listing(line: &str, v: &Dynamic) -> Option<&'static str> {
    if !v.read_lock::<rhai::Array>().is_some_and(|a| a.is_empty()) {
        return None;
    }
    let call = line.trim().trim_end_matches(';').trim_end();
    let (name, rest) = call.split_once('(')?;
    if !rest.ends_with(')') || rest.contains(';') {
        return None;
    }
    match name.trim() {
        "ps" | "containers" => Some("containers"),
        "images" => Some("images"),
        "networks" => Some("networks"),
        _ => None,
    }
}

fn empty_table(ctx: &ScriptContext, kind: &str) -> String {
    use gocker::script::table;
    match kind {
        "images" => table::images(&[]),
        "networks" => table::networks(&[]),
        _ => table::containers(ctx, &[]),
    }
}

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
    // Tab lists the candidates (as bash does) instead of cycling through them in place.
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<ReplHelper, rustyline::history::DefaultHistory> =
        match Editor::with_config(config) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: cannot start the REPL: {e}");
                return ExitCode::from(1);
            }
        };
    let names_ctx = ctx.clone();
    let vars: std::rc::Rc<std::cell::RefCell<std::collections::HashMap<String, String>>> =
        Default::default();
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    editor.set_helper(Some(ReplHelper {
        names: Box::new(move || names_ctx.names()),
        vars: vars.clone(),
        color,
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
                let line = quote_help_names(&line, &|name| scope.contains(name));
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
                *vars.borrow_mut() = scope
                    .iter()
                    .map(|(name, _, v)| {
                        (
                            name.to_string(),
                            engine.map_type_name(v.type_name()).to_string(),
                        )
                    })
                    .collect();
                match result {
                    Ok(v) if v.is_unit() => {}
                    Ok(v) => match empty_listing(&source, &v) {
                        Some(kind) => script::print_line(&empty_table(ctx, kind)),
                        None => script::print_line(&pretty(ctx, &v)),
                    },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_listing_is_a_table_and_other_empty_lists_are_lists() {
        let empty = Dynamic::from_array(vec![]);
        assert_eq!(empty_listing("ps()\n", &empty), Some("containers"));
        assert_eq!(
            empty_listing(" images(#{ all: true }); ", &empty),
            Some("images")
        );
        assert_eq!(empty_listing("networks()", &empty), Some("networks"));
        assert_eq!(empty_listing("[]", &empty), None);
        assert_eq!(empty_listing("ps(); []", &empty), None);
        assert_eq!(empty_listing("let x = 1; ps()", &empty), None);
        let one = Dynamic::from_array(vec![Dynamic::from(1_i64)]);
        assert_eq!(empty_listing("ps()", &one), None);
    }

    #[test]
    fn help_takes_a_bare_name_unless_it_is_a_variable() {
        let none = |_: &str| false;
        assert_eq!(quote_help_names("help(run)", &none), r#"help("run")"#);
        assert_eq!(
            quote_help_names("help( Container ) ; help()", &none),
            r#"help("Container") ; help()"#
        );
        // A variable, a string, an expression, another function: left alone.
        assert_eq!(quote_help_names("help(c)", &|n| n == "c"), "help(c)");
        assert_eq!(
            quote_help_names(r#"help("pull")"#, &none),
            r#"help("pull")"#
        );
        assert_eq!(quote_help_names("help(a + b)", &none), "help(a + b)");
        assert_eq!(quote_help_names("myhelp(x)", &none), "myhelp(x)");
        assert_eq!(
            quote_help_names(r#"print("help(x)")"#, &none),
            r#"print("help(x)")"#
        );
    }

    #[test]
    fn colours_keywords_strings_numbers_and_comments() {
        let c = colorize(r#"let x = "a\"b" + 42; // done"#);
        assert!(
            c.starts_with(&format!("{KEYWORD_COLOR}let{RESET} x = ")),
            "{c:?}"
        );
        assert!(
            c.contains(&format!(r#"{STRING_COLOR}"a\"b"{RESET}"#)),
            "{c:?}"
        );
        assert!(c.contains(&format!("{NUMBER_COLOR}42{RESET}")), "{c:?}");
        assert!(
            c.ends_with(&format!("{COMMENT_COLOR}// done{RESET}")),
            "{c:?}"
        );
        // Names that contain a keyword or a digit are not coloured.
        assert_eq!(colorize("letter x1"), "letter x1");
        // An unfinished string is coloured to the end.
        assert_eq!(colorize("\"ab"), format!("{STRING_COLOR}\"ab{RESET}"));
    }
}
