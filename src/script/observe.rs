//! Bindings for looking at containers and changing them in place: update, rename, top,
//! diff, events.

use std::rc::Rc;

use rhai::{Dynamic, Engine, Map};

use super::api::{known_keys, opt_str, options_map, Res};
use super::containers::{container_id, number, size};
use super::value::to_dynamic;
use super::{invalid, script_error, Context};
use crate::container::events::Query;

pub fn register(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    engine.register_fn("update", move |v: Dynamic, opts: Dynamic| -> Res<()> {
        let opts = options_map("update", opts)?;
        update(&c, &container_id(&v)?, &opts)
    });
    let c = ctx.clone();
    engine.register_fn("rename", move |v: Dynamic, new: &str| -> Res<()> {
        c.containers()?
            .rename(&container_id(&v)?, new)
            .map_err(script_error)
    });
    let c = ctx.clone();
    engine.register_fn("top", move |v: Dynamic| -> Res<Dynamic> {
        Ok(to_dynamic(
            &c.containers()?
                .top(&container_id(&v)?)
                .map_err(script_error)?,
        ))
    });
    let c = ctx.clone();
    engine.register_fn("diff", move |v: Dynamic| -> Res<Dynamic> {
        let changes = c
            .containers()?
            .diff(&container_id(&v)?, c.images()?)
            .map_err(script_error)?;
        Ok(to_dynamic(&changes))
    });
    let c = ctx.clone();
    let events = move |opts: Dynamic| -> Res<Dynamic> {
        let opts = options_map("events", opts)?;
        let q = query(&opts)?;
        let list = c.containers()?.events(&q).map_err(script_error)?;
        Ok(to_dynamic(&list))
    };
    let e2 = events.clone();
    engine.register_fn("events", move || e2(Dynamic::UNIT));
    engine.register_fn("events", events);
}

/// events' options as a query: since and until (RFC 3339, unix seconds, or a duration
/// before now such as "10m"), container (a name or id, or a list), after (a seq).
pub fn query(opts: &Map) -> Res<Query> {
    known_keys(opts, "events", &["since", "until", "container", "after"])?;
    let time = |k: &str| -> Res<Option<i64>> {
        match opts.get(k) {
            None => Ok(None),
            Some(v) => parse_time(&v.to_string())
                .map(Some)
                .map_err(|e| invalid(format!("events: {k} {e}"))),
        }
    };
    let containers = match opts.get("container") {
        None => Vec::new(),
        Some(v) if v.is_array() => v
            .clone()
            .cast::<rhai::Array>()
            .into_iter()
            .map(|x| x.to_string())
            .collect(),
        Some(v) => vec![v.to_string()],
    };
    Ok(Query {
        after: opts
            .get("after")
            .map(|v| {
                v.as_int()
                    .map_err(|_| invalid("events: after must be a number"))
            })
            .transpose()?
            .unwrap_or(0),
        since: time("since")?,
        until: time("until")?,
        containers,
    })
}

/// Docker's event times: RFC 3339, unix seconds, or a duration before now ("10m", "1h30m").
pub fn parse_time(text: &str) -> Result<i64, String> {
    let now = crate::sys::time::now_nanos();
    crate::sys::time::parse_point(text, now)
        .map(|n| (n / 1_000_000_000) as i64)
        .ok_or_else(|| {
            format!(
                "{:?} is not a time: use 2026-01-02T15:04:05Z, unix seconds, or a duration before now such as 10m",
                text.trim()
            )
        })
}

/// `update(container, opts)`: the limits and restart policy of a container, live.
fn update(ctx: &Context, id: &str, opts: &Map) -> Res<()> {
    const KEYS: &[&str] = &[
        "memory",
        "memory_swap",
        "cpus",
        "cpu_shares",
        "pids_limit",
        "restart",
    ];
    known_keys(opts, "update", KEYS)?;
    if opts.is_empty() {
        return Err(invalid(format!(
            "update: nothing to change: give one of {}",
            KEYS.join(", ")
        )));
    }
    let store = ctx.containers()?;
    let c = store.get(id).map_err(script_error)?;
    let limits_asked = KEYS[..5].iter().any(|k| opts.contains_key(*k));
    if limits_asked {
        let mut l = c.spec.limits.clone();
        if let Some(v) = opts.get("memory") {
            l.memory = Some(size(v, "memory limit")?);
        }
        if let Some(v) = opts.get("memory_swap") {
            let unlimited = v.as_int() == Ok(-1) || v.to_string().trim() == "-1";
            l.memory_swap = Some(if unlimited {
                -1
            } else {
                size(v, "memory+swap limit")?
            });
        }
        if let Some(v) = opts.get("cpus") {
            l.cpus =
                Some(crate::runtime::cgroup::check_cpus(number(v, "cpus")?).map_err(script_error)?);
        }
        if let Some(v) = opts.get("cpu_shares") {
            let n = v
                .as_int()
                .map_err(|t| invalid(format!("update: cpu_shares must be a number, not {t}")))?;
            if !(2..=262_144).contains(&n) {
                return Err(invalid(format!(
                    "cpu shares must be between 2 and 262144 (1024 is the default), not {n}"
                )));
            }
            l.cpu_shares = Some(n as u64);
        }
        if let Some(v) = opts.get("pids_limit") {
            let n = v
                .as_int()
                .map_err(|t| invalid(format!("update: pids_limit must be a number, not {t}")))?;
            if n < -1 {
                return Err(invalid(format!(
                    "pids limit must be a number of processes, or 0 or -1 for none, not {n}"
                )));
            }
            l.pids = Some(n);
        }
        if let (Some(m), Some(s)) = (l.memory, l.memory_swap) {
            if s != -1 && s < m {
                return Err(invalid(format!(
                    "update: memory_swap ({s} bytes) must be at least memory ({m} bytes), or -1"
                )));
            }
        }
        store.update_limits(&c.id, &l).map_err(script_error)?;
    }
    if let Some(r) = opt_str(opts, "restart")? {
        let policy = crate::runtime::launch::Restart::parse(&r).map_err(script_error)?;
        store.update_restart(&c.id, policy).map_err(script_error)?;
    }
    Ok(())
}
