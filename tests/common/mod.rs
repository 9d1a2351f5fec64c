//! Test support: a real distribution registry on 127.0.0.1 (Debian's `docker-registry`), a
//! builder for layer tarballs (hostile ones too), and pushing fixture images to the registry.
//!
//! Each test binary starts its own registries on free ports with their own storage. They are
//! children of a shell that waits on a pipe from this process: when the test process exits,
//! for whatever reason, the pipe closes and the shell stops the registry and deletes its data.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};

pub const USER: &str = "tester";
pub const PASSWORD: &str = "s3cret";
/// bcrypt of PASSWORD, as `htpasswd -B` writes it.
const HTPASSWD: &str = "tester:$2y$05$EeueaFcDbz6nTy5.slZB6utASwk6QtvSaRL783WslkuRQu7xi88dW\n";

pub struct TestRegistry {
    pub addr: String,
    pub storage: PathBuf,
    pub auth: bool,
}

/// The registries' shells and their stdin pipes, alive until this process exits: closing the
/// pipe is what stops a registry, and the shell reaps it.
static KEEP: Mutex<Vec<(std::process::Child, std::process::ChildStdin)>> = Mutex::new(Vec::new());

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn start(auth: bool) -> TestRegistry {
    assert!(
        Path::new("/usr/bin/docker-registry").exists(),
        "the tests need Debian's docker-registry package: run scripts/test.sh, which installs it"
    );
    let dir = tempfile::Builder::new()
        .prefix("gocker-registry-")
        .tempdir()
        .expect("tempdir")
        .keep();
    let port = free_port();
    let storage = dir.join("data");
    let mut config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    );
    if auth {
        std::fs::write(dir.join("htpasswd"), HTPASSWD).expect("write htpasswd");
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: gocker-test\n    path: {}\n",
            dir.join("htpasswd").display()
        ));
    }
    std::fs::write(dir.join("config.yml"), config).expect("write registry config");
    let script = format!(
        "docker-registry serve '{d}/config.yml' >'{d}/log' 2>&1 & pid=$!; read _; kill $pid; wait $pid; rm -rf '{d}'",
        d = dir.display()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let stdin = child.stdin.take().expect("registry stdin");
    KEEP.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((child, stdin));
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "registry on {addr} did not start: {}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    TestRegistry {
        addr,
        storage,
        auth,
    }
}

/// This test binary's open registry.
pub fn registry() -> &'static TestRegistry {
    static R: OnceLock<TestRegistry> = OnceLock::new();
    R.get_or_init(|| start(false))
}

/// This test binary's registry with htpasswd basic auth (USER / PASSWORD).
pub fn auth_registry() -> &'static TestRegistry {
    static R: OnceLock<TestRegistry> = OnceLock::new();
    R.get_or_init(|| start(true))
}

/// A fresh GOCKER_ROOT for one test.
pub fn root() -> Root {
    let dir = tempfile::Builder::new()
        .prefix("gocker-root-")
        .tempdir()
        .expect("tempdir");
    default_network(dir.path());
    Root { dir }
}

/// A test's store. Its default "bridge" network gets a subnet and bridge of its own, so
/// tests running side by side never share one; when the test ends, its containers and
/// networks (bridges, nftables tables) go with it.
pub struct Root {
    dir: tempfile::TempDir,
}

impl std::ops::Deref for Root {
    type Target = tempfile::TempDir;
    fn deref(&self) -> &tempfile::TempDir {
        &self.dir
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = gocker(
            self.dir.path(),
            &[
                "-e",
                "for c in containers() { try { remove(c, #{ force: true }) } catch {} } for n in networks() { try { network_remove(n.name) } catch {} }",
            ],
        );
    }
}

/// A subnet and bridge name no other test of this run uses: 10.(100 + pid % 100).N.0/24.
pub fn unique_subnet() -> (String, String) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pid = std::process::id();
    (
        format!("10.{}.{}.0/24", 100 + pid % 100, n % 256),
        format!("gkt{}x{n}", pid % 100_000),
    )
}

