//! Talking to OCI registries, over oci-client: manifests (all four media types), platform
//! selection in indexes, credentials, plain HTTP only where allowed, and streamed blobs.

use std::path::PathBuf;

use base64::Engine as _;
use bytes::Bytes;
use oci_client::client::{ClientConfig, ClientProtocol, SizedStream};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use reqwest::header::HeaderValue;
use reqwest::StatusCode;

use super::oci::{self, Descriptor, Manifest, ManifestDoc, Platform};
use crate::error::{Error, Kind, Result};

/// The mediaType a manifest document declares for itself, if any.
fn manifest_media_type(raw: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(raw).ok()?.media_type
}

/// The most a config blob may be: real ones are kilobytes.
const MAX_SMALL_BLOB: usize = 16 << 20;

/// A user name and password for a registry.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// An image manifest resolved for one platform, with its verified config.
pub struct Resolved {
    pub manifest_digest: String,
    pub manifest_raw: Vec<u8>,
    pub manifest: Manifest,
    pub config_raw: Vec<u8>,
    pub config: oci::ConfigFile,
}

/// A client bound to one registry and one set of credentials.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    name: String,
    /// For streamed uploads, which oci-client does not do (see `push_blob_stream`).
    http: std::sync::OnceLock<reqwest::Client>,
    /// The Authorization header of a push, once worked out.
    push_auth: tokio::sync::OnceCell<Option<HeaderValue>>,
}

/// Whether plain HTTP may be used for `registry`: loopback registries, and those listed in
/// `GOCKER_INSECURE_REGISTRIES` (comma or space separated), as Docker's insecure-registries.
pub fn allows_http(registry: &str) -> bool {
    if super::reference::is_loopback_registry(registry) {
        return true;
    }
    std::env::var("GOCKER_INSECURE_REGISTRIES")
        .map(|v| {
            v.split([',', ' '])
                .any(|h| !h.is_empty() && h.trim() == registry)
        })
        .unwrap_or(false)
}

impl Registry {
    /// A client for the registry of `reference`. Credentials come from the call, or else from
    /// the Docker config file (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub fn new(reference: &Reference, creds: Option<Credentials>) -> Registry {
        install_tls_provider();
        let registry = reference.registry().to_string();
        let protocol = if allows_http(&registry) {
            ClientProtocol::HttpsExcept(vec![
                registry.clone(),
                reference.resolve_registry().to_string(),
            ])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            // We choose the platform ourselves, to say which ones exist when none match.
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(300)),
            user_agent: concat!("gocker-script/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let creds = creds.or_else(|| docker_config_credentials(&registry));
        let auth = match creds {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        };
        Registry {
            client: Client::new(config),
            auth,
            name: registry,
            http: std::sync::OnceLock::new(),
            push_auth: tokio::sync::OnceCell::new(),
        }
    }

    fn map_err(&self, what: &str, e: OciDistributionError) -> Error {
        use OciDistributionError as E;
        if let E::RequestError(r) = &e {
            if r.is_connect() || r.is_timeout() {
                return self.unreachable(what, r);
            }
        }
        let kind = match &e {
            E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => Kind::Permission,
            E::ImageManifestNotFoundError(_) => Kind::NotFound,
            E::ServerError {
                code: 401 | 403, ..
            } => Kind::Permission,
            E::ServerError { code: 404, .. } => Kind::NotFound,
            E::RegistryError { envelope, .. } => {
                use oci_client::errors::OciErrorCode as C;
                if envelope
                    .errors
                    .iter()
                    .any(|c| matches!(c.code, C::Unauthorized | C::Denied))
                {
                    Kind::Permission
                } else if envelope.errors.iter().any(|c| {
                    matches!(
                        c.code,
                        C::ManifestUnknown | C::NameUnknown | C::BlobUnknown | C::NotFound
                    )
                }) {
                    Kind::NotFound
                } else {
                    Kind::Registry
                }
            }
            E::DigestError(_) => Kind::Corrupt,
            // A HEAD (blob_exists) reports its status only through reqwest's error.
            E::RequestError(r) => match r.status().map(|s| s.as_u16()) {
                Some(401 | 403) => Kind::Permission,
                Some(404) => Kind::NotFound,
                _ => Kind::Registry,
            },
            _ => Kind::Registry,
        };
        let message = match kind {
            Kind::Permission => format!(
                "{what}: access denied by registry {} (check the username and password)",
                self.name
            ),
            Kind::NotFound => format!("{what}: not found in registry {}", self.name),
            _ => format!("{what}: registry {} failed", self.name),
        };
        Error::with_source(kind, message, e)
    }

