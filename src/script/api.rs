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
            .map_err(a_type)
            .map_err(|t| invalid(format!("option {key} must be a string, not {t}"))),
    }
}

pub(crate) fn opt_bool(opts: &Map, key: &str) -> Res<bool> {
    match opts.get(key) {
        None => Ok(false),
        Some(v) => v
            .as_bool()
            .map_err(a_type)
            .map_err(|t| invalid(format!("option {key} must be true or false, not {t}"))),
    }
}

/// Refuses option keys the function does not know, so a typo is not silently ignored: the
/// error names the key, the nearest known one and all of them.
pub(crate) fn known_keys(opts: &Map, func: &str, keys: &[&str]) -> Res<()> {
    match opts.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(unknown_option(func, k, keys)),
        None => Ok(()),
    }
}

/// `func: unknown option "detatch" (did you mean "detach"?; known: detach, rm, ...)`.
fn unknown_option(func: &str, key: &str, known: &[&str]) -> Box<EvalAltResult> {
    let hint = match closest(key, known.iter().copied()) {
        Some(near) => format!("did you mean {near:?}?; "),
        None => String::new(),
    };
    invalid(format!(
        "{func}: unknown option {key:?} ({hint}known: {})",
        known.join(", ")
    ))
}

/// The candidate a mistyped `word` most likely meant: one a letter or two away (a swap of
/// neighbours counts as one), or one it begins. None when nothing is that close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let len = word.chars().count();
    // One edit for short words (else "x" would suggest "rm"), two from four letters on.
    let most = if len >= 4 { 2 } else { 1 };
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = if len >= 3 && c.starts_with(word.as_str()) {
            1
        } else {
            edit_distance(&word, c)
        };
        if d <= most && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: the optimal
/// string alignment distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: edits from the first i chars of a to the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// A type's name as Rhai gives it (`Dynamic::type_name`, the `Err` of `into_string` or
/// `as_int`) in the words of an error: "a string", "a number", "a Spec".
pub(crate) fn a_type(t: &str) -> String {
    let short = t.rsplit("::").next().unwrap_or(t);
    match short {
        "SpecRef" | "Spec" => "a Spec",
        "ContainerRef" | "Container" => "a Container",
        "Process" => "a Process",
        "Image" => "an Image",
        "string" | "char" | "String" | "ImmutableString" | "&str" => "a string",
        "i64" | "f64" | "i32" | "f32" | "INT" | "FLOAT" => "a number",
        "bool" => "true or false",
        "array" | "Array" => "an array",
        "map" | "Map" => "a map",
        "()" => "nothing (())",
        other => return format!("a {other}"),
    }
    .to_string()
}

/// How a value is named in an error: "a string", "an array", "a Spec".
pub(crate) fn a_value(v: &Dynamic) -> String {
    use super::containers::{ContainerRef, Process, SpecRef};
    let name = if v.is::<SpecRef>() {
        "a Spec"
    } else if v.is::<ContainerRef>() {
        "a Container"
    } else if v.is::<Process>() {
        "a Process"
    } else if v.is::<Image>() {
        "an Image"
    } else {
        match v.type_name() {
            "string" | "char" => "a string",
            "i64" | "f64" | "i32" | "f32" => "a number",
            "bool" => "true or false",
            "array" => "an array",
            "map" => "a map",
            "()" => "nothing (())",
            other => return format!("a {}", other.rsplit("::").next().unwrap_or(other)),
        }
    };
    name.to_string()
}

/// An options argument as a map, or an error saying what it must be.
pub(crate) fn options_map(func: &str, opts: Dynamic) -> Res<Map> {
    if opts.is_unit() {
        return Ok(Map::new());
    }
    let what = a_value(&opts);
    opts.try_cast::<Map>().ok_or_else(|| {
        invalid(format!(
            "{func}: options must be a map such as #{{ name: value }}, got {what}"
        ))
    })
}

