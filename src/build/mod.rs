//! Building images, buildah's way: a working state (the layers so far and the config), and
//! steps on it. RUN runs the command in a container of the state's image and commits its
//! writable layer; COPY copies files into a private overlay of the image (the copy helper)
//! and commits that; every other instruction edits the config. Each layer step is cached:
//! its key is the chain of every step before it (from the base image's id) plus its own
//! text, and for COPY the digest of the files it copies; a hit takes the image the step
//! made before, in milliseconds, instead of running anything.
//!
//! The Dockerfile frontend (`dockerfile`) lowers a Dockerfile onto these same steps; the
//! stdlib's `build` drives them, as a script's own builder does.

pub mod dockerfile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::container::copy::{CopyArgs, CopyMode, CopyRoot};
use crate::container::spec::{NetworkMode, Spec};
use crate::container::{Attach, ContainerStore};
use crate::error::{Error, Kind, Result};
use crate::image::oci::{self, Platform};
use crate::image::{Image, ImageStore};

/// Where a build stands: the image holding its layers, the config it will have, and the
/// cache key of everything done so far.
#[derive(Debug, Clone)]
pub struct BuildState {
    /// The stage's name (COPY --from=NAME shows it).
    pub name: Option<String>,
    /// How many layers the base image has (squash keeps them).
    pub base_layers: usize,
    /// The image whose layers the build has so far (an empty image for `scratch`).
    pub image: String,
    /// The image config as it will be committed (config, rootfs, history).
    pub config: Value,
    /// The cache key of the steps so far.
    pub key: String,
    /// The build arguments in scope (ARG), given to RUN as environment.
    pub args: BTreeMap<String, String>,
    /// The build arguments given to the build (--build-arg), for ARG to take.
    pub args_given: BTreeMap<String, String>,
    /// The shell of the shell form of RUN/CMD/ENTRYPOINT (SHELL).
    pub shell: Vec<String>,
    /// Whether this build set CMD (an ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// The build context: COPY's sources are read inside it.
    pub context: Option<PathBuf>,
    /// .dockerignore patterns of the context.
    pub ignore: Vec<String>,
    pub no_cache: bool,
    /// Say why each layer step missed the cache (in its report).
    pub explain: bool,
    why: Option<String>,
    /// Every step's key and text, from FROM on; the first `recorded` are in the database.
    chain: Vec<(String, String)>,
    recorded: usize,
    /// The network of RUN steps.
    pub network: NetworkMode,
    /// The time of the newest layer: config-only steps take it, so that a rebuild from
    /// the cache makes the same image id.
    pub created: String,
    /// What each step did.
    pub steps: Vec<StepReport>,
}

/// One step as it went.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub text: String,
    /// Taken from the cache.
    pub cached: bool,
    /// The image the step made (layer steps only).
    pub image: Option<String>,
    /// Why it missed the cache, when the build explains.
    pub why: Option<String>,
    pub millis: u64,
}

/// COPY's options.
#[derive(Debug, Clone, Default)]
pub struct CopyStep {
    /// Copy from this image's files instead of the context (COPY --from).
    pub from_image: Option<String>,
    /// What --from named (a stage or an image), for the step's text.
    pub from_label: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<u32>,
    /// ADD: local tar archives are extracted into the destination.
    pub extract: bool,
}

fn key_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// An image with no layers and an empty config: `FROM scratch`.
fn scratch(images: &ImageStore) -> Result<Image> {
    let p = Platform::host();
    let mut config = json!({
        "architecture": p.architecture, "os": p.os,
        "config": {}, "rootfs": { "type": "layers", "diff_ids": [] }, "history": []
    });
    if let Some(v) = p.variant {
        config["variant"] = v.into();
    }
    let img = images.store_config(&config, None, None)?;
    // Kept with the build cache's images: hidden from `images`, left by a plain prune.
    images.db().lock().execute(
        "INSERT OR IGNORE INTO build_cache (key, image_id, created) VALUES ('scratch', ?1, ?2)",
        params![img.id, crate::sys::now()],
    )?;
    Ok(img)
}

