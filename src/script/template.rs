//! `--format`: a small Go-template subset over JSON values, as `docker ps/images/inspect
//! --format` read it. Text is copied; `{{.A.B}}` is a field (`{{.}}` the whole value);
//! `{{json .A}}`, `{{upper .A}}`, `{{lower .A}}`, `{{len .A}}`, `{{join .A ","}}` and
//! `{{index .A "key"}}` are the functions scripts for Docker use most. `table ` at the start
//! means columns with a header, `\t` a column break. No `range`/`if`: a template that needs
//! them is better a Rhai line.

use serde_json::Value;

/// A template, parsed once, rendered for each value.
#[derive(Debug)]
pub struct Template {
    parts: Vec<Part>,
    /// `table ...`: aligned columns under a header.
    pub table: bool,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Action {
        func: Option<String>,
        args: Vec<Arg>,
    },
}

#[derive(Debug)]
enum Arg {
    /// `.A.B` as ["A", "B"]; `.` as [].
    Field(Vec<String>),
    Str(String),
}

const FUNCS: &[&str] = &["json", "upper", "lower", "len", "join", "index", "title"];

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
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("format {text:?}: a {{{{ without its }}}}"))?;
            parts.push(parse_action(after[..end].trim(), text)?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts, table })
    }

    /// The template applied to one value.
    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Action { func, args } => {
                    let vals = args
                        .iter()
                        .map(|a| match a {
                            Arg::Field(path) => field(v, path),
                            Arg::Str(s) => Ok(Value::String(s.clone())),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    out.push_str(&call(func.as_deref(), &vals)?);
                }
            }
        }
        Ok(out)
    }

    /// The header of a table: each column's first field, as Docker names it
    /// (`header` knows the kind's own names, such as ID's "CONTAINER ID").
    pub fn header(&self, header: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(&t.replace(|c: char| c != '\t', "")),
                Part::Action { args, .. } => {
                    let name = args.iter().find_map(|a| match a {
                        Arg::Field(path) => Some(path.join(".")),
                        Arg::Str(_) => None,
                    });
                    out.push_str(&header(&name.unwrap_or_default()));
                }
            }
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

fn parse_action(inner: &str, text: &str) -> Result<Part, String> {
    let words = split_words(inner).map_err(|e| format!("format {text:?}: {e}"))?;
    let Some(first) = words.first() else {
        return Err(format!("format {text:?}: an empty {{{{}}}}"));
    };
    let (func, rest) = if first.starts_with('.') {
        (None, &words[..])
    } else if FUNCS.contains(&first.as_str()) {
        (Some(first.clone()), &words[1..])
    } else {
        return Err(format!(
            "format {text:?}: unknown function {first:?}; the functions are {}, and a field is written .Name",
            FUNCS.join(", ")
        ));
    };
    let args = rest
        .iter()
        .map(|w| {
            if let Some(s) = w.strip_prefix('"') {
                Ok(Arg::Str(s.trim_end_matches('"').to_string()))
            } else if w == "." {
                Ok(Arg::Field(Vec::new()))
            } else if let Some(path) = w.strip_prefix('.') {
                Ok(Arg::Field(path.split('.').map(str::to_string).collect()))
            } else {
                Err(format!(
                    "format {text:?}: {w:?} is neither a field (.Name) nor a \"string\""
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if args.is_empty() {
        return Err(format!(
            "format {text:?}: {first} needs a value, such as {first} ."
        ));
    }
    Ok(Part::Action { func, args })
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

fn call(func: Option<&str>, args: &[Value]) -> Result<String, String> {
    let one = || args.first().cloned().unwrap_or(Value::Null);
    Ok(match func {
        None => go_text(&one()),
        Some("json") => serde_json::to_string(&one()).unwrap_or_default(),
        Some("upper") => go_text(&one()).to_uppercase(),
        Some("lower") => go_text(&one()).to_lowercase(),
        Some("title") => {
            let t = go_text(&one());
            let mut c = t.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
        Some("len") => match one() {
            Value::Array(a) => a.len().to_string(),
            Value::Object(m) => m.len().to_string(),
            Value::String(s) => s.len().to_string(),
            Value::Null => "0".into(),
            other => {
                return Err(format!(
                    "format: len of {other}, which is not a list, map or text"
                ))
            }
        },
        Some("join") => {
            let sep = args.get(1).map(go_text).unwrap_or_default();
            match one() {
                Value::Array(a) => a.iter().map(go_text).collect::<Vec<_>>().join(&sep),
                Value::Null => String::new(),
                other => go_text(&other),
            }
        }
        Some("index") => {
            let key = args.get(1).cloned().unwrap_or(Value::Null);
            match (one(), key) {
                (Value::Object(m), Value::String(k)) => m
                    .get(&k)
                    .map(go_text)
                    .unwrap_or_else(|| "<no value>".into()),
                (Value::Array(a), Value::String(k)) => {
                    let i: usize = k.parse().map_err(|_| {
                        format!("format: index of a list takes a number, not {k:?}")
                    })?;
                    a.get(i).map(go_text).unwrap_or_else(|| "<no value>".into())
                }
                _ => return Err("format: index takes a map or list, then a key".into()),
            }
        }
        Some(other) => return Err(format!("format: unknown function {other}")),
    })
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
        assert!(render("{{range .X}}", &v)
            .unwrap_err()
            .contains("unknown function"));
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
}
