//! Stacks and compose files through the real binary: a web server and a client that reaches
//! it by its service name, depends_on waiting for health and for completion, a cycle, the
//! warnings for what is not supported, labels and filters, network aliases, named volumes
//! kept or removed by down, an attached up stopped by Ctrl-C, and nothing left behind.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::*;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "compose/busybox:1");
        format!("{}/compose/busybox:1", reg.addr)
    })
}

/// A busybox image whose config has labels, for the merge under a container's.
fn labelled_image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        let reference = format!("{}/compose/labelled:1", reg.addr);
        Pusher::new(reg).image(
            &reference,
            &[(busybox_layer(), Comp::Gzip)],
            Format::Oci,
            serde_json::json!({ "Cmd": ["sh"], "Labels": { "from.image": "yes", "tier": "base" } }),
            "amd64",
        );
        reference
    })
}

/// A project directory named `name` holding compose.yaml with `text`.
fn project(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join(name);
    std::fs::create_dir(&dir).expect("project dir");
    let file = dir.join("compose.yaml");
    std::fs::write(&file, text).expect("write compose.yaml");
    (parent, file)
}

/// The stack's default network in compose terms, on a subnet and bridge of the test's own.
fn default_network() -> (String, String, String) {
    let (subnet, bridge) = unique_subnet();
    let yaml = format!(
        "networks:\n  default:\n    ipam: {{ config: [{{ subnet: {subnet} }}] }}\n    driver_opts: {{ com.docker.network.bridge.name: {bridge} }}\n"
    );
    (yaml, subnet, bridge)
}

fn compose(root: &Path, file: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["compose", "-f", file.to_str().expect("utf-8 path")];
    all.extend(args);
    gocker(root, &all)
}

fn compose_ok(root: &Path, file: &Path, args: &[&str]) -> String {
    let o = compose(root, file, args);
    assert!(
        o.status.success(),
        "compose {args:?}: {}\n{}",
        out(&o),
        err(&o)
    );
    out(&o)
}

fn script(root: &Path, code: &str) -> String {
    let o = gocker(root, &["-e", code]);
    assert!(o.status.success(), "{code}: {}\n{}", out(&o), err(&o));
    out(&o)
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn nft_table_exists(bridge: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "ip", &format!("gocker-{bridge}")])
        .output()
        .expect("nft")
        .status
        .success()
}

fn cgroup_exists(id: &str) -> bool {
    ["memory", "cpu", "pids", "cpuacct", ""]
        .iter()
        .any(|c| Path::new(&format!("/sys/fs/cgroup/{c}/gocker-script/{id}")).exists())
}

