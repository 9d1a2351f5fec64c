//! `login` and `logout`: checking a user name and password against a registry with a real
//! request, and keeping them in Docker's config file (`auths.<registry>.auth`, base64 of
//! `user:password`), where pull and push (and docker, podman, skopeo) find them.
//!
//! The check is Docker's: GET /v2/ without credentials; a 401 names the scheme. Basic: the
//! same GET with the credentials must succeed. Bearer: the token service named in the
//! challenge must issue a token for them. A registry that needs no credentials accepts any.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;

use super::reference;
use super::registry::{
    allows_http, auth_key_matches, docker_config_path, install_tls_provider, is_docker_hub,
    Credentials,
};
use crate::error::{Error, Kind, Result};

/// The `auths` key Docker uses for Docker Hub; others are `host[:port]`.
const HUB_KEY: &str = "https://index.docker.io/v1/";

/// Checks `creds` against `registry` and stores them in the Docker config file; returns the
/// file's path.
pub fn login(registry: &str, creds: &Credentials) -> Result<PathBuf> {
    let registry = registry_name(registry)?;
    if creds.username.is_empty() || creds.username.contains(':') {
        return Err(Error::invalid(format!(
            "login to {registry}: the user name must be non-empty and have no ':'"
        )));
    }
    if creds.password.is_empty() {
        return Err(Error::invalid(format!(
            "login to {registry}: the password is empty"
        )));
    }
    let path = config_path()?;
    verify(&registry, creds)?;
    store_credentials(&path, &registry, creds)?;
    Ok(path)
}

/// Removes the stored credentials of `registry`; returns the config file's path. Not being
/// logged in is an error (`not_found`).
pub fn logout(registry: &str) -> Result<PathBuf> {
    let registry = registry_name(registry)?;
    let path = config_path()?;
    if remove_credentials(&path, &registry)? {
        Ok(path)
    } else {
        Err(Error::not_found(format!(
            "not logged in to {registry}: {} has no credentials for it",
            path.display()
        )))
    }
}

fn config_path() -> Result<PathBuf> {
    docker_config_path().ok_or_else(|| {
        Error::invalid("no Docker config file: set DOCKER_CONFIG (a directory) or HOME")
    })
}

/// A registry as given (`host[:port]`, maybe `https://host/...`) as pull and push name it;
/// Docker Hub's names are `docker.io`.
pub fn registry_name(input: &str) -> Result<String> {
    let trimmed = input.trim();
    let host = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    let host = host.split('/').next().unwrap_or(host);
    if is_docker_hub(host) {
        return Ok("docker.io".to_string());
    }
    // The reference grammar says what a registry host is.
    let parsed = reference::parse(&format!("{host}/x")).ok();
    match parsed {
        Some(r) if !host.is_empty() && r.registry() == host => Ok(host.to_string()),
        _ => Err(Error::invalid(format!(
            "invalid registry {input:?}: expected host[:port], such as registry.example:5000"
        ))),
    }
}

/// Checks `creds` against `registry` with real requests (see the module's comment).
pub fn verify(registry: &str, creds: &Credentials) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::with_source(Kind::Io, "cannot start the network runtime", e))?;
    rt.block_on(verify_async(registry, creds))
}