    /// The registry's name (`host:port`), for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the repository of `reference` holds the blob (HEAD /v2/<repo>/blobs/<digest>).
    pub async fn has_blob(&self, reference: &Reference, digest: &str) -> Result<bool> {
        oci::digest_hex(digest)?;
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        self.client
            .blob_exists(reference, digest)
            .await
            .map_err(|e| self.map_err(&format!("cannot look for blob {digest} in {reference}"), e))
    }

    /// Asks the registry to link a blob it holds in repository `from` into the repository of
    /// `reference` (a cross-repository mount), so nothing is uploaded. False when it would not
    /// (it does not have it there, or we may not read `from`): then the blob is uploaded. The
    /// upload a refusing registry opens instead is cancelled, as containers/image does.
    pub async fn mount_blob(&self, reference: &Reference, from: &str, digest: &str) -> bool {
        match self.try_mount(reference, from, digest).await {
            Ok(mounted) => mounted,
            Err(e) => {
                crate::trace::step(|| format!("mount of {digest} from {from}: {}", e.chain()));
                false
            }
        }
    }

    async fn try_mount(&self, reference: &Reference, from: &str, digest: &str) -> Result<bool> {
        oci::digest_hex(digest)?;
        let what = format!("cannot mount {digest} from {from}");
        let up = self.uploads(reference).await?;
        let mut url = up.start.clone();
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let res = up
            .request(self.http()?.post(url.clone()), &url)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(|e| self.http_err(&what, e))?;
        match res.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                let session = res
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| up.start.join(l).ok());
                if let Some(session) = session {
                    let _ = up
                        .request(self.http()?.delete(session.clone()), &session)
                        .send()
                        .await;
                }
                crate::trace::step(|| format!("{from} has no {digest} to mount"));
                Ok(false)
            }
            status => {
                let body = res.text().await.unwrap_or_default();
                Err(self.status_err(&what, status, &body))
            }
        }
    }

    /// Where uploads to `reference`'s repository start, and how requests there are signed.
    async fn uploads(&self, reference: &Reference) -> Result<Uploads> {
        let auth = self.push_auth(reference).await?;
        let scheme = if allows_http(&self.name) {
            "http"
        } else {
            "https"
        };
        let start = format!(
            "{scheme}://{}/v2/{}/blobs/uploads/",
            reference.resolve_registry(),
            reference.repository()
        );
        let start = reqwest::Url::parse(&start).map_err(|e| {
            Error::with_source(Kind::InvalidArgument, format!("bad upload URL {start}"), e)
        })?;
        Ok(Uploads { start, auth })
    }

    /// Uploads a blob whose digest is not known beforehand, as docker and podman do: POST opens
    /// an upload, one PATCH streams every chunk as it comes (chunked transfer encoding), and
    /// PUT ?digest= closes it; the digest is computed on the way. (oci-client sends a PATCH per
    /// 4 MiB chunk, each of which the distribution registry answers only after saving its hash
    /// state: a 50 MB blob took twice as long.) A stream that ends in an error aborts the
    /// upload before it is closed, so the registry never names a partial blob.
    pub async fn push_blob_stream<S>(
        &self,
        reference: &Reference,
        stream: S,
    ) -> Result<(String, u64)>
    where
        S: futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        use futures_util::StreamExt;
        use sha2::Digest as _;
        let what = format!("cannot upload a blob to {reference}");
        let http = self.http()?;
        let up = self.uploads(reference).await?;
        let res = up
            .request(http.post(up.start.clone()), &up.start)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(|e| self.http_err(&what, e))?;
        let location = self
            .location(&what, &up.start, res, StatusCode::ACCEPTED)
            .await?;

        // The body ends at the stream's first error, cleanly: the registry answers the PATCH,
        // and then the upload is cancelled (aborting the request instead raced the registry,
        // which saved the session again after our DELETE).
        let state = std::sync::Arc::new(std::sync::Mutex::new(Tap::default()));
        let tap = state.clone();
        let body = stream.scan((), move |_, item| {
            let mut t = tap.lock().unwrap_or_else(|p| p.into_inner());
            let next = match item {
                Ok(b) => {
                    t.hasher.update(&b);
                    t.size += b.len() as u64;
                    Some(Ok::<Bytes, std::io::Error>(b))
                }
                Err(e) => {
                    t.failed = Some(e);
                    None
                }
            };
            std::future::ready(next)
        });
        let sent = up
            .request(http.patch(location.clone()), &location)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await;
        let failed = state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed
            .take();
        // The registry checks the offset the session URL carries: cancel with the latest one.
        let up = &up;
        let cancel = |at: reqwest::Url| async move {
            crate::trace::step(|| format!("cancel the upload at {}", at.path()));
            let _ = up.request(http.delete(at.clone()), &at).send().await;
        };
        let res = match (sent, failed) {
            (Ok(res), Some(e)) => {
                let at = res
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| location.join(l).ok())
                    .unwrap_or_else(|| location.clone());
                cancel(at).await;
                return Err(Error::with_source(
                    Kind::Io,
                    format!("{what}: the blob could not be made"),
                    e,
                ));
            }
            (Ok(res), None) => res,
            (Err(e), _) => {
                cancel(location.clone()).await;
                return Err(self.http_err(&what, e));
            }
        };
        let location = self
            .location(&what, &location, res, StatusCode::ACCEPTED)
            .await?;
        let (digest, size) = {
            let mut t = state.lock().unwrap_or_else(|p| p.into_inner());
            let hasher = std::mem::take(&mut t.hasher);
            (format!("sha256:{}", hex::encode(hasher.finalize())), t.size)
        };
        let mut close = location.clone();
        close.query_pairs_mut().append_pair("digest", &digest);
        let res = up
            .request(http.put(close.clone()), &close)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(|e| self.http_err(&what, e))?;
        self.location(&what, &close, res, StatusCode::CREATED)
            .await?;
        Ok((digest, size))
    }

    fn http(&self) -> Result<&reqwest::Client> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("gocker-script/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| Error::with_source(Kind::Io, "cannot make an HTTP client", e))?;
        Ok(self.http.get_or_init(|| client))
    }

    /// The Authorization header for pushing to `reference`'s repository: a bearer token from
    /// the registry's token service, or basic credentials, or none.
    async fn push_auth(&self, reference: &Reference) -> Result<Option<HeaderValue>> {
        self.push_auth
            .get_or_try_init(|| async {
                let token = self
                    .client
                    .auth(reference, &self.auth, oci_client::RegistryOperation::Push)
                    .await
                    .map_err(|e| self.map_err(&format!("cannot log in to push {reference}"), e))?;
                let value = match (token, &self.auth) {
                    (Some(t), _) => Some(format!("Bearer {t}")),
                    (None, RegistryAuth::Basic(u, p)) => Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                    )),
                    (None, _) => None,
                };
                value
                    .map(|v| {
                        let mut h = HeaderValue::from_str(&v).map_err(|e| {
                            Error::with_source(
                                Kind::InvalidArgument,
                                format!("credentials for {} cannot go in a header", self.name),
                                e,
                            )
                        })?;
                        h.set_sensitive(true);
                        Ok(h)
                    })
                    .transpose()
            })
            .await
            .cloned()
    }

    /// The next URL of an upload, from a response that must have status `want`.
    async fn location(
        &self,
        what: &str,
        base: &reqwest::Url,
        res: reqwest::Response,
        want: StatusCode,
    ) -> Result<reqwest::Url> {
        let status = res.status();
        if status != want && !(status.is_success() && want.is_success()) {
            let body = res.text().await.unwrap_or_default();
            return Err(self.status_err(what, status, &body));
        }
        let Some(loc) = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
        else {
            if want == StatusCode::CREATED {
                return Ok(base.clone());
            }
            return Err(Error::new(
                Kind::Registry,
                format!("{what}: registry {} gave no upload location", self.name),
            ));
        };
        base.join(loc).map_err(|e| {
            Error::with_source(
                Kind::Registry,
                format!(
                    "{what}: registry {} gave a bad upload location {loc:?}",
                    self.name
                ),
                e,
            )
        })
    }

    fn status_err(&self, what: &str, status: StatusCode, body: &str) -> Error {
        let detail: String = body.trim().chars().take(300).collect();
        let (kind, message) = match status.as_u16() {
            401 | 403 => (
                Kind::Permission,
                format!(
                    "{what}: access denied by registry {} (check the username and password, or log in)",
                    self.name
                ),
            ),
            404 => (
                Kind::NotFound,
                format!("{what}: not found in registry {} ({detail})", self.name),
            ),
            _ => (
                Kind::Registry,
                format!("{what}: registry {} answered {status}: {detail}", self.name),
            ),
        };
        Error::new(kind, message)
    }

    fn http_err(&self, what: &str, e: reqwest::Error) -> Error {
        // A body that failed is the stream's error (the producer reports it better).
        Error::with_source(
            Kind::Registry,
            format!("{what}: request to registry {} failed", self.name),
            e,
        )
    }

    /// Uploads a small blob held in memory (a config) under its known digest.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        data: Vec<u8>,
        digest: &str,
    ) -> Result<()> {
        oci::digest_hex(digest)?;
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        self.client
            .push_blob(reference, data, digest)
            .await
            .map(|_| ())
            .map_err(|e| self.map_err(&format!("cannot upload blob {digest} to {reference}"), e))
    }

    /// Puts a manifest under the tag of `reference`.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        body: Vec<u8>,
        media_type: &str,
    ) -> Result<()> {
        let content_type = reqwest::header::HeaderValue::from_str(media_type).map_err(|e| {
            Error::with_source(
                Kind::InvalidArgument,
                format!("invalid manifest media type {media_type:?}"),
                e,
            )
        })?;
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        self.client
            .push_manifest_raw(reference, body, content_type)
            .await
            .map(|_| ())
            .map_err(|e| self.map_err(&format!("cannot put the manifest of {reference}"), e))
    }

    /// The registry could not be reached at all (no route, no DNS, refused, timed out): said
    /// plainly, with the ways to get an image without it.
    fn unreachable(&self, what: &str, e: &(dyn std::error::Error + 'static)) -> Error {
        // The innermost cause is the one that says why: "failed to lookup address
        // information: ...", "Connection refused (os error 111)".
        let mut cause = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let hint = if super::reference::is_loopback_registry(&self.name) {
            "is the registry running?".to_string()
        } else {
            "if this host is offline: use a registry on 127.0.0.1 (such as \
             127.0.0.1:5000/busybox; plain HTTP is allowed on loopback), load an image saved \
             by docker save (gocker-script load -i busybox.tar), or list a plain-HTTP registry \
             of your network in GOCKER_INSECURE_REGISTRIES"
                .to_string()
        };
        Error::new(
            Kind::Registry,
            format!(
                "{what}: registry {} cannot be reached ({cause}); {hint}",
                self.name
            ),
        )
    }

    /// Fetches a manifest or index by tag or digest, sending every media type we read.
    pub async fn manifest(&self, reference: &Reference) -> Result<(Vec<u8>, String)> {
        let (body, digest) = self
            .client
            .pull_manifest_raw(reference, &self.auth, oci::MANIFEST_TYPES)
            .await
            .map_err(|e| self.map_err(&format!("cannot get manifest of {reference}"), e))?;
        Ok((body.to_vec(), digest))
    }

    /// Resolves a reference to one image manifest for `platform`, and fetches its config.
    pub async fn resolve(&self, reference: &Reference, platform: &Platform) -> Result<Resolved> {
        let (mut raw, mut digest) = self.manifest(reference).await?;
        let what = reference.to_string();
        let manifest = match ManifestDoc::parse(&raw, None, &what)? {
            ManifestDoc::Image(m) => m,
            ManifestDoc::Index(index) => {
                let chosen = choose_platform(&index.manifests, platform, &what)?;
                oci::digest_hex(&chosen.digest)?;
                let by_digest = reference.clone_with_digest(chosen.digest.clone());
                (raw, digest) = self.manifest(&by_digest).await?;
                // What came back must be what the index named: its digest, and its kind.
                let actual = oci::sha256_digest(&raw);
                if actual != chosen.digest {
                    return Err(Error::corrupt(format!(
                        "{what}: manifest {} from the index arrived with digest {actual}",
                        chosen.digest
                    )));
                }
                if !oci::is_image_manifest_type(&chosen.media_type) {
                    return Err(Error::corrupt(format!(
                        "{what}: the index entry {} has media type {:?}, not an image manifest's",
                        chosen.digest, chosen.media_type
                    )));
                }
                let declared = manifest_media_type(&raw);
                if !chosen.media_type.is_empty()
                    && declared.as_deref().is_some_and(|d| d != chosen.media_type)
                {
                    return Err(Error::corrupt(format!(
                        "{what}: the index names {} as {:?} but it is a {:?}",
                        chosen.digest,
                        chosen.media_type,
                        declared.unwrap_or_default()
                    )));
                }
                match ManifestDoc::parse(&raw, Some(&chosen.media_type), &what)? {
                    ManifestDoc::Image(m) => m,
                    ManifestDoc::Index(_) => {
                        return Err(Error::new(
                            Kind::Unsupported,
                            format!("{what}: nested image indexes are not supported"),
                        ))
                    }
                }
            }
        };
        let config_raw = self.small_blob(reference, &manifest.config).await?;
        let config: oci::ConfigFile = serde_json::from_slice(&config_raw).map_err(|e| {
            Error::with_source(
                Kind::Registry,
                format!("{what}: cannot parse image config"),
                e,
            )
        })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::corrupt(format!(
                "{what}: manifest lists {} layers but the config lists {} diff ids",
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        Ok(Resolved {
            manifest_digest: digest,
            manifest_raw: raw,
            manifest,
            config_raw,
            config,
        })
    }

    /// Fetches a small blob (a config) into memory and checks its size and digest. It is
    /// read only up to its descriptor's size (and never past MAX_SMALL_BLOB): a registry
    /// cannot make us hold more than the manifest promised.
    pub async fn small_blob(&self, reference: &Reference, desc: &Descriptor) -> Result<Vec<u8>> {
        use futures_util::StreamExt;
        oci::digest_hex(&desc.digest)?;
        let expected = usize::try_from(desc.size)
            .ok()
            .filter(|n| *n <= MAX_SMALL_BLOB)
            .ok_or_else(|| {
                Error::corrupt(format!(
                    "blob {} of {reference} claims {} bytes: a config is at most {MAX_SMALL_BLOB}",
                    desc.digest, desc.size
                ))
            })?;
        let mut stream = self.blob_stream(reference, &desc.digest).await?;
        let mut out: Vec<u8> = Vec::with_capacity(expected);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Error::with_source(
                    Kind::Registry,
                    format!("cannot get blob {} of {reference}", desc.digest),
                    e,
                )
            })?;
            if out.len() + chunk.len() > expected {
                return Err(Error::corrupt(format!(
                    "blob {} of {reference} is larger than its descriptor's {expected} bytes",
                    desc.digest
                )));
            }
            out.extend_from_slice(&chunk);
        }
        let actual = oci::sha256_digest(&out);
        if out.len() != expected || actual != desc.digest {
            return Err(Error::corrupt(format!(
                "blob of {reference} is corrupt: expected digest {} ({expected} bytes), got {actual} ({} bytes)",
                desc.digest,
                out.len()
            )));
        }
        Ok(out)
    }

    /// Opens a streamed download of a blob. oci-client hashes the bytes as they pass and ends
    /// the stream with an error if they do not match the digest.
    pub async fn blob_stream(&self, reference: &Reference, digest: &str) -> Result<SizedStream> {
        // Checked before it becomes part of a URL.
        oci::digest_hex(digest)?;
        self.client
            .pull_blob_stream(reference, digest)
            .await
            .map_err(|e| self.map_err(&format!("cannot get layer {digest} of {reference}"), e))
    }
}