/// The ids of the root's containers.
fn ids(root: &Path) -> Vec<String> {
    script(root, "for c in containers() { print(c.id) }")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Nothing of the stack is left: containers, network, bridge, nft table, cgroups, mounts.
fn assert_nothing_left(root: &Path, network: &str, bridge: &str, ids: &[String]) {
    assert_eq!(script(root, "print(containers().len())").trim(), "0");
    let nets = script(root, "for n in networks() { print(n.name) }");
    assert!(!nets.lines().any(|n| n == network), "{nets}");
    assert!(!link_exists(bridge), "bridge {bridge} left");
    assert!(!nft_table_exists(bridge), "nft table of {bridge} left");
    for id in ids {
        assert!(!cgroup_exists(id), "cgroup of {id} left");
    }
    assert!(mounts_under(root).is_empty(), "{:?}", mounts_under(root));
}

#[test]
fn a_web_server_and_a_client_by_service_name_come_up_and_go_down_leaving_nothing() {
    let root = root();
    let r = root.path();
    let proj = format!("shop{}", std::process::id());
    let (net_yaml, subnet, bridge) = default_network();
    let text = format!(
        r#"
services:
  web:
    image: {img}
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    volumes: ["./site:/www:ro"]
  client:
    image: {img}
    # $$ is a dollar for the shell, not a variable of compose's.
    command: sh -c 'for i in $$(seq 100); do wget -q -O - http://web/ && exit 0; sleep 0.1; done; exit 1'
    depends_on: [web]
{net_yaml}"#,
        img = image()
    );
    let (_dir, file) = project(&proj, &text);
    let site = file.parent().expect("dir").join("site");
    std::fs::create_dir(&site).expect("site");
    std::fs::write(site.join("index.html"), "hello from web\n").expect("page");

    let up = compose_ok(r, &file, &["up", "-d"]);
    assert!(
        up.contains(&format!("Container {proj}-web-1  Started")),
        "{up}"
    );
    let client = format!("{proj}-client-1");
    assert_eq!(
        script(r, &format!("print(wait(find_container({client:?})))")).trim(),
        "0",
        "the client fetched the page by the service's name"
    );
    let logs = compose_ok(r, &file, &["logs", "client"]);
    assert_eq!(logs, "hello from web\n");
    let all = compose_ok(r, &file, &["logs"]);
    assert!(
        all.contains(&format!("{client}  | hello from web")),
        "{all}"
    );
    let ps = compose_ok(r, &file, &["ps"]);
    assert!(
        ps.contains(&format!("{proj}-web-1")) && !ps.contains(&client),
        "running only: {ps}"
    );
    let ps = compose_ok(r, &file, &["ps", "-a"]);
    assert!(
        ps.contains(&format!("{proj}-web-1")) && ps.contains(&client),
        "{ps}"
    );
    // The stack's network is the one the file gave, and the container is on it.
    let ip = script(r, &format!("print(find_container(\"{proj}-web-1\").ip)"));
    assert!(
        ip.starts_with(subnet.trim_end_matches("0/24")),
        "{ip} in {subnet}"
    );
    assert!(link_exists(&bridge));
    let page = compose_ok(r, &file, &["exec", "web", "cat", "/www/index.html"]);
    assert_eq!(page, "hello from web\n");
    let ids = ids(r);
    assert_eq!(ids.len(), 2);

    let down = compose_ok(r, &file, &["down", "-t", "1"]);
    assert!(down.contains(&format!("Removed {proj}_default")), "{down}");
    assert_nothing_left(r, &format!("{proj}_default"), &bridge, &ids);
}

#[test]
fn depends_on_waits_for_a_healthy_service_and_a_completed_one() {
    let root = root();
    let r = root.path();
    let proj = format!("deps{}", std::process::id());
    let (net_yaml, _, bridge) = default_network();
    // db is healthy once its page (the marker) exists, a second after it starts; init
    // writes to a shared volume after a second and ends. app fetches the page once and
    // looks for init's file once: it succeeds only if it started after both.
    let text = format!(
        r#"
services:
  app:
    image: {img}
    command: ["sh", "-c", "test -e /shared/done && wget -q -O - http://db/"]
    volumes: ["shared:/shared"]
    depends_on:
      db: {{ condition: service_healthy }}
      init: {{ condition: service_completed_successfully }}
  db:
    image: {img}
    command: ["sh", "-c", "sleep 1; mkdir -p /www; echo ready > /www/index.html; exec httpd -f -p 80 -h /www"]
    healthcheck:
      test: ["CMD", "test", "-e", "/www/index.html"]
      interval: 200ms
      retries: 100
  init:
    image: {img}
    command: ["sh", "-c", "sleep 1; echo done > /shared/done"]
    volumes: ["shared:/shared"]
volumes:
  shared:
{net_yaml}"#,
        img = image()
    );
    let (_dir, file) = project(&proj, &text);
    compose_ok(r, &file, &["up", "-d"]);
    let app = format!("{proj}-app-1");
    let o = script(
        r,
        &format!("let c = find_container({app:?}); print(wait(c)); print(logs(c)); print(health(\"{proj}-db-1\").Status)"),
    );
    let lines: Vec<&str> = o.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0], "0",
        "app started after db was healthy and init done: {o}"
    );
    assert_eq!(lines[1], "ready");
    assert_eq!(lines[2], "healthy");
    let ids = ids(r);
    compose_ok(r, &file, &["down", "-v", "-t", "1"]);
    assert_nothing_left(r, &format!("{proj}_default"), &bridge, &ids);
    assert!(!script(r, "for v in volumes() { print(v.name) }").contains("shared"));
}

