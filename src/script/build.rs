//! Script bindings for making images: the `Builder` (a build's state and its steps),
//! `copy_in`/`copy_out`, and the Dockerfile frontend's parse.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, Map};
use serde_json::{json, Value};

use super::api::{known_keys, opt_bool, opt_str, Res};
use super::containers::container_id;
use super::value::{json_to_dynamic, to_dynamic};
use super::{invalid, script_error, Context};
use crate::build::{self, dockerfile, BuildState, CopyStep};
use crate::container::spec::NetworkMode;
use crate::image::Image;

/// A build, shared by every copy of the script value: `b.run(...)` inside a function
/// changes the caller's builder too.
#[derive(Clone)]
pub struct Builder(pub Rc<RefCell<BuildState>>);

fn strings(v: &Dynamic, what: &str) -> Res<Vec<String>> {
    if let Some(a) = v.clone().try_cast::<Array>() {
        return a
            .into_iter()
            .map(|x| {
                x.into_string()
                    .map_err(super::api::a_type)
                    .map_err(|t| invalid(format!("{what} must be strings, not {t}")))
            })
            .collect();
    }
    v.clone()
        .into_string()
        .map(|s| vec![s])
        .map_err(super::api::a_type)
        .map_err(|t| {
            invalid(format!(
                "{what} must be a string or an array of strings, not {t}"
            ))
        })
}

/// A shell-form command through the build's SHELL; an exec-form one as it is.
fn command(b: &BuildState, v: &Dynamic, what: &str) -> Res<(Vec<String>, String)> {
    if let Ok(s) = v.clone().into_string() {
        let mut argv = b.shell.clone();
        argv.push(s.clone());
        return Ok((argv, s));
    }
    let argv = strings(v, what)?;
    let text = serde_json::to_string(&argv).unwrap_or_default();
    Ok((argv, text))
}

fn copied(entries: u64, bytes: u64) -> Map {
    let mut m = Map::new();
    m.insert("entries".into(), (entries as i64).into());
    m.insert("bytes".into(), (bytes as i64).into());
    m
}

/// A health check as the image config holds it (Docker's field names, durations in ns),
/// from #{ test, interval, timeout, start_period, retries }.
pub fn healthcheck(opts: &Map) -> Res<Value> {
    known_keys(
        opts,
        "healthcheck",
        &["test", "interval", "timeout", "start_period", "retries"],
    )?;
    let mut hc = serde_json::Map::new();
    if let Some(t) = opts.get("test") {
        hc.insert("Test".into(), json!(strings(t, "healthcheck test")?));
    }
    for (k, key) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
    ] {
        if let Some(v) = opts.get(k) {
            let d = crate::container::spec::parse_duration(&v.to_string()).map_err(script_error)?;
            hc.insert(key.into(), json!(d.as_nanos() as u64));
        }
    }
    if let Some(r) = opts.get("retries") {
        let n = r
            .as_int()
            .map_err(super::api::a_type)
            .map_err(|t| invalid(format!("healthcheck retries must be a number, not {t}")))?;
        hc.insert("Retries".into(), json!(n));
    }
    Ok(Value::Object(hc))
}

pub fn register(engine: &mut Engine, ctx: Rc<Context>) {
    register_builder(engine, ctx.clone());
    register_config_steps(engine);
    register_layer_steps(engine, ctx.clone());
    register_copy(engine, ctx.clone());
    engine.register_fn("parse_dockerfile", |text: &str| -> Res<Dynamic> {
        let d = dockerfile::parse(text).map_err(script_error)?;
        Ok(to_dynamic(&d))
    });
    engine.register_fn("dockerfile", |path: &str| -> Res<Dynamic> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            script_error(crate::Error::io(
                "cannot read the Dockerfile",
                Path::new(path),
                e,
            ))
        })?;
        let d = dockerfile::parse(&text).map_err(|e| {
            script_error(crate::Error::new(
                e.kind(),
                format!("{path}: {}", e.message()),
            ))
        })?;
        Ok(to_dynamic(&d))
    });
    engine.register_fn("expand", |text: &str, vars: Map| -> String {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        dockerfile::expand(text, &vars)
    });
    engine.register_fn("expand", |b: &mut Builder, text: &str| -> String {
        let s = b.0.borrow();
        let mut vars = s.env();
        for (k, v) in &s.args {
            vars.entry(k.clone()).or_insert_with(|| v.clone());
        }
        dockerfile::expand(text, &vars)
    });
    let c = ctx.clone();
    engine.register_fn("prune_build_cache", move || -> Res<Array> {
        let images = c.images()?;
        images.clear_build_cache().map_err(script_error)?;
        let containers = c.containers()?;
        let in_use = |id: &str| containers.users_of(id);
        Ok(images
            .prune(false, &in_use)
            .map_err(script_error)?
            .into_iter()
            .map(Dynamic::from)
            .collect())
    });
    engine.register_fn("host_platform", build::host_platform);
    engine.register_fn("dockerignore", |dir: &str| -> Res<Array> {
        Ok(build::dockerignore(Path::new(dir))
            .map_err(script_error)?
            .into_iter()
            .map(Dynamic::from)
            .collect())
    });
}