/// What a streamed upload saw: the digest so far, the bytes, and the stream's error if any.
#[derive(Default)]
struct Tap {
    hasher: sha2::Sha256,
    size: u64,
    failed: Option<std::io::Error>,
}

/// The start of a repository's uploads and the Authorization header for them.
struct Uploads {
    start: reqwest::Url,
    auth: Option<HeaderValue>,
}

impl Uploads {
    /// Signs a request, but only one to the registry itself: never another host a Location
    /// names (as oci-client, and for CVE-2020-15157's reason).
    fn request(&self, req: reqwest::RequestBuilder, url: &reqwest::Url) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(h)
                if url.host_str() == self.start.host_str()
                    && url.port_or_known_default() == self.start.port_or_known_default() =>
            {
                req.header(reqwest::header::AUTHORIZATION, h.clone())
            }
            _ => req,
        }
    }
}

/// Picks the index entry for `want`, or says which platforms there are.
pub fn choose_platform<'a>(
    entries: &'a [Descriptor],
    want: &Platform,
    what: &str,
) -> Result<&'a Descriptor> {
    let found = entries.iter().find(|d| {
        d.platform
            .as_ref()
            .map(|p| want.matches(p))
            .unwrap_or(false)
    });
    found.ok_or_else(|| {
        let available: Vec<String> = entries
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .filter(|p| p.os != "unknown")
            .map(|p| p.to_string())
            .collect();
        Error::not_found(format!(
            "{what} has no image for platform {want}; available: {}",
            if available.is_empty() {
                "none".to_string()
            } else {
                available.join(", ")
            }
        ))
    })
}