#[test]
fn a_cycle_is_an_error_naming_it_and_unknown_keys_are_warned() {
    let root = root();
    let r = root.path();
    let (net_yaml, _, bridge) = default_network();
    let text = format!(
        r#"
name: cyclic
services:
  a:
    image: {img}
    depends_on: [b]
    deploy: {{ replicas: 2 }}
  b:
    image: {img}
    depends_on:
      a: {{ condition: service_started }}
secrets:
  token: {{ file: ./token }}
{net_yaml}"#,
        img = image()
    );
    let (_dir, file) = project("cycle", &text);
    let o = compose(r, &file, &["up", "-d"]);
    assert!(!o.status.success());
    let e = err(&o);
    assert!(
        e.contains("stack cyclic: depends_on has a cycle: a -> b -> a"),
        "{e}"
    );
    assert!(
        e.contains("warning: ") && e.contains("services.a.deploy is not supported"),
        "{e}"
    );
    assert!(
        e.contains("top-level key \"secrets\" is not supported"),
        "{e}"
    );
    // Checked before anything was made.
    assert_eq!(script(r, "print(containers().len())").trim(), "0");
    assert!(!script(r, "for n in networks() { print(n.name) }").contains("cyclic"));
    assert!(!link_exists(&bridge));
}

#[test]
fn labels_filter_containers_and_a_network_alias_is_a_name_on_the_network() {
    let root = root();
    let r = root.path();
    let (subnet, bridge) = unique_subnet();
    gocker_ok(
        r,
        &[
            "network", "create", "--subnet", &subnet, "--bridge", &bridge, "lab",
        ],
    );
    let labels = tempfile::NamedTempFile::new().expect("label file");
    std::fs::write(labels.path(), "# from a file\nfrom.file=1\ntier=file\n").expect("labels");
    gocker_ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "lab",
            "--network-alias",
            "www",
            "--network-alias",
            "site",
            "--label",
            "tier=web",
            "-l",
            "team=a",
            "--label-file",
            labels.path().to_str().expect("path"),
            labelled_image(),
            "sh",
            "-c",
            "mkdir -p /w; echo aliased > /w/index.html; exec httpd -f -p 80 -h /w",
        ],
    );
    gocker_ok(
        r,
        &[
            "run",
            "--name",
            "job",
            "--network",
            "none",
            "-l",
            "team=b",
            image(),
            "true",
        ],
    );
    // Config.Labels: the image's under the container's, --label over --label-file.
    let inspect: serde_json::Value =
        serde_json::from_str(&gocker_ok(r, &["inspect", "web"])).expect("json");
    assert_eq!(
        inspect[0]["Config"]["Labels"],
        serde_json::json!({ "from.image": "yes", "from.file": "1", "tier": "web", "team": "a" })
    );
    let names = |code: &str| -> String {
        script(r, &format!("print(containers({code}).map(|c| c.name))"))
            .trim()
            .to_string()
    };
    assert_eq!(names(r#"#{ label: "tier=web" }"#), r#"["web"]"#);
    assert_eq!(names(r#"#{ label: ["team", "from.image"] }"#), r#"["web"]"#);
    assert_eq!(names(r#"#{ label: "team" }"#), r#"["job", "web"]"#);
    assert_eq!(names(r#"#{ status: "exited" }"#), r#"["job"]"#);
    assert_eq!(names(r#"#{ name: ["eb", "zz"] }"#), r#"["web"]"#);
    assert_eq!(
        names(&format!("#{{ ancestor: {:?} }}", image())),
        r#"["job"]"#
    );
    // ps --filter: the same keys; a status shows stopped ones without -a.
    let ps = gocker_ok(
        r,
        &[
            "ps",
            "--filter",
            "label=team=b",
            "--filter",
            "status=exited",
        ],
    );
    assert!(ps.contains("job") && !ps.contains("web"), "{ps}");
    let ps = gocker_ok(r, &["ps", "--filter", "label=team=b"]);
    assert!(!ps.contains("job"), "not running: {ps}");
    let ps = gocker_ok(r, &["ps", "-f", "name=we"]);
    assert!(ps.contains("web"), "{ps}");
    let o = gocker(r, &["ps", "--filter", "colour=red"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("unknown option \"colour\""), "{}", err(&o));

    // Its aliases are names on its network, in its peers' /etc/hosts.
    let fetch = "for i in $(seq 100); do wget -q -O - http://www/ && wget -q -O - http://site/ && exit 0; sleep 0.1; done; exit 1";
    let got = gocker_ok(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "lab",
            image(),
            "sh",
            "-c",
            fetch,
        ],
    );
    assert_eq!(got, "aliased\naliased\n");
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--network-alias",
            "x",
            image(),
            "true",
        ],
    );
    assert!(!o.status.success());
    assert!(
        err(&o).contains("aliases are for a bridge network"),
        "{}",
        err(&o)
    );
    // A paused container is "paused", not "running", as Docker's status filter says.
    gocker_ok(r, &["pause", "web"]);
    assert_eq!(names(r#"#{ status: "paused" }"#), r#"["web"]"#);
    assert_eq!(names(r#"#{ status: "running" }"#), "[]");
    gocker_ok(r, &["unpause", "web"]);
    gocker_ok(r, &["rm", "-f", "web", "job"]);
    gocker_ok(r, &["network", "rm", "lab"]);
}

#[test]
fn a_named_volume_is_kept_by_down_and_removed_by_down_v() {
    let root = root();
    let r = root.path();
    let proj = format!("vols{}", std::process::id());
    let (net_yaml, _, _) = default_network();
    let text = format!(
        r#"
services:
  writer:
    image: {img}
    command: ["sh", "-c", "echo kept > /data/f"]
    volumes: ["data:/data"]
volumes:
  data:
{net_yaml}"#,
        img = image()
    );
    let (_dir, file) = project(&proj, &text);
    compose_ok(r, &file, &["up", "-d"]);
    script(r, &format!("wait(\"{proj}-writer-1\")"));
    compose_ok(r, &file, &["down"]);
    let vol = format!("{proj}_data");
    let path = script(
        r,
        &format!("for v in volumes() {{ if v.name == {vol:?} {{ print(v.path) }} }}"),
    );
    let path = path.trim();
    assert!(!path.is_empty(), "down keeps the volume");
    assert_eq!(
        std::fs::read_to_string(Path::new(path).join("f")).expect("data"),
        "kept\n"
    );
    // Nothing of the stack runs any more: down -v finds the volume in the file.
    let down = compose_ok(r, &file, &["down", "-v"]);
    assert!(down.contains(&format!("Removed {vol}")), "{down}");
    assert!(!Path::new(path).exists());
}

#[test]
fn an_attached_up_follows_the_logs_and_ctrl_c_stops_the_stack() {
    let root = root();
    let r = root.path();
    let proj = format!("att{}", std::process::id());
    let (net_yaml, _, bridge) = default_network();
    let text = format!(
        r#"
services:
  talker:
    image: {img}
    command: ["sh", "-c", "trap 'exit 0' TERM; echo hello from talker; while true; do sleep 0.1; done"]
{net_yaml}"#,
        img = image()
    );
    let (_dir, file) = project(&proj, &text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gocker-script"))
        .arg("--root")
        .arg(r)
        .args(["compose", "-f"])
        .arg(&file)
        .arg("up")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("compose up");
    let mut guard = Guard {
        child: None,
        root: r.to_path_buf(),
    };
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        seen.push(line.clone());
        if line.ends_with("| hello from talker") {
            break;
        }
    }
    assert!(
        seen.last()
            .is_some_and(|l| l.starts_with(&format!("{proj}-talker-1  |"))),
        "{seen:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    guard.child = Some(child);
    let status = guard.wait();
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l == &format!("Container {proj}-talker-1  Stopped")),
        "{rest:?}"
    );
    assert_eq!(
        script(
            r,
            &format!("print(find_container(\"{proj}-talker-1\").status)")
        )
        .trim(),
        "exited",
        "stopped, not removed"
    );
    let ids = ids(r);
    compose_ok(r, &file, &["down"]);
    assert_nothing_left(r, &format!("{proj}_default"), &bridge, &ids);
}

#[test]
fn a_service_without_its_image_is_built_from_its_context() {
    let root = root();
    let r = root.path();
    let proj = format!("built{}", std::process::id());
    let (net_yaml, _, bridge) = default_network();
    let text = format!(
        r#"
services:
  app:
    build:
      context: ./app
      dockerfile: Containerfile
      args: {{ GREETING: "${{GREETING:-built here}}" }}
    command: ["cat", "/greeting"]
{net_yaml}"#
    );
    let (_dir, file) = project(&proj, &text);
    let app = file.parent().expect("dir").join("app");
    std::fs::create_dir(&app).expect("context");
    std::fs::write(
        app.join("Containerfile"),
        format!(
            "FROM {}\nARG GREETING\nCOPY note /note\nRUN echo \"$GREETING\" > /greeting\n",
            image()
        ),
    )
    .expect("Containerfile");
    std::fs::write(app.join("note"), "x").expect("note");
    compose_ok(r, &file, &["up", "-d"]);
    let o = script(
        r,
        &format!("let c = find_container(\"{proj}-app-1\"); print(wait(c)); print(logs(c)); print(image(\"{proj}-app\").id != ())"),
    );
    assert_eq!(
        o, "0\nbuilt here\n\ntrue\n",
        "the image is named after the project and service"
    );
    let ids = ids(r);
    compose_ok(r, &file, &["down"]);
    assert_nothing_left(r, &format!("{proj}_default"), &bridge, &ids);
}

#[test]
fn external_networks_and_volumes_are_used_and_kept() {
    let root = root();
    let r = root.path();
    let proj = format!("ext{}", std::process::id());
    let (subnet, bridge) = unique_subnet();
    let net = format!("shared{}", std::process::id());
    gocker_ok(
        r,
        &[
            "network", "create", "--subnet", &subnet, "--bridge", &bridge, &net,
        ],
    );
    gocker_ok(r, &["volume", "create", "keepme"]);
    let text = format!(
        r#"
services:
  job:
    image: {img}
    command: ["sh", "-c", "echo kept > /cache/f"]
    volumes: ["cache:/cache"]
volumes:
  cache: {{ external: true, name: keepme }}
networks:
  default: {{ external: true, name: {net} }}
"#,
        img = image()
    );
    let (_dir, file) = project(&proj, &text);
    compose_ok(r, &file, &["up", "-d"]);
    let o = script(
        r,
        &format!("let c = find_container(\"{proj}-job-1\"); print(wait(c)); print(c.to_map().spec.network)"),
    );
    assert_eq!(o, format!("0\n{net}\n"));
    compose_ok(r, &file, &["down", "-v"]);
    assert!(script(r, "for n in networks() { print(n.name) }").contains(&net));
    assert!(script(r, "for v in volumes() { print(v.name) }").contains("keepme"));
    gocker_ok(r, &["network", "rm", &net]);
    gocker_ok(r, &["volume", "rm", "keepme"]);
    assert!(!link_exists(&bridge));
}