fn register_builder(engine: &mut Engine, ctx: Rc<Context>) {
    engine.register_type_with_name::<Builder>("Builder");
    let c = ctx.clone();
    let make = move |image: &str, opts: Map| -> Res<Builder> {
        known_keys(
            &opts,
            "builder",
            &["context", "no_cache", "network", "args", "explain", "name"],
        )?;
        let mut s = build::from(c.images()?, image).map_err(script_error)?;
        if let Some(dir) = opt_str(&opts, "context")? {
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                return Err(invalid(format!(
                    "builder: the context {} is not a directory",
                    dir.display()
                )));
            }
            s.ignore = build::dockerignore(&dir).map_err(script_error)?;
            s.context = Some(std::fs::canonicalize(&dir).unwrap_or(dir));
        }
        s.no_cache = opt_bool(&opts, "no_cache")?;
        s.explain = opt_bool(&opts, "explain")?;
        s.name = opt_str(&opts, "name")?;
        if let Some(n) = opt_str(&opts, "network")? {
            s.network = NetworkMode::from(n);
        }
        if let Some(a) = opts.get("args") {
            let a = a
                .clone()
                .try_cast::<Map>()
                .ok_or_else(|| invalid("builder: args must be a map of build arguments"))?;
            // Given values, used by the ARG instructions that declare them.
            s.args_given = a
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        Ok(Builder(Rc::new(RefCell::new(s))))
    };
    let make2 = make.clone();
    engine.register_fn("builder", move |image: &str| make2(image, Map::new()));
    engine.register_fn("builder", make);
    engine.register_get("image", |b: &mut Builder| b.0.borrow().image.clone());
    engine.register_get("steps", |b: &mut Builder| -> Array {
        b.0.borrow()
            .steps
            .iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("text".into(), s.text.clone().into());
                m.insert("cached".into(), s.cached.into());
                m.insert(
                    "image".into(),
                    s.image.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT),
                );
                m.insert("millis".into(), (s.millis as i64).into());
                m.insert(
                    "why".into(),
                    s.why.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT),
                );
                Dynamic::from(m)
            })
            .collect()
    });
    engine.register_get("config", |b: &mut Builder| -> Dynamic {
        json_to_dynamic(
            b.0.borrow()
                .config
                .get("config")
                .cloned()
                .unwrap_or_default(),
        )
    });
    let c = ctx.clone();
    engine.register_fn("squash", move |b: &mut Builder| -> Res<Builder> {
        b.0.borrow_mut().squash(c.images()?).map_err(script_error)?;
        Ok(b.clone())
    });
    let c = ctx;
    let commit = move |b: &mut Builder, name: Option<String>| -> Res<Image> {
        b.0.borrow_mut()
            .commit(c.images()?, name.as_deref())
            .map_err(script_error)
    };
    let commit2 = commit.clone();
    engine.register_fn("commit", move |b: &mut Builder| commit2(b, None));
    engine.register_fn("commit", move |b: &mut Builder, name: &str| {
        commit(b, Some(name.to_string()))
    });
}