/// The start of a build: `base`'s layers and config (an image in the store, or
/// "scratch").
pub fn from(images: &ImageStore, base: &str) -> Result<BuildState> {
    let img = if base == "scratch" {
        scratch(images)?
    } else {
        images.image(base)?
    };
    let (_, raw) = images.raw(&img.id)?;
    let mut config: Value = serde_json::from_str(&raw).map_err(|e| {
        Error::with_source(Kind::Corrupt, format!("the config of {base} is damaged"), e)
    })?;
    if !config.get("config").is_some_and(Value::is_object) {
        config["config"] = json!({});
    }
    crate::image::commit::pad_history(&mut config);
    let created = config
        .get("created")
        .and_then(Value::as_str)
        .unwrap_or("1970-01-01T00:00:00Z")
        .to_string();
    // The image's own SHELL is the build's.
    let shell: Vec<String> = config
        .pointer("/config/Shell")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .filter(|s: &Vec<String>| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    Ok(BuildState {
        name: None,
        base_layers: img.layers.len(),
        image: img.id.clone(),
        config,
        key: key_of(&["FROM", &img.id]),
        chain: vec![(key_of(&["FROM", &img.id]), format!("FROM {base}"))],
        recorded: 0,
        args: BTreeMap::new(),
        args_given: BTreeMap::new(),
        shell,
        cmd_set: false,
        context: None,
        ignore: Vec::new(),
        no_cache: false,
        explain: false,
        why: None,
        network: NetworkMode::Bridge("bridge".into()),
        created,
        steps: Vec::new(),
    })
}

impl BuildState {
    /// The run config (`config` of the image config), made if missing.
    pub fn run_config(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config.get("config").is_some_and(Value::is_object) {
            self.config["config"] = json!({});
        }
        match self.config.get_mut("config").and_then(Value::as_object_mut) {
            Some(m) => m,
            None => unreachable!("made just above"),
        }
    }

    fn history(&mut self, entry: Value) {
        match self.config.get_mut("history").and_then(Value::as_array_mut) {
            Some(h) => h.push(entry),
            None => self.config["history"] = json!([entry]),
        }
    }

    /// `path` in the image: an absolute one as it is, a relative one under the working
    /// directory (WORKDIR, COPY's destination).
    pub fn in_workdir(&self, path: &str) -> String {
        if path.starts_with('/') {
            return path.to_string();
        }
        let workdir = self
            .config
            .pointer("/config/WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or("/");
        format!("{}/{path}", workdir.trim_end_matches('/'))
    }

    /// The image's environment as KEY → VALUE.
    pub fn env(&self) -> BTreeMap<String, String> {
        self.config
            .pointer("/config/Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A step that only changes the config (ENV, CMD, LABEL, ...): `edit` does, and the
    /// history records `text` as an empty layer.
    pub fn config_step(
        &mut self,
        text: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>) -> Result<()>,
    ) -> Result<()> {
        let start = Instant::now();
        edit(self.run_config())?;
        let created = self.created.clone();
        self.history(json!({ "created": created, "created_by": text, "empty_layer": true }));
        self.key = key_of(&[&self.key, text]);
        self.chain.push((self.key.clone(), text.to_string()));
        self.steps.push(StepReport {
            text: text.to_string(),
            cached: false,
            image: None,
            why: None,
            millis: start.elapsed().as_millis() as u64,
        });
        Ok(())
    }

    /// The key of a layer step (`text`, and `content`: what else decides its result), and
    /// the image it made before if the cache has it (and it is still in the store). On a
    /// miss with `explain`, why: what differs from the steps cached after the same steps.
    fn lookup(
        &mut self,
        images: &ImageStore,
        text: &str,
        content: &str,
    ) -> Result<(String, Option<Image>)> {
        let key = key_of(&[&self.key, text, content]);
        self.why = None;
        if self.no_cache {
            self.why = self.explain.then(|| "no_cache".to_string());
            return Ok((key, None));
        }
        let id: Option<String> = images
            .db()
            .lock()
            .query_row(
                "SELECT image_id FROM build_cache WHERE key = ?1",
                [&key],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = id {
            match images.get(&id) {
                Ok(img) => return Ok((key, Some(img))),
                Err(e) if e.kind() == Kind::NotFound => {
                    images
                        .db()
                        .lock()
                        .execute("DELETE FROM build_cache WHERE key = ?1", [&key])?;
                    self.why = self.explain.then(|| "its image was removed".to_string());
                    return Ok((key, None));
                }
                Err(e) => return Err(e),
            }
        }
        if self.explain {
            self.why = Some(self.explain_miss(images, text)?);
        }
        Ok((key, None))
    }

    /// Why the step `text` after the steps so far has no cached result: the first step of
    /// this build that differs from every build seen after the same steps before it.
    fn explain_miss(&self, images: &ImageStore, text: &str) -> Result<String> {
        let conn = images.db().lock();
        let mut stmt = conn.prepare("SELECT key, step FROM build_chain WHERE parent = ?1")?;
        let mut children = |parent: &str| -> Result<Vec<(String, String)>> {
            Ok(stmt
                .query_map([parent], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        };
        let mut steps: Vec<(&str, &str)> = self
            .chain
            .iter()
            .map(|(k, t)| (k.as_str(), t.as_str()))
            .collect();
        // This step, as the last one (its key is not known, only that it is not cached).
        steps.push(("", text));
        for pair in steps.windows(2) {
            let (parent, (key, now)) = (pair[0].0, pair[1]);
            let seen = children(parent)?;
            if seen.is_empty() {
                return Ok(format!(
                    "the step before it ({}) has a new result",
                    pair[0].1
                ));
            }
            if seen.iter().any(|(k, _)| k == key) {
                continue;
            }
            let same: Vec<&(String, String)> = seen.iter().filter(|(_, s)| s == now).collect();
            return Ok(if !same.is_empty() && now.starts_with("RUN") {
                format!("{now} ran with other build arguments before")
            } else if !same.is_empty() {
                format!("the files of {now} changed")
            } else {
                let was: Vec<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
                format!(
                    "{now} is new here (built after the same steps before: {})",
                    was.join(" | ")
                )
            });
        }
        Ok("its result was not cached".to_string())
    }

    /// Writes the steps not yet recorded into the chain table (for explain).
    fn record_chain(&mut self, images: &ImageStore) -> Result<()> {
        let conn = images.db().lock();
        for i in self.recorded.max(1)..self.chain.len() {
            conn.execute(
                "INSERT OR IGNORE INTO build_chain (key, parent, step) VALUES (?1, ?2, ?3)",
                params![self.chain[i].0, self.chain[i - 1].0, self.chain[i].1],
            )?;
        }
        self.recorded = self.chain.len();
        Ok(())
    }

    /// Moves the state onto an image a layer step made (or the cache had).
    fn take(
        &mut self,
        images: &ImageStore,
        img: &Image,
        key: String,
        text: &str,
        cached: bool,
        start: Instant,
    ) -> Result<()> {
        let (_, raw) = images.raw(&img.id)?;
        self.config = serde_json::from_str(&raw).map_err(|e| {
            Error::with_source(Kind::Corrupt, "a cached step's image config is damaged", e)
        })?;
        self.created = self
            .config
            .get("created")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.image = img.id.clone();
        self.chain.push((key.clone(), text.to_string()));
        self.key = key;
        self.record_chain(images)?;
        self.steps.push(StepReport {
            text: text.to_string(),
            cached,
            image: Some(img.id.clone()),
            why: if cached { None } else { self.why.take() },
            millis: start.elapsed().as_millis() as u64,
        });
        Ok(())
    }

    /// Stores the layer at `tar` on top of the state's image as the step `text`.
    fn commit_step(
        &mut self,
        images: &ImageStore,
        tar: &Path,
        diff_id: &str,
        text: &str,
    ) -> Result<Image> {
        let mut config = self.config.clone();
        let created = crate::image::commit::rfc3339_now();
        config["created"] = created.clone().into();
        match config
            .pointer_mut("/rootfs/diff_ids")
            .and_then(Value::as_array_mut)
        {
            Some(d) => d.push(diff_id.into()),
            None => config["rootfs"] = json!({ "type": "layers", "diff_ids": [diff_id] }),
        }
        let entry = json!({ "created": created, "created_by": text });
        match config.get_mut("history").and_then(Value::as_array_mut) {
            Some(h) => h.push(entry),
            None => config["history"] = json!([entry]),
        }
        images.store_config(&config, Some((tar, diff_id)), None)
    }

    /// Records that the step (`text`, `content`) after the steps so far made image `id`.
    fn remember(
        &self,
        images: &ImageStore,
        key: &str,
        id: &str,
        text: &str,
        content: &str,
    ) -> Result<()> {
        images.db().lock().execute(
            "INSERT INTO build_cache (key, image_id, created, parent, step, content) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id",
            params![key, id, crate::sys::now(), self.key, text, content],
        )?;
        Ok(())
    }

    /// RUN: `argv` in a container of the state's image (its env, build args, user and
    /// working directory), whose writable layer becomes the step's layer.
    pub fn run(
        &mut self,
        containers: &ContainerStore,
        images: &ImageStore,
        argv: &[String],
    ) -> Result<()> {
        if argv.is_empty() {
            return Err(Error::invalid("RUN needs a command"));
        }
        let start = Instant::now();
        // Shell form as written; exec form as JSON.
        let text = match argv.split_last() {
            Some((cmd, shell)) if shell == self.shell.as_slice() => format!("RUN {cmd}"),
            _ => format!("RUN {}", serde_json::to_string(argv).unwrap_or_default()),
        };
        // Build args change what RUN does (they are its environment): they are in its key.
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let args = args.join(" ");
        let (key, hit) = self.lookup(images, &text, &args)?;
        if let Some(img) = hit {
            return self.take(images, &img, key, &text, true, start);
        }
        let mut spec = Spec::new(&self.image);
        spec.image_id = Some(self.image.clone());
        spec.entrypoint = Some(Vec::new());
        spec.network = self.network.clone();
        // The build's environment (ENV steps since the last layer are not in the image's
        // config yet), and the build args it does not set.
        spec.env = self.env();
        for (k, v) in &self.args {
            spec.env.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let rc = self.config.get("config").cloned().unwrap_or_default();
        spec.user = rc
            .get("User")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        spec.workdir = rc
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let started = containers.run(images, &spec, Some(argv.to_vec()), Attach::Output)?;
        let id = started.container.id.clone();
        let result = (|| -> Result<Image> {
            let mut started = started;
            let code = started.wait(containers)?;
            if code != 0 {
                return Err(Error::new(
                    Kind::Runtime,
                    format!("{text} returned a non-zero code: {code}"),
                ));
            }
            let upper = containers.paths().containers().join(&id).join("upper");
            // Named with our pid: prune sweeps what a killed build left.
            let tar = images.paths().tmp().join(format!(
                "build-run-{}-{}.tar",
                std::process::id(),
                &id[..12]
            ));
            let made = crate::image::commit::diff_layer(&upper, &tar)
                .and_then(|diff_id| self.commit_step(images, &tar, &diff_id, &text));
            let _ = std::fs::remove_file(&tar);
            made
        })();
        let _ = containers.remove(&id, true);
        let img = result?;
        self.remember(images, &key, &img.id, &text, &args)?;
        self.take(images, &img, key, &text, false, start)
    }

    /// COPY: `sources` (in the context, or in `opts.from_image`) to `dest` in the image,
    /// as Dockerfile's COPY reads them.
    pub fn copy(
        &mut self,
        containers: &ContainerStore,
        images: &ImageStore,
        sources: &[String],
        dest: &str,
        opts: &CopyStep,
    ) -> Result<()> {
        let start = Instant::now();
        let mut text = String::from(if opts.extract { "ADD" } else { "COPY" });
        if let Some(f) = opts.from_label.as_ref().or(opts.from_image.as_ref()) {
            text.push_str(&format!(" --from={f}"));
        }
        if let Some(c) = &opts.chown {
            text.push_str(&format!(" --chown={c}"));
        }
        if let Some(m) = opts.chmod {
            text.push_str(&format!(" --chmod={m:o}"));
        }
        for s in sources {
            text.push(' ');
            text.push_str(s);
        }
        text.push(' ');
        text.push_str(dest);
        let dest_abs = self.in_workdir(dest);
        let (from_root, content) = match &opts.from_image {
            Some(image) => {
                let img = images.image(image)?;
                let root = CopyRoot::Overlay {
                    lowers: images.layer_dirs(&img)?,
                    upper: None,
                    target: PathBuf::new(),
                    empty: images.paths().root.join("empty"),
                };
                (root, img.id.clone())
            }
            None => {
                let context = self.context.clone().ok_or_else(|| {
                    Error::invalid("COPY from the context needs a build context (builder(image, #{ context: dir }))")
                })?;
                let digest = context_digest(images, &context, sources, &self.ignore)?;
                (CopyRoot::Dir(context), digest)
            }
        };
        let (key, hit) = self.lookup(images, &text, &content)?;
        if let Some(img) = hit {
            return self.take(images, &img, key, &text, true, start);
        }
        let img = images.get(&self.image)?;
        let scratch =
            images
                .paths()
                .tmp()
                .join(format!("build-copy-{}-{}", std::process::id(), &key[..12]));
        let result = (|| -> Result<Image> {
            let (upper, work, merged, from_at) = (
                scratch.join("upper"),
                scratch.join("work"),
                scratch.join("merged"),
                scratch.join("from"),
            );
            for d in [&upper, &work, &merged] {
                std::fs::create_dir_all(d).map_err(|e| Error::io("cannot create", d, e))?;
            }
            let from_root = match from_root {
                CopyRoot::Overlay { lowers, empty, .. } => CopyRoot::Overlay {
                    lowers,
                    upper: None,
                    target: from_at,
                    empty,
                },
                other => other,
            };
            containers.copy(&CopyArgs {
                from: from_root,
                into: CopyRoot::Overlay {
                    lowers: images.layer_dirs(&img)?,
                    upper: Some((upper.clone(), work)),
                    target: merged,
                    empty: images.paths().root.join("empty"),
                },
                sources: sources.to_vec(),
                dest: dest_abs,
                mode: CopyMode::Dockerfile,
                owner: opts.chown.clone(),
                chmod: opts.chmod,
                ignore: if opts.from_image.is_some() {
                    Vec::new()
                } else {
                    self.ignore.clone()
                },
                extract: opts.extract,
            })?;
            let tar = scratch.join("layer.tar");
            let diff_id = crate::image::commit::diff_layer(&upper, &tar)?;
            self.commit_step(images, &tar, &diff_id, &text)
        })();
        let _ = std::fs::remove_dir_all(&scratch);
        let made = result?;
        self.remember(images, &key, &made.id, &text, &content)?;
        self.take(images, &made, key, &text, false, start)
    }

    /// Squashes the layers the build added to its base into one (docker build --squash):
    /// the layers, kept unpacked in overlayfs's form, are replayed one on another into a
    /// scratch directory (whiteouts and opaque directories kept), which becomes the layer.
    pub fn squash(&mut self, images: &ImageStore) -> Result<()> {
        let start = Instant::now();
        let img = images.get(&self.image)?;
        let dirs = images.layer_dirs(&img)?;
        let added = dirs.len().saturating_sub(self.base_layers);
        if added < 2 {
            return Ok(());
        }
        let text = format!("squash of {added} layers");
        let (key, hit) = self.lookup(images, &text, "")?;
        if let Some(img) = hit {
            return self.take(images, &img, key, &text, true, start);
        }
        let saved = self.config.clone();
        let scratch = images.paths().tmp().join(format!(
            "build-squash-{}-{}",
            std::process::id(),
            &key[..12]
        ));
        let result = (|| -> Result<Image> {
            let into = scratch.join("layer");
            std::fs::create_dir_all(&into).map_err(|e| Error::io("cannot create", &into, e))?;
            let into_fd =
                std::fs::File::open(&into).map_err(|e| Error::io("cannot open", &into, e))?;
            let opts = crate::sys::copy::CopyOptions::default();
            let keep = |_: &Path| false;
            let mut copier = crate::sys::copy::Copier::new(&opts, &keep);
            copier.layers = true;
            for dir in &dirs[self.base_layers..] {
                let layer =
                    std::fs::File::open(dir).map_err(|e| Error::io("cannot open", dir, e))?;
                use std::os::fd::AsFd;
                let names = crate::sys::copy::list_dir(layer.as_fd())
                    .map_err(|e| Error::sys("cannot list", dir, e))?;
                for name in names {
                    copier
                        .copy(
                            layer.as_fd(),
                            &name,
                            into_fd.as_fd(),
                            &name,
                            Path::new(&name),
                        )
                        .map_err(|(p, e)| Error::sys("cannot squash", &p, e))?;
                }
            }
            let tar = scratch.join("layer.tar");
            let diff_id = crate::image::commit::diff_layer(&into, &tar)?;
            // The squashed steps stay in the history, as empty layers; one entry holds the layer.
            let mut config = self.config.clone();
            if let Some(d) = config
                .pointer_mut("/rootfs/diff_ids")
                .and_then(Value::as_array_mut)
            {
                d.truncate(self.base_layers);
            }
            if let Some(h) = config.get_mut("history").and_then(Value::as_array_mut) {
                let mut layers_seen = 0;
                for e in h.iter_mut() {
                    if e.get("empty_layer")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                    {
                        continue;
                    }
                    layers_seen += 1;
                    if layers_seen > self.base_layers {
                        e["empty_layer"] = true.into();
                    }
                }
            }
            self.config = config;
            self.commit_step(images, &tar, &diff_id, &text)
        })();
        let _ = std::fs::remove_dir_all(&scratch);
        let made = result.inspect_err(|_| self.config = saved)?;
        self.remember(images, &key, &made.id, &text, "")?;
        self.take(images, &made, key, &text, false, start)
    }

    /// The image the build has made: its layers and its config, named `name` if given. An
    /// unnamed one (a stage another stage starts from) is kept with the build cache's.
    pub fn commit(&mut self, images: &ImageStore, name: Option<&str>) -> Result<Image> {
        self.record_chain(images)?;
        let mut config = self.config.clone();
        config["created"] = self.created.clone().into();
        let img = images.store_config(&config, None, name)?;
        if name.is_none() {
            self.remember(
                images,
                &key_of(&["commit", &self.key]),
                &img.id,
                "commit",
                "",
            )?;
        }
        Ok(img)
    }
}

/// The digest of what COPY would read from the context: every entry's path, type, mode,
/// link target and content (owners and times left out: COPY sets the owner, and a touched
/// file is the same file). File contents are hashed once per (inode, size, times) and
/// remembered in the database, so a rebuild reads no unchanged file.
pub fn context_digest(
    images: &ImageStore,
    context: &Path,
    sources: &[String],
    ignore: &[String],
) -> Result<String> {
    let ig = crate::sys::copy::Ignore::new(ignore);
    let root = std::fs::File::open(context).map_err(|e| Error::io("cannot open", context, e))?;
    let matched = crate::container::copy::expand_sources(
        std::os::fd::AsFd::as_fd(&root),
        sources,
        true,
        &ig,
    )?;
    let mut h = Sha256::new();
    for rel in matched {
        h.update(b"source\0");
        h.update(rel.as_os_str().as_encoded_bytes());
        // The source's directory is found inside the context (its links resolve inside).
        let parent = rel.parent().unwrap_or(Path::new(""));
        let name = rel.file_name().unwrap_or(std::ffi::OsStr::new("."));
        let dir = crate::sys::path::open_dir_in(std::os::fd::AsFd::as_fd(&root), parent, false)
            .map_err(|e| match e {
                nix::errno::Errno::ENOENT => Error::not_found(format!(
                    "COPY failed: {} is not in the build context",
                    rel.display()
                )),
                e => Error::sys("cannot open", parent, e),
            })?;
        walk_digest(
            images,
            context,
            std::os::fd::AsFd::as_fd(&dir),
            name,
            &rel,
            &ig,
            &mut h,
        )?;
    }
    Ok(hex::encode(h.finalize()))
}

/// One source's entry in the digest: read through descriptors (each name opened in its
/// parent without following links, files only if regular), so a link in the context never
/// leads the digest outside it.
fn walk_digest(
    images: &ImageStore,
    context: &Path,
    dir: std::os::fd::BorrowedFd,
    name: &std::ffi::OsStr,
    rel: &Path,
    ig: &crate::sys::copy::Ignore,
    h: &mut Sha256,
) -> Result<()> {
    use nix::fcntl::{AtFlags, OFlag};
    use std::os::fd::{AsFd, AsRawFd};
    let st = nix::sys::stat::fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| match e {
            nix::errno::Errno::ENOENT => Error::not_found(format!(
                "COPY failed: {} is not in the build context",
                rel.display()
            )),
            e => Error::sys("cannot stat", rel, e),
        })?;
    h.update(rel.as_os_str().as_encoded_bytes());
    h.update(format!("\0{:o}\0", st.st_mode).as_bytes());
    match st.st_mode & libc::S_IFMT {
        libc::S_IFLNK => {
            let t = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name)
                .map_err(|e| Error::sys("cannot read", rel, e))?;
            h.update(t.as_encoded_bytes());
        }
        libc::S_IFREG => {
            let stat = format!(
                "{}:{}:{}:{}.{}:{}.{}",
                st.st_dev,
                st.st_ino,
                st.st_size,
                st.st_mtime,
                st.st_mtime_nsec,
                st.st_ctime,
                st.st_ctime_nsec
            );
            let key = context.join(rel).to_string_lossy().to_string();
            let known: Option<String> = images
                .db()
                .lock()
                .query_row(
                    "SELECT digest FROM file_digests WHERE path = ?1 AND stat = ?2",
                    params![key, stat],
                    |r| r.get(0),
                )
                .optional()?;
            let digest = match known {
                Some(d) => d,
                None => {
                    let fd = nix::fcntl::openat(
                        Some(dir.as_raw_fd()),
                        name,
                        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::empty(),
                    )
                    .map_err(|e| Error::sys("cannot open", rel, e))?;
                    let path = crate::sys::path::owned(fd);
                    let mut f = crate::sys::path::reopen_regular(path)
                        .map_err(|e| Error::sys("cannot read", rel, e))?;
                    let mut fh = Sha256::new();
                    std::io::copy(&mut f, &mut fh).map_err(|e| Error::io("cannot read", rel, e))?;
                    let d = hex::encode(fh.finalize());
                    images.db().lock().execute(
                        "INSERT INTO file_digests (path, stat, digest) VALUES (?1, ?2, ?3) ON CONFLICT(path) DO UPDATE SET stat = excluded.stat, digest = excluded.digest",
                        params![key, stat, d],
                    )?;
                    d
                }
            };
            h.update(digest.as_bytes());
        }
        libc::S_IFDIR => {
            let d = crate::sys::copy::open_dir_at(dir, name)
                .map_err(|e| Error::sys("cannot open", rel, e))?;
            let names = crate::sys::copy::list_dir(d.as_fd())
                .map_err(|e| Error::sys("cannot list", rel, e))?;
            for n in names {
                let child = rel.join(&n);
                if ig.skips(&child) {
                    continue;
                }
                walk_digest(images, context, d.as_fd(), &n, &child, ig, h)?;
            }
        }
        // FIFOs and devices: their identity, never their content (never opened).
        _ => h.update(format!("{}", st.st_rdev).as_bytes()),
    }
    h.update(b"\n");
    Ok(())
}

/// The `.dockerignore` of a context, as lines (none when there is no file).
pub fn dockerignore(context: &Path) -> Result<Vec<String>> {
    let path = context.join(".dockerignore");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.lines().map(String::from).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("cannot read", &path, e)),
    }
}

/// The text of the platform this host builds for (`linux/amd64`).
pub fn host_platform() -> String {
    let p = oci::Platform::host();
    format!("{}/{}", p.os, p.architecture)
}