/// An argument that must be an array of strings (a command, a list of names).
pub(crate) fn string_list(func: &str, what: &str, v: Dynamic) -> Res<Vec<String>> {
    let got = a_value(&v);
    let wrong = || {
        invalid(format!(
            "{func}: {what} must be an array of strings, got {got}{}",
            if got == "a string" {
                " (split it into words: [\"sh\", \"-c\", \"...\"] for a shell line)"
            } else {
                ""
            }
        ))
    };
    let Some(items) = v.try_cast::<Array>() else {
        return Err(wrong());
    };
    items
        .into_iter()
        .map(|x| {
            let got = a_value(&x);
            x.into_string().map_err(|_| {
                invalid(format!(
                    "{func}: {what} must be an array of strings, but one item is {got}"
                ))
            })
        })
        .collect()
}

/// The stdlib's option check: `check_options("run", opts, known, aliases)` refuses unknown
/// keys as the bindings do, and returns the map with each alias (an older or shorter name)
/// renamed to its canonical key.
fn check_options(func: &str, opts: Dynamic, known: Array, aliases: Map) -> Res<Map> {
    let known: Vec<String> = known.into_iter().map(|k| k.to_string()).collect();
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut out = Map::new();
    // Which key given by the caller each canonical one came from.
    let mut given: std::collections::HashMap<String, String> = Default::default();
    for (key, value) in options_map(func, opts)? {
        let canonical = match aliases.get(key.as_str()) {
            Some(to) => to.to_string(),
            None if names.contains(&key.as_str()) => key.to_string(),
            None => {
                // A near miss of an alias suggests the name it stands for.
                let all = names
                    .iter()
                    .copied()
                    .chain(aliases.keys().map(|k| k.as_str()));
                let hint = match closest(&key, all) {
                    Some(near) => format!(
                        "did you mean {:?}?; ",
                        aliases
                            .get(near)
                            .map(|t| t.to_string())
                            .unwrap_or(near.into())
                    ),
                    None => String::new(),
                };
                return Err(invalid(format!(
                    "{func}: unknown option {key:?} ({hint}known: {})",
                    names.join(", ")
                )));
            }
        };
        if let Some(first) = given.insert(canonical.clone(), key.to_string()) {
            return Err(invalid(format!(
                "{func}: options {first:?} and {key:?} are the same ({canonical}): give one"
            )));
        }
        out.insert(canonical.into(), value);
    }
    Ok(out)
}

/// An image argument: a reference or id as a string, or an Image (by its name, or its id
/// when it has none), so `mount_image(pull("busybox"))` works.
pub(crate) fn image_ref(func: &str, v: &Dynamic) -> Res<String> {
    if let Some(img) = v.read_lock::<Image>() {
        return Ok(if img.tags.is_empty() {
            img.id.clone()
        } else {
            img.name()
        });
    }
    let got = a_value(v);
    v.clone().into_string().map_err(|_| {
        invalid(format!(
            "{func}: the image must be a reference such as \"busybox\", an id, or an Image, got {got}"
        ))
    })
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

/// Sleeps, but a Ctrl-C in the REPL ends it at once (the engine then stops the line).
fn interruptible_sleep(d: std::time::Duration) {
    use std::sync::atomic::Ordering;
    let until = std::time::Instant::now() + d;
    while !super::INTERRUPTED.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
    }
}

