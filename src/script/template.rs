//! `--format`: a Go-template subset over JSON values, as `docker ps/images/inspect --format`
//! read it. Text is copied; `{{.A.B}}` is a field (`{{.}}` the whole value, `{{$}}` the top
//! one); `{{range .A}}…{{else}}…{{end}}` (also `{{range $k, $v := .A}}`), `{{if …}}`,
//! `{{with …}}` and variables (`$v.B`); the functions are json, upper, lower, title, len,
//! join, index, eq, ne, not, and, or. `table ` at the start means columns with a header,
//! `\t` a column break.

use serde_json::Value;

/// A template, parsed once, rendered for each value.
#[derive(Debug)]
pub struct Template {
    nodes: Vec<Node>,
    /// `table ...`: aligned columns under a header.
    pub table: bool,
}

#[derive(Debug)]
enum Node {
    Text(String),
    /// `{{func args}}` or `{{.A}}`, printed.
    Print(Pipe),
    /// `{{if p}}body{{else}}other{{end}}`; `with` also sets dot to p's value.
    If {
        cond: Pipe,
        with: bool,
        body: Vec<Node>,
        other: Vec<Node>,
    },
    /// `{{range [$k,] [$v :=] p}}body{{else}}other{{end}}`.
    Range {
        vars: Vec<String>,
        over: Pipe,
        body: Vec<Node>,
        other: Vec<Node>,
    },
}

/// A function and its arguments, or one argument alone.
#[derive(Debug)]
struct Pipe {
    func: Option<String>,
    args: Vec<Arg>,
}

#[derive(Debug)]
enum Arg {
    /// `.A.B` as ["A", "B"]; `.` as [].
    Field(Vec<String>),
    /// `$name.A.B` (`$` alone is the top value).
    Var(String, Vec<String>),
    Str(String),
    Num(serde_json::Number),
}

const FUNCS: &[&str] = &[
    "json", "upper", "lower", "len", "join", "index", "title", "eq", "ne", "not", "and", "or",
];

/// Dot, the top value and the variables in scope while rendering.
struct Env<'a> {
    dot: &'a Value,
    root: &'a Value,
    vars: Vec<(String, Value)>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start())
            }
            _ => (false, text),
        };
        // Docker turns the two characters \t (as a shell passes them) into a tab; \n too.
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut items = Vec::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                items.push(Item::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("format {text:?}: a {{{{ without its }}}}"))?;
            let words =
                split_words(after[..end].trim()).map_err(|e| format!("format {text:?}: {e}"))?;
            items.push(Item::Action(words));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            items.push(Item::Text(rest.to_string()));
        }
        let mut items = items.into_iter();
        let (nodes, stop) = parse_nodes(&mut items).map_err(|e| format!("format {text:?}: {e}"))?;
        if let Some(word) = stop {
            return Err(format!("format {text:?}: {{{{{word}}}}} without its {{{{if}}}}, {{{{range}}}} or {{{{with}}}}"));
        }
        Ok(Template { nodes, table })
    }

    /// The template applied to one value.
    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        let mut env = Env {
            dot: v,
            root: v,
            vars: Vec::new(),
        };
        render_nodes(&self.nodes, &mut env, &mut out)?;
        Ok(out)
    }

    /// The header of a table: each column's first field, as Docker names it
    /// (`header` knows the kind's own names, such as ID's "CONTAINER ID").
    pub fn header(&self, header: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let pipe = match n {
                Node::Text(t) => {
                    out.push_str(&t.replace(|c: char| c != '\t', ""));
                    continue;
                }
                Node::Print(p) => p,
                Node::If { cond, .. } => cond,
                Node::Range { over, .. } => over,
            };
            let name = pipe.args.iter().find_map(|a| match a {
                Arg::Field(path) => Some(path.join(".")),
                _ => None,
            });
            out.push_str(&header(&name.unwrap_or_default()));
        }
        out
    }

    /// Renders every value: lines, or a table of aligned columns under its header.
    pub fn render_all(
        &self,
        values: &[Value],
        header: &dyn Fn(&str) -> String,
    ) -> Result<String, String> {
        let lines = values
            .iter()
            .map(|v| self.render(v))
            .collect::<Result<Vec<_>, _>>()?;
        if !self.table {
            return Ok(lines.join("\n"));
        }
        let rows: Vec<Vec<String>> = std::iter::once(self.header(header))
            .chain(lines)
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        Ok(super::table::render(&rows))
    }
}

