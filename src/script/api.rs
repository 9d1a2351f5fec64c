//! The script functions. Each binding converts its arguments, calls the library and maps the
//! error; nothing here knows how images or containers work.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};

use super::value::to_dynamic;
use super::{invalid, script_error, Context};
use crate::image::oci::Compression;
use crate::image::{Credentials, Image, ManifestFormat, PullOptions, PushOptions};

pub(crate) type Res<T> = Result<T, Box<EvalAltResult>>;

/// Reads an optional string option.
pub(crate) fn opt_str(opts: &Map, key: &str) -> Res<Option<String>> {
    match opts.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => v
            .clone()
            .into_string()
            .map(Some)
            .map_err(|t| invalid(format!("option {key} must be a string, not {t}"))),
    }
}

pub(crate) fn opt_bool(opts: &Map, key: &str) -> Res<bool> {
    match opts.get(key) {
        None => Ok(false),
        Some(v) => v
            .as_bool()
            .map_err(|t| invalid(format!("option {key} must be true or false, not {t}"))),
    }
}

/// Refuses option keys the function does not know, so a typo is not silently ignored.
pub(crate) fn known_keys(opts: &Map, func: &str, keys: &[&str]) -> Res<()> {
    for k in opts.keys() {
        if !keys.contains(&k.as_str()) {
            return Err(invalid(format!(
                "{func}: unknown option {k:?} (known: {})",
                keys.join(", ")
            )));
        }
    }
    Ok(())
}

fn images_array(v: Vec<Image>) -> Array {
    v.into_iter().map(Dynamic::from).collect()
}

/// The names of the containers using an image, for `rmi` and `prune_images`.
fn users(ctx: &Context, image_id: &str) -> crate::Result<Vec<String>> {
    match ctx.containers() {
        Ok(store) => store.users_of(image_id),
        Err(e) => Err(crate::Error::new(crate::Kind::Io, super::describe(&e))),
    }
}

/// The `username` and `password` options, which go together.
fn credentials(opts: &Map, func: &str) -> Res<Option<Credentials>> {
    match (opt_str(opts, "username")?, opt_str(opts, "password")?) {
        (Some(username), Some(password)) => Ok(Some(Credentials { username, password })),
        (None, None) => Ok(None),
        _ => Err(invalid(format!(
            "{func}: username and password go together"
        ))),
    }
}