/// The steps that only change the config.
fn register_config_steps(engine: &mut Engine) {
    fn step(
        b: &mut Builder,
        text: String,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>) -> Res<()>,
    ) -> Res<Builder> {
        let mut failed = None;
        b.0.borrow_mut()
            .config_step(&text, |rc| {
                if let Err(e) = edit(rc) {
                    failed = Some(e);
                }
                Ok(())
            })
            .map_err(script_error)?;
        match failed {
            Some(e) => Err(e),
            None => Ok(b.clone()),
        }
    }
    engine.register_fn("env", |b: &mut Builder, k: &str, v: &str| {
        let kv = format!("{k}={v}");
        step(b, format!("ENV {kv}"), |rc| {
            let mut env: Vec<String> = rc
                .get("Env")
                .and_then(|e| serde_json::from_value(e.clone()).ok())
                .unwrap_or_default();
            env.retain(|e| e.split_once('=').map(|(n, _)| n) != Some(k));
            env.push(kv.clone());
            rc.insert("Env".into(), json!(env));
            Ok(())
        })
    });
    engine.register_fn("workdir", |b: &mut Builder, dir: &str| {
        let dir = b.0.borrow().in_workdir(dir);
        step(b, format!("WORKDIR {dir}"), |rc| {
            rc.insert("WorkingDir".into(), dir.clone().into());
            Ok(())
        })
    });
    engine.register_fn("user", |b: &mut Builder, user: &str| {
        step(b, format!("USER {user}"), |rc| {
            rc.insert("User".into(), user.into());
            Ok(())
        })
    });
    for (name, key, op) in [
        ("cmd", "Cmd", "CMD"),
        ("entrypoint", "Entrypoint", "ENTRYPOINT"),
    ] {
        engine.register_fn(name, move |b: &mut Builder, v: Dynamic| -> Res<Builder> {
            let (argv, text) = command(&b.0.borrow(), &v, op)?;
            // Docker: a new ENTRYPOINT drops the CMD the base image had, not one this build set.
            let inherited_cmd = !b.0.borrow().cmd_set;
            if key == "Cmd" {
                b.0.borrow_mut().cmd_set = true;
            }
            step(b, format!("{op} {text}"), |rc| {
                rc.insert(key.into(), json!(argv));
                if key == "Entrypoint" && inherited_cmd {
                    rc.remove("Cmd");
                }
                Ok(())
            })
        });
    }
    engine.register_fn("label", |b: &mut Builder, k: &str, v: &str| {
        step(b, format!("LABEL {k}={v}"), |rc| {
            let labels = rc.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            labels[k] = v.into();
            Ok(())
        })
    });
    engine.register_fn("expose", |b: &mut Builder, port: Dynamic| -> Res<Builder> {
        let p = port.to_string();
        let p = if p.contains('/') {
            p
        } else {
            format!("{p}/tcp")
        };
        step(b, format!("EXPOSE {p}"), |rc| {
            rc.entry("ExposedPorts").or_insert_with(|| json!({}))[&p] = json!({});
            Ok(())
        })
    });
    engine.register_fn("volume", |b: &mut Builder, path: &str| {
        step(b, format!("VOLUME {path}"), |rc| {
            rc.entry("Volumes").or_insert_with(|| json!({}))[path] = json!({});
            Ok(())
        })
    });
    engine.register_fn("stop_signal", |b: &mut Builder, sig: &str| {
        crate::container::parse_signal(sig).map_err(script_error)?;
        step(b, format!("STOPSIGNAL {sig}"), |rc| {
            rc.insert("StopSignal".into(), sig.into());
            Ok(())
        })
    });
    engine.register_fn("onbuild", |b: &mut Builder, text: &str| {
        step(b, format!("ONBUILD {text}"), |rc| {
            let list = rc.entry("OnBuild").or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                a.push(text.into());
            }
            Ok(())
        })
    });
    engine.register_fn("shell", |b: &mut Builder, argv: Array| -> Res<Builder> {
        let argv = strings(&Dynamic::from(argv), "SHELL")?;
        if argv.is_empty() {
            return Err(invalid(
                "SHELL needs a command, e.g. [\"/bin/bash\", \"-c\"]",
            ));
        }
        b.0.borrow_mut().shell = argv.clone();
        step(
            b,
            format!("SHELL {}", serde_json::to_string(&argv).unwrap_or_default()),
            |rc| {
                rc.insert("Shell".into(), json!(argv));
                Ok(())
            },
        )
    });
    engine.register_fn(
        "healthcheck",
        |b: &mut Builder, opts: Map| -> Res<Builder> {
            let hc = healthcheck(&opts)?;
            let text = format!("HEALTHCHECK {hc}");
            step(b, text, |rc| {
                rc.insert("Healthcheck".into(), hc);
                Ok(())
            })
        },
    );
    // ARG: declares a build argument; its value is the one given to the build, else the
    // default. In scope for RUN (as environment) and for expand().
    let arg = |b: &mut Builder, name: &str, default: Option<String>| -> Res<Builder> {
        {
            let mut s = b.0.borrow_mut();
            let value = s.args_given.get(name).cloned().or(default);
            match value {
                Some(v) => {
                    s.args.insert(name.to_string(), v);
                }
                None => {
                    s.args.remove(name);
                }
            }
        }
        Ok(b.clone())
    };
    let arg2 = arg;
    engine.register_fn("arg", move |b: &mut Builder, name: &str| arg(b, name, None));
    engine.register_fn("arg", move |b: &mut Builder, name: &str, default: &str| {
        arg2(b, name, Some(default.to_string()))
    });
}