fn default_network(root: &Path) {
    let paths = gocker::store::Paths::new(root);
    paths.ensure().expect("store dirs");
    let db = std::sync::Arc::new(gocker::store::Db::open(&paths.db()).expect("state db"));
    let nets = gocker::network::Networks::new(paths, db);
    let mut last = None;
    for _ in 0..8 {
        let (subnet, bridge) = unique_subnet();
        match nets.create("bridge", Some(&subnet), Some(&bridge)) {
            Ok(_) => return,
            Err(e) => last = Some(e),
        }
    }
    panic!("no default network for the test root: {:?}", last);
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Builds a layer tarball entry by entry, including ones no well-behaved tool would write.
pub struct TarBuilder {
    out: Vec<u8>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder { out: Vec::new() }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    }

    /// Writes `name` into the header as raw bytes, bypassing the tar crate's path checks.
    fn raw_name(h: &mut tar::Header, name: &str) {
        let bytes = name.as_bytes();
        assert!(bytes.len() < 100, "raw names are short");
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..bytes.len()].copy_from_slice(bytes);
    }

    fn raw_link(h: &mut tar::Header, target: &str) {
        let bytes = target.as_bytes();
        assert!(bytes.len() < 100);
        let old = h.as_old_mut();
        old.linkname = [0; 100];
        old.linkname[..bytes.len()].copy_from_slice(bytes);
    }

    fn push(&mut self, mut h: tar::Header, data: &[u8]) {
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    /// A PAX extended header applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = format!(" {k}=").len() + v.len() + 1;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len = len.to_string().len() + rest;
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let mut h = Self::header(tar::EntryType::XHeader, 0o644, body.len() as u64);
        Self::raw_name(&mut h, "PaxHeaders/x");
        self.push(h, &body);
        self
    }

    /// A regular file; long and unicode names go through a GNU long-name entry.
    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) -> &mut Self {
        if path.len() >= 100 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::GNULongName);
            h.set_size(path.len() as u64 + 1);
            Self::raw_name(&mut h, "././@LongLink");
            h.set_mode(0o644);
            let mut name = path.as_bytes().to_vec();
            name.push(0);
            self.push(h, &name);
            let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
            Self::raw_name(&mut h, &path[..90]);
            self.push(h, data);
        } else {
            let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
            Self::raw_name(&mut h, path);
            self.push(h, data);
        }
        self
    }

    pub fn file_owned(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        Self::raw_name(&mut h, path);
        self.push(h, data);
        self
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Directory, mode, 0);
        Self::raw_name(&mut h, path);
        self.push(h, &[]);
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        Self::raw_name(&mut h, path);
        Self::raw_link(&mut h, target);
        self.push(h, &[]);
        self
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        Self::raw_name(&mut h, path);
        Self::raw_link(&mut h, target);
        self.push(h, &[]);
        self
    }

    /// An OCI whiteout hiding `path` of lower layers.
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let (dir, name) = path
            .rsplit_once('/')
            .map(|(d, n)| (format!("{d}/"), n))
            .unwrap_or((String::new(), path));
        self.file(&format!("{dir}.wh.{name}"), b"", 0o644)
    }

    /// Marks directory `dir` opaque: lower layers' contents of it are hidden.
    pub fn opaque(&mut self, dir: &str) -> &mut Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"", 0o644)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Oci,
    Docker,
}

pub fn compress(tar: &[u8], comp: Comp) -> Vec<u8> {
    match comp {
        Comp::None => tar.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).expect("gzip");
            e.finish().expect("gzip")
        }
        Comp::Zstd => zstd::encode_all(tar, 1).expect("zstd"),
    }
}

/// What a pushed image is made of, for assertions.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: String,
    pub manifest_digest: String,
    pub manifest_size: usize,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub diff_ids: Vec<String>,
}

pub struct Pusher {
    rt: tokio::runtime::Runtime,
    client: Client,
    auth: RegistryAuth,
}