pub fn register(engine: &mut Engine, ctx: Rc<Context>) {
    engine.register_fn(
        "check_options",
        |func: &str, opts: Dynamic, known: Array| -> Res<Map> {
            check_options(func, opts, known, Map::new())
        },
    );
    engine.register_fn("check_options", check_options);
    engine.register_fn(
        "check_strings",
        |func: &str, what: &str, v: Dynamic| -> Res<Array> {
            Ok(string_list(func, what, v)?
                .into_iter()
                .map(Dynamic::from)
                .collect())
        },
    );

    let c = ctx.clone();
    // Any argument types: wrong ones are told what was expected, not "function not found".
    let pull = move |reference: Dynamic, opts: Dynamic| -> Res<Image> {
        let reference = match reference.clone().try_cast::<Image>() {
            Some(img) if img.tags.is_empty() => {
                return Err(invalid(format!(
                    "pull: image {} has no name to pull it by",
                    img.short_id()
                )))
            }
            Some(img) => img.name(),
            None => {
                let got = a_value(&reference);
                reference.into_string().map_err(|_| {
                    invalid(format!(
                        "pull: the reference must be a string such as \"busybox\" or \"127.0.0.1:5000/app:1\", or an Image, got {got}"
                    ))
                })?
            }
        };
        let opts = options_map("pull", opts)?;
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
        c.images()?.pull(&reference, &options).map_err(script_error)
    };
    let pull2 = pull.clone();
    engine.register_fn("pull", move |r: Dynamic| pull2(r, Dynamic::UNIT));
    engine.register_fn("pull", pull);

    let c = ctx.clone();
    let push = move |source: Dynamic, opts: Map| -> Res<Dynamic> {
        let source = image_ref("push", &source)?;
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
            .push(&source, dest.as_deref(), &options)
            .map_err(script_error)?;
        Ok(to_dynamic(&report))
    };
    let push1 = push.clone();
    engine.register_fn("push", move |src: Dynamic| push1(src, Map::new()));
    let push2 = push.clone();
    engine.register_fn("push", move |src: Dynamic, dest: &str| {
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
    engine.register_fn("image", move |spec: Dynamic| -> Res<Image> {
        c.images()?
            .image(&image_ref("image", &spec)?)
            .map_err(script_error)
    });

    let c = ctx.clone();
    engine.register_fn("tag", move |src: Dynamic, dst: &str| -> Res<Image> {
        c.images()?
            .tag(&image_ref("tag", &src)?, dst)
            .map_err(script_error)
    });

    let c = ctx.clone();
    let rmi = move |spec: Dynamic, opts: Map| -> Res<Dynamic> {
        let spec = image_ref("rmi", &spec)?;
        known_keys(&opts, "rmi", &["force"])?;
        let report = c
            .images()?
            .remove(&spec, opt_bool(&opts, "force")?, &|id| users(&c, id))
            .map_err(script_error)?;
        Ok(to_dynamic(&report))
    };
    let rmi2 = rmi.clone();
    engine.register_fn("rmi", move |spec: Dynamic| rmi2(spec, Map::new()));
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
    engine.register_fn("host_platform", || {
        crate::image::oci::Platform::host().to_string()
    });
    engine.register_fn("prune_images", prune);

    let c = ctx.clone();
    engine.register_fn("mount_image", move |spec: Dynamic| -> Res<String> {
        c.images()?
            .mount(&image_ref("mount_image", &spec)?)
            .map(|p| p.display().to_string())
            .map_err(script_error)
    });
    let c = ctx.clone();
    engine.register_fn("unmount_image", move |spec: Dynamic| -> Res<()> {
        c.images()?
            .unmount(&image_ref("unmount_image", &spec)?)
            .map_err(script_error)
    });

    let c = ctx.clone();
    engine.register_fn("save", move |spec: Dynamic, path: &str| -> Res<()> {
        let spec = image_ref("save", &spec)?;
        if path.trim().is_empty() {
            return Err(invalid(
                "save needs a path: a file ending in .tar, or a directory for an OCI layout",
            ));
        }
        crate::image::archive::save(c.images()?, &spec, std::path::Path::new(path))
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
        interruptible_sleep(std::time::Duration::from_secs_f64(
            seconds.clamp(0.0, 86400.0),
        ))
    });
    engine.register_fn("sleep", |seconds: i64| {
        interruptible_sleep(std::time::Duration::from_secs(
            seconds.clamp(0, 86400) as u64
        ))
    });
    engine.register_fn("human_size", |n: i64| {
        super::value::human_size(n.max(0) as u64)
    });
    engine.register_fn("env_file", |path: &str| -> Res<Array> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            script_error(crate::error::Error::io(
                "cannot read the env file",
                std::path::Path::new(path),
                e,
            ))
        })?;
        let vars = crate::container::spec::parse_env_file(&text, path, |k| std::env::var(k).ok())
            .map_err(script_error)?;
        Ok(vars.into_iter().map(Dynamic::from).collect())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_suggests_the_nearest_name_and_nonsense_suggests_nothing() {
        let verbs = ["run", "rm", "restart", "images", "inspect", "network"];
        assert_eq!(
            closest("restrat", verbs),
            Some("restart"),
            "a swap is one edit"
        );
        assert_eq!(closest("imgaes", verbs), Some("images"));
        assert_eq!(closest("rn", verbs), Some("run"));
        assert_eq!(closest("net", verbs), Some("network"), "a prefix");
        assert_eq!(closest("x", verbs), None, "one letter is not a guess");
        assert_eq!(closest("frobnicate", verbs), None);
        assert_eq!(edit_distance("detatch", "detach"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    fn engine() -> Engine {
        let ctx = Context::new(crate::store::Paths::new("/nonexistent"));
        let mut engine = crate::script::build_engine(ctx);
        crate::script::install_stdlib(&mut engine).expect("stdlib");
        engine
    }

    fn message(engine: &Engine, script: &str) -> String {
        let wrapped =
            format!("let m = \"ok\"; try {{ {script}; }} catch (e) {{ m = e.message; }} m");
        engine
            .eval::<String>(&wrapped)
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    #[test]
    fn options_are_strict_with_a_did_you_mean() {
        let e = engine();
        assert_eq!(
            message(
                &e,
                r#"check_options("run", #{ detatch: true }, ["detach", "rm"])"#
            ),
            r#"run: unknown option "detatch" (did you mean "detach"?; known: detach, rm)"#
        );
        assert_eq!(
            message(&e, r#"check_options("run", #{ zzz: 1 }, ["detach"])"#),
            r#"run: unknown option "zzz" (known: detach)"#
        );
        // An alias is renamed; its near miss suggests the canonical name.
        let renamed: Map = e
            .eval(r#"check_options("run", #{ mem: "64m" }, ["memory"], #{ mem: "memory" })"#)
            .unwrap();
        assert_eq!(
            renamed.get("memory").map(|v| v.to_string()),
            Some("64m".into())
        );
        assert!(message(
            &e,
            r#"check_options("run", #{ memroy: 1 }, ["memory"], #{ mem: "memory" })"#
        )
        .contains(r#"did you mean "memory"?"#));
        assert!(message(
            &e,
            r#"check_options("run", #{ mem: 1, memory: 2 }, ["memory"], #{ mem: "memory" })"#
        )
        .contains("are the same"));
        assert_eq!(
            message(&e, r#"check_options("run", "detach", ["detach"])"#),
            "run: options must be a map such as #{ name: value }, got a string"
        );
        // The bindings say the same.
        assert!(message(&e, r#"images(#{ al: true })"#)
            .contains(r#"images: unknown option "al" (did you mean "all"?; known: json, all)"#));
    }

    #[test]
    fn wrong_argument_types_say_what_was_expected() {
        let e = engine();
        for (script, want) in [
            (
                r#"run("busybox", "echo hi")"#,
                "run: cmd must be an array of strings, got a string",
            ),
            (
                r#"run("busybox", ["echo", 1])"#,
                "run: cmd must be an array of strings, but one item is a number",
            ),
            (
                r#"run("busybox", [], "x")"#,
                "run: options must be a map such as #{ name: value }, got a string",
            ),
            (
                r#"container("x").spawn("ls")"#,
                "spawn: the command must be an array of strings, got a string",
            ),
            (
                r#"exec("web", "ls")"#,
                "exec: the command must be an array of strings, got a string",
            ),
            (r#"pull(42)"#, "pull: the reference must be a string"),
            (r#"pull("busybox", 1)"#, "pull: options must be a map"),
        ] {
            let m = message(&e, script);
            assert!(m.starts_with(want), "{script}: {m}");
        }
    }
}
