//! compose.yaml, the subset people use, read into the map the stdlib's `up` takes: relative
//! paths made absolute against the file's directory, `${VAR}` interpolated from the
//! environment and a `.env` beside the file (the environment wins, as compose), env files
//! folded into each service's environment, compose's spellings turned into run's
//! (healthcheck → health, durations, ports and volumes as Docker's short strings). What it
//! does not know is named in a warning and left out, never an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use yaml_rust2::Yaml;

use crate::error::{Error, Result};

/// The files compose looks for, in its order.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// A loaded compose file: the stack map, and what was left out of it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub stack: Value,
    pub warnings: Vec<String>,
}

/// Where to find a variable: the process environment over the `.env` file's.
struct Vars {
    dotenv: BTreeMap<String, String>,
}

impl Vars {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }
}

/// The compose file of a directory, by compose's names.
pub fn find(dir: &Path) -> Result<PathBuf> {
    DEFAULT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::not_found(format!(
                "no compose file in {}: looked for {} (give one with -f)",
                dir.display(),
                DEFAULT_FILES.join(", ")
            ))
        })
}

/// A project name as compose makes one from a directory's: lower case, only letters,
/// digits, '-' and '_', starting with a letter or digit.
pub fn project_name(dir_name: &str) -> String {
    let s: String = dir_name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    s.trim_start_matches(['-', '_']).to_string()
}

/// Reads a compose file into `up`'s stack map.
pub fn load(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    let path = std::path::absolute(path).map_err(|e| Error::io("cannot resolve", path, e))?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let dotenv_path = dir.join(".env");
    let dotenv = match std::fs::read_to_string(&dotenv_path) {
        Ok(t) => parse_env_file(&t, &|k| std::env::var(k).ok())
            .map_err(|e| e.reworded(format!("{}: {}", dotenv_path.display(), e.message())))?
            .into_iter()
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(Error::io("cannot read", &dotenv_path, e)),
    };
    let mut l = Loader {
        file: path.display().to_string(),
        dir,
        vars: Vars { dotenv },
        warnings: Vec::new(),
    };
    let stack = l.read(&text)?;
    Ok(Loaded {
        stack,
        warnings: l.warnings,
    })
}

struct Loader {
    file: String,
    dir: PathBuf,
    vars: Vars,
    warnings: Vec<String>,
}

/// A YAML value as JSON, with `<<` merge keys applied.
fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(s.clone())),
        Yaml::Integer(i) => json!(i),
        Yaml::String(s) => json!(s),
        Yaml::Boolean(b) => json!(b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => {
            let mut out = Map::new();
            let mut merged: Vec<Map<String, Value>> = Vec::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Real(s) => s.clone(),
                    _ => continue,
                };
                if key == "<<" {
                    match to_json(v) {
                        Value::Object(m) => merged.push(m),
                        Value::Array(a) => merged.extend(a.into_iter().filter_map(|x| match x {
                            Value::Object(m) => Some(m),
                            _ => None,
                        })),
                        _ => {}
                    }
                    continue;
                }
                out.insert(key, to_json(v));
            }
            // Keys of the mapping itself win over merged ones; earlier merges over later.
            for m in merged {
                for (k, v) in m {
                    out.entry(k).or_insert(v);
                }
            }
            Value::Object(out)
        }
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