impl Pusher {
    pub fn new(reg: &TestRegistry) -> Pusher {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        gocker::image::registry::install_tls_provider();
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        });
        let auth = if reg.auth {
            RegistryAuth::Basic(USER.into(), PASSWORD.into())
        } else {
            RegistryAuth::Anonymous
        };
        Pusher { rt, client, auth }
    }

    fn reference(&self, s: &str) -> Reference {
        s.parse().expect("fixture reference")
    }

    /// Logs in for pushing to `r`'s repository.
    async fn authorize(&self, r: &Reference) {
        self.client
            .store_auth_if_needed(r.resolve_registry(), &self.auth)
            .await;
        self.client
            .auth(r, &self.auth, oci_client::RegistryOperation::Push)
            .await
            .expect("auth for push");
    }

    pub fn blob(&self, reference: &str, data: &[u8]) -> String {
        let r = self.reference(reference);
        let digest = sha256(data);
        self.rt.block_on(async {
            self.authorize(&r).await;
            self.client
                .push_blob(&r, data.to_vec(), &digest)
                .await
                .expect("push blob")
        });
        digest
    }

    pub fn manifest(&self, reference: &str, body: &[u8], media_type: &str) -> String {
        let r = self.reference(reference);
        self.rt.block_on(async {
            self.authorize(&r).await;
            self.client
                .push_manifest_raw(
                    &r,
                    body.to_vec(),
                    http::HeaderValue::from_str(media_type).expect("media type"),
                )
                .await
                .expect("push manifest")
        });
        sha256(body)
    }

    /// Pushes an image of the given layer tarballs; `config` is merged into the config's
    /// `config` section (Env, Cmd, ...).
    pub fn image(
        &self,
        reference: &str,
        layers: &[(Vec<u8>, Comp)],
        format: Format,
        config: serde_json::Value,
        arch: &str,
    ) -> Pushed {
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        let mut layer_digests = Vec::new();
        for (tar, comp) in layers {
            let blob = compress(tar, *comp);
            let digest = self.blob(reference, &blob);
            diff_ids.push(sha256(tar));
            layer_digests.push(digest.clone());
            let media_type = match (format, comp) {
                (Format::Oci, Comp::None) => "application/vnd.oci.image.layer.v1.tar",
                (Format::Oci, Comp::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
                (Format::Oci, Comp::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
                (Format::Docker, Comp::None) => "application/vnd.docker.image.rootfs.diff.tar",
                (Format::Docker, Comp::Gzip) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
                (Format::Docker, Comp::Zstd) => "application/vnd.docker.image.rootfs.diff.tar.zstd",
            };
            descs.push(serde_json::json!({ "mediaType": media_type, "digest": digest, "size": blob.len() }));
        }
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": config,
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        });
        let config_raw = serde_json::to_vec(&config).expect("config json");
        let config_digest = self.blob(reference, &config_raw);
        let (mt, cmt) = match format {
            Format::Oci => (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
            ),
            Format::Docker => (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
            ),
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "config": { "mediaType": cmt, "digest": config_digest, "size": config_raw.len() },
            "layers": descs,
        });
        let body = serde_json::to_vec(&manifest).expect("manifest json");
        let manifest_digest = self.manifest(reference, &body, mt);
        Pushed {
            reference: reference.to_string(),
            manifest_digest,
            manifest_size: body.len(),
            config_digest,
            layer_digests,
            diff_ids,
        }
    }

    /// Pushes an image index over already pushed manifests: (image, os/arch[/variant]).
    pub fn index(&self, reference: &str, entries: &[(&Pushed, &str)]) -> String {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(p, platform)| {
                let parts: Vec<&str> = platform.split('/').collect();
                let mut plat = serde_json::json!({ "os": parts[0], "architecture": parts[1] });
                if let Some(v) = parts.get(2) {
                    plat["variant"] = serde_json::json!(v);
                }
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": p.manifest_digest,
                    "size": p.manifest_size,
                    "platform": plat,
                })
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let body = serde_json::to_vec(&index).expect("index json");
        self.manifest(reference, &body, "application/vnd.oci.image.index.v1+json")
    }
}

