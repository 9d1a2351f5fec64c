//! One doc entry per script function: what `help()` prints and what the README's API
//! reference is generated from, so the two cannot drift.

/// (topic, name, signature, description, example)
pub const DOCS: &[(&str, &str, &str, &str, &str)] = &[
    ("images", "pull", "pull(ref) / pull(ref, #{ platform, username, password, quiet })",
     "Pulls an image from its registry (docker.io by default) into the local store and returns it. Layers download concurrently and unpack as they stream in.",
     r#"let img = pull("127.0.0.1:5000/busybox"); img.digest"#),
    ("images", "images", "images()", "Every local image, newest first.", "images().len()"),
    ("images", "image", "image(ref_or_id)", "One local image, by reference, id or unique id prefix.", r#"image("busybox").config"#),
    ("images", "tag", "tag(source, new_ref)", "Gives an image another name.", r#"tag("busybox", "box:1")"#),
    ("images", "rmi", "rmi(ref) / rmi(ref, #{ force })",
     "Removes a name; the image goes with its last name (or when named by id), and with it every layer no other image shares. Refuses an image in use unless forced.",
     r#"rmi("box:1")"#),
    ("images", "prune_images", "prune_images() / prune_images(#{ all })", "Removes untagged images (all unused ones with `all`).", "prune_images()"),
    ("images", "mount_image", "mount_image(ref)", "Mounts the image's flattened filesystem read-only on the host and returns the path (podman image mount).", r#"let dir = mount_image("busybox");"#),
    ("images", "unmount_image", "unmount_image(ref)", "Undoes mount_image.", r#"unmount_image("busybox")"#),
    ("images", "save", "save(ref, path)", "Writes an image as a `docker save` tarball (path ending in .tar) or an OCI layout directory, with its exact original layers.", r#"save("busybox", "/tmp/busybox.tar")"#),
    ("images", "load", "load(path)", "Loads images from a `docker save` tarball or an OCI layout (directory or tar), returns them.", r#"load("/tmp/busybox.tar")"#),
    ("script", "trace", "trace(on)", "Prints each system-level step the primitives take (mounts, clone flags, cgroup writes...), one line each.", "trace(true)"),
    ("script", "help", "help() / help(name)", "Lists the functions by topic, or shows one.", r#"help("pull")"#),
    ("script", "human_size", "human_size(bytes)", "Formats a byte count as docker does (1.2 MB).", "human_size(1234567)"),
];

pub fn help_index() -> String {
    let mut out = String::new();
    let mut topic = "";
    for (t, name, _, desc, _) in DOCS {
        if *t != topic {
            topic = t;
            out.push_str(&format!("\n{topic}:\n"));
        }
        let first = desc
            .split(". ")
            .next()
            .unwrap_or(desc)
            .trim_end_matches('.');
        out.push_str(&format!("  {name:<16} {first}\n"));
    }
    out.push_str("\nhelp(\"name\") shows one function with an example.");
    out
}

pub fn help_for(name: &str) -> String {
    match DOCS.iter().find(|d| d.1 == name) {
        Some((_, _, sig, desc, example)) => format!("{sig}\n\n  {desc}\n\n  example: {example}"),
        None => {
            let close: Vec<&str> = DOCS
                .iter()
                .map(|d| d.1)
                .filter(|n| n.contains(name) || name.contains(n))
                .collect();
            if close.is_empty() {
                format!("no function named {name:?}; help() lists them")
            } else {
                format!(
                    "no function named {name:?}; did you mean {}?",
                    close.join(", ")
                )
            }
        }
    }
}

/// The API reference in Markdown, for README.md.
pub fn markdown() -> String {
    let mut out = String::new();
    let mut topic = "";
    for (t, _, sig, desc, example) in DOCS {
        if *t != topic {
            topic = t;
            out.push_str(&format!("\n### {topic}\n\n"));
        }
        out.push_str(&format!("- `{sig}`: {desc} Example: `{example}`\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    /// README.md's API section is this table, so the two cannot drift. Regenerate with
    /// `GOCKER_WRITE_README=1 cargo test readme_api_reference`.
    #[test]
    fn readme_api_reference_is_generated_from_the_docs() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let (head, rest) = readme
            .split_once("<!-- api:begin -->")
            .expect("api:begin marker");
        let (_, tail) = rest.split_once("<!-- api:end -->").expect("api:end marker");
        let want = format!(
            "{head}<!-- api:begin -->\n{}<!-- api:end -->{tail}",
            super::markdown().trim_start()
        );
        if std::env::var_os("GOCKER_WRITE_README").is_some() {
            std::fs::write(path, &want).expect("write README.md");
        }
        assert!(
            readme == want,
            "README.md's API section is stale: run GOCKER_WRITE_README=1 cargo test readme_api"
        );
    }
}
