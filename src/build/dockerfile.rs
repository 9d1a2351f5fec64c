//! The Dockerfile frontend: parse (parse-dockerfile: heredocs, parser directives, line
//! continuations) and lower every instruction onto the builder's steps, as plain data the
//! stdlib's `build` walks through. Unsupported instructions and flags are errors naming
//! the line.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use parse_dockerfile::{
    Command, Flag, HealthcheckArguments, Instruction, JsonOrStringArray, Source,
};

/// One instruction, lowered.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    /// 1-based line of the instruction.
    pub line: usize,
    /// The instruction's keyword, upper case (RUN, COPY, ENV, ...).
    pub op: String,
    /// Its arguments: the command (exec form, or one shell-form string), the sources and
    /// then the destination, the values, name=value pairs as "name=value".
    pub args: Vec<String>,
    /// Exec (JSON) form rather than shell form.
    pub exec: bool,
    /// `--name=value` flags.
    pub flags: BTreeMap<String, String>,
    /// The instruction as written (one line), for messages and history.
    pub text: String,
}

/// A stage: FROM and what follows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stage {
    pub line: usize,
    pub base: String,
    pub name: Option<String>,
    pub flags: BTreeMap<String, String>,
    pub steps: Vec<Step>,
}

/// A whole Dockerfile.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dockerfile {
    /// ARGs before the first FROM: name=default (or just name).
    pub global_args: Vec<String>,
    pub stages: Vec<Stage>,
}

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn flags(
    text: &str,
    op: &str,
    list: &[Flag],
    allowed: &[&str],
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for f in list {
        let name = f.name.value.to_string();
        if !allowed.contains(&name.as_str()) {
            return Err(Error::invalid(format!(
                "line {}: {op} --{name} is not supported{}",
                line_of(text, f.name.span.start),
                if allowed.is_empty() {
                    String::new()
                } else {
                    format!(" (supported: --{})", allowed.join(", --"))
                }
            )));
        }
        out.insert(
            name,
            f.value
                .as_ref()
                .map(|v| v.value.to_string())
                .unwrap_or_default(),
        );
    }
    Ok(out)
}

fn command(c: &Command) -> (Vec<String>, bool) {
    match c {
        Command::Exec(v) => (v.value.iter().map(|s| s.value.to_string()).collect(), true),
        Command::Shell(s) => (vec![s.value.to_string()], false),
        _ => (Vec::new(), false),
    }
}

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile> {
    let parsed = parse_dockerfile::parse(text)
        .map_err(|e| Error::invalid(format!("line {}: {:#}", e.line(), e)))?;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in &parsed.instructions {
        if let Instruction::From(f) = ins {
            stages.push(Stage {
                line: line_of(text, f.from.span.start),
                base: f.image.value.to_string(),
                name: f.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
                flags: flags(text, "FROM", &f.options, &["platform"])?,
                steps: Vec::new(),
            });
            continue;
        }
        let step = lower(text, ins)?;
        match stages.last_mut() {
            Some(s) => s.steps.push(step),
            None => global_args.extend(step.args),
        }
    }
    Ok(Dockerfile {
        global_args,
        stages,
    })
}