enum Item {
    Text(String),
    Action(Vec<String>),
}

/// Nodes up to an `else` or `end` (returned with them) or the end of the template.
fn parse_nodes(
    items: &mut std::vec::IntoIter<Item>,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(item) = items.next() {
        let words = match item {
            Item::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Item::Action(w) => w,
        };
        let Some(first) = words.first() else {
            return Err("an empty {{}}".into());
        };
        match first.as_str() {
            "end" | "else" if words.len() == 1 => return Ok((nodes, Some(first.clone()))),
            "if" | "with" | "range" => {
                let keyword = first.clone();
                let (vars, rest) = match keyword.as_str() {
                    "range" => range_vars(&words[1..])?,
                    _ => (Vec::new(), &words[1..]),
                };
                let pipe = parse_pipe(rest, &keyword)?;
                let (body, stop) = parse_nodes(items)?;
                let other = match stop.as_deref() {
                    Some("else") => match parse_nodes(items)? {
                        (other, Some(e)) if e == "end" => other,
                        _ => {
                            return Err(format!(
                                "{{{{{keyword}}}}}…{{{{else}}}} without its {{{{end}}}}"
                            ))
                        }
                    },
                    Some(_) => Vec::new(),
                    None => return Err(format!("{{{{{keyword}}}}} without its {{{{end}}}}")),
                };
                nodes.push(match keyword.as_str() {
                    "range" => Node::Range {
                        vars,
                        over: pipe,
                        body,
                        other,
                    },
                    _ => Node::If {
                        cond: pipe,
                        with: keyword == "with",
                        body,
                        other,
                    },
                });
            }
            _ => nodes.push(Node::Print(parse_pipe(&words, "")?)),
        }
    }
    Ok((nodes, None))
}

/// `$k, $v := rest` or `$v := rest` of a range: the variables' names and the rest.
fn range_vars(words: &[String]) -> Result<(Vec<String>, &[String]), String> {
    let Some(at) = words.iter().position(|w| w == ":=") else {
        return Ok((Vec::new(), words));
    };
    let vars: Vec<String> = words[..at]
        .iter()
        .map(|w| w.trim_end_matches(','))
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.strip_prefix('$')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .ok_or_else(|| format!("range: {w:?} is not a variable such as $v"))
        })
        .collect::<Result<_, _>>()?;
    if vars.is_empty() || vars.len() > 2 {
        return Err("range takes $v := or $k, $v := before what it ranges over".into());
    }
    Ok((vars, &words[at + 1..]))
}

fn parse_pipe(words: &[String], keyword: &str) -> Result<Pipe, String> {
    let Some(first) = words.first() else {
        return Err(format!(
            "{keyword} needs a value, such as {{{{{keyword} .Name}}}}"
        ));
    };
    let (func, rest) = if first.starts_with('.') || first.starts_with('$') || first.starts_with('"')
    {
        (None, words)
    } else if FUNCS.contains(&first.as_str()) {
        (Some(first.clone()), &words[1..])
    } else {
        return Err(format!(
            "unknown function {first:?}; the functions are {}, and a field is written .Name",
            FUNCS.join(", ")
        ));
    };
    let args = rest
        .iter()
        .map(|w| parse_arg(w))
        .collect::<Result<Vec<_>, _>>()?;
    if args.is_empty() {
        return Err(format!("{first} needs a value, such as {first} ."));
    }
    Ok(Pipe { func, args })
}

fn parse_arg(w: &str) -> Result<Arg, String> {
    let path = |p: &str| {
        p.split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    if let Some(s) = w.strip_prefix('"') {
        Ok(Arg::Str(s.to_string()))
    } else if let Some(p) = w.strip_prefix('.') {
        Ok(Arg::Field(path(p)))
    } else if let Some(v) = w.strip_prefix('$') {
        let (name, rest) = v.split_once('.').unwrap_or((v, ""));
        Ok(Arg::Var(name.to_string(), path(rest)))
    } else if let Ok(n) = w.parse::<i64>() {
        Ok(Arg::Num(n.into()))
    } else if let Some(n) = w.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        Ok(Arg::Num(n))
    } else {
        Err(format!(
            "{w:?} is neither a field (.Name), a variable ($v) nor a \"string\""
        ))
    }
}