async fn verify_async(registry: &str, creds: &Credentials) -> Result<()> {
    install_tls_provider();
    let client = reqwest::Client::builder()
        .user_agent(concat!("gocker-script/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::with_source(Kind::Io, "cannot make an HTTP client", e))?;
    let host = if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    };
    let scheme = if allows_http(registry) {
        "http"
    } else {
        "https"
    };
    let url = format!("{scheme}://{host}/v2/");
    let unreachable = |e: reqwest::Error| {
        Error::with_source(
            Kind::Registry,
            format!("cannot reach registry {registry} ({url})"),
            e,
        )
    };
    crate::trace::step(|| format!("GET {url}"));
    let res = client.get(&url).send().await.map_err(unreachable)?;
    if res.status().is_success() {
        crate::trace::step(|| format!("{registry} asks for no credentials"));
        return Ok(());
    }
    if res.status() != StatusCode::UNAUTHORIZED {
        return Err(unexpected(registry, &url, res.status()));
    }
    let challenge = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .map(Challenge::parse)
        .ok_or_else(|| {
            Error::new(
                Kind::Registry,
                format!(
                    "registry {registry} answered 401 to GET {url} without saying how to log in"
                ),
            )
        })?;
    let refused = || {
        Error::new(
            Kind::Permission,
            format!(
                "login to {registry} refused: wrong user name or password for {:?}",
                creds.username
            ),
        )
    };
    match challenge.scheme.as_str() {
        "basic" => {
            crate::trace::step(|| format!("GET {url} with basic credentials"));
            let res = client
                .get(&url)
                .basic_auth(&creds.username, Some(&creds.password))
                .send()
                .await
                .map_err(unreachable)?;
            match res.status() {
                s if s.is_success() => Ok(()),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(refused()),
                s => Err(unexpected(registry, &url, s)),
            }
        }
        "bearer" => {
            let realm = challenge.param("realm").ok_or_else(|| {
                Error::new(
                    Kind::Registry,
                    format!("registry {registry} asked for a token without naming its service"),
                )
            })?;
            let mut query: Vec<(&str, &str)> = vec![("account", creds.username.as_str())];
            if let Some(service) = challenge.param("service") {
                query.push(("service", service));
            }
            let token_url = reqwest::Url::parse_with_params(realm, &query).map_err(|e| {
                Error::with_source(
                    Kind::Registry,
                    format!("registry {registry} named an invalid token service {realm:?}"),
                    e,
                )
            })?;
            crate::trace::step(|| format!("GET {realm} with basic credentials"));
            let res = client
                .get(token_url)
                .basic_auth(&creds.username, Some(&creds.password))
                .send()
                .await
                .map_err(unreachable)?;
            match res.status() {
                s if s.is_success() => Ok(()),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(refused()),
                s => Err(unexpected(registry, realm, s)),
            }
        }
        other => Err(Error::new(
            Kind::Unsupported,
            format!("registry {registry} asks for {other:?} authentication; basic and bearer are supported"),
        )),
    }
}

fn unexpected(registry: &str, url: &str, status: StatusCode) -> Error {
    Error::new(
        Kind::Registry,
        format!("registry {registry} answered {status} to GET {url}"),
    )
}

/// A parsed WWW-Authenticate challenge: its scheme (lower case) and parameters.
#[derive(Debug, PartialEq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    /// `Bearer realm="https://auth.example/token",service="registry.example"`.
    fn parse(header: &str) -> Challenge {
        let header = header.trim();
        let (scheme, rest) = header
            .split_once(char::is_whitespace)
            .unwrap_or((header, ""));
        let mut params = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                chars.next();
            }
            let key: String = chars
                .by_ref()
                .take_while(|c| *c != '=')
                .collect::<String>()
                .trim()
                .to_ascii_lowercase();
            if key.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != ',') {
                    value.push(c);
                }
                value = value.trim().to_string();
            }
            params.push((key, value));
        }
        Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        }
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a Docker config file as a JSON object; a missing file is an empty one.
fn read_config(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(Error::io("cannot read", path, e)),
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Default::default());
    }
    match serde_json::from_slice(&data) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(Error::new(
            Kind::Corrupt,
            format!(
                "{} is not a JSON object: fix or remove it first",
                path.display()
            ),
        )),
    }
}

/// Stores `creds` for `registry` in the config file at `path`, replacing any entry for it and
/// keeping everything else.
pub fn store_credentials(path: &Path, registry: &str, creds: &Credentials) -> Result<()> {
    let mut doc = read_config(path)?;
    let auths = doc
        .entry("auths")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    let Some(auths) = auths.as_object_mut() else {
        return Err(Error::new(
            Kind::Corrupt,
            format!("{}: \"auths\" is not an object", path.display()),
        ));
    };
    auths.retain(|key, _| !auth_key_matches(key, registry));
    let key = if registry == "docker.io" {
        HUB_KEY.to_string()
    } else {
        registry.to_string()
    };
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.username, creds.password));
    auths.insert(key, serde_json::json!({ "auth": auth }));
    write_private(path, &doc)
}