/// A scalar as text (compose takes numbers and booleans where strings are meant).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Loader {
    fn warn(&mut self, text: String) {
        self.warnings.push(format!("{}: {text}", self.file));
    }

    fn bad(&self, at: &str, what: &str) -> Error {
        Error::invalid(format!("{}: {at} {what}", self.file))
    }

    fn read(&mut self, text: &str) -> Result<Value> {
        let docs = yaml_rust2::YamlLoader::load_from_str(text)
            .map_err(|e| Error::invalid(format!("{}: not valid YAML: {e}", self.file)))?;
        let doc = docs.first().map(to_json).unwrap_or(Value::Null);
        let doc = self.interpolate(doc, "")?;
        let Value::Object(top) = doc else {
            return Err(self.bad("", "must be a mapping with services"));
        };
        let mut out = Map::new();
        let dir_name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = match top.get("name").and_then(scalar) {
            Some(n) => n,
            None => self
                .vars
                .get("COMPOSE_PROJECT_NAME")
                .unwrap_or_else(|| project_name(&dir_name)),
        };
        out.insert("name".into(), json!(name));
        for (k, v) in &top {
            match k.as_str() {
                "name" => {}
                // Obsolete in compose itself.
                "version" => {}
                "services" => {
                    let Value::Object(services) = v else {
                        return Err(self.bad("services", "must be a mapping of service names"));
                    };
                    let mut s = Map::new();
                    for (name, svc) in services {
                        s.insert(name.clone(), self.service(name, svc)?);
                    }
                    out.insert("services".into(), Value::Object(s));
                }
                "networks" => {
                    let n = self.networks(v)?;
                    out.insert("networks".into(), n);
                }
                "volumes" => {
                    let n = self.volumes(v)?;
                    out.insert("volumes".into(), n);
                }
                x if x.starts_with("x-") => {}
                other => self.warn(format!("top-level key {other:?} is not supported: ignored")),
            }
        }
        if !out.contains_key("services") {
            return Err(self.bad("", "has no services"));
        }
        Ok(Value::Object(out))
    }

    /// Every string in the document with its variables replaced.
    fn interpolate(&mut self, v: Value, at: &str) -> Result<Value> {
        Ok(match v {
            Value::String(s) => Value::String(self.expand(&s, at)?),
            Value::Array(a) => Value::Array(
                a.into_iter()
                    .map(|x| self.interpolate(x, at))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    let here = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    out.insert(k, self.interpolate(x, &here)?);
                }
                Value::Object(out)
            }
            other => other,
        })
    }

    fn expand(&mut self, s: &str, at: &str) -> Result<String> {
        let vars = &self.vars;
        let mut unset = Vec::new();
        let out = interpolate(s, &|k| vars.get(k), &mut unset)
            .map_err(|e| self.bad(at, &format!("({s:?}): {e}")))?;
        for name in unset {
            self.warn(format!(
                "the {name:?} variable is not set (in {at}): defaulting to a blank string"
            ));
        }
        Ok(out)
    }

    fn path(&self, p: &str) -> String {
        let p = match p.strip_prefix("~/") {
            Some(rest) => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest),
            None => self.dir.join(p),
        };
        normalize(&p).display().to_string()
    }

    fn strings(&self, v: &Value, at: &str) -> Result<Vec<String>> {
        match v {
            Value::Array(a) => a
                .iter()
                .map(|x| scalar(x).ok_or_else(|| self.bad(at, "must be a list of strings")))
                .collect(),
            other => scalar(other)
                .map(|s| vec![s])
                .ok_or_else(|| self.bad(at, "must be a string or a list of strings")),
        }
    }

    /// A command or entrypoint: a list as is, a string split as a shell would (no shell
    /// runs it, as in compose).
    fn argv(&self, v: &Value, at: &str) -> Result<Value> {
        match v {
            Value::Array(_) => Ok(json!(self.strings(v, at)?)),
            Value::Null => Ok(json!([])),
            other => {
                let s = scalar(other).ok_or_else(|| self.bad(at, "must be a string or a list"))?;
                Ok(json!(shell_split(&s).map_err(|e| self.bad(at, &e))?))
            }
        }
    }

    /// `K: V` or `["K=V"]` as a map; `K` alone (or `K:` empty) takes the environment's
    /// value, and is left out when it has none.
    fn key_values(&self, v: &Value, at: &str, from_env: bool) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (x, scalar(x)) {
                        (_, Some(s)) => {
                            out.insert(k.clone(), json!(s));
                        }
                        (Value::Null, _) if from_env => {
                            if let Some(s) = self.vars.get(k) {
                                out.insert(k.clone(), json!(s));
                            }
                        }
                        (Value::Null, _) => {
                            out.insert(k.clone(), json!(""));
                        }
                        _ => return Err(self.bad(&format!("{at}.{k}"), "must be a string")),
                    }
                }
            }
            Value::Array(_) => {
                for kv in self.strings(v, at)? {
                    match kv.split_once('=') {
                        Some((k, x)) => {
                            out.insert(k.to_string(), json!(x));
                        }
                        None if from_env => {
                            if let Some(s) = self.vars.get(&kv) {
                                out.insert(kv, json!(s));
                            }
                        }
                        None => {
                            out.insert(kv, json!(""));
                        }
                    }
                }
            }
            Value::Null => {}
            _ => return Err(self.bad(at, "must be a mapping or a list of K=V")),
        }
        Ok(out)
    }

    fn service(&mut self, name: &str, v: &Value) -> Result<Value> {
        let at = format!("services.{name}");
        let Value::Object(m) = v else {
            return Err(self.bad(&at, "must be a mapping"));
        };
        let mut out = Map::new();
        let mut env = Map::new();
        let mut tmpfs = Vec::new();
        for (k, x) in m {
            let here = format!("{at}.{k}");
            match k.as_str() {
                "image" | "restart" | "hostname" | "container_name" | "working_dir" | "user" => {
                    let s = scalar(x).ok_or_else(|| self.bad(&here, "must be a string"))?;
                    out.insert(k.clone(), json!(s));
                }
                "command" | "entrypoint" => {
                    out.insert(k.clone(), self.argv(x, &here)?);
                }
                "build" => {
                    out.insert("build".into(), self.build(x, &here)?);
                }
                "environment" => {
                    env.extend(self.key_values(x, &here, true)?);
                }
                "env_file" => {
                    // Folded into the environment (as `compose config` shows it); the
                    // service's environment wins over it.
                    let mut files = Map::new();
                    let list = match x {
                        Value::Array(a) => a.clone(),
                        other => vec![other.clone()],
                    };
                    for f in list {
                        let (file, required) = match &f {
                            Value::Object(o) => (
                                o.get("path").and_then(scalar),
                                o.get("required").and_then(Value::as_bool).unwrap_or(true),
                            ),
                            other => (scalar(other), true),
                        };
                        let file = file.ok_or_else(|| self.bad(&here, "must be paths"))?;
                        let path = PathBuf::from(self.path(&file));
                        let text = match std::fs::read_to_string(&path) {
                            Ok(t) => t,
                            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                                continue
                            }
                            Err(e) => return Err(Error::io("cannot read env file", &path, e)),
                        };
                        let vars = &self.vars;
                        for (k, v) in parse_env_file(&text, &|k| vars.get(k)).map_err(|e| {
                            e.reworded(format!("{}: {}", path.display(), e.message()))
                        })? {
                            files.insert(k, json!(v));
                        }
                    }
                    for (k, v) in files {
                        env.entry(k).or_insert(v);
                    }
                }
                "ports" => {
                    let Value::Array(a) = x else {
                        return Err(self.bad(&here, "must be a list"));
                    };
                    let ports = a
                        .iter()
                        .map(|p| self.port(p, &here))
                        .collect::<Result<Vec<_>>>()?;
                    out.insert("ports".into(), json!(ports));
                }
                // On the stack's own network every port of a container is reachable: expose
                // documents, and changes nothing.
                "expose" => {}
                "volumes" => {
                    let Value::Array(a) = x else {
                        return Err(self.bad(&here, "must be a list"));
                    };
                    let mut vols = Vec::new();
                    for v in a {
                        match self.volume(v, &here)? {
                            Mount::Volume(s) => vols.push(s),
                            Mount::Tmpfs(s) => tmpfs.push(s),
                        }
                    }
                    out.insert("volumes".into(), json!(vols));
                }
                "tmpfs" => tmpfs.extend(self.strings(x, &here)?),
                "depends_on" => {
                    out.insert("depends_on".into(), self.depends_on(x, &here)?);
                }
                "healthcheck" => {
                    out.insert("health".into(), self.healthcheck(x, &here)?);
                }
                "networks" => {
                    out.insert("networks".into(), self.service_networks(x, &here)?);
                }
                "labels" => {
                    out.insert(
                        "labels".into(),
                        Value::Object(self.key_values(x, &here, false)?),
                    );
                }
                x if x.starts_with("x-") => {}
                other => self.warn(format!("{at}.{other} is not supported: ignored")),
            }
        }
        if !env.is_empty() {
            out.insert("env".into(), Value::Object(env));
        }
        if !tmpfs.is_empty() {
            out.insert("tmpfs".into(), json!(tmpfs));
        }
        Ok(Value::Object(out))
    }

    fn build(&mut self, v: &Value, at: &str) -> Result<Value> {
        let mut out = Map::new();
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let here = format!("{at}.{k}");
                    match k.as_str() {
                        "context" => {
                            let s = scalar(x).ok_or_else(|| self.bad(&here, "must be a path"))?;
                            out.insert("context".into(), json!(self.path(&s)));
                        }
                        "dockerfile" | "target" => {
                            let s = scalar(x).ok_or_else(|| self.bad(&here, "must be a string"))?;
                            out.insert(k.clone(), json!(s));
                        }
                        "args" => {
                            out.insert(
                                "args".into(),
                                Value::Object(self.key_values(x, &here, true)?),
                            );
                        }
                        other => self.warn(format!("{at}.{other} is not supported: ignored")),
                    }
                }
                out.entry("context")
                    .or_insert_with(|| json!(self.dir.display().to_string()));
            }
            other => {
                let s = scalar(other).ok_or_else(|| self.bad(at, "must be a path or a mapping"))?;
                out.insert("context".into(), json!(self.path(&s)));
            }
        }
        Ok(Value::Object(out))
    }

    /// A port as Docker's short syntax: "[ip:]host:container[/proto]" or "container".
    fn port(&self, v: &Value, at: &str) -> Result<String> {
        if let Some(s) = scalar(v) {
            return Ok(s);
        }
        let Value::Object(m) = v else {
            return Err(self.bad(at, "must be strings such as \"8080:80\" or mappings"));
        };
        let get = |k: &str| m.get(k).and_then(scalar);
        let target = get("target").ok_or_else(|| self.bad(at, "needs a target port"))?;
        let mut s = match (get("host_ip"), get("published")) {
            (Some(ip), Some(p)) => format!("{ip}:{p}:{target}"),
            (None, Some(p)) => format!("{p}:{target}"),
            (_, None) => target,
        };
        if let Some(proto) = get("protocol").filter(|p| p != "tcp") {
            s = format!("{s}/{proto}");
        }
        Ok(s)
    }

    fn volume(&mut self, v: &Value, at: &str) -> Result<Mount> {
        let (source, target, read_only, kind) = match v {
            Value::Object(m) => {
                let get = |k: &str| m.get(k).and_then(scalar);
                let kind = get("type").unwrap_or_else(|| "volume".into());
                let target = get("target").ok_or_else(|| self.bad(at, "needs a target"))?;
                let ro = m.get("read_only").and_then(Value::as_bool).unwrap_or(false);
                if kind == "tmpfs" {
                    let size = m
                        .get("tmpfs")
                        .and_then(|t| t.get("size"))
                        .and_then(scalar)
                        .map(|s| format!(":size={s}"))
                        .unwrap_or_default();
                    return Ok(Mount::Tmpfs(format!("{target}{size}")));
                }
                if kind != "bind" && kind != "volume" {
                    return Err(
                        self.bad(at, &format!("has type {kind}: use bind, volume or tmpfs"))
                    );
                }
                (get("source"), target, ro, kind)
            }
            other => {
                let s = scalar(other).ok_or_else(|| self.bad(at, "must be strings or mappings"))?;
                let parts: Vec<&str> = s.split(':').collect();
                match parts.as_slice() {
                    [t] => (None, t.to_string(), false, "volume".to_string()),
                    [src, t, rest @ ..] => {
                        let ro = rest.iter().any(|m| m.split(',').any(|o| o == "ro"));
                        let bind = src.starts_with(['.', '/', '~']);
                        (
                            Some(src.to_string()),
                            t.to_string(),
                            ro,
                            if bind { "bind" } else { "volume" }.to_string(),
                        )
                    }
                    [] => return Err(self.bad(at, "has an empty volume")),
                }
            }
        };
        let Some(source) = source else {
            // Anonymous: up() says it cannot, with the target named.
            return Ok(Mount::Volume(target));
        };
        let source = if kind == "bind" {
            self.path(&source)
        } else {
            source
        };
        Ok(Mount::Volume(format!(
            "{source}:{target}{}",
            if read_only { ":ro" } else { "" }
        )))
    }

    fn depends_on(&mut self, v: &Value, at: &str) -> Result<Value> {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (dep, o) in m {
                    let mut d = Map::new();
                    if let Value::Object(o) = o {
                        for (k, x) in o {
                            match k.as_str() {
                                "condition" | "required" => {
                                    d.insert(k.clone(), x.clone());
                                }
                                other => self
                                    .warn(format!("{at}.{dep}.{other} is not supported: ignored")),
                            }
                        }
                    }
                    out.insert(dep.clone(), Value::Object(d));
                }
                Ok(Value::Object(out))
            }
            other => Ok(json!(self.strings(other, at)?)),
        }
    }

    fn healthcheck(&mut self, v: &Value, at: &str) -> Result<Value> {
        let Value::Object(m) = v else {
            return Err(self.bad(at, "must be a mapping"));
        };
        let mut out = Map::new();
        for (k, x) in m {
            let here = format!("{at}.{k}");
            match k.as_str() {
                "test" => {
                    let test = match x {
                        Value::Array(_) => self.strings(x, &here)?,
                        other => {
                            let s = scalar(other)
                                .ok_or_else(|| self.bad(&here, "must be a string or a list"))?;
                            vec!["CMD-SHELL".into(), s]
                        }
                    };
                    out.insert("test".into(), json!(test));
                }
                "interval" | "timeout" | "start_period" => {
                    let s = scalar(x).ok_or_else(|| self.bad(&here, "must be a duration"))?;
                    let d = go_duration(&s).map_err(|e| self.bad(&here, &e))?;
                    out.insert(k.clone(), json!(format!("{}ms", d.as_millis())));
                }
                "retries" => {
                    let n = x
                        .as_i64()
                        .ok_or_else(|| self.bad(&here, "must be a number"))?;
                    out.insert("retries".into(), json!(n));
                }
                "disable" => {
                    if x.as_bool() == Some(true) {
                        out.clear();
                        out.insert("test".into(), json!(["NONE"]));
                        return Ok(Value::Object(out));
                    }
                }
                other => self.warn(format!("{at}.{other} is not supported: ignored")),
            }
        }
        Ok(Value::Object(out))
    }

    fn service_networks(&mut self, v: &Value, at: &str) -> Result<Value> {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (n, o) in m {
                    let mut d = Map::new();
                    if let Value::Object(o) = o {
                        for (k, x) in o {
                            match k.as_str() {
                                "aliases" => {
                                    d.insert("aliases".into(), json!(self.strings(x, at)?));
                                }
                                other => {
                                    self.warn(format!("{at}.{n}.{other} is not supported: ignored"))
                                }
                            }
                        }
                    }
                    out.insert(n.clone(), Value::Object(d));
                }
                Ok(Value::Object(out))
            }
            other => Ok(json!(self.strings(other, at)?)),
        }
    }

    fn networks(&mut self, v: &Value) -> Result<Value> {
        let mut out = Map::new();
        let Value::Object(m) = v else {
            return Err(self.bad("networks", "must be a mapping"));
        };
        for (name, spec) in m {
            let at = format!("networks.{name}");
            let mut n = Map::new();
            if let Value::Object(spec) = spec {
                for (k, x) in spec {
                    match k.as_str() {
                        "external" | "name" => shared_key(&mut n, k, x),
                        "driver" if scalar(x).as_deref() == Some("bridge") => {}
                        "ipam" => {
                            let subnet = x
                                .get("config")
                                .and_then(|c| c.get(0))
                                .and_then(|c| c.get("subnet"))
                                .and_then(scalar);
                            match subnet {
                                Some(s) => {
                                    n.insert("subnet".into(), json!(s));
                                }
                                None => self.warn(format!(
                                    "{at}.ipam: only config[0].subnet is supported: ignored"
                                )),
                            }
                        }
                        "driver_opts" => {
                            let bridge = x.get("com.docker.network.bridge.name").and_then(scalar);
                            match bridge {
                                Some(b) => {
                                    n.insert("bridge".into(), json!(b));
                                }
                                None => self.warn(format!(
                                    "{at}.driver_opts: only com.docker.network.bridge.name is supported: ignored"
                                )),
                            }
                        }
                        other => self.warn(format!("{at}.{other} is not supported: ignored")),
                    }
                }
            }
            out.insert(name.clone(), Value::Object(n));
        }
        Ok(Value::Object(out))
    }

    fn volumes(&mut self, v: &Value) -> Result<Value> {
        let mut out = Map::new();
        let Value::Object(m) = v else {
            return Err(self.bad("volumes", "must be a mapping"));
        };
        for (name, spec) in m {
            let mut n = Map::new();
            if let Value::Object(spec) = spec {
                for (k, x) in spec {
                    match k.as_str() {
                        "external" | "name" => shared_key(&mut n, k, x),
                        "driver" if scalar(x).as_deref() == Some("local") => {}
                        other => {
                            self.warn(format!("volumes.{name}.{other} is not supported: ignored"))
                        }
                    }
                }
            }
            out.insert(name.clone(), Value::Object(n));
        }
        Ok(Value::Object(out))
    }
}

