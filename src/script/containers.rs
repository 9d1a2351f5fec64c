//! Script bindings for containers: the `Spec` builder, `spawn`, and the lifecycle of a
//! `Container`. Each converts its arguments, calls `container::ContainerStore`, maps errors.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use rhai::{Array, Dynamic, Engine, Map};

use super::api::{known_keys, opt_bool, opt_str, options_map, string_list, Res};
use super::value::to_dynamic;
use super::{invalid, script_error, Context};
use crate::container::exec::ExecRequest;
use crate::container::filter::{Ancestor, Filter};
use crate::container::logs::{Entry, LogQuery, Stream};
use crate::container::spec::{parse_duration, parse_size, Bind, NetworkMode, Publish, Spec};
use crate::container::{volumes, Attach, Container, Started, Status};
use crate::image::commit::CommitOptions;
use crate::image::Image;
use crate::runtime::cgroup::check_cpus;
use crate::runtime::security::{self, DeviceRequest, SeccompProfile};
use crate::sys::time::{self, Nanos};

/// A Spec shared by all copies of the script value, so `set_x(c, ...)` and `c.set_x(...)`
/// both change the same container description. Once spawned it is also that container
/// (its id in the second field): `c.id`, `wait(c)`, `kill(c)`, `logs(c)` work on it.
#[derive(Clone)]
pub struct SpecRef(pub Rc<RefCell<Spec>>, pub Rc<RefCell<Option<String>>>);

impl SpecRef {
    pub fn new(spec: Spec) -> SpecRef {
        SpecRef(Rc::new(RefCell::new(spec)), Rc::new(RefCell::new(None)))
    }

    /// The container it became at its last spawn.
    pub fn spawned(&self) -> Option<String> {
        self.1.borrow().clone()
    }

    /// Its container's id, or an error saying it has not been spawned.
    fn container_id(&self, what: &str) -> Res<String> {
        self.spawned().ok_or_else(|| {
            invalid(format!(
                "{what}: this Spec ({}) is no container until it is spawned: spawn it first",
                self.0.borrow().image
            ))
        })
    }
}

/// A container, by id; its getters read the live state.
#[derive(Clone)]
pub struct ContainerRef {
    pub id: String,
}

/// A started process: the container's init, and for a foreground run its supervisor.
#[derive(Clone)]
pub struct Process {
    pub id: String,
    pub pid: i64,
    started: Rc<RefCell<Option<Started>>>,
    exit: Rc<RefCell<Option<i64>>>,
}

fn strings(a: Array, what: &str) -> Res<Vec<String>> {
    a.into_iter()
        .map(|v| {
            v.into_string()
                .map_err(super::api::a_type)
                .map_err(|t| invalid(format!("{what} must be strings, not {t}")))
        })
        .collect()
}

/// `logs`' options: which lines, with times or not, followed or not.
fn log_options(func: &str, opts: &Map) -> Res<(LogQuery, bool, bool)> {
    known_keys(
        opts,
        func,
        &[
            "stdout",
            "stderr",
            "timestamps",
            "since",
            "until",
            "tail",
            "follow",
        ],
    )?;
    let stream = |key: &str| match opts.get(key) {
        None => Ok(true),
        Some(_) => opt_bool(opts, key),
    };
    let point = |key: &str| -> Res<Option<Nanos>> {
        let Some(v) = opts.get(key).filter(|v| !v.is_unit()) else {
            return Ok(None);
        };
        let bad = || {
            invalid(format!(
                "{func}: {key} must be a time: RFC 3339 (\"2026-11-30T20:00:00Z\"), Unix seconds, or a duration before now (\"10m\"), not {v}"
            ))
        };
        if let Ok(n) = v.as_int() {
            return Ok(Some(n as Nanos * 1_000_000_000));
        }
        if let Ok(f) = v.as_float() {
            return Ok(Some((f * 1e9) as Nanos));
        }
        let text = v.clone().into_string().map_err(|_| bad())?;
        time::parse_point(&text, time::now_nanos())
            .map(Some)
            .ok_or_else(bad)
    };
    let tail = match opts.get("tail") {
        None => None,
        Some(t) => {
            let n = t
                .as_int()
                .map_err(|_| invalid(format!("{func}: tail must be a number of lines")))?;
            if n < 0 {
                return Err(invalid(format!(
                    "{func}: tail must be 0 or more lines, not {n}"
                )));
            }
            Some(n as usize)
        }
    };
    let q = LogQuery {
        stdout: stream("stdout")?,
        stderr: stream("stderr")?,
        since: point("since")?,
        until: point("until")?,
        tail,
    };
    Ok((q, opt_bool(opts, "timestamps")?, opt_bool(opts, "follow")?))
}

/// Writes a container's log lines to our stdout and stderr, each line to the stream it came
/// from (as `docker logs` does); with `follow`, until the container exits.
fn print_logs(c: &Context, v: &Dynamic, q: &LogQuery, timestamps: bool, follow: bool) -> Res<()> {
    use std::io::Write;
    let store = c.containers()?;
    let id = container_id(v)?;
    let mut write = |e: &Entry| -> std::io::Result<()> {
        let text = e.render(timestamps);
        match e.stream {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()
            }
            Stream::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
        }
    };
    match store.write_logs(&id, q, follow, &mut write) {
        // `logs | head`: the reader is gone, which ends the script quietly.
        Err(e) if e.source_errno() == Some(libc::EPIPE) => {
            super::STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        other => other.map_err(script_error),
    }
}

/// A size from "64m" or a number of bytes.
pub(super) fn size(v: &Dynamic, what: &str) -> Res<i64> {
    if let Ok(n) = v.as_int() {
        if n <= 0 {
            return Err(invalid(format!("{what} must be positive, not {n}")));
        }
        return Ok(n);
    }
    match v.clone().into_string() {
        Ok(s) => parse_size(&s).map_err(script_error),
        Err(t) => Err(invalid(format!(
            "{what} must be a size like \"64m\" or a number of bytes, not {}",
            super::api::a_type(t)
        ))),
    }
}

pub(super) fn number(v: &Dynamic, what: &str) -> Res<f64> {
    v.as_float()
        .or_else(|_| v.as_int().map(|i| i as f64))
        .map_err(super::api::a_type)
        .map_err(|t| invalid(format!("{what} must be a number, not {t}")))
}

pub(super) fn duration(v: &Dynamic) -> Res<Duration> {
    if let Ok(n) = v.as_int() {
        return Ok(Duration::from_secs(n.max(0) as u64));
    }
    if let Ok(f) = v.as_float() {
        return Ok(Duration::from_secs_f64(f.max(0.0)));
    }
    match v.clone().into_string() {
        Ok(s) => parse_duration(&s).map_err(script_error),
        Err(t) => Err(invalid(format!(
            "a duration must be like \"10s\" or seconds, not {}",
            super::api::a_type(t)
        ))),
    }
}