fn render_nodes(nodes: &[Node], env: &mut Env, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Print(p) => out.push_str(&go_text(&eval(p, env)?)),
            Node::If {
                cond,
                with,
                body,
                other,
            } => {
                let v = eval(cond, env)?;
                match (truthy(&v), with) {
                    (true, true) => {
                        let mut inner = Env {
                            dot: &v,
                            root: env.root,
                            vars: env.vars.clone(),
                        };
                        render_nodes(body, &mut inner, out)?;
                    }
                    (true, false) => render_nodes(body, env, out)?,
                    (false, _) => render_nodes(other, env, out)?,
                }
            }
            Node::Range {
                vars,
                over,
                body,
                other,
            } => {
                // Go ranges over a map's values in the order of its sorted keys.
                let pairs: Vec<(Value, Value)> = match eval(over, env)? {
                    Value::Array(a) => a
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::from(i), v))
                        .collect(),
                    Value::Object(m) => {
                        let mut kv: Vec<_> =
                            m.into_iter().map(|(k, v)| (Value::String(k), v)).collect();
                        kv.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
                        kv
                    }
                    Value::Null => Vec::new(),
                    other => return Err(format!("range over {other}, which is not a list or map")),
                };
                if pairs.is_empty() {
                    render_nodes(other, env, out)?;
                }
                for (k, v) in &pairs {
                    let mut inner = Env {
                        dot: v,
                        root: env.root,
                        vars: env.vars.clone(),
                    };
                    match vars.as_slice() {
                        [val] => inner.vars.push((val.clone(), v.clone())),
                        [key, val] => {
                            inner.vars.push((key.clone(), k.clone()));
                            inner.vars.push((val.clone(), v.clone()));
                        }
                        _ => {}
                    }
                    render_nodes(body, &mut inner, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval(p: &Pipe, env: &Env) -> Result<Value, String> {
    let args = p
        .args
        .iter()
        .map(|a| match a {
            Arg::Field(path) => field(env.dot, path),
            Arg::Var(name, path) if name.is_empty() => field(env.root, path),
            Arg::Var(name, path) => match env.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => field(v, path),
                None => Err(format!("format: undefined variable ${name}")),
            },
            Arg::Str(s) => Ok(Value::String(s.clone())),
            Arg::Num(n) => Ok(Value::Number(n.clone())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    call(p.func.as_deref(), &args)
}

/// Go's truth: false, 0, nil and empty text, lists and maps are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Two values equal as Go's eq sees them (numbers by value, whatever their JSON form).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Docker's header for a field: its words in capitals (CreatedAt: CREATED AT).
pub fn default_header(field: &str) -> String {
    let mut out = String::new();
    let last = field.rsplit('.').next().unwrap_or(field);
    let chars: Vec<char> = last.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_lower = i > 0 && chars[i - 1].is_lowercase();
        if i > 0 && c.is_uppercase() && (prev_lower || next_lower) {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// Words of an action; a "quoted string" is one word (kept with its opening quote).
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut w = String::from("\"");
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => w.extend(chars.next()),
                    Some(c) => w.push(c),
                    None => return Err("a string without its closing quote".into()),
                }
            }
            out.push(w);
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

/// `.A.B` of a value: an unknown name is an error listing the names there are.
fn field(v: &Value, path: &[String]) -> Result<Value, String> {
    let mut cur = v;
    for (i, name) in path.iter().enumerate() {
        let Value::Object(m) = cur else {
            return Err(format!(
                "format: .{} is not a map, so it has no field {name}",
                path[..i].join(".")
            ));
        };
        cur = match m.get(name) {
            Some(x) => x,
            // Go prints <no value> for a missing key of a map (Labels, an event's Attributes)
            // and fails on a struct's missing field: a map here is an object with a key that
            // is not a Capitalised field name, or an empty one.
            None if m.is_empty()
                || m.keys()
                    .any(|k| !k.starts_with(|c: char| c.is_ascii_uppercase())) =>
            {
                return Ok(Value::Null)
            }
            None => {
                let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                let hint = super::api::closest(name, keys.iter().copied())
                    .map(|k| format!(" (did you mean .{k}?)"))
                    .unwrap_or_default();
                let at = match i {
                    0 => String::new(),
                    _ => format!(" in .{}", path[..i].join(".")),
                };
                return Err(format!(
                    "format: no field .{name}{at}{hint}; the fields are {}",
                    keys.iter()
                        .map(|k| format!(".{k}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
        };
    }
    Ok(cur.clone())
}

fn call(func: Option<&str>, args: &[Value]) -> Result<Value, String> {
    let one = || args.first().cloned().unwrap_or(Value::Null);
    let text = |s: String| Ok(Value::String(s));
    match func {
        None => Ok(one()),
        Some("json") => text(serde_json::to_string(&one()).unwrap_or_default()),
        Some("upper") => text(go_text(&one()).to_uppercase()),
        Some("lower") => text(go_text(&one()).to_lowercase()),
        Some("title") => {
            let t = go_text(&one());
            let mut c = t.chars();
            text(
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default(),
            )
        }
        Some("len") => match one() {
            Value::Array(a) => Ok(a.len().into()),
            Value::Object(m) => Ok(m.len().into()),
            Value::String(s) => Ok(s.len().into()),
            Value::Null => Ok(0.into()),
            other => Err(format!(
                "format: len of {other}, which is not a list, map or text"
            )),
        },
        Some("join") => {
            let sep = args.get(1).map(go_text).unwrap_or_default();
            text(match one() {
                Value::Array(a) => a.iter().map(go_text).collect::<Vec<_>>().join(&sep),
                Value::Null => String::new(),
                other => go_text(&other),
            })
        }
        Some("index") => {
            let key = args.get(1).cloned().unwrap_or(Value::Null);
            match (one(), key) {
                (Value::Object(m), Value::String(k)) => {
                    Ok(m.get(&k).cloned().unwrap_or(Value::Null))
                }
                (Value::Array(a), k) => {
                    let i = match &k {
                        Value::Number(n) => n.as_u64().map(|n| n as usize),
                        Value::String(s) => s.parse().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| format!("format: index of a list takes a number, not {k}"))?;
                    Ok(a.get(i).cloned().unwrap_or(Value::Null))
                }
                _ => Err("format: index takes a map or list, then a key".into()),
            }
        }
        Some("eq") if args.len() >= 2 => Ok(args[1..].iter().any(|b| same(&args[0], b)).into()),
        Some("ne") if args.len() == 2 => Ok((!same(&args[0], &args[1])).into()),
        Some(f @ ("eq" | "ne")) => Err(format!("format: {f} compares two values, as {f} .A \"x\"")),
        Some("not") => Ok((!truthy(&one())).into()),
        // Go's and/or: the first value that decides, else the last.
        Some("and") => Ok(args
            .iter()
            .find(|v| !truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        Some("or") => Ok(args
            .iter()
            .find(|v| truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        Some(other) => Err(format!("format: unknown function {other}")),
    }
}

/// A value as Go's text/template prints it: text as is, lists as [a b], maps as map[k:v].
fn go_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> Result<String, String> {
        Template::parse(t)?.render(v)
    }

    #[test]
    fn fields_functions_and_text() {
        let v = json!({"Names": "web", "State": {"Pid": 42, "Running": true},
                       "Env": ["A=1", "B=2"], "Labels": {"k": "v"}});
        assert_eq!(
            render("{{.Names}}: {{ .State.Pid }}", &v).unwrap(),
            "web: 42"
        );
        assert_eq!(render("{{.State.Running}}", &v).unwrap(), "true");
        assert_eq!(
            render("{{json .State}}", &v).unwrap(),
            r#"{"Pid":42,"Running":true}"#
        );
        assert_eq!(render("{{.Env}}", &v).unwrap(), "[A=1 B=2]");
        assert_eq!(render("{{join .Env \",\"}}", &v).unwrap(), "A=1,B=2");
        assert_eq!(render("{{index .Labels \"k\"}}", &v).unwrap(), "v");
        assert_eq!(
            render("{{len .Env}} {{upper .Names}}", &v).unwrap(),
            "2 WEB"
        );
        assert_eq!(render("{{.Labels}}", &v).unwrap(), "map[k:v]");
        assert_eq!(render("a\\tb", &v).unwrap(), "a\tb");
    }

    #[test]
    fn an_unknown_field_lists_the_known_ones() {
        let v = json!({"Names": "web", "ID": "abc", "Labels": {"a": "1"}});
        assert_eq!(
            render("{{.Labels.b}}", &v).unwrap(),
            "<no value>",
            "a map's key"
        );
        let e = render("{{.Name}}", &v).unwrap_err();
        assert!(
            e.contains("no field .Name") && e.contains(".Names") && e.contains(".ID"),
            "{e}"
        );
        assert!(e.contains("did you mean .Names?"), "{e}");
        let e = render("{{.Names.X}}", &v).unwrap_err();
        assert!(e.contains("not a map"), "{e}");
        assert!(render("{{rnage .X}}", &v)
            .unwrap_err()
            .contains("unknown function"));
        assert!(render("{{range .X}}", &v)
            .unwrap_err()
            .contains("without its {{end}}"));
        assert!(render("{{end}}", &v)
            .unwrap_err()
            .contains("{{end}} without"));
        assert!(render("{{.Names", &v).is_err());
    }

    #[test]
    fn a_table_has_a_header_and_columns() {
        let t = Template::parse("table {{.ID}}\\t{{.CreatedAt}}").unwrap();
        let rows = [json!({"ID": "abc", "CreatedAt": "now"})];
        let header = |f: &str| match f {
            "ID" => "CONTAINER ID".to_string(),
            f => default_header(f),
        };
        let out = t.render_all(&rows, &header).unwrap();
        assert_eq!(out, "CONTAINER ID   CREATED AT\nabc            now");
        assert_eq!(default_header("RunningFor"), "RUNNING FOR");
        assert_eq!(default_header("ID"), "ID");
    }

    #[test]
    fn range_if_with_and_variables_as_go_has_them() {
        let v = json!({"Name": "web",
            "Mounts": [{"Source": "/a", "Destination": "/x"}, {"Source": "/b", "Destination": "/y"}],
            "Labels": {"z": "1", "a": "2"},
            "State": {"Running": false, "Status": "exited", "ExitCode": 0},
            "NetworkSettings": {"Networks": {"front": {"IPAddress": "10.0.0.2"}}}});
        let r = |t: &str| render(t, &v).unwrap();
        assert_eq!(
            r("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}"),
            "/a:/x /b:/y "
        );
        assert_eq!(
            r("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}"),
            "a=2;z=1;"
        );
        assert_eq!(
            r("{{range $i, $m := .Mounts}}{{$i}}{{$m.Source}}{{end}}"),
            "0/a1/b"
        );
        assert_eq!(
            r("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"),
            "10.0.0.2"
        );
        assert_eq!(r("{{range .Labels.nope}}x{{else}}none{{end}}"), "none");
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}"), "down");
        assert_eq!(
            r("{{if eq .State.Status \"exited\" \"dead\"}}gone{{end}}"),
            "gone"
        );
        assert_eq!(
            r("{{if ne .State.ExitCode 0}}failed{{else}}ok{{end}}"),
            "ok"
        );
        assert_eq!(r("{{if not .State.Running}}stopped{{end}}"), "stopped");
        assert_eq!(
            r("{{with .State}}{{.Status}} {{$.Name}}{{end}}"),
            "exited web"
        );
        assert_eq!(r("{{with .Labels.nope}}x{{else}}no{{end}}"), "no");
        assert_eq!(
            r("{{range .Mounts}}{{if eq .Source \"/b\"}}{{.Destination}}{{end}}{{end}}"),
            "/y"
        );
        assert_eq!(r("{{index .Mounts 1}}"), "map[Destination:/y Source:/b]");
        assert_eq!(r("{{len .Labels}} {{or .Labels.nope \"x\"}}"), "2 x");
        let e = render("{{range $a, $b, $c := .Labels}}{{end}}", &v).unwrap_err();
        assert!(e.contains("$k, $v :="), "{e}");
        let e = render("{{$nope}}", &v).unwrap_err();
        assert!(e.contains("undefined variable $nope"), "{e}");
    }
}
