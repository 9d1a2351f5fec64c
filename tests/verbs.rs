//! Docker's everyday verbs and flags from the shell, against real containers: --format and
//! -q, inspect's Docker shape, and the verbs that read a running container.

mod common;

use common::*;

fn busybox() -> &'static str {
    static IMG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "verbs/box:1");
        format!("{}/verbs/box:1", reg.addr)
    })
}

/// A detached busybox running `cmd`, named `name`, with `flags` before the image.
fn detached(r: &std::path::Path, name: &str, flags: &[&str], cmd: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.push(busybox());
    args.extend_from_slice(cmd);
    gocker_ok(r, &args).trim().to_string()
}

#[test]
fn ps_and_images_take_quiet_and_go_templates() {
    let root = root();
    let r = root.path();
    let id = detached(r, "fmt-web", &["--network", "none"], &["sleep", "300"]);
    gocker_ok(
        r,
        &[
            "run",
            "--name",
            "fmt-done",
            "--network",
            "none",
            busybox(),
            "true",
        ],
    );

    // -q: the short ids, running ones only unless -a.
    assert_eq!(gocker_ok(r, &["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(gocker_ok(r, &["ps", "-aq"]).lines().count(), 2);

    // Fields, text between them, \t as a tab.
    let line = gocker_ok(
        r,
        &[
            "ps",
            "--format",
            "{{.Names}}\\t{{.ID}} {{.Image}} {{.State}}",
        ],
    );
    assert_eq!(
        line.trim_end(),
        format!("fmt-web\t{} {} running", &id[..12], busybox())
    );
    let status = gocker_ok(r, &["ps", "-a", "--format", "{{.Names}}={{.Status}}"]);
    assert!(status.contains("fmt-web=Up "), "{status}");
    assert!(status.contains("fmt-done=Exited (0) "), "{status}");
    let created = gocker_ok(
        r,
        &[
            "ps",
            "--format",
            "{{.CreatedAt}}|{{.RunningFor}}|{{.Command}}",
        ],
    );
    assert!(created.contains(" +0000 UTC|"), "{created}");
    assert!(created.contains(" ago|\"sleep 300\""), "{created}");

    // table: a header named as Docker's, then aligned columns.
    let t = gocker_ok(
        r,
        &[
            "ps",
            "--format",
            "table {{.ID}}\\t{{.Names}}\\t{{.RunningFor}}",
        ],
    );
    let mut lines = t.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("CONTAINER ID   NAMES     CREATED"),
        "{t}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("{}   fmt-web", &id[..12])),
        "{t}"
    );

    // {{json .}}: one object a line, Docker's keys.
    let j = gocker_ok(r, &["ps", "--format", "{{json .}}"]);
    let v: serde_json::Value = serde_json::from_str(j.trim()).expect("a JSON line");
    assert_eq!(v["Names"], "fmt-web");
    assert_eq!(v["ID"], &id[..12]);

    // An unknown field is an error naming the fields there are.
    let o = gocker(r, &["ps", "--format", "{{.Name}}"]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(e.contains("no field .Name (did you mean .Names?)"), "{e}");
    assert!(e.contains(".ID") && e.contains(".RunningFor"), "{e}");

    // images: -q once per image, --format with Docker's names.
    gocker_ok(r, &["tag", busybox(), "other:2"]);
    let ids = gocker_ok(r, &["images", "-q"]);
    assert_eq!(ids.lines().count(), 1, "{ids}");
    let short = ids.trim().to_string();
    let listed = gocker_ok(
        r,
        &[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}",
        ],
    );
    assert!(listed.contains(&format!("other:2 {short} ")), "{listed}");
    assert!(
        listed.lines().all(|l| l.ends_with("B")),
        "sizes as Docker's: {listed}"
    );
    let t = gocker_ok(
        r,
        &["images", "--format", "table {{.ID}}\\t{{.CreatedSince}}"],
    );
    assert!(t.starts_with("IMAGE ID       CREATED"), "{t}");
    // With nothing to show, a table is still its header.
    gocker_ok(r, &["rm", "-f", "fmt-web", "fmt-done"]);
    assert_eq!(
        gocker_ok(r, &["ps", "-a", "--format", "table {{.Names}}"]).trim(),
        "NAMES"
    );
    assert_eq!(gocker_ok(r, &["ps", "-aq"]), "");
}

#[test]
fn inspect_speaks_dockers_field_names_and_takes_a_template() {
    let root = root();
    let r = root.path();
    let id = detached(
        r,
        "insp",
        &[
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "-e",
            "K=V",
            "-p",
            "0:80",
            "--restart",
            "on-failure:3",
        ],
        &["sleep", "300"],
    );
    let f = |t: &str| {
        gocker_ok(r, &["inspect", "-f", t, "insp"])
            .trim()
            .to_string()
    };
    assert_eq!(
        f("{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}"),
        "running true 0"
    );
    let pid: i32 = f("{{.State.Pid}}").parse().expect("a pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(f("{{.Name}} {{.Id}}"), format!("/insp {id}"));
    assert_eq!(
        f("{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"),
        "67108864 500000000"
    );
    assert_eq!(f("{{.HostConfig.RestartPolicy.Name}}"), "on-failure");
    assert_eq!(f("{{.Config.Image}}"), busybox());
    assert!(f("{{.Config.Env}}").contains("K=V"));
    let ip = f("{{.NetworkSettings.IPAddress}}");
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    assert!(f("{{json .NetworkSettings.Networks}}").contains(&ip));
    let port = f("{{json .NetworkSettings.Ports}}");
    assert!(
        port.contains("\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\""),
        "{port}"
    );
    let config: serde_json::Value = serde_json::from_str(&f("{{json .Config}}")).unwrap();
    assert_eq!(config["Cmd"], serde_json::json!(["sleep", "300"]));

    // Without a template: a JSON array, one entry a name, images too (--type).
    let all: serde_json::Value =
        serde_json::from_str(&gocker_ok(r, &["inspect", "insp", busybox()])).unwrap();
    assert_eq!(all[0]["State"]["Status"], "running");
    assert!(
        all[1]["RepoTags"][0]
            .as_str()
            .unwrap()
            .ends_with("verbs/box:1"),
        "{all}"
    );
    assert_eq!(all[1]["Os"], "linux");
    assert!(all[1]["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let img = gocker_ok(
        r,
        &[
            "inspect",
            "--type",
            "image",
            "-f",
            "{{.Architecture}}",
            busybox(),
        ],
    );
    assert_eq!(
        img.trim(),
        std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64")
    );

    // One missing name is reported, the others still shown, and the verb fails.
    let o = gocker(r, &["inspect", "-f", "{{.Name}}", "nosuch", "insp"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out(&o).trim(), "/insp");
    assert!(err(&o).contains("nosuch"), "{}", err(&o));

    // After it ends: its exit code and times.
    gocker_ok(r, &["stop", "-t", "1", "insp"]);
    assert_eq!(
        f("{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}"),
        "exited 137 0"
    );
    assert!(f("{{.State.FinishedAt}}").ends_with('Z'));
}