pub fn register(engine: &mut Engine, ctx: Rc<Context>) {
    let c = ctx.clone();
    let pull = move |reference: &str, opts: Map| -> Res<Image> {
        known_keys(
            &opts,
            "pull",
            &["platform", "username", "password", "quiet"],
        )?;
        let credentials = credentials(&opts, "pull")?;
        let options = PullOptions {
            platform: opt_str(&opts, "platform")?,
            credentials,
            progress: !opt_bool(&opts, "quiet")?,
            concurrency: None,
        };
        c.images()?.pull(reference, &options).map_err(script_error)
    };
    let pull2 = pull.clone();
    engine.register_fn("pull", move |r: &str| pull2(r, Map::new()));
    engine.register_fn("pull", pull);

    let c = ctx.clone();
    let push = move |source: &str, opts: Map| -> Res<Dynamic> {
        known_keys(
            &opts,
            "push",
            &[
                "dest",
                "format",
                "compression",
                "username",
                "password",
                "quiet",
            ],
        )?;
        let options = PushOptions {
            credentials: credentials(&opts, "push")?,
            format: opt_str(&opts, "format")?
                .map(|f| ManifestFormat::parse(&f))
                .transpose()
                .map_err(script_error)?,
            compression: opt_str(&opts, "compression")?
                .map(|f| Compression::parse(&f))
                .transpose()
                .map_err(script_error)?,
            progress: !opt_bool(&opts, "quiet")?,
            concurrency: None,
        };
        let dest = opt_str(&opts, "dest")?;
        let report = c
            .images()?
            .push(source, dest.as_deref(), &options)
            .map_err(script_error)?;
        Ok(to_dynamic(&report))
    };
    let push1 = push.clone();
    engine.register_fn("push", move |src: &str| push1(src, Map::new()));
    let push2 = push.clone();
    engine.register_fn("push", move |src: &str, dest: &str| {
        let mut opts = Map::new();
        opts.insert("dest".into(), dest.into());
        push2(src, opts)
    });
    engine.register_fn("push", push);

    engine.register_fn("login", |registry: &str, opts: Map| -> Res<String> {
        known_keys(&opts, "login", &["username", "password"])?;
        let creds = credentials(&opts, "login")?.ok_or_else(|| {
            invalid(format!(
                "login to {registry} needs #{{ username, password }}"
            ))
        })?;
        crate::image::login::login(registry, &creds)
            .map(|p| p.display().to_string())
            .map_err(script_error)
    });
    engine.register_fn("logout", |registry: &str| -> Res<String> {
        crate::image::login::logout(registry)
            .map(|p| p.display().to_string())
            .map_err(script_error)
    });

    let c = ctx.clone();
    engine.register_fn("images", move || -> Res<Array> {
        c.images()?
            .listed(false)
            .map(images_array)
            .map_err(script_error)
    });

    let c = ctx.clone();
    engine.register_fn("images", move |opts: Map| -> Res<Dynamic> {
        known_keys(&opts, "images", &["json", "all"])?;
        let list = c
            .images()?
            .listed(opt_bool(&opts, "all")?)
            .map_err(script_error)?;
        if opt_bool(&opts, "json")? {
            return Ok(serde_json::to_string_pretty(&list)
                .unwrap_or_default()
                .into());
        }
        Ok(images_array(list).into())
    });

    let c = ctx.clone();
    engine.register_fn("image", move |spec: &str| -> Res<Image> {
        c.images()?.image(spec).map_err(script_error)
    });

    let c = ctx.clone();
    engine.register_fn("tag", move |src: &str, dst: &str| -> Res<Image> {
        c.images()?.tag(src, dst).map_err(script_error)
    });

    let c = ctx.clone();
    let rmi = move |spec: &str, opts: Map| -> Res<Dynamic> {
        known_keys(&opts, "rmi", &["force"])?;
        let report = c
            .images()?
            .remove(spec, opt_bool(&opts, "force")?, &|id| users(&c, id))
            .map_err(script_error)?;
        Ok(to_dynamic(&report))
    };
    let rmi2 = rmi.clone();
    engine.register_fn("rmi", move |spec: &str| rmi2(spec, Map::new()));
    engine.register_fn("rmi", rmi);

    let c = ctx.clone();
    let prune = move |opts: Map| -> Res<Array> {
        known_keys(&opts, "prune_images", &["all"])?;
        let removed = c
            .images()?
            .prune(opt_bool(&opts, "all")?, &|id| users(&c, id))
            .map_err(script_error)?;
        Ok(removed.into_iter().map(Dynamic::from).collect())
    };
    let prune2 = prune.clone();
    engine.register_fn("prune_images", move || prune2(Map::new()));
    engine.register_fn("prune_images", prune);

    let c = ctx.clone();
    engine.register_fn("mount_image", move |spec: &str| -> Res<String> {
        c.images()?
            .mount(spec)
            .map(|p| p.display().to_string())
            .map_err(script_error)
    });
    let c = ctx.clone();
    engine.register_fn("unmount_image", move |spec: &str| -> Res<()> {
        c.images()?.unmount(spec).map_err(script_error)
    });

    let c = ctx.clone();
    engine.register_fn("save", move |spec: &str, path: &str| -> Res<()> {
        if path.trim().is_empty() {
            return Err(invalid(
                "save needs a path: a file ending in .tar, or a directory for an OCI layout",
            ));
        }
        crate::image::archive::save(c.images()?, spec, std::path::Path::new(path))
            .map_err(script_error)
    });
    let c = ctx.clone();
    engine.register_fn("load", move |path: &str| -> Res<Array> {
        crate::image::archive::load(c.images()?, std::path::Path::new(path))
            .map(images_array)
            .map_err(script_error)
    });

    // exit(n) ends the script with status n. Rhai's own exit() turns into the script's value,
    // which a runner cannot tell from a last expression; a termination it can.
    engine.register_fn(
        "exit",
        |ctx: rhai::NativeCallContext, code: i64| -> Res<()> {
            Err(Box::new(EvalAltResult::ErrorTerminated(
                Dynamic::from(code),
                ctx.call_position(),
            )))
        },
    );
    engine.register_fn("exit", |ctx: rhai::NativeCallContext| -> Res<()> {
        Err(Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(0_i64),
            ctx.call_position(),
        )))
    });
    engine.register_fn("trace", |on: bool| crate::trace::set(on));
    engine.register_fn("help", super::docs::help_index);
    engine.register_fn("help", |name: &str| super::docs::help_for(name));
    engine.register_fn("sleep", |seconds: f64| {
        std::thread::sleep(std::time::Duration::from_secs_f64(
            seconds.clamp(0.0, 86400.0),
        ))
    });
    engine.register_fn("sleep", |seconds: i64| {
        std::thread::sleep(std::time::Duration::from_secs(
            seconds.clamp(0, 86400) as u64
        ))
    });
    engine.register_fn("human_size", |n: i64| {
        super::value::human_size(n.max(0) as u64)
    });
}