/// `external` and `name`, which top-level networks and volumes both take.
fn shared_key(n: &mut Map<String, Value>, key: &str, x: &Value) {
    let value = if key == "external" {
        json!(x.as_bool().unwrap_or(false))
    } else {
        json!(scalar(x).unwrap_or_default())
    };
    n.insert(key.into(), value);
}

enum Mount {
    Volume(String),
    Tmpfs(String),
}

/// `a/./b/../c` as `a/c`, without touching the disk.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Compose's variables in `s`: `$$` is a `$`; `$VAR`, `${VAR}`; `${VAR:-default}` (unset or
/// empty) and `${VAR-default}` (unset); `${VAR:?error}` and `${VAR?error}`; `${VAR:+alt}`
/// and `${VAR+alt}`. Defaults are expanded in turn. Variables used unset go in `unset`.
pub fn interpolate(
    s: &str,
    get: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> std::result::Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // The matching brace, counting nested ones.
                let mut depth = 0;
                let mut end = None;
                for (j, ch) in chars.iter().enumerate().skip(i + 1) {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or("a ${ without its }")?;
                let inner: String = chars[i + 2..end].iter().collect();
                let name_len = inner.chars().take_while(|c| is_name(*c)).count();
                let (name, rest) = inner.split_at(name_len);
                if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(format!("invalid variable ${{{inner}}}"));
                }
                let value = get(name);
                let empty = value.as_deref().is_none_or(str::is_empty);
                let expanded = if rest.is_empty() {
                    if value.is_none() {
                        unset.push(name.to_string());
                    }
                    value.unwrap_or_default()
                } else {
                    let (op, word) = if rest.starts_with(':') {
                        rest.split_at(2.min(rest.len()))
                    } else {
                        rest.split_at(1)
                    };
                    match op {
                        ":-" if empty => interpolate(word, get, unset)?,
                        "-" if value.is_none() => interpolate(word, get, unset)?,
                        ":-" | "-" => value.unwrap_or_default(),
                        ":?" if empty => return Err(format!("{name}: {word}")),
                        "?" if value.is_none() => return Err(format!("{name}: {word}")),
                        ":?" | "?" => value.unwrap_or_default(),
                        ":+" if !empty => interpolate(word, get, unset)?,
                        "+" if value.is_some() => interpolate(word, get, unset)?,
                        ":+" | "+" => String::new(),
                        _ => return Err(format!("invalid variable ${{{inner}}}")),
                    }
                };
                out.push_str(&expanded);
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let name: String = chars[i + 1..].iter().take_while(|c| is_name(**c)).collect();
                match get(&name) {
                    Some(v) => out.push_str(&v),
                    None => unset.push(name.clone()),
                }
                i += 1 + name.chars().count();
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// An env file as compose reads one (and its `.env`): `KEY=VALUE` lines, `export ` before
/// the key allowed, `#` comments and blank lines skipped; a value in single quotes is
/// literal, in double quotes it has `\n`-style escapes and variables, unquoted it is
/// trimmed, ends at ` #`, and has variables; `KEY` alone takes the environment's value.
pub fn parse_env_file(
    text: &str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (key, raw) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim_start())),
            None => (line, None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "line {}: {line:?} is not KEY=VALUE",
                n + 1
            )));
        }
        // Earlier lines of the file are variables for later ones, under the environment.
        let known = |k: &str| {
            get(k).or_else(|| {
                out.iter()
                    .rev()
                    .find(|(x, _)| x == k)
                    .map(|(_, v)| v.clone())
            })
        };
        let value = match raw {
            None => match get(key) {
                Some(v) => v,
                None => continue,
            },
            Some(r) if r.starts_with('\'') || r.starts_with('"') => {
                let quote = r.chars().next().unwrap_or('"');
                // A quoted value may go on over lines until its closing quote.
                let mut body = r[1..].to_string();
                let close = loop {
                    if let Some(at) = closing_quote(&body, quote) {
                        break at;
                    }
                    match lines.next() {
                        Some((_, more)) => {
                            body.push('\n');
                            body.push_str(more);
                        }
                        None => {
                            return Err(Error::invalid(format!(
                                "line {}: the value of {key} has no closing {quote}",
                                n + 1
                            )))
                        }
                    }
                };
                let inner = &body[..close];
                if quote == '\'' {
                    inner.to_string()
                } else {
                    let unescaped = unescape(inner);
                    interpolate(&unescaped, &known, &mut Vec::new())
                        .map_err(|e| Error::invalid(format!("line {}: {e}", n + 1)))?
                }
            }
            Some(r) => {
                let r = match r.find(" #") {
                    Some(at) => &r[..at],
                    None => r,
                };
                interpolate(r.trim(), &known, &mut Vec::new())
                    .map_err(|e| Error::invalid(format!("line {}: {e}", n + 1)))?
            }
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// Where the quote closing a value is (a double quote may be escaped).
fn closing_quote(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if quote == '"' && c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        if c == quote && !escaped {
            return Some(i);
        }
        escaped = false;
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Splits a command line into words as a POSIX shell would, without running one: blanks
/// separate, quotes group, a backslash escapes.
pub fn shell_split(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed ' in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed \" in {s:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed \" in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// A Go duration as compose writes them: "1m30s", "500ms", "10s", "1h".
pub fn go_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let bad = || format!("invalid duration {s:?}: use e.g. 10s, 1m30s or 500ms");
    let t = s.trim();
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let mut rest = t;
    let mut secs = 0.0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        secs += n * scale;
        rest = &rest[unit_len..];
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn variables_are_interpolated_as_compose_does() {
        let get = env(&[("A", "a"), ("E", "")]);
        let mut unset = Vec::new();
        for (text, want) in [
            ("x${A}y", "xay"),
            ("$A/$$A", "a/$A"),
            ("${N:-def}", "def"),
            ("${E:-def}", "def"),
            ("${E-def}", ""),
            ("${N-${A}b}", "ab"),
            ("${A:+yes}", "yes"),
            ("${N:+yes}", ""),
            ("100$", "100$"),
        ] {
            assert_eq!(interpolate(text, &get, &mut unset).unwrap(), want, "{text}");
        }
        assert!(unset.is_empty());
        assert_eq!(interpolate("$NOPE!", &get, &mut unset).unwrap(), "!");
        assert_eq!(unset, ["NOPE"]);
        assert!(interpolate("${N:?must be set}", &get, &mut unset)
            .unwrap_err()
            .contains("must be set"));
        assert!(interpolate("${A", &get, &mut unset).is_err());
    }

    #[test]
    fn env_files_read_quotes_comments_and_exports() {
        let text =
            "# c\nexport A=1\nB = 'lit $A'\nC=\"two\\nlines $A\"\nD=x # note\nHOME_\nM=\"a\nb\"\n";
        let got = parse_env_file(text, &env(&[("HOME_", "h")])).unwrap();
        let got: BTreeMap<_, _> = got.into_iter().collect();
        assert_eq!(got["A"], "1");
        assert_eq!(got["B"], "lit $A");
        assert_eq!(got["C"], "two\nlines 1");
        assert_eq!(got["D"], "x");
        assert_eq!(got["HOME_"], "h");
        assert_eq!(got["M"], "a\nb");
        assert!(parse_env_file("not a line\n", &env(&[])).is_err());
    }

    #[test]
    fn commands_split_as_a_shell_would() {
        assert_eq!(
            shell_split(r#"sh -c 'echo "hi there"' x\ y "a\"b""#).unwrap(),
            ["sh", "-c", "echo \"hi there\"", "x y", "a\"b"]
        );
        assert!(shell_split("'open").is_err());
        assert_eq!(go_duration("1m30s").unwrap().as_secs(), 90);
        assert_eq!(go_duration("500ms").unwrap().as_millis(), 500);
        assert!(go_duration("soon").is_err());
    }

    #[test]
    fn a_compose_file_becomes_ups_map() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "TAG=1.2\nPORT=8080\n").unwrap();
        std::fs::write(dir.path().join("web.env"), "FROM_FILE=yes\nMODE=file\n").unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(
            &file,
            r#"
name: shop
x-common: &common
  restart: always
services:
  web:
    <<: *common
    image: "busybox:${TAG}"
    command: httpd -f -p 80 -h '/www root'
    environment:
      MODE: env
      EMPTY:
    env_file: web.env
    ports: ["${PORT}:80", 9090, {target: 53, published: 5353, protocol: udp}]
    expose: ["80"]
    volumes: ["./site:/www:ro", "data:/data", {type: tmpfs, target: /run}]
    depends_on:
      db: { condition: service_healthy }
    healthcheck:
      test: wget -q -O- localhost
      interval: 1m30s
      retries: 3
    labels: ["tier=front"]
    deploy: { replicas: 2 }
  db:
    image: busybox
    healthcheck: { disable: true }
    networks: [back]
volumes:
  data:
networks:
  back:
    ipam: { config: [{ subnet: 10.99.0.0/24 }] }
    driver_opts: { com.docker.network.bridge.name: br-shop }
"#,
        )
        .unwrap();
        let l = load(&file).unwrap();
        let s = &l.stack;
        let web = &s["services"]["web"];
        assert_eq!(s["name"], "shop");
        assert_eq!(web["image"], "busybox:1.2");
        assert_eq!(web["restart"], "always", "merged from the anchor");
        assert_eq!(
            web["command"],
            json!(["httpd", "-f", "-p", "80", "-h", "/www root"])
        );
        assert_eq!(web["env"]["MODE"], "env", "environment wins over env_file");
        assert_eq!(web["env"]["FROM_FILE"], "yes");
        assert!(
            web["env"].get("EMPTY").is_none(),
            "unset in the environment"
        );
        assert_eq!(web["ports"], json!(["8080:80", "9090", "5353:53/udp"]));
        let site = format!("{}/site:/www:ro", dir.path().display());
        assert_eq!(web["volumes"], json!([site, "data:/data"]));
        assert_eq!(web["tmpfs"], json!(["/run"]));
        assert_eq!(web["depends_on"]["db"]["condition"], "service_healthy");
        assert_eq!(
            web["health"]["test"],
            json!(["CMD-SHELL", "wget -q -O- localhost"])
        );
        assert_eq!(web["health"]["interval"], "90000ms");
        assert_eq!(web["labels"]["tier"], "front");
        assert_eq!(s["services"]["db"]["health"]["test"], json!(["NONE"]));
        assert_eq!(s["networks"]["back"]["subnet"], "10.99.0.0/24");
        assert_eq!(s["networks"]["back"]["bridge"], "br-shop");
        assert_eq!(s["volumes"]["data"], json!({}));
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        assert!(l.warnings[0].contains("services.web.deploy is not supported"));
    }

    #[test]
    fn project_names_follow_composes_rule() {
        assert_eq!(project_name("My App.v2"), "myappv2");
        assert_eq!(project_name("_x-y"), "x-y");
    }
}