/// Removes the entries for `registry`; false when there were none.
pub fn remove_credentials(path: &Path, registry: &str) -> Result<bool> {
    let mut doc = read_config(path)?;
    let Some(auths) = doc.get_mut("auths").and_then(|a| a.as_object_mut()) else {
        return Ok(false);
    };
    let before = auths.len();
    auths.retain(|key, _| !auth_key_matches(key, registry));
    if auths.len() == before {
        return Ok(false);
    }
    write_private(path, &doc)?;
    Ok(true)
}

/// Writes the config file so that a reader sees the old or the new one, readable by its owner
/// only (it holds passwords): a 0600 temporary file in the same directory, renamed over it.
fn write_private(path: &Path, doc: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("cannot create", dir, e))?;
    let mut data = serde_json::to_vec_pretty(doc)
        .map_err(|e| Error::with_source(Kind::Io, "cannot encode the Docker config", e))?;
    data.push(b'\n');
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("cannot create", &tmp, e))?;
        f.write_all(&data)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io("cannot write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io("cannot rename into place", path, e))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn challenges_are_parsed() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let c = Challenge::parse(r#"Basic realm="gocker \"test\"", charset=UTF-8"#);
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("realm"), Some("gocker \"test\""));
        assert_eq!(c.param("charset"), Some("UTF-8"));
        assert_eq!(Challenge::parse("Basic").params, vec![]);
    }

    #[test]
    fn registry_names() {
        assert_eq!(registry_name("127.0.0.1:5000").unwrap(), "127.0.0.1:5000");
        assert_eq!(
            registry_name("https://index.docker.io/v1/").unwrap(),
            "docker.io"
        );
        assert_eq!(registry_name("http://reg.example/").unwrap(), "reg.example");
        for bad in ["", "a b", "host:99999", "UPPER_case!"] {
            let e = registry_name(bad).unwrap_err();
            assert_eq!(e.kind(), Kind::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn credentials_are_stored_privately_and_other_keys_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        store_credentials(&path, "127.0.0.1:5000", &creds("u", "p:w")).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let c = super::super::registry::credentials_from_config(
            &fs::read(&path).unwrap(),
            "127.0.0.1:5000",
        )
        .unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:w"));

        fs::write(
            &path,
            r#"{"auths":{"other:1":{"auth":"eDp5"},"http://127.0.0.1:5000":{"auth":"b2xkOm9sZA=="}},"credHelpers":{"x":"y"},"psFormat":"table"}"#,
        )
        .unwrap();
        store_credentials(&path, "127.0.0.1:5000", &creds("new", "pw")).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "table");
        assert_eq!(doc["credHelpers"]["x"], "y");
        assert_eq!(doc["auths"]["other:1"]["auth"], "eDp5");
        assert!(doc["auths"].get("http://127.0.0.1:5000").is_none());
        assert!(doc["auths"].get("127.0.0.1:5000").is_some());

        assert!(remove_credentials(&path, "127.0.0.1:5000").unwrap());
        assert!(!remove_credentials(&path, "127.0.0.1:5000").unwrap());
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["auths"]["other:1"]["auth"], "eDp5");
        assert!(!remove_credentials(&dir.path().join("none.json"), "x:1").unwrap());
        // No temporary file is left beside it.
        let names: Vec<String> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["config.json"]);

        store_credentials(&path, "docker.io", &creds("hub", "pw")).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert!(doc["auths"].get(HUB_KEY).is_some());

        fs::write(&path, b"[1]").unwrap();
        let e = store_credentials(&path, "x:1", &creds("u", "p")).unwrap_err();
        assert_eq!(e.kind(), Kind::Corrupt);
        assert!(e.message().contains("config.json"), "{}", e.message());
    }
}
