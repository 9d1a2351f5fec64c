//! Script bindings for waiting on containers: wait with a timeout, and the probes the
//! stdlib's readiness waits (wait_for_port, wait_for_http, ...) are written over.

use std::rc::Rc;
use std::time::Duration;

use rhai::{Array, Dynamic, Engine, Map};

use super::api::{known_keys, opt_bool, Res};
use super::containers::{container_id, duration};
use super::{invalid, script_error, Context};

fn port_number(v: i64) -> Res<u16> {
    u16::try_from(v)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid(format!("port must be 1 to 65535, not {v}")))
}

/// One probe attempt may take this long.
const PROBE: Duration = Duration::from_secs(1);

/// Set by Ctrl-C once `interrupted()` has been asked (see it).
static CTRL_C: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_ctrl_c(_: libc::c_int) {
    CTRL_C.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether Ctrl-C was pressed since the last call. Each call takes Ctrl-C over (again: the
/// REPL puts its own back after each line), so that a script polling it (compose up
/// following its services' logs) can stop what it started instead of dying at once.
fn interrupted() -> bool {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_ctrl_c),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic.
    let _ = unsafe { sigaction(Signal::SIGINT, &action) };
    CTRL_C.swap(false, std::sync::atomic::Ordering::Relaxed)
}

pub fn register(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    engine.register_fn("wait", move |v: Dynamic, opts: Map| -> Res<i64> {
        known_keys(&opts, "wait", &["timeout"])?;
        let timeout = opts.get("timeout").map(duration).transpose()?;
        c.containers()?
            .wait(&container_id(&v)?, timeout)
            .map_err(script_error)
    });
    engine.register_fn("to_seconds", |v: Dynamic| -> Res<f64> {
        Ok(duration(&v)?.as_secs_f64())
    });
    let c = ctx.clone();
    let volume_create = move |name: &str, opts: Map| -> Res<String> {
        known_keys(&opts, "volume_create", &["keep"])?;
        let store = c.containers()?;
        let new = !store.volume_exists(std::path::Path::new(name));
        let path = store.volume_create(name).map_err(script_error)?;
        if new && !opt_bool(&opts, "keep")? {
            c.record_made("volume", name);
        }
        Ok(path.display().to_string())
    };
    let create = volume_create.clone();
    engine.register_fn("volume_create", move |name: &str| create(name, Map::new()));
    engine.register_fn("volume_create", volume_create);
    let c = ctx.clone();
    engine.register_fn("volumes", move || -> Res<Array> {
        Ok(c.containers()?
            .volumes()
            .map_err(script_error)?
            .iter()
            .map(super::value::to_dynamic)
            .collect())
    });
    let c = ctx.clone();
    engine.register_fn("volume_remove", move |name: &str| -> Res<()> {
        c.containers()?.volume_remove(name).map_err(script_error)
    });
    engine.register_fn(
        "set_health",
        |s: &mut super::containers::SpecRef, opts: Map| -> Res<super::containers::SpecRef> {
            // cmd (an array: exec form; a string: through the shell) or Docker's test.
            let mut opts = opts;
            if let Some(cmd) = opts.remove("cmd") {
                let test: rhai::Array = if cmd.is_array() {
                    std::iter::once(Dynamic::from("CMD"))
                        .chain(cmd.cast::<rhai::Array>())
                        .collect()
                } else {
                    vec!["CMD-SHELL".into(), Dynamic::from(cmd.to_string())]
                };
                opts.insert("test".into(), test.into());
            }
            let hc = super::build::healthcheck(&opts)?;
            crate::container::health::Check::from_config(&hc).map_err(script_error)?;
            s.0.borrow_mut().health = Some(hc);
            Ok(s.clone())
        },
    );
    let c = ctx.clone();
    engine.register_fn("health", move |v: Dynamic| -> Res<Dynamic> {
        let store = c.containers()?;
        let found = store.get(&container_id(&v)?).map_err(script_error)?;
        Ok(crate::container::health::read(store, &found.id)
            .map(|h| super::value::to_dynamic(&h))
            .unwrap_or(Dynamic::UNIT))
    });
    engine.register_fn(
        "set_restart",
        |s: &mut super::containers::SpecRef, policy: &str| -> Res<super::containers::SpecRef> {
            s.0.borrow_mut().restart =
                crate::runtime::launch::Restart::parse(policy).map_err(script_error)?;
            Ok(s.clone())
        },
    );
    let c = ctx.clone();
    engine.register_fn("resume", move || -> Res<Array> {
        let tried = c.containers()?.resume().map_err(script_error)?;
        let mut started = Array::new();
        let mut failed = Vec::new();
        for (name, how) in tried {
            match how {
                Ok(()) => started.push(name.into()),
                Err(e) => failed.push(format!("{name}: {}", e.message())),
            }
        }
        if !failed.is_empty() {
            return Err(script_error(crate::error::Error::new(
                crate::error::Kind::Runtime,
                format!(
                    "resume: started {} but not {}",
                    started.len(),
                    failed.join("; ")
                ),
            )));
        }
        Ok(started)
    });
    let c = ctx.clone();
    engine.register_fn("restart_count", move |v: Dynamic| -> Res<i64> {
        c.containers()?
            .restart_count(&container_id(&v)?)
            .map(i64::from)
            .map_err(script_error)
    });
    engine.register_fn(
        "tmpfs",
        |s: &mut super::containers::SpecRef, text: &str| -> Res<super::containers::SpecRef> {
            let t = crate::container::spec::Tmpfs::parse(text).map_err(script_error)?;
            s.0.borrow_mut().tmpfs.push(t);
            Ok(s.clone())
        },
    );
    engine.register_fn("interrupted", interrupted);
    // compose.yaml as up()'s map; what it leaves out is said on stderr.
    engine.register_fn("compose_load", |path: &str| -> Res<Dynamic> {
        let loaded = crate::compose::load(std::path::Path::new(path)).map_err(script_error)?;
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        Ok(super::value::to_dynamic(&loaded.stack))
    });
    engine.register_fn("read_env_file", |path: &str| -> Res<rhai::Map> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            script_error(crate::Error::io(
                "cannot read env file",
                std::path::Path::new(path),
                e,
            ))
        })?;
        let vars = crate::compose::parse_env_file(&text, &|k| std::env::var(k).ok())
            .map_err(|e| script_error(e.reworded(format!("{path}: {}", e.message()))))?;
        Ok(vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    });
    let c = ctx.clone();
    engine.register_fn("made_mark", move || c.made_count() as i64);
    let c = ctx.clone();
    engine.register_fn("made_since", move |mark: i64| -> Array {
        c.made_since(mark.max(0) as usize)
            .into_iter()
            .map(|(kind, id)| {
                let mut m = Map::new();
                m.insert("kind".into(), kind.into());
                m.insert("id".into(), id.into());
                Dynamic::from(m)
            })
            .collect()
    });
    let c = ctx.clone();
    engine.register_fn("port_open", move |v: Dynamic, port: i64| -> Res<bool> {
        c.containers()?
            .port_open(&container_id(&v)?, port_number(port)?, PROBE)
            .map_err(script_error)
    });
    let c = ctx.clone();
    engine.register_fn("port", move |v: Dynamic| -> Res<Array> {
        let found = c
            .containers()?
            .get(&container_id(&v)?)
            .map_err(script_error)?;
        Ok(found
            .spec
            .publish
            .iter()
            .map(|p| {
                let mut m = Map::new();
                m.insert("container_port".into(), (p.container_port as i64).into());
                m.insert("proto".into(), p.proto.as_str().into());
                m.insert(
                    "host_ip".into(),
                    p.host_ip
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "0.0.0.0".into())
                        .into(),
                );
                m.insert("host_port".into(), (p.host_port as i64).into());
                Dynamic::from(m)
            })
            .collect())
    });
    let c = ctx.clone();
    engine.register_fn("port", move |v: Dynamic, container_port: i64| -> Res<i64> {
        let found = c
            .containers()?
            .get(&container_id(&v)?)
            .map_err(script_error)?;
        found
            .spec
            .publish
            .iter()
            .find(|p| p.container_port as i64 == container_port)
            .map(|p| p.host_port as i64)
            .ok_or_else(|| {
                script_error(crate::Error::not_found(format!(
                    "container {} publishes no port {container_port}",
                    found.name
                )))
            })
    });
    let c = ctx;
    engine.register_fn(
        "http_get",
        move |v: Dynamic, port: i64, path: &str| -> Res<Map> {
            let (status, body) = c
                .containers()?
                .http_get(&container_id(&v)?, port_number(port)?, path, PROBE)
                .map_err(script_error)?;
            let mut m = Map::new();
            m.insert("status".into(), (status as i64).into());
            m.insert("body".into(), body.into());
            Ok(m)
        },
    );
}