/// The container a value names: a Container, a Process, a Spec that has been spawned, or a
/// name or id.
pub(super) fn container_id(v: &Dynamic) -> Res<String> {
    if let Some(c) = v.read_lock::<ContainerRef>() {
        return Ok(c.id.clone());
    }
    if let Some(p) = v.read_lock::<Process>() {
        return Ok(p.id.clone());
    }
    if let Some(s) = v.read_lock::<SpecRef>() {
        return s.container_id("a container is needed");
    }
    let got = super::api::a_value(v);
    v.clone().into_string().map_err(|_| {
        invalid(format!(
            "expected a container (a Container, a spawned Spec, or a name or id), got {got}"
        ))
    })
}

/// A size as a person writes it: 64m, 1g, 512k, or bytes when it is none of those.
fn short_size(n: i64) -> String {
    for (unit, shift) in [("g", 30), ("m", 20), ("k", 10)] {
        if n > 0 && n % (1i64 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

/// How a Spec prints: `Spec(busybox, mem=64m, net=none)`: its image and what was set.
pub fn describe_spec(s: &SpecRef) -> String {
    let sp = s.0.borrow();
    let mut parts = vec![sp.image.clone()];
    if let Some(n) = &sp.name {
        parts.push(format!("name={n}"));
    }
    if let Some(m) = sp.limits.memory {
        parts.push(format!("mem={}", short_size(m)));
    }
    if let Some(c) = sp.limits.cpus {
        parts.push(format!("cpus={c}"));
    }
    if let Some(p) = sp.limits.pids {
        parts.push(format!("pids={p}"));
    }
    parts.push(format!("net={}", sp.network.as_str()));
    if let Some(id) = s.spawned() {
        parts.push(format!("container={}", short(&id)));
    }
    format!("Spec({})", parts.join(", "))
}

/// How a Container prints: `Container(web, running, 172.29.0.2)`, read live; a container
/// that is gone prints its short id and says so.
pub fn describe_container(ctx: Option<&Context>, id: &str) -> String {
    let found = ctx
        .and_then(|c| c.containers().ok())
        .and_then(|s| s.get(id).ok());
    let Some(c) = found else {
        return format!("Container({}, removed)", short(id));
    };
    let mut parts = vec![c.name.clone()];
    parts.push(match (c.status, c.exit_code) {
        (Status::Exited, Some(code)) => format!("exited ({code})"),
        (status, _) => status.as_str().to_string(),
    });
    if let Some(ip) = c.ip.filter(|_| c.status == Status::Running) {
        parts.push(ip);
    }
    format!("Container({})", parts.join(", "))
}

/// How a Process prints: `Process(web, pid 4242)`, or its exit code once waited for.
pub fn describe_process(ctx: Option<&Context>, p: &Process) -> String {
    let name = ctx
        .and_then(|c| c.containers().ok())
        .and_then(|s| s.get(&p.id).ok())
        .map(|c| c.name)
        .unwrap_or_else(|| short(&p.id).to_string());
    match *p.exit.borrow() {
        Some(code) => format!("Process({name}, exited {code})"),
        None => format!("Process({name}, pid {})", p.pid),
    }
}

/// How any of this module's values prints, None for other values.
pub fn describe(ctx: Option<&Context>, v: &Dynamic) -> Option<String> {
    if let Some(s) = v.read_lock::<SpecRef>() {
        return Some(describe_spec(&s));
    }
    if let Some(c) = v.read_lock::<ContainerRef>() {
        return Some(describe_container(ctx, &c.id));
    }
    if let Some(p) = v.read_lock::<Process>() {
        return Some(describe_process(ctx, &p));
    }
    None
}

pub fn register(engine: &mut Engine, ctx: Rc<Context>) {
    // help(c) for a value: its type's properties and methods.
    let type_help = |name: &str| {
        super::docs::type_doc(name)
            .map(super::docs::help_type)
            .unwrap_or_default()
    };
    engine.register_fn("help", move |_: &mut SpecRef| type_help("Spec"));
    engine.register_fn("help", move |_: &mut ContainerRef| type_help("Container"));
    engine.register_fn("help", move |_: &mut Process| type_help("Process"));
    register_spec(engine);
    register_limits(engine);
    register_identity(engine);
    register_wiring(engine);
    register_extras(engine);
    register_security(engine);
    register_spawn(engine, ctx.clone());
    register_process(engine, ctx.clone());
    register_container(engine, ctx.clone());
    register_networks(engine, ctx.clone());
    register_lookup(engine, ctx.clone());
    register_lifecycle(engine, ctx.clone());
    register_exec(engine, ctx.clone());
    register_commit(engine, ctx.clone());
    register_live_limits(engine, ctx);
}

/// commit: a container's writable layer as a new image.
fn register_commit(engine: &mut Engine, ctx: Rc<Context>) {
    fn options(opts: &Map) -> Res<CommitOptions> {
        known_keys(opts, "commit", &["message", "author", "changes", "pause"])?;
        let mut o = CommitOptions {
            message: opt_str(opts, "message")?,
            author: opt_str(opts, "author")?,
            ..Default::default()
        };
        if let Some(p) = opts.get("pause") {
            o.no_pause = !p
                .as_bool()
                .map_err(super::api::a_type)
                .map_err(|t| invalid(format!("commit: pause must be true or false, not {t}")))?;
        }
        let Some(changes) = opts.get("changes") else {
            return Ok(o);
        };
        let changes = changes
            .clone()
            .try_cast::<Map>()
            .ok_or_else(|| invalid("commit: changes must be a map, e.g. #{ cmd: [\"httpd\"] }"))?;
        known_keys(
            &changes,
            "commit changes",
            &[
                "cmd",
                "entrypoint",
                "env",
                "workdir",
                "user",
                "labels",
                "stop_signal",
                "expose",
                "volumes",
                "healthcheck",
            ],
        )?;
        let list = |key: &str| -> Res<Option<Vec<String>>> {
            match changes.get(key) {
                None => Ok(None),
                Some(v) => match v.clone().try_cast::<Array>() {
                    Some(a) => strings(a, key).map(Some),
                    None => Err(invalid(format!(
                        "commit: {key} must be an array of strings"
                    ))),
                },
            }
        };
        o.cmd = list("cmd")?;
        o.entrypoint = list("entrypoint")?;
        o.env = list("env")?.unwrap_or_default();
        o.workdir = opt_str(&changes, "workdir")?;
        o.user = opt_str(&changes, "user")?;
        o.stop_signal = opt_str(&changes, "stop_signal")?;
        o.expose = list("expose")?.unwrap_or_default();
        o.volumes = list("volumes")?.unwrap_or_default();
        if let Some(h) = changes.get("healthcheck") {
            let h = h.clone().try_cast::<Map>().ok_or_else(|| {
                invalid("commit: healthcheck must be a map like #{ test: [\"CMD\", \"true\"], interval: \"5s\" }")
            })?;
            o.healthcheck = Some(super::build::healthcheck(&h)?);
        }
        if let Some(labels) = changes.get("labels") {
            let labels = labels
                .clone()
                .try_cast::<Map>()
                .ok_or_else(|| invalid("commit: labels must be a map"))?;
            o.labels = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        Ok(o)
    }
    let c = ctx.clone();
    let commit = move |v: Dynamic, name: Dynamic, opts: Map| -> Res<Image> {
        let opts = options(&opts)?;
        let name = if name.is_unit() {
            None
        } else {
            Some(
                name.into_string()
                    .map_err(super::api::a_type)
                    .map_err(|t| {
                        invalid(format!("commit: the image name must be a string, not {t}"))
                    })?,
            )
        };
        c.containers()?
            .commit(c.images()?, &container_id(&v)?, name.as_deref(), &opts)
            .map_err(script_error)
    };
    let commit2 = commit.clone();
    let commit3 = commit.clone();
    engine.register_fn("commit", move |v: Dynamic| {
        commit3(v, Dynamic::UNIT, Map::new())
    });
    engine.register_fn("commit", move |v: Dynamic, name: &str| {
        commit2(v, name.into(), Map::new())
    });
    // The name may be () for an untagged image with options.
    engine.register_fn("commit", move |v: Dynamic, name: Dynamic, opts: Map| {
        commit(v, name, opts)
    });
}

fn with_spec(s: &mut SpecRef, f: impl FnOnce(&mut Spec) -> Res<()>) -> Res<SpecRef> {
    f(&mut s.0.borrow_mut())?;
    Ok(s.clone())
}

/// The Spec: what a container will be (container, unshare, mount_rootfs).
fn register_spec(engine: &mut Engine) {
    engine.register_type_with_name::<SpecRef>("Spec");
    engine.register_fn("container", |image: Dynamic| -> Res<SpecRef> {
        if let Some(img) = image.read_lock::<Image>() {
            let mut spec = Spec::bare(&img.name());
            spec.image_id = Some(img.id.clone());
            return Ok(SpecRef::new(spec));
        }
        let reference = super::api::image_ref("container", &image)?;
        Ok(SpecRef::new(Spec::bare(&reference)))
    });
    engine.register_fn("unshare", |s: &mut SpecRef, names: Array| -> Res<SpecRef> {
        let names = strings(names, "namespaces")?;
        with_spec(s, |sp| sp.unshare(&names).map_err(script_error))
    });
    engine.register_fn("mount_rootfs", |s: &mut SpecRef| -> Res<SpecRef> {
        crate::trace::step(|| "mount_rootfs: the image's layers as overlay lower dirs plus a private upper (made at spawn)".into());
        with_spec(s, |sp| {
            sp.rootfs_dir = None;
            sp.rootfs_chosen = true;
            Ok(())
        })
    });
    engine.register_fn(
        "mount_rootfs",
        |s: &mut SpecRef, dir: &str| -> Res<SpecRef> {
            crate::trace::step(|| format!("mount_rootfs: {dir} as the root (bound at spawn)"));
            with_spec(s, |sp| {
                sp.rootfs_dir = Some(PathBuf::from(dir));
                sp.rootfs_chosen = true;
                Ok(())
            })
        },
    );
}

/// Spec limits: memory, swap, cpus, shares, pids.
fn register_limits(engine: &mut Engine) {
    engine.register_fn(
        "set_memory_limit",
        |s: &mut SpecRef, v: Dynamic| -> Res<SpecRef> {
            let n = size(&v, "memory limit")?;
            with_spec(s, |sp| {
                sp.limits.memory = Some(n);
                Ok(())
            })
        },
    );
    engine.register_fn(
        "set_memory_swap",
        |s: &mut SpecRef, v: Dynamic| -> Res<SpecRef> {
            let unlimited =
                v.as_int() == Ok(-1) || v.clone().into_string().is_ok_and(|t| t.trim() == "-1");
            let n = if unlimited {
                -1
            } else {
                size(&v, "memory+swap limit")?
            };
            with_spec(s, |sp| {
                sp.limits.memory_swap = Some(n);
                Ok(())
            })
        },
    );
    engine.register_fn(
        "set_cpu_limit",
        |s: &mut SpecRef, v: Dynamic| -> Res<SpecRef> {
            let cpus = check_cpus(number(&v, "cpu limit")?).map_err(script_error)?;
            with_spec(s, |sp| {
                sp.limits.cpus = Some(cpus);
                Ok(())
            })
        },
    );
    engine.register_fn(
        "set_cpu_shares",
        |s: &mut SpecRef, n: i64| -> Res<SpecRef> {
            if !(2..=262_144).contains(&n) {
                return Err(invalid(format!(
                    "cpu shares must be between 2 and 262144 (1024 is the default), not {n}"
                )));
            }
            with_spec(s, |sp| {
                sp.limits.cpu_shares = Some(n as u64);
                Ok(())
            })
        },
    );
    engine.register_fn(
        "set_pids_limit",
        |s: &mut SpecRef, n: i64| -> Res<SpecRef> {
            // 0 or -1: no limit (Docker's --pids-limit -1); unset: the default 2048.
            if n < -1 {
                return Err(invalid(format!(
                    "pids limit must be a number of processes, or 0 or -1 for none, not {n}"
                )));
            }
            with_spec(s, |sp| {
                sp.limits.pids = Some(n);
                Ok(())
            })
        },
    );
}

/// Who the container is: hostname, env, workdir, user, name, entrypoint.
fn register_identity(engine: &mut Engine) {
    engine.register_fn("set_hostname", |s: &mut SpecRef, h: &str| -> Res<SpecRef> {
        if h.is_empty() || h.len() > 64 {
            return Err(invalid(format!("invalid hostname {h:?}")));
        }
        with_spec(s, |sp| {
            sp.hostname = Some(h.to_string());
            Ok(())
        })
    });
    engine.register_fn(
        "set_env",
        |s: &mut SpecRef, k: &str, v: &str| -> Res<SpecRef> {
            if k.is_empty() || k.contains('=') {
                return Err(invalid(format!("invalid environment variable name {k:?}")));
            }
            with_spec(s, |sp| {
                sp.env.insert(k.to_string(), v.to_string());
                Ok(())
            })
        },
    );
    engine.register_fn("set_workdir", |s: &mut SpecRef, d: &str| -> Res<SpecRef> {
        if !d.starts_with('/') {
            return Err(invalid(format!(
                "working directory must be absolute, not {d:?}"
            )));
        }
        with_spec(s, |sp| {
            sp.workdir = Some(d.to_string());
            Ok(())
        })
    });
    engine.register_fn("set_user", |s: &mut SpecRef, u: &str| -> Res<SpecRef> {
        with_spec(s, |sp| {
            sp.user = Some(u.to_string());
            Ok(())
        })
    });
    engine.register_fn("set_name", |s: &mut SpecRef, n: &str| -> Res<SpecRef> {
        with_spec(s, |sp| {
            sp.name = Some(n.to_string());
            Ok(())
        })
    });
    engine.register_fn(
        "set_label",
        |s: &mut SpecRef, k: &str, v: &str| -> Res<SpecRef> {
            if k.is_empty() {
                return Err(invalid("a label's key must not be empty"));
            }
            with_spec(s, |sp| {
                sp.labels.insert(k.to_string(), v.to_string());
                Ok(())
            })
        },
    );
    engine.register_fn(
        "add_network_alias",
        |s: &mut SpecRef, alias: &str| -> Res<SpecRef> {
            if !crate::network::valid_name(alias) {
                return Err(invalid(format!(
                    "invalid network alias {alias:?}: use letters, digits, '_', '.' and '-'"
                )));
            }
            with_spec(s, |sp| {
                if !sp.network_aliases.iter().any(|a| a == alias) {
                    sp.network_aliases.push(alias.to_string());
                }
                Ok(())
            })
        },
    );
    engine.register_fn(
        "set_entrypoint",
        |s: &mut SpecRef, a: Array| -> Res<SpecRef> {
            let a = strings(a, "entrypoint")?;
            with_spec(s, |sp| {
                sp.entrypoint = Some(a);
                Ok(())
            })
        },
    );
}

/// --add-host, --dns, --shm-size, --ulimit, --stop-signal, --stop-timeout.
fn register_extras(engine: &mut Engine) {
    engine.register_fn("add_host", |s: &mut SpecRef, h: &str| -> Res<SpecRef> {
        let host = crate::runtime::launch::parse_extra_host(h).map_err(script_error)?;
        with_spec(s, |sp| {
            sp.extra_hosts.push(host);
            Ok(())
        })
    });
    engine.register_fn("add_dns", |s: &mut SpecRef, ip: &str| -> Res<SpecRef> {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(format!(
                "dns {ip:?} is not an IP address (e.g. \"10.0.0.2\")"
            )));
        }
        with_spec(s, |sp| {
            sp.dns.push(ip.to_string());
            Ok(())
        })
    });
    engine.register_fn(
        "set_shm_size",
        |s: &mut SpecRef, v: Dynamic| -> Res<SpecRef> {
            let n = size(&v, "shm size")?;
            with_spec(s, |sp| {
                sp.shm_size = Some(n as u64);
                Ok(())
            })
        },
    );
    engine.register_fn("set_init", |s: &mut SpecRef, on: bool| -> Res<SpecRef> {
        with_spec(s, |sp| {
            sp.init = on;
            Ok(())
        })
    });
    engine.register_fn("add_ulimit", |s: &mut SpecRef, u: &str| -> Res<SpecRef> {
        let u = crate::runtime::launch::Ulimit::parse(u).map_err(script_error)?;
        with_spec(s, |sp| {
            sp.ulimits.retain(|x| x.name != u.name);
            sp.ulimits.push(u);
            Ok(())
        })
    });
    engine.register_fn(
        "set_stop_signal",
        |s: &mut SpecRef, sig: &str| -> Res<SpecRef> {
            let parsed = crate::container::parse_signal(sig).map_err(script_error)?;
            with_spec(s, |sp| {
                sp.stop_signal = Some(parsed.as_str().to_string());
                Ok(())
            })
        },
    );
    engine.register_fn(
        "set_stop_timeout",
        |s: &mut SpecRef, v: Dynamic| -> Res<SpecRef> {
            let t = duration(&v)?;
            with_spec(s, |sp| {
                sp.stop_timeout = Some(t.as_secs() as i64);
                Ok(())
            })
        },
    );
}

/// Its network, published ports, --rm and volumes.
fn register_wiring(engine: &mut Engine) {
    engine.register_fn("set_network", |s: &mut SpecRef, n: &str| -> Res<SpecRef> {
        with_spec(s, |sp| {
            sp.network = NetworkMode::from(n);
            Ok(())
        })
    });
    let publish = |s: &mut SpecRef, text: &str| -> Res<SpecRef> {
        let p = Publish::parse(text).map_err(script_error)?;
        with_spec(s, |sp| {
            sp.publish.push(p);
            Ok(())
        })
    };
    engine.register_fn("publish", publish);
    engine.register_fn(
        "publish",
        move |s: &mut SpecRef, host: i64, container: i64| -> Res<SpecRef> {
            publish(s, &format!("{host}:{container}"))
        },
    );
    engine.register_fn(
        "set_auto_remove",
        |s: &mut SpecRef, on: bool| -> Res<SpecRef> {
            with_spec(s, |sp| {
                sp.auto_remove = on;
                Ok(())
            })
        },
    );
    let bind = |s: &mut SpecRef, host: &str, target: &str, opts: Map| -> Res<SpecRef> {
        known_keys(&opts, "bind", &["readonly"])?;
        if !target.starts_with('/') {
            return Err(invalid(format!(
                "bind target must be absolute, not {target:?}"
            )));
        }
        let readonly = opt_bool(&opts, "readonly")?;
        with_spec(s, |sp| {
            sp.binds.push(Bind {
                source: PathBuf::from(host),
                target: target.to_string(),
                readonly,
            });
            Ok(())
        })
    };
    engine.register_fn("bind", move |s: &mut SpecRef, host: &str, target: &str| {
        bind(s, host, target, Map::new())
    });
    engine.register_fn("bind", bind);
}

/// A Spec as a value, and spawn.
fn register_spawn(engine: &mut Engine, ctx: Rc<Context>) {
    engine.register_fn("to_map", |s: &mut SpecRef| to_dynamic(&*s.0.borrow()));
    engine.register_fn("to_string", |s: &mut SpecRef| describe_spec(s));
    engine.register_fn("to_debug", |s: &mut SpecRef| describe_spec(s));
    // Once spawned, the Spec is its container too.
    engine.register_get("id", |s: &mut SpecRef| s.container_id("id"));
    engine.register_get("short_id", |s: &mut SpecRef| -> Res<String> {
        Ok(short(&s.container_id("short_id")?).to_string())
    });
    engine.register_get("container", |s: &mut SpecRef| -> Res<ContainerRef> {
        Ok(ContainerRef {
            id: s.container_id("container")?,
        })
    });
    // And its live state, as a Container's.
    let live = |ctx: &Rc<Context>, s: &SpecRef, what: &str| -> Res<Container> {
        ctx.containers()?
            .get(&s.container_id(what)?)
            .map_err(script_error)
    };
    let c = ctx.clone();
    engine.register_get("status", move |s: &mut SpecRef| -> Res<String> {
        Ok(live(&c, s, "status")?.status.as_str().to_string())
    });
    let c = ctx.clone();
    engine.register_get("ip", move |s: &mut SpecRef| -> Res<Dynamic> {
        Ok(live(&c, s, "ip")?
            .ip
            .map(Dynamic::from)
            .unwrap_or(Dynamic::UNIT))
    });
    let c = ctx.clone();
    engine.register_get("exit_code", move |s: &mut SpecRef| -> Res<Dynamic> {
        Ok(live(&c, s, "exit_code")?
            .exit_code
            .map(Dynamic::from)
            .unwrap_or(Dynamic::UNIT))
    });

    let c = ctx.clone();
    // Any types for the command and options: wrong ones are told what was expected.
    let spawn = move |s: &mut SpecRef, argv: Dynamic, opts: Dynamic| -> Res<Process> {
        let opts = options_map("spawn", opts)?;
        known_keys(&opts, "spawn", &["detach", "tty", "capture", "keep"])?;
        let argv = string_list("spawn", "the command", argv)?;
        let attach = match (opt_bool(&opts, "detach")?, opt_bool(&opts, "capture")?) {
            (true, true) => {
                return Err(invalid(
                    "spawn: capture is for a foreground container (its logs keep a detached one's output)",
                ))
            }
            (true, false) => Attach::Detach,
            (false, true) => Attach::Capture,
            (false, false) => Attach::Inherit,
        };
        let mut spec = s.0.borrow().clone();
        spec.tty = opt_bool(&opts, "tty")?;
        let keep = opt_bool(&opts, "keep")?;
        // Named volumes this container makes are the script's too (undone before it).
        let store = c.containers()?;
        let new_volumes: Vec<String> = spec
            .binds
            .iter()
            .filter(|b| volumes::is_name(&b.source) && !store.volume_exists(&b.source))
            .map(|b| b.source.to_string_lossy().into_owned())
            .collect();
        let started = store
            .run(c.images()?, &spec, Some(argv), attach)
            .map_err(script_error)?;
        if !keep {
            for v in &new_volumes {
                c.record_made("volume", v);
            }
            c.record_made("container", &started.container.id);
        }
        *s.1.borrow_mut() = Some(started.container.id.clone());
        Ok(Process {
            id: started.container.id.clone(),
            pid: started.container.pid.unwrap_or(0) as i64,
            started: Rc::new(RefCell::new(Some(started))),
            exit: Rc::new(RefCell::new(None)),
        })
    };
    let spawn2 = spawn.clone();
    let spawn3 = spawn.clone();
    engine.register_fn("spawn", move |s: &mut SpecRef| {
        spawn3(s, Dynamic::from_array(Array::new()), Dynamic::UNIT)
    });
    engine.register_fn("spawn", move |s: &mut SpecRef, argv: Dynamic| {
        spawn2(s, argv, Dynamic::UNIT)
    });
    engine.register_fn("spawn", spawn);
}

/// Capabilities, seccomp, read-only root, devices, privileged: Docker's names and defaults.
fn register_security(engine: &mut Engine) {
    fn names(v: Dynamic, what: &str) -> Res<Vec<String>> {
        if v.is_array() {
            strings(v.cast::<Array>(), what)
        } else if let Some(s) = v.clone().try_cast::<String>() {
            Ok(vec![s])
        } else {
            Err(invalid(format!(
                "{what} takes a capability name or an array of them, not {}",
                super::api::a_type(v.type_name())
            )))
        }
    }
    fn checked(caps: Vec<String>) -> Res<Vec<String>> {
        for c in &caps {
            security::parse_capability(c).map_err(script_error)?;
        }
        Ok(caps)
    }
    engine.register_fn("cap_add", |s: &mut SpecRef, v: Dynamic| -> Res<SpecRef> {
        let caps = checked(names(v, "cap_add")?)?;
        with_spec(s, |sp| {
            sp.security.cap_add.extend(caps);
            Ok(())
        })
    });
    engine.register_fn("cap_drop", |s: &mut SpecRef, v: Dynamic| -> Res<SpecRef> {
        let caps = checked(names(v, "cap_drop")?)?;
        with_spec(s, |sp| {
            sp.security.cap_drop.extend(caps);
            Ok(())
        })
    });
    engine.register_fn(
        "set_privileged",
        |s: &mut SpecRef, on: bool| -> Res<SpecRef> {
            with_spec(s, |sp| {
                sp.security.privileged = on;
                Ok(())
            })
        },
    );
    engine.register_fn(
        "set_read_only",
        |s: &mut SpecRef, on: bool| -> Res<SpecRef> {
            with_spec(s, |sp| {
                sp.security.read_only = on;
                Ok(())
            })
        },
    );
    engine.register_fn(
        "set_seccomp",
        |s: &mut SpecRef, profile: &str| -> Res<SpecRef> {
            let p = SeccompProfile::parse(profile).map_err(script_error)?;
            with_spec(s, |sp| {
                sp.security.seccomp = p;
                Ok(())
            })
        },
    );
    engine.register_fn(
        "add_device",
        |s: &mut SpecRef, text: &str| -> Res<SpecRef> {
            let d = DeviceRequest::parse(text).map_err(script_error)?;
            with_spec(s, |sp| {
                sp.security.devices.push(d);
                Ok(())
            })
        },
    );
}

/// Waits for a container to exit, in slices, so that a Ctrl-C in the REPL stops the wait
/// (and the line) instead of waiting for a detached container that may run for days.
fn wait_interruptibly(store: &crate::container::ContainerStore, id: &str) -> Res<i64> {
    use std::sync::atomic::Ordering;
    loop {
        match store.wait(id, Some(Duration::from_millis(200))) {
            Err(e) if e.kind() == crate::error::Kind::Timeout => {
                if super::INTERRUPTED.swap(false, Ordering::Relaxed) {
                    return Err(Box::new(rhai::EvalAltResult::ErrorTerminated(
                        super::INTERRUPT.into(),
                        rhai::Position::NONE,
                    )));
                }
            }
            other => return other.map_err(script_error),
        }
    }
}

/// A started process: its pid, its container, wait.
fn register_process(engine: &mut Engine, ctx: Rc<Context>) {
    engine.register_type_with_name::<Process>("Process");
    engine.register_get("pid", |p: &mut Process| p.pid);
    engine.register_get("id", |p: &mut Process| p.id.clone());
    engine.register_get("container", |p: &mut Process| ContainerRef {
        id: p.id.clone(),
    });
    let out_ctx = ctx.clone();
    engine.register_fn("output", move |p: &mut Process| -> Res<Dynamic> {
        let started = p.started.borrow_mut().take();
        let out = match started {
            Some(mut s) => s.wait_output(out_ctx.containers()?).map_err(script_error)?,
            None => return Err(invalid("output(): the process was already waited for")),
        };
        *p.exit.borrow_mut() = Some(out.code);
        Ok(to_dynamic(&out))
    });
    let c = ctx.clone();
    engine.register_fn("wait", move |p: &mut Process| -> Res<i64> {
        if let Some(code) = *p.exit.borrow() {
            return Ok(code);
        }
        let started = p.started.borrow_mut().take();
        let code = match started {
            Some(mut s) => s.wait(c.containers()?).map_err(script_error)?,
            None => wait_interruptibly(c.containers()?, &p.id)?,
        };
        *p.exit.borrow_mut() = Some(code);
        Ok(code)
    });
    let c = ctx.clone();
    engine.register_fn("to_string", move |p: &mut Process| {
        describe_process(Some(&c), p)
    });
    let c = ctx.clone();
    engine.register_fn("to_debug", move |p: &mut Process| {
        describe_process(Some(&c), p)
    });
}

/// A Container value: its live getters.
fn register_container(engine: &mut Engine, ctx: Rc<Context>) {
    engine.register_type_with_name::<ContainerRef>("Container");
    macro_rules! getter {
        ($name:literal, |$c:ident| $body:expr) => {{
            let cx = ctx.clone();
            engine.register_get($name, move |r: &mut ContainerRef| -> Res<Dynamic> {
                let $c: Container = cx.containers()?.get(&r.id).map_err(script_error)?;
                Ok($body)
            });
        }};
    }
    getter!("name", |c| c.name.into());
    getter!("status", |c| c.status.as_str().into());
    let cx = ctx.clone();
    engine.register_get("abandoned", move |r: &mut ContainerRef| -> Res<bool> {
        let store = cx.containers()?;
        let c = store.get(&r.id).map_err(script_error)?;
        store.abandoned(&c).map_err(script_error)
    });
    getter!("status_text", |c| c.status_text().into());
    getter!("pid", |c| c
        .pid
        .map(|p| Dynamic::from(p as i64))
        .unwrap_or(Dynamic::UNIT));
    getter!("exit_code", |c| c
        .exit_code
        .map(Dynamic::from)
        .unwrap_or(Dynamic::UNIT));
    getter!("oom_killed", |c| c.oom_killed.into());
    getter!("image", |c| c.image.into());
    getter!("labels", |c| to_dynamic(&c.spec.labels));
    getter!("command", |c| to_dynamic(&c.command));
    getter!("created", |c| c.created.into());
    getter!("ip", |c| c.ip.map(Dynamic::from).unwrap_or(Dynamic::UNIT));
    let cx = ctx.clone();
    engine.register_get("health", move |r: &mut ContainerRef| -> Res<Dynamic> {
        let store = cx.containers()?;
        let c = store.get(&r.id).map_err(script_error)?;
        Ok(crate::container::health::read(store, &c.id)
            .map(|h| Dynamic::from(h.status))
            .unwrap_or(Dynamic::UNIT))
    });
    let cx = ctx.clone();
    engine.register_get("restart_count", move |r: &mut ContainerRef| -> Res<i64> {
        cx.containers()?
            .restart_count(&r.id)
            .map(i64::from)
            .map_err(script_error)
    });
    engine.register_get("id", |r: &mut ContainerRef| r.id.clone());
    engine.register_get("short_id", |r: &mut ContainerRef| {
        r.id.chars().take(12).collect::<String>()
    });
    let c = ctx.clone();
    engine.register_fn("to_string", move |r: &mut ContainerRef| {
        describe_container(Some(&c), &r.id)
    });
    engine.register_fn("to_debug", move |r: &mut ContainerRef| {
        describe_container(Some(&ctx), &r.id)
    });
}

/// network_create, networks, network_remove.
fn register_networks(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    let network_create = move |name: &str, opts: Map| -> Res<Dynamic> {
        known_keys(&opts, "network_create", &["subnet", "bridge", "keep"])?;
        let subnet = opt_str(&opts, "subnet")?;
        let bridge = opt_str(&opts, "bridge")?;
        let n = c
            .containers()?
            .networks()
            .create(name, subnet.as_deref(), bridge.as_deref())
            .map_err(script_error)?;
        if !opt_bool(&opts, "keep")? {
            c.record_made("network", name);
        }
        Ok(to_dynamic(&n))
    };
    let create = network_create.clone();
    engine.register_fn("network_create", move |name: &str| create(name, Map::new()));
    engine.register_fn("network_create", network_create);
    let c = ctx.clone();
    engine.register_fn("networks", move || -> Res<Array> {
        let nets = c.containers()?.networks();
        let members = nets.members(None).map_err(script_error)?;
        Ok(nets
            .list()
            .map_err(script_error)?
            .into_iter()
            .map(|n| {
                let mut m = to_dynamic(&n).cast::<Map>();
                let on: Array = members
                    .iter()
                    .filter(|x| x.network.as_str() == n.name)
                    .map(to_dynamic)
                    .collect();
                m.insert("containers".into(), on.into());
                Dynamic::from_map(m)
            })
            .collect())
    });
    let c = ctx.clone();
    engine.register_fn("network_remove", move |name: &str| -> Res<()> {
        c.containers()?
            .networks()
            .remove(name)
            .map_err(script_error)
    });
}

/// containers, find_container and a Container as a map.
fn register_lookup(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    let containers = move |opts: Map| -> Res<Array> {
        known_keys(
            &opts,
            "containers",
            &["running", "label", "name", "id", "status", "ancestor"],
        )?;
        let running = opt_bool(&opts, "running")?;
        let filter = filter(&c, &opts)?;
        let store = c.containers()?;
        // One read of the state for the whole list, whatever its length.
        Ok(store
            .list()
            .map_err(script_error)?
            .into_iter()
            .filter(|x| !running || x.status == Status::Running)
            .filter(|x| filter.matches(x, || store.paused(x)))
            .map(|x| Dynamic::from(ContainerRef { id: x.id }))
            .collect())
    };
    let all = containers.clone();
    engine.register_fn("containers", move || all(Map::new()));
    engine.register_fn("containers", containers);
    let c = ctx.clone();
    engine.register_fn("find_container", move |name: &str| -> Res<ContainerRef> {
        Ok(ContainerRef {
            id: c.containers()?.get(name).map_err(script_error)?.id,
        })
    });
    let c = ctx.clone();
    engine.register_fn("to_map", move |r: &mut ContainerRef| -> Res<Dynamic> {
        Ok(to_dynamic(
            &c.containers()?.get(&r.id).map_err(script_error)?,
        ))
    });

    let c = ctx.clone();
    engine.register_fn(
        "docker_inspect",
        move |r: &mut ContainerRef| -> Res<Dynamic> {
            let store = c.containers()?;
            let found = store.get(&r.id).map_err(script_error)?;
            Ok(super::value::json_to_dynamic(store.inspect(&found)))
        },
    );
    engine.register_fn("docker_inspect", |i: &mut crate::image::Image| {
        super::value::json_to_dynamic(i.inspect())
    });

    // Lifecycle functions take a Container, a Process, or a name or id.
}

/// containers()'s filters (Docker's ps --filter keys): each a string or an array of them.
fn filter(ctx: &Context, opts: &Map) -> Res<Filter> {
    let values = |key: &str| -> Res<Vec<String>> {
        match opts.get(key) {
            None => Ok(Vec::new()),
            Some(v) if v.is_array() => string_list("containers", key, v.clone()),
            Some(v) => v.clone().into_string().map(|s| vec![s]).map_err(|t| {
                invalid(format!(
                    "containers: {key} must be a string or an array of strings, not {t}"
                ))
            }),
        }
    };
    let mut f = Filter {
        names: values("name")?,
        ids: values("id")?,
        ..Default::default()
    };
    for l in values("label")? {
        f.label(&l).map_err(script_error)?;
    }
    for s in values("status")? {
        f.status(&s).map_err(script_error)?;
    }
    for a in values("ancestor")? {
        let id = match ctx.images()?.image(&a) {
            Ok(img) => Some(img.id),
            Err(e) if e.kind() == crate::Kind::NotFound => None,
            Err(e) => return Err(script_error(e)),
        };
        f.ancestors.push(Ancestor { given: a, id });
    }
    Ok(f)
}

/// wait, kill, stop, start, remove, logs, stats.
fn register_lifecycle(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    engine.register_fn("wait", move |v: Dynamic| -> Res<i64> {
        wait_interruptibly(c.containers()?, &container_id(&v)?)
    });
    let c = ctx.clone();
    let kill = move |v: Dynamic, sig: &str| -> Res<()> {
        c.containers()?
            .kill(&container_id(&v)?, sig)
            .map_err(script_error)
    };
    let kill2 = kill.clone();
    engine.register_fn("kill", move |v: Dynamic| kill2(v, "SIGKILL"));
    engine.register_fn("kill", kill);
    let c = ctx.clone();
    engine.register_fn("pause", move |v: Dynamic| -> Res<ContainerRef> {
        let id = c
            .containers()?
            .pause(&container_id(&v)?)
            .map_err(script_error)?
            .id;
        Ok(ContainerRef { id })
    });
    let c = ctx.clone();
    engine.register_fn("unpause", move |v: Dynamic| -> Res<ContainerRef> {
        let id = c
            .containers()?
            .unpause(&container_id(&v)?)
            .map_err(script_error)?
            .id;
        Ok(ContainerRef { id })
    });
    let c = ctx.clone();
    let stop = move |v: Dynamic, t: Dynamic| -> Res<ContainerRef> {
        let id = c
            .containers()?
            .stop(&container_id(&v)?, duration(&t)?)
            .map_err(script_error)?
            .id;
        Ok(ContainerRef { id })
    };
    let stop2 = stop.clone();
    let c = ctx.clone();
    // Without a timeout: the container's own (--stop-timeout), else Docker's 10 s.
    engine.register_fn("stop", move |v: Dynamic| -> Res<ContainerRef> {
        let t = c
            .containers()?
            .get(&container_id(&v)?)
            .map_err(script_error)?
            .spec
            .stop_timeout
            .unwrap_or(10);
        stop2(v, Dynamic::from(t))
    });
    engine.register_fn("stop", stop);
    let c = ctx.clone();
    engine.register_fn("start", move |v: Dynamic| -> Res<ContainerRef> {
        let s = c
            .containers()?
            .start(&container_id(&v)?, Attach::Detach)
            .map_err(script_error)?;
        Ok(ContainerRef { id: s.container.id })
    });
    let c = ctx.clone();
    let remove = move |v: Dynamic, opts: Map| -> Res<()> {
        known_keys(&opts, "remove", &["force"])?;
        c.containers()?
            .remove(&container_id(&v)?, opt_bool(&opts, "force")?)
            .map_err(script_error)
    };
    let remove2 = remove.clone();
    engine.register_fn("remove", move |v: Dynamic| remove2(v, Map::new()));
    engine.register_fn("remove", remove);
    let c = ctx.clone();
    let logs = move |v: Dynamic, opts: Map| -> Res<String> {
        let (q, timestamps, follow) = log_options("logs", &opts)?;
        if follow {
            // Streams to the terminal until the container exits; nothing to return.
            print_logs(&c, &v, &q, timestamps, true)?;
            return Ok(String::new());
        }
        let lines = c
            .containers()?
            .logs(&container_id(&v)?, &q)
            .map_err(script_error)?;
        Ok(lines.iter().map(|e| e.render(timestamps)).collect())
    };
    let logs2 = logs.clone();
    engine.register_fn("logs", move |v: Dynamic| logs2(v, Map::new()));
    engine.register_fn("logs", logs);
    let c = ctx.clone();
    engine.register_fn("print_logs", move |v: Dynamic, opts: Map| -> Res<()> {
        let (q, timestamps, follow) = log_options("print_logs", &opts)?;
        print_logs(&c, &v, &q, timestamps, follow)
    });
    let c = ctx.clone();
    engine.register_fn("stats", move |v: Dynamic| -> Res<Dynamic> {
        Ok(to_dynamic(
            &c.containers()?
                .stats(&container_id(&v)?)
                .map_err(script_error)?,
        ))
    });
}

/// exec into a running container.
fn register_exec(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    // Any types for the command and options: wrong ones are told what was expected.
    let exec = move |v: Dynamic, argv: Dynamic, opts: Dynamic| -> Res<Dynamic> {
        let opts = options_map("exec", opts)?;
        known_keys(&opts, "exec", &["user", "workdir", "env", "attach"])?;
        let env = match opts.get("env") {
            Some(e) if e.is_map() => e
                .clone()
                .cast::<Map>()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            Some(e) if e.is_array() => strings(e.clone().cast::<Array>(), "env")?,
            Some(_) => return Err(invalid("exec: env must be a map or an array of \"K=V\"")),
            None => Vec::new(),
        };
        let req = ExecRequest {
            argv: string_list("exec", "the command", argv)?,
            env,
            workdir: opt_str(&opts, "workdir")?,
            user: opt_str(&opts, "user")?,
        };
        let out = c
            .containers()?
            .exec(&container_id(&v)?, &req, !opt_bool(&opts, "attach")?)
            .map_err(script_error)?;
        Ok(to_dynamic(&out))
    };
    let exec2 = exec.clone();
    engine.register_fn("exec", move |v: Dynamic, argv: Dynamic| {
        exec2(v, argv, Dynamic::UNIT)
    });
    engine.register_fn("exec", exec);
}

/// Limits on a running (or stopped) container change its cgroup live.
fn register_live_limits(engine: &mut Engine, ctx: Rc<Context>) {
    // Limits on a running (or stopped) container change its cgroup live.
    let live = |ctx: &Rc<Context>,
                r: &ContainerRef,
                f: &dyn Fn(&mut crate::runtime::cgroup::Limits) -> Res<()>|
     -> Res<ContainerRef> {
        let store = ctx.containers()?;
        let mut limits = store.get(&r.id).map_err(script_error)?.spec.limits;
        f(&mut limits)?;
        store.update_limits(&r.id, &limits).map_err(script_error)?;
        Ok(r.clone())
    };
    let c = ctx.clone();
    engine.register_fn(
        "set_memory_limit",
        move |r: &mut ContainerRef, v: Dynamic| {
            live(&c, r, &|l| {
                l.memory = Some(size(&v, "memory limit")?);
                Ok(())
            })
        },
    );
    let c = ctx.clone();
    engine.register_fn("set_cpu_limit", move |r: &mut ContainerRef, v: Dynamic| {
        live(&c, r, &|l| {
            l.cpus = Some(check_cpus(number(&v, "cpu limit")?).map_err(script_error)?);
            Ok(())
        })
    });
    let c = ctx;
    engine.register_fn("set_pids_limit", move |r: &mut ContainerRef, n: i64| {
        if n < -1 {
            return Err(invalid(format!(
                "pids limit must be a number of processes, or 0 or -1 for none, not {n}"
            )));
        }
        live(&c, r, &|l| {
            l.pids = Some(n);
            Ok(())
        })
    });
}

#[cfg(test)]
mod tests {
    //! The bindings, without root: a Spec is only a description, so every setter, its
    //! checks and both call styles are tried on an engine whose store is never touched.
    use super::*;

    fn engine() -> (Engine, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::new(crate::store::Paths::new(dir.path()));
        let mut engine = crate::script::build_engine(ctx);
        crate::script::install_stdlib(&mut engine).unwrap();
        (engine, dir)
    }

    fn spec_of(script: &str) -> Spec {
        let (engine, _dir) = engine();
        let s: SpecRef = engine
            .eval(script)
            .unwrap_or_else(|e| panic!("{script}: {e}"));
        let spec = s.0.borrow().clone();
        spec
    }

    /// The kind a failing script reports (as scripts see it in `catch (e)`).
    fn kind_of(script: &str) -> String {
        let (engine, _dir) = engine();
        let wrapped = format!("let k = \"ok\"; try {{ {script}; }} catch (e) {{ k = e.kind; }} k");
        engine.eval::<String>(&wrapped).unwrap()
    }

    #[test]
    fn setters_change_the_spec_in_both_call_styles() {
        let s = spec_of(
            r#"let c = container("busybox");
               c.unshare(["pid", "mount"]); c.mount_rootfs();
               set_memory_limit(c, "64m"); c.set_cpu_limit(0.5); c.set_pids_limit(-1);
               c.set_hostname("box"); c.set_env("K", "V"); c.set_user("1:2");
               c.publish("8080:80"); c.set_network("front");
               c.cap_add(["NET_RAW"]); c.cap_drop("CHOWN"); c.set_read_only(true);
               c.set_seccomp("unconfined"); c"#,
        );
        assert_eq!(s.limits.memory, Some(64 << 20));
        assert_eq!(s.limits.cpus, Some(0.5));
        assert_eq!(s.limits.pids, Some(-1), "no limit, as asked");
        assert_eq!(s.namespaces.len(), 2);
        assert!(s.rootfs_chosen);
        assert_eq!(s.hostname.as_deref(), Some("box"));
        assert_eq!(s.env.get("K").map(String::as_str), Some("V"));
        assert_eq!(s.publish[0].host_port, 8080);
        assert_eq!(s.network, NetworkMode::Bridge("front".into()));
        assert_eq!(s.security.cap_add, ["NET_RAW"]);
        assert_eq!(s.security.cap_drop, ["CHOWN"]);
        assert!(s.security.read_only);
        assert_eq!(s.security.seccomp, SeccompProfile::Unconfined);
    }

    /// A failing script's message (as scripts see it in `catch (e)`).
    fn message_of(script: &str) -> String {
        let (engine, _dir) = engine();
        let wrapped =
            format!("let m = \"ok\"; try {{ {script}; }} catch (e) {{ m = e.message; }} m");
        engine.eval::<String>(&wrapped).unwrap()
    }

    #[test]
    fn a_stack_is_checked_whole_before_anything_is_made() {
        // Nothing here reaches the store: the store's root does not even exist.
        for (script, want) in [
            (
                r#"up(#{ name: "s", services: #{ a: #{ image: "x", depends_on: ["b"] }, b: #{ image: "x", depends_on: #{ c: #{ condition: "service_healthy" } } }, c: #{ image: "x", depends_on: ["a"] } } })"#,
                "stack s: depends_on has a cycle: a -> b -> c -> a",
            ),
            (
                r#"up(#{ name: "s", services: #{ a: #{ image: "x", depends_on: ["nope"] } } })"#,
                "up: service a depends on nope, which is not a service of stack s",
            ),
            (
                r#"up(#{ name: "s", services: #{ a: #{ image: "x", imgae: "y" } } })"#,
                r#"up: service a: unknown option "imgae" (did you mean "image"?"#,
            ),
            (
                r#"up(#{ name: "s", servcies: #{} })"#,
                r#"up: unknown option "servcies" (did you mean "services"?"#,
            ),
            (
                r#"up(#{ name: "S!", services: #{ a: #{ image: "x" } } })"#,
                "invalid stack name",
            ),
            (
                r#"up(#{ name: "s", services: #{ a: #{ image: "x", depends_on: #{ b: #{ condition: "done" } } }, b: #{ image: "x" } } })"#,
                "has condition done: use service_started",
            ),
            (
                r#"up(#{ name: "s", services: #{ a: #{ image: "x", volumes: ["data:/d"] } } })"#,
                "refers to undefined volume data",
            ),
            (
                r#"up(#{ name: "s", services: #{ a: #{ image: "x", networks: ["front", "back"] } } })"#,
                "a container is on one network here",
            ),
            (
                r#"containers(#{ lable: "x" })"#,
                r#"unknown option "lable" (did you mean "label"?"#,
            ),
            (
                r#"containers(#{ status: "dead" })"#,
                "invalid status filter",
            ),
        ] {
            let m = message_of(script);
            assert!(m.contains(want), "{script}: {m}");
        }
    }

    #[test]
    fn a_bare_container_decides_nothing() {
        let s = spec_of(r#"container("busybox")"#);
        assert!(s.namespaces.is_empty() && !s.rootfs_chosen);
    }

    #[test]
    fn bad_input_is_an_invalid_argument_naming_the_value() {
        for script in [
            r#"container("x").unshare(["pid", "bogus"])"#,
            r#"container("x").set_memory_limit("lots")"#,
            r#"container("x").set_cpu_limit(-1)"#,
            r#"container("x").set_cpu_shares(1)"#,
            r#"container("x").cap_add("FLY")"#,
            r#"container("x").publish("80:")"#,
            r#"container("x").add_device("relative")"#,
            r#"container("x").bind("/tmp", "relative")"#,
            r#"container("x").bind("/tmp", "/t", #{ readonly: true, typo: 1 })"#,
            r#"container("x").spawn([], #{ detach: true, nope: 1 })"#,
        ] {
            assert_eq!(kind_of(script), "invalid_argument", "{script}");
        }
        assert_eq!(
            kind_of(r#"container("x").unshare(["user"])"#),
            "unsupported"
        );
        assert_eq!(
            kind_of(r#"container("x").set_seccomp("/no/such/profile.json")"#),
            "not_found"
        );
    }
}