/// Docker's client configuration file: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`; None when neither variable is set.
pub fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => Some(
            PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?)
                .join(".docker/config.json"),
        ),
    }
}

/// Credentials for `registry` from Docker's config file, if any.
pub fn docker_config_credentials(registry: &str) -> Option<Credentials> {
    let path = docker_config_path()?;
    let text = std::fs::read(&path).ok()?;
    credentials_from_config(&text, registry)
}

/// Looks `registry` up in the `auths` of a Docker config file.
pub fn credentials_from_config(config: &[u8], registry: &str) -> Option<Credentials> {
    let json: serde_json::Value = serde_json::from_slice(config).ok()?;
    let auths = json.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find_map(|(key, value)| auth_key_matches(key, registry).then_some(value))?;
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, pass) = text.split_once(':')?;
        return Some(Credentials {
            username: user.to_string(),
            password: pass.to_string(),
        });
    }
    let user = entry.get("username")?.as_str()?;
    let pass = entry.get("password")?.as_str()?;
    Some(Credentials {
        username: user.to_string(),
        password: pass.to_string(),
    })
}

/// Docker Hub's names: an `auths` entry under any of them serves all of them.
pub(crate) fn is_docker_hub(registry: &str) -> bool {
    matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// Whether an `auths` key of a Docker config file (`host[:port]`, maybe with a scheme and a
/// path, as `https://index.docker.io/v1/`) is for `registry`.
pub(crate) fn auth_key_matches(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    host == registry || (is_docker_hub(registry) && is_docker_hub(host))
}

/// Chooses rustls's crypto provider (ring) for this process; every registry client needs it
/// first. Repeating it is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auth_is_decoded() {
        let cfg = br#"{"auths":{"127.0.0.1:5001":{"auth":"dXNlcjpwYXNzOndvcmQ="}}}"#;
        let c = credentials_from_config(cfg, "127.0.0.1:5001").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("user", "pass:word")
        );
        assert!(credentials_from_config(cfg, "127.0.0.1:5002").is_none());
        let hub = br#"{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p"}}}"#;
        assert_eq!(
            credentials_from_config(hub, "docker.io").unwrap().username,
            "u"
        );
    }

    #[test]
    fn platform_choice_lists_what_exists() {
        let entry = |p: &str| Descriptor {
            media_type: oci::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "1".repeat(64)),
            size: 1,
            platform: Some(Platform::parse(p).unwrap()),
            annotations: None,
        };
        let entries = vec![entry("linux/amd64"), entry("linux/arm64/v8")];
        assert!(choose_platform(&entries, &Platform::parse("linux/arm64").unwrap(), "x").is_ok());
        let err = choose_platform(&entries, &Platform::parse("linux/s390x").unwrap(), "x")
            .err()
            .unwrap();
        assert!(
            err.message().contains("linux/amd64, linux/arm64/v8"),
            "{}",
            err.message()
        );
        assert_eq!(err.kind(), Kind::NotFound);
    }
}