/// RUN and COPY: the steps that make layers.
fn register_layer_steps(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    // Reached as b.run(cmd) through the stdlib's run(), which a Builder's name would shadow.
    engine.register_fn(
        "build_run",
        move |b: &mut Builder, v: Dynamic| -> Res<Builder> {
            let (argv, _) = command(&b.0.borrow(), &v, "RUN")?;
            let (containers, images) = (c.containers()?, c.images()?);
            b.0.borrow_mut()
                .run(containers, images, &argv)
                .map_err(script_error)?;
            Ok(b.clone())
        },
    );
    let c = ctx;
    let copy = move |b: &mut Builder,
                     src: Dynamic,
                     dest: &str,
                     opts: Map,
                     extract: bool|
          -> Res<Builder> {
        let what = if extract { "add" } else { "copy" };
        if extract {
            known_keys(&opts, what, &["chown", "chmod"])?;
        } else {
            known_keys(&opts, what, &["from", "chown", "chmod"])?;
        }
        let sources = strings(&src, "copy sources")?;
        let (from_image, from_label) = match opts.get("from") {
            None => (None, None),
            Some(v) if v.is_unit() => (None, None),
            Some(v) => match v.read_lock::<Builder>() {
                // Another stage: the image holding its files, named by its stage.
                Some(other) => {
                    let o = other.0.borrow();
                    let label = o.name.clone().unwrap_or_else(|| o.image[7..19].to_string());
                    (Some(o.image.clone()), Some(label))
                }
                None => (Some(v.to_string()), Some(v.to_string())),
            },
        };
        let chmod = match opt_str(&opts, "chmod")? {
            Some(m) => Some(u32::from_str_radix(&m, 8).map_err(|_| {
                invalid(format!(
                    "copy: chmod {m:?} must be octal permissions like \"755\""
                ))
            })?),
            None => None,
        };
        let step = CopyStep {
            extract,
            from_image,
            from_label,
            chown: opt_str(&opts, "chown")?,
            chmod,
        };
        let (containers, images) = (c.containers()?, c.images()?);
        b.0.borrow_mut()
            .copy(containers, images, &sources, dest, &step)
            .map_err(script_error)?;
        Ok(b.clone())
    };
    for (name, extract) in [("copy", false), ("add", true)] {
        let (c1, c2) = (copy.clone(), copy.clone());
        engine.register_fn(name, move |b: &mut Builder, src: Dynamic, dest: &str| {
            c1(b, src, dest, Map::new(), extract)
        });
        engine.register_fn(
            name,
            move |b: &mut Builder, src: Dynamic, dest: &str, opts: Map| {
                c2(b, src, dest, opts, extract)
            },
        );
    }
}

/// copy_in / copy_out: docker cp.
fn register_copy(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    engine.register_fn(
        "copy_in",
        move |v: Dynamic, host: &str, dest: &str| -> Res<Map> {
            let (e, b) = c
                .containers()?
                .copy_in(&container_id(&v)?, Path::new(host), dest)
                .map_err(script_error)?;
            Ok(copied(e, b))
        },
    );
    let c = ctx;
    engine.register_fn(
        "copy_out",
        move |v: Dynamic, src: &str, host: &str| -> Res<Map> {
            let (e, b) = c
                .containers()?
                .copy_out(&container_id(&v)?, src, Path::new(host))
                .map_err(script_error)?;
            Ok(copied(e, b))
        },
    );
}