/// A busybox root filesystem layer from the host's busybox-static: /bin/busybox, applet
/// symlinks, /etc/passwd and /etc/group.
pub fn busybox_layer() -> Vec<u8> {
    let bin =
        std::fs::read("/bin/busybox").expect("the tests need busybox-static: run scripts/test.sh");
    let mut t = TarBuilder::new();
    t.dir("bin/", 0o755).file("bin/busybox", &bin, 0o755);
    for applet in [
        "sh", "ls", "cat", "echo", "true", "false", "sleep", "id", "hostname", "ps", "mount",
        "env", "wc", "head", "stat", "touch", "mkdir", "rm", "httpd", "wget", "grep", "kill", "ip",
        "ifconfig", "nslookup", "top", "dd", "sync", "readlink", "pwd", "uname", "test", "[",
    ] {
        t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.dir("etc/", 0o755)
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n", 0o644)
        .file("etc/group", b"root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n", 0o644)
        .dir("root/", 0o700)
        .dir("tmp/", 0o1777)
        .dir("home/user/", 0o755);
    t.finish()
}

/// Pushes the busybox fixture as `repo:tag` on `reg`.
pub fn push_busybox(reg: &TestRegistry, repo_tag: &str) -> Pushed {
    let p = Pusher::new(reg);
    p.image(
        &format!("{}/{}", reg.addr, repo_tag),
        &[(busybox_layer(), Comp::Gzip)],
        Format::Oci,
        serde_json::json!({ "Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] }),
        "amd64",
    )
}

/// Mount points under `root` still present, for leak checks.
pub fn mounts_under(root: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = root.to_string_lossy().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(String::from)
        .collect()
}

/// A program on a pseudo terminal, driven by keystrokes and read back from the screen.
pub struct Pty {
    pub master: std::fs::File,
    pub seen: String,
}

impl Pty {
    pub fn new(master: std::os::fd::OwnedFd) -> Pty {
        Pty {
            master: std::fs::File::from(master),
            seen: String::new(),
        }
    }

    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = self.seen.find(needle) {
                let upto = self.seen[..i + needle.len()].to_string();
                self.seen.drain(..i + needle.len());
                return upto;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; screen so far: {:?}",
                self.seen
            );
            let mut fds = [libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 200) };
            if n > 0 {
                match self.master.read(&mut buf) {
                    Ok(0) | Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    Ok(k) => self.seen.push_str(&String::from_utf8_lossy(&buf[..k])),
                }
            }
        }
    }

    /// Types a line and returns what the screen showed until the REPL reads again (rustyline
    /// switches bracketed paste back on, ESC[?2004h, at every new read; it also discards
    /// typeahead then, so each line waits for it).
    pub fn line(&mut self, text: &str) -> String {
        self.send(text);
        self.send("\r");
        self.expect("\u{1b}[?2004h")
    }

    pub fn send(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("write to pty");
    }
}

/// A process's standard output, as text.
pub fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A process's standard error, as text.
pub fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the gocker-script binary on `root` with `args`.
pub fn gocker(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run gocker-script")
}

/// Runs the gocker-script binary on `root` with `args`, which must succeed; its stdout.
pub fn gocker_ok(root: &Path, args: &[&str]) -> String {
    let o = gocker(root, args);
    assert!(o.status.success(), "{args:?}: {}", err(&o));
    out(&o)
}

/// A child process that is killed if the test fails before waiting for it, and the containers
/// of its root removed, so a failing test leaves nothing running.
pub struct Guard {
    pub child: Option<std::process::Child>,
    pub root: PathBuf,
}

impl Guard {
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("waited once");
        child.wait().expect("wait for child")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = gocker(
            &self.root,
            &[
                "-e",
                "for c in containers() { remove(c, #{ force: true }) }",
            ],
        );
    }
}

/// Starts `cmd` on a new pseudo terminal (optionally of `rows` x `cols`), in its own session
/// with the terminal as its controlling terminal, so Ctrl-C and job control are real.
pub fn on_pty(mut cmd: Command, root: &Path, size: Option<(u16, u16)>) -> (Guard, Pty) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: setting the window size of our own pty.
        unsafe { libc::ioctl(pty.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    let slave = pty.slave;
    cmd.stdin(Stdio::from(slave.try_clone().expect("dup pty")))
        .stdout(Stdio::from(slave.try_clone().expect("dup pty")))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("start on a pty");
    (
        Guard {
            child: Some(child),
            root: root.to_path_buf(),
        },
        Pty::new(pty.master),
    )
}

/// Kills container `id`'s supervisor with SIGKILL (a host going down, as far as the container
/// is concerned) and waits until its init has died with it (PDEATHSIG; at most 5 s).
pub fn kill_supervisor(root: &Path, id: &str) {
    let db = rusqlite::Connection::open(root.join("db.sqlite")).expect("open the database");
    let (pid, shim): (i64, i64) = db
        .query_row(
            "SELECT pid, shim_pid FROM containers WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("a running container");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the supervisor");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the container's init survived its supervisor"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