fn lower(text: &str, ins: &Instruction) -> Result<Step> {
    let mut exec = false;
    let mut fl = BTreeMap::new();
    let (op, start, args): (&str, usize, Vec<String>) = match ins {
        Instruction::Run(r) => {
            fl = flags(text, "RUN", &r.options, &[])?;
            let (mut a, e) = command(&r.arguments);
            exec = e;
            if !r.here_docs.is_empty() {
                // `RUN <<EOF ... EOF`: the heredoc is the script.
                if a.len() == 1 && a[0].trim_start().starts_with("<<") {
                    a = vec![r
                        .here_docs
                        .iter()
                        .map(|h| h.value.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")];
                } else {
                    return Err(Error::invalid(format!(
                        "line {}: RUN with a heredoc fed to a command is not supported (use RUN <<EOF ... EOF)",
                        line_of(text, r.run.span.start)
                    )));
                }
            }
            ("RUN", r.run.span.start, a)
        }
        Instruction::Copy(c) => {
            fl = flags(
                text,
                "COPY",
                &c.options,
                &["from", "chown", "chmod", "link"],
            )?;
            (
                "COPY",
                c.copy.span.start,
                sources(text, "COPY", &c.src, &c.dest.value)?,
            )
        }
        Instruction::Add(c) => {
            fl = flags(text, "ADD", &c.options, &["chown", "chmod", "link"])?;
            let a = sources(text, "ADD", &c.src, &c.dest.value)?;
            if let Some(url) = a[..a.len() - 1].iter().find(|s| s.contains("://")) {
                return Err(Error::invalid(format!(
                    "line {}: ADD of a URL ({url}) is not supported: this host has no internet; COPY a local file",
                    line_of(text, c.add.span.start)
                )));
            }
            ("ADD", c.add.span.start, a)
        }
        Instruction::Env(e) => (
            "ENV",
            e.env.span.start,
            pairs(text, "ENV", &e.arguments.value, e.env.span.start)?,
        ),
        Instruction::Label(l) => (
            "LABEL",
            l.label.span.start,
            pairs(text, "LABEL", &l.arguments.value, l.label.span.start)?,
        ),
        Instruction::Arg(a) => ("ARG", a.arg.span.start, words(&a.arguments.value)),
        Instruction::Cmd(c) => {
            let (a, e) = command(&c.arguments);
            exec = e;
            ("CMD", c.cmd.span.start, a)
        }
        Instruction::Entrypoint(c) => {
            let (a, e) = command(&c.arguments);
            exec = e;
            ("ENTRYPOINT", c.entrypoint.span.start, a)
        }
        Instruction::Shell(s) => (
            "SHELL",
            s.shell.span.start,
            s.arguments.iter().map(|a| a.value.to_string()).collect(),
        ),
        Instruction::Workdir(w) => (
            "WORKDIR",
            w.workdir.span.start,
            vec![w.arguments.value.to_string()],
        ),
        Instruction::User(u) => (
            "USER",
            u.user.span.start,
            vec![u.arguments.value.to_string()],
        ),
        Instruction::Stopsignal(s) => (
            "STOPSIGNAL",
            s.stopsignal.span.start,
            vec![s.arguments.value.to_string()],
        ),
        Instruction::Expose(x) => (
            "EXPOSE",
            x.expose.span.start,
            x.arguments.iter().map(|a| a.value.to_string()).collect(),
        ),
        Instruction::Volume(v) => {
            let a = match &v.arguments {
                JsonOrStringArray::Json(j) => j.value.iter().map(|s| s.value.to_string()).collect(),
                JsonOrStringArray::String(s) => s.iter().map(|s| s.value.to_string()).collect(),
            };
            ("VOLUME", v.volume.span.start, a)
        }
        Instruction::Maintainer(m) => (
            "MAINTAINER",
            m.maintainer.span.start,
            vec![m.name.value.to_string()],
        ),
        Instruction::Healthcheck(h) => {
            fl = flags(
                text,
                "HEALTHCHECK",
                &h.options,
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
            )?;
            match &h.arguments {
                HealthcheckArguments::Cmd { arguments, .. } => {
                    let (a, e) = command(arguments);
                    exec = e;
                    ("HEALTHCHECK", h.healthcheck.span.start, a)
                }
                HealthcheckArguments::None { .. } => {
                    ("HEALTHCHECK", h.healthcheck.span.start, vec!["NONE".into()])
                }
                _ => ("HEALTHCHECK", h.healthcheck.span.start, Vec::new()),
            }
        }
        Instruction::Onbuild(o) => {
            let inner = lower(text, &o.instruction)?;
            ("ONBUILD", o.onbuild.span.start, vec![inner.text])
        }
        Instruction::From(_) => unreachable!("stages are split by the caller"),
        _ => {
            return Err(Error::invalid("an instruction this frontend does not know"));
        }
    };
    let line = line_of(text, start);
    let first = text[start..]
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(Step {
        line,
        op: op.to_string(),
        args,
        exec,
        flags: fl,
        text: first,
    })
}

fn sources(text: &str, op: &str, src: &[Source], dest: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for s in src {
        match s {
            Source::Path(p) => out.push(p.value.to_string()),
            Source::HereDoc(h) => {
                return Err(Error::invalid(format!(
                    "line {}: {op} of a heredoc is not supported",
                    line_of(text, h.span.start)
                )))
            }
            _ => {
                return Err(Error::invalid(format!(
                    "{op}: a source this frontend does not know"
                )))
            }
        }
    }
    out.push(dest.to_string());
    Ok(out)
}

/// Shell-like words: whitespace-separated, with "..." and '...' quoting and \ escapes.
pub fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut chars = s.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                any = true;
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// ENV/LABEL arguments as "name=value" entries: `K=V K2="v 2"`, or the old `K value`.
fn pairs(text: &str, op: &str, raw: &str, at: usize) -> Result<Vec<String>> {
    let w = words(raw);
    if w.is_empty() {
        return Err(Error::invalid(format!(
            "line {}: {op} needs name=value",
            line_of(text, at)
        )));
    }
    if !w[0].contains('=') {
        // The legacy form: the first word is the name, the rest of the line the value.
        let rest = raw.trim_start()[w[0].len()..].trim().to_string();
        let value = words(&rest).join(" ");
        return Ok(vec![format!("{}={value}", w[0])]);
    }
    if let Some(bad) = w.iter().find(|p| !p.contains('=')) {
        return Err(Error::invalid(format!(
            "line {}: {op} {bad:?} has no value (name=value)",
            line_of(text, at)
        )));
    }
    Ok(w)
}

/// Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` as the
/// Dockerfile does in ENV, COPY, WORKDIR, FROM and the rest (not RUN: its shell does).
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() && b[i + 1] == b'$' {
            out.push('$');
            i += 2;
            continue;
        }
        if c != b'$' || i + 1 >= b.len() {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        if b[i + 1] == b'{' {
            if let Some(end) = s[i + 2..].find('}') {
                let inner = &s[i + 2..i + 2 + end];
                let (name, op, word) = match inner.find(":-").or_else(|| inner.find(":+")) {
                    Some(p) => (&inner[..p], &inner[p..p + 2], &inner[p + 2..]),
                    None => (inner, "", ""),
                };
                let val = vars.get(name).filter(|v| !v.is_empty());
                match op {
                    ":-" => out.push_str(val.map(String::as_str).unwrap_or(word)),
                    ":+" => out.push_str(if val.is_some() { word } else { "" }),
                    _ => out.push_str(vars.get(name).map(String::as_str).unwrap_or("")),
                }
                i += 3 + end;
                continue;
            }
        }
        let name_len = b[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        if name_len == 0 {
            out.push('$');
            i += 1;
            continue;
        }
        let name = &s[i + 1..i + 1 + name_len];
        out.push_str(vars.get(name).map(String::as_str).unwrap_or(""));
        i += 1 + name_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_stage_dockerfile_is_lowered() {
        let text = "# syntax=docker/dockerfile:1\nARG BASE=busybox\nFROM $BASE AS build\nENV A=1 B=\"two words\"\nRUN echo hi && \\\n    echo there\nCOPY --chown=1:1 a b /dst/\nFROM scratch\nCOPY --from=build /x /y\nCMD [\"/y\"]\nENV OLD legacy value\n";
        let d = parse(text).unwrap();
        assert_eq!(d.global_args, vec!["BASE=busybox"]);
        assert_eq!(d.stages.len(), 2);
        let s = &d.stages[0];
        assert_eq!(
            (s.line, s.base.as_str(), s.name.as_deref()),
            (3, "$BASE", Some("build"))
        );
        assert_eq!(s.steps[0].args, vec!["A=1", "B=two words"]);
        assert_eq!(s.steps[1].op, "RUN");
        assert_eq!(s.steps[1].line, 5);
        assert!(!s.steps[1].exec);
        assert_eq!(s.steps[2].args, vec!["a", "b", "/dst/"]);
        assert_eq!(
            s.steps[2].flags.get("chown").map(String::as_str),
            Some("1:1")
        );
        let t = &d.stages[1];
        assert_eq!(
            t.steps[0].flags.get("from").map(String::as_str),
            Some("build")
        );
        assert_eq!(t.steps[1].args, vec!["/y"]);
        assert!(t.steps[1].exec);
        assert_eq!(t.steps[2].args, vec!["OLD=legacy value"]);
    }

    #[test]
    fn bad_dockerfiles_name_the_line() {
        for (text, says) in [
            ("FROM busybox\nFROBNICATE x\n", "line 2"),
            (
                "FROM busybox\nRUN --mount=type=cache,target=/x true\n",
                "line 2: RUN --mount is not supported",
            ),
            (
                "FROM busybox\nADD http://example.com/x /x\n",
                "line 2: ADD of a URL",
            ),
            ("RUN true\n", "FROM"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message().contains(says), "{text:?}: {}", e.message());
        }
    }

    #[test]
    fn variables_expand_as_docker_does() {
        let vars: BTreeMap<String, String> = [
            ("A".to_string(), "x".to_string()),
            ("E".to_string(), String::new()),
        ]
        .into();
        assert_eq!(
            expand("$A/${A}/${B:-d}/${A:+y}/${E:-z}/\\$A/$", &vars),
            "x/x/d/y/z/$A/$"
        );
        assert_eq!(
            words("a \"b c\" 'd $e' f\\ g"),
            vec!["a", "b c", "d $e", "f g"]
        );
    }
}
