//! Script-facing types: how an `Image` looks from Rhai (read-only getters and printing), and
//! conversions between Rust values and Rhai values.

use rhai::{Array, Dynamic, Engine, Map};
use serde::Serialize;

use crate::image::Image;

/// Any serializable value as a Rhai value (maps and arrays all the way down).
pub fn to_dynamic<T: Serialize>(v: &T) -> Dynamic {
    json_to_dynamic(serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
}

pub fn json_to_dynamic(v: serde_json::Value) -> Dynamic {
    use serde_json::Value as J;
    match v {
        J::Null => Dynamic::UNIT,
        J::Bool(b) => b.into(),
        J::Number(n) => n
            .as_i64()
            .map(Dynamic::from)
            .unwrap_or_else(|| n.as_f64().map(Dynamic::from).unwrap_or(Dynamic::UNIT)),
        J::String(s) => s.into(),
        J::Array(a) => Dynamic::from_array(a.into_iter().map(json_to_dynamic).collect()),
        J::Object(o) => {
            let m: Map = o
                .into_iter()
                .map(|(k, v)| (k.into(), json_to_dynamic(v)))
                .collect();
            Dynamic::from_map(m)
        }
    }
}

/// A Rhai value as JSON (images by their serialized form).
pub fn dynamic_to_json(v: &Dynamic) -> serde_json::Value {
    use serde_json::Value as J;
    if let Some(img) = v.read_lock::<Image>() {
        return serde_json::to_value(&*img).unwrap_or(J::Null);
    }
    // A Spec, Container or Process inside a list or map reads as it prints.
    let ctx = super::current_context();
    if let Some(text) = super::containers::describe(ctx.as_deref(), v) {
        return J::String(text);
    }
    if let Some(a) = v.read_lock::<Array>() {
        return J::Array(a.iter().map(dynamic_to_json).collect());
    }
    if let Some(m) = v.read_lock::<Map>() {
        return J::Object(
            m.iter()
                .map(|(k, v)| (k.to_string(), dynamic_to_json(v)))
                .collect(),
        );
    }
    if v.is_unit() {
        J::Null
    } else if let Ok(b) = v.as_bool() {
        J::Bool(b)
    } else if let Ok(i) = v.as_int() {
        J::from(i)
    } else if let Ok(f) = v.as_float() {
        J::from(f)
    } else {
        J::String(v.to_string())
    }
}

fn strings(v: &[String]) -> Array {
    v.iter().map(|s| Dynamic::from(s.clone())).collect()
}

/// A size as Docker prints it (go-units' HumanSize): three significant digits in powers
/// of 1000, no space: 512B, 1.5MB, 4.26MB, 123MB.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    loop {
        // Rounded to three significant digits first: 999.7 kB is 1MB, not 1000kB.
        let decimals = match v {
            x if x < 10.0 => 2,
            x if x < 100.0 => 1,
            _ => 0,
        };
        let text = format!("{v:.decimals$}");
        if text.parse::<f64>().unwrap_or(v) >= 1000.0 && u < units.len() - 1 {
            v /= 1000.0;
            u += 1;
            continue;
        }
        let text = match text.contains('.') {
            true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
            false => text,
        };
        return format!("{text}{}", units[u]);
    }
}

pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Image>("Image")
        .register_get("id", |i: &mut Image| i.id.clone())
        .register_get("short_id", |i: &mut Image| i.short_id())
        .register_get("name", |i: &mut Image| i.name())
        .register_get("digest", |i: &mut Image| i.digest.clone())
        .register_get("tags", |i: &mut Image| strings(&i.tags))
        .register_get("digests", |i: &mut Image| strings(&i.digests))
        .register_get("size", |i: &mut Image| i.size as i64)
        .register_get("created", |i: &mut Image| {
            i.created
                .clone()
                .map(Dynamic::from)
                .unwrap_or(Dynamic::UNIT)
        })
        .register_get("platform", |i: &mut Image| i.platform.to_string())
        .register_get("config", |i: &mut Image| to_dynamic(&i.config))
        .register_get("layers", |i: &mut Image| to_dynamic(&i.layers))
        .register_get("env", |i: &mut Image| {
            strings(i.config.env.as_deref().unwrap_or(&[]))
        })
        .register_get("cmd", |i: &mut Image| {
            strings(i.config.cmd.as_deref().unwrap_or(&[]))
        })
        .register_get("entrypoint", |i: &mut Image| {
            strings(i.config.entrypoint.as_deref().unwrap_or(&[]))
        })
        .register_get("exposed_ports", |i: &mut Image| {
            let ports: Vec<String> = i
                .config
                .exposed_ports
                .iter()
                .flat_map(|m| m.keys().cloned())
                .collect();
            strings(&ports)
        })
        .register_fn("to_map", |i: &mut Image| to_dynamic(i))
        .register_fn("to_json", |v: Dynamic| {
            serde_json::to_string_pretty(&dynamic_to_json(&v)).unwrap_or_default()
        })
        .register_fn("help", |_: &mut Image| {
            super::docs::type_doc("Image")
                .map(super::docs::help_type)
                .unwrap_or_default()
        })
        .register_fn("to_string", |i: &mut Image| describe_image(i))
        .register_fn("to_debug", |i: &mut Image| describe_image(i));
}

/// How an Image prints: `Image(busybox:latest, 1.2 MB)`.
pub fn describe_image(i: &Image) -> String {
    format!("Image({}, {})", i.name(), human_size(i.size))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_dockers() {
        for (n, want) in [
            (0, "0B"),
            (512, "512B"),
            (1500, "1.5kB"),
            (4_261_000, "4.26MB"),
            (123_400_000, "123MB"),
            (999_700, "1MB"),
            (2_000_000_000, "2GB"),
        ] {
            assert_eq!(super::human_size(n), want, "{n}");
        }
    }
}
