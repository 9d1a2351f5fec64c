//! One doc entry per script function: what `help()` prints and what the README's API
//! reference is generated from, so the two cannot drift. The bindings' entries are the table
//! below; the stdlib's come from its own `///` comments (`signature: description`, then
//! `Example: ...`), read from the stdlib's source, so they are written once.

/// One entry: (topic, name, signature, description, example).
pub type Doc = (String, String, String, String, String);

/// Every entry: the bindings' table, then the stdlib's comments.
pub fn docs() -> &'static [Doc] {
    static ALL: std::sync::OnceLock<Vec<Doc>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let own = |s: &str| s.to_string();
        let mut all: Vec<Doc> = DOCS
            .iter()
            .map(|(t, n, sig, d, e)| (own(t), own(n), own(sig), own(d), own(e)))
            .collect();
        for (_, source) in super::STDLIB {
            all.extend(stdlib_docs(source));
        }
        // The stdlib sits with its topic, before the scripting helpers.
        let at = all
            .iter()
            .position(|d| d.0 == "script")
            .unwrap_or(all.len());
        let stdlib: Vec<Doc> = all.iter().filter(|d| d.0 == "stdlib").cloned().collect();
        all.retain(|d| d.0 != "stdlib");
        let at = at.min(all.len());
        all.splice(at..at, stdlib);
        all
    })
}

/// The entries of a stdlib file: each `fn` with a `///` comment before it.
pub fn stdlib_docs(source: &str) -> Vec<Doc> {
    let mut out = Vec::new();
    let mut comment: Vec<&str> = Vec::new();
    for line in source.lines() {
        if let Some(text) = line.strip_prefix("///") {
            comment.push(text.trim());
            continue;
        }
        if let Some(rest) = line.strip_prefix("fn ") {
            let name = rest.split('(').next().unwrap_or("").trim().to_string();
            if !comment.is_empty() && !out.iter().any(|d: &Doc| d.1 == name) {
                let text = comment.join(" ");
                let (body, example) = match text.split_once(" Example: ") {
                    Some((b, e)) => (b.to_string(), e.trim().to_string()),
                    None => (text.clone(), String::new()),
                };
                let (signature, description) = match body.split_once("): ") {
                    Some((sig, desc)) => (format!("{sig})"), desc.trim().to_string()),
                    None => (name.clone(), body.clone()),
                };
                out.push(("stdlib".to_string(), name, signature, description, example));
            }
        }
        comment.clear();
    }
    out
}

/// The bindings' entries: (topic, name, signature, description, example)
const DOCS: &[(&str, &str, &str, &str, &str)] = &[
    ("images", "pull", "pull(ref) / pull(ref, #{ platform, username, password, quiet })",
     "Pulls an image from its registry (docker.io by default) into the local store and returns it. Layers download concurrently and unpack as they stream in.",
     r#"let img = pull("127.0.0.1:5000/busybox"); img.digest"#),
    ("images", "push", "push(ref) / push(ref, dest) / push(ref, #{ dest, format, compression, username, password, quiet })",
     "Pushes a stored image to a registry: to `dest`, or to its own name when that is a registry reference. Blobs the registry has are skipped, or mounted from another of its repositories; the rest are compressed (`compression`: gzip, the default, zstd or none) and streamed as they are made. `format`: oci (the default) or docker. Returns #{ reference, digest, media_type, size, config, layers } with each blob's digest and status (exists, mounted or uploaded).",
     r#"push("busybox", "127.0.0.1:5000/tools/busybox:1").digest"#),
    ("images", "login", "login(registry, #{ username, password })",
     "Checks the credentials against the registry (GET /v2/) and stores them in Docker's config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json, mode 0600), where pull and push find them. Returns the file's path.",
     r#"login("127.0.0.1:5000", #{ username: "me", password: "secret" })"#),
    ("images", "logout", "logout(registry)", "Removes the registry's credentials from Docker's config file; an error if there were none.", r#"logout("127.0.0.1:5000")"#),
    ("images", "images", "images() / images(#{ json, all })", "Every local image, newest first (as JSON text with `json`; the build cache's intermediate images only with `all`); the REPL prints them as a table.", "images().len()"),
    ("images", "image", "image(ref_or_id)", "One local image, by reference, id or unique id prefix.", r#"image("busybox").config"#),
    ("images", "tag", "tag(source, new_ref)", "Gives an image another name.", r#"tag("busybox", "box:1")"#),
    ("images", "rmi", "rmi(ref) / rmi(ref, #{ force })",
     "Removes a name; the image goes with its last name (or when named by id), and with it every layer no other image shares. Refuses an image in use unless forced.",
     r#"rmi("box:1")"#),
    ("images", "prune_images", "prune_images() / prune_images(#{ all })", "Removes untagged images but the build cache's (all unused ones with `all`).", "prune_images()"),
    ("images", "host_platform", "host_platform()", "This host's platform as images name theirs (linux/amd64): the only one whose images run here.", "host_platform()"),
    ("images", "mount_image", "mount_image(ref)", "Mounts the image's flattened filesystem read-only on the host and returns the path (podman image mount). Like every function that takes an image reference, it takes an Image too: mount_image(pull(ref)).", r#"let dir = mount_image("busybox");"#),
    ("images", "unmount_image", "unmount_image(ref)", "Undoes mount_image.", r#"unmount_image("busybox")"#),
    ("images", "save", "save(ref, path)", "Writes an image as a `docker save` tarball (path ending in .tar) or an OCI layout directory, with its exact original layers.", r#"save("busybox", "/tmp/busybox.tar")"#),
    ("images", "load", "load(path)", "Loads images from a `docker save` tarball or an OCI layout (directory or tar), returns them.", r#"load("/tmp/busybox.tar")"#),
    ("containers", "container", "container(image_or_ref)", "A Spec for a container of that image: nothing touches the host until spawn, and nothing is decided yet: unshare says which namespaces it gets and mount_rootfs what its root is (spawn says which is missing). No limits but the default 2048 processes; network \"none\".", r#"let c = container(image("busybox"));"#),
    ("containers", "unshare", "unshare(spec, namespaces)", "Which namespaces the container gets, from pid, mount, uts, ipc, net, cgroup (user is not supported yet).", r#"c.unshare(["pid", "mount", "uts"])"#),
    ("containers", "mount_rootfs", "mount_rootfs(spec) / mount_rootfs(spec, dir)", "The root filesystem: an overlay of the image's layers with a private writable upper (the default), or a plain host directory.", "c.mount_rootfs()"),
    ("containers", "set_memory_limit", "set_memory_limit(spec_or_container, size)", "Memory limit (\"64m\", \"1g\" or bytes); swap defaults to as much again (Docker's meaning on cgroup v1 and v2). On a running container it changes the live cgroup.", r#"c.set_memory_limit("64m")"#),
    ("containers", "set_memory_swap", "set_memory_swap(spec, size)", "Memory plus swap limit, as Docker's --memory-swap (-1 for unlimited swap).", r#"c.set_memory_swap("128m")"#),
    ("containers", "set_cpu_limit", "set_cpu_limit(spec_or_container, cpus)", "CPU limit as a number of CPUs (0.5 is half of one), through the CFS quota.", "c.set_cpu_limit(0.5)"),
    ("containers", "set_cpu_shares", "set_cpu_shares(spec, shares)", "Relative CPU weight (1024 is the default).", "c.set_cpu_shares(512)"),
    ("containers", "set_pids_limit", "set_pids_limit(spec_or_container, n)", "At most n processes at once (default 2048, as podman; 0 or -1 for no limit).", "c.set_pids_limit(64)"),
    ("containers", "set_hostname", "set_hostname(spec, name)", "The container's hostname (default: its short id).", r#"c.set_hostname("box")"#),
    ("containers", "set_env", "set_env(spec, key, value)", "An environment variable, over the image's.", r#"c.set_env("MODE", "demo")"#),
    ("containers", "set_workdir", "set_workdir(spec, dir)", "The working directory (created if missing).", r#"c.set_workdir("/tmp")"#),
    ("containers", "set_user", "set_user(spec, user)", "Run as uid[:gid] or a user[:group] name from the image's /etc/passwd and /etc/group.", r#"c.set_user("1000:1000")"#),
    ("containers", "set_name", "set_name(spec, name)", "A unique name (default: a generated one).", r#"c.set_name("web")"#),
    ("containers", "set_label", "set_label(spec, key, value)", "A label (docker --label), over the image's labels of that key; containers(#{ label }) finds it, inspect shows it in Config.Labels and c.labels.", r#"c.set_label("app", "shop")"#),
    ("containers", "add_network_alias", "add_network_alias(spec, name)", "Another name its peers on its bridge network reach it by, in their /etc/hosts (docker --network-alias).", r#"c.add_network_alias("db")"#),
    ("containers", "set_entrypoint", "set_entrypoint(spec, argv)", "Replaces the image's entrypoint.", r#"c.set_entrypoint(["sh", "-c"])"#),
    ("containers", "set_network", "set_network(spec, network)", "A bridge network by name (\"bridge\" is the default network, made on first use), \"none\" (its own network namespace with loopback only) or \"host\". A container spec starts with \"none\"; run() uses \"bridge\".", r#"c.set_network("bridge")"#),
    ("containers", "publish", "publish(spec, host_port, container_port) / publish(spec, \"[ip:]host:container[/udp]\")", "Forwards a host port (on every host address, or one) to the container's port, TCP or UDP; reachable through 127.0.0.1 too. The host port is held for as long as the container runs; 0 (or only the container's port, \"80\") takes a free one at start, which port() tells.", r#"c.publish(8080, 80)"#),
    ("containers", "set_auto_remove", "set_auto_remove(spec, on)", "Remove the container when it exits (docker run --rm).", "c.set_auto_remove(true)"),
    ("containers", "cap_add", "cap_add(spec, name_or_names)", "Adds capabilities to the default set (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT: podman's), e.g. NET_RAW for ping, or ALL.", r#"c.cap_add(["NET_RAW"])"#),
    ("containers", "cap_drop", "cap_drop(spec, name_or_names)", "Removes capabilities from the set; ALL drops every one (then cap_add picks).", r#"c.cap_drop("ALL")"#),
    ("containers", "set_privileged", "set_privileged(spec, on)", "Every capability and device, no seccomp filter, no masked paths: the container can take the host. Only for those who mean it.", "c.set_privileged(true)"),
    ("containers", "set_seccomp", "set_seccomp(spec, profile)", "The seccomp filter: \"default\" (Docker's default profile), \"unconfined\" (none), or the path of a profile in Docker's JSON format.", r#"c.set_seccomp("unconfined")"#),
    ("containers", "set_read_only", "set_read_only(spec, on)", "Mounts the root filesystem read-only (volumes keep their own mode).", "c.set_read_only(true)"),
    ("containers", "add_device", "add_device(spec, \"/dev/X[:/dev/Y][:rwm]\")", "Makes a host device available inside, with the permissions given (default rwm); no other device can be opened.", r#"c.add_device("/dev/fuse")"#),
    ("containers", "bind", "bind(spec, host_path, target) / bind(spec, host_path, target, #{ readonly })", "A volume: the host path bind-mounted at target.", r#"c.bind("/srv/data", "/data", #{ readonly: true })"#),
    ("containers", "spawn", "spawn(spec) / spawn(spec, argv) / spawn(spec, argv, #{ detach, tty, capture, keep })", "Creates and starts the container under its supervisor and returns its Process (p.pid, p.container, p.wait(), and with capture p.output()). With keep, it is not among what a failing script removes (see made_since). In the foreground it shares your terminal; detached, its output goes to its log and it outlives the script. The argv replaces the image's Cmd. From then on the Spec is that container too: c.id, exec(c, ...), logs(c), wait(c), kill(c), remove(c). A command that cannot start is an error with an exit_code: 127 when it is not found, 126 when it cannot be run (Docker's).", r#"let p = c.spawn(["sh", "-c", "exit 3"]); p.wait()"#),
    ("containers", "output", "p.output()", "Waits for a process spawned with capture and returns #{ code, stdout, stderr }, its output kept apart.", r#"c.spawn(["sh", "-c", "echo hi"], #{ capture: true }).output().stdout"#),
    ("containers", "wait", "wait(process_or_container) / wait(container, #{ timeout })", "Waits for the container to exit and returns its exit code (128 + signal when killed by one; 137 when OOM-killed); with a timeout (seconds or \"10s\"), an error of kind timeout when it is still running then.", "p.wait()"),
    ("containers", "set_health", "set_health(spec, #{ cmd, test, interval, timeout, start_period, retries })", "A health check over the image's HEALTHCHECK (docker --health-*): cmd as an array (exec form) or a string (through the shell), or Docker's test ([\"NONE\"] turns the image's off). The supervisor runs it every interval (default 30 s); retries failures in a row (default 3, not counting the start period) make it unhealthy.", r#"c.set_health(#{ cmd: "wget -q -O- localhost", interval: "5s" })"#),
    ("containers", "health", "health(container)", "Its health as the supervisor keeps it: #{ Status (starting, healthy, unhealthy), FailingStreak, Log: [#{ ExitCode, Output }] }, or () without a check. ps shows the status.", r#"health("db").Status"#),
    ("containers", "set_restart", "set_restart(spec, policy)", "Restart policy (docker --restart): \"no\", \"on-failure[:max]\" (non-zero exits), \"always\", \"unless-stopped\". The supervisor starts it again after 100 ms doubling to a minute; stop (or rm) keeps it down. Not with rm.", r#"c.set_restart("on-failure:3")"#),
    ("containers", "restart_count", "restart_count(container)", "How many times its restart policy has started it again.", r#"restart_count("web")"#),
    ("containers", "tmpfs", "tmpfs(spec, \"/path[:options]\")", "A tmpfs mounted at the path (docker --tmpfs): noexec, nosuid, nodev unless the options say exec/suid/dev; size=, mode=, uid=, gid=, nr_inodes=, ro.", r#"c.tmpfs("/run:size=64m")"#),
    ("containers", "volume_create", "volume_create(name) / volume_create(name, #{ keep })", "A named volume (a directory the store keeps); bind(spec, name, \"/path\") or run's volume \"NAME:/path\" make it on first use too. Returns its data directory.", r#"volume_create("data")"#),
    ("containers", "volumes", "volumes()", "Every named volume: #{ name, path, containers } (the containers that bind it).", r#"volumes()"#),
    ("containers", "volume_remove", "volume_remove(name)", "Removes a named volume and its data; refused while a container uses it.", r#"volume_remove("data")"#),
    ("containers", "compose_load", "compose_load(path)", "Reads a compose file (the subset people use: image, build, command, entrypoint, environment, env_file, ports, expose, volumes, tmpfs, depends_on, restart, healthcheck, hostname, container_name, networks, labels, working_dir, user; top-level name, volumes and networks) into the map up() takes: relative paths made absolute against the file's directory, ${VAR} and ${VAR:-default} from the environment and a .env beside the file, env files folded into the environment, durations and ports in run's words. What it does not support is named in a warning on stderr and left out.", r#"up(compose_load("compose.yaml"))"#),
    ("containers", "read_env_file", "read_env_file(path)", "An env file as a map, as compose reads one: KEY=VALUE lines, export allowed, # comments, quotes ('literal', \"with \\n escapes\"), ${VAR} from the environment and earlier lines; KEY alone takes the environment's value.", r#"read_env_file("web.env").MODE"#),
    ("containers", "port", "port(container) / port(container, container_port)", "The container's published ports as bound: [#{ container_port, proto, host_ip, host_port }], or the host port of one (docker port). publish(0, 80) or \"80\" picks a free host port at start.", r#"port("web", 80)"#),
    ("containers", "port_open", "port_open(container, port)", "Whether something accepts TCP connections on the port inside the container's network, whatever its mode (the probe joins its network namespace). wait_for_port is written over it.", r#"port_open("web", 80)"#),
    ("containers", "http_get", "http_get(container, port, path)", "GET path over HTTP/1.0 on the port inside the container's network: #{ status, body }. wait_for_http is written over it.", r#"http_get("web", 80, "/").status"#),
    ("containers", "exec", "exec(container, argv) / exec(container, argv, #{ user, workdir, env, attach })", "Runs a command inside a running container (its namespaces, cgroup, env and workdir); returns #{ code, stdout, stderr }. A command that cannot start is an error with exit_code 127 (not found) or 126.", r#"exec("web", ["cat", "/etc/hostname"]).stdout"#),
    ("containers", "pause", "pause(container)", "docker pause: freezes every process of a running container (cgroup freezer); ps shows it as Paused. stop and kill thaw it first.", r#"pause("web")"#),
    ("containers", "unpause", "unpause(container)", "docker unpause.", r#"unpause("web")"#),
    ("containers", "commit", "commit(container) / commit(container, ref) / commit(container, ref, #{ message, author, pause, changes: #{ cmd, entrypoint, env, workdir, user, labels, stop_signal, expose, volumes, healthcheck } })", "A new image: the container's image plus its writable layer (deletions become whiteouts; extended attributes kept), its config changed as asked, named ref. Works on running and exited containers; a running one is paused while its files are read (pause: false to not).", r#"commit("web", "web:snapshot", #{ message: "configured" })"#),
    ("containers", "containers", "containers() / containers(#{ running, label, name, id, status, ancestor })", "Every container (or only the running ones), newest first; the others are Docker's ps filters, each a string or an array: label \"key\" or \"key=value\" (all must match), name (a part of it), id (a prefix), status (created, running, paused, exited), ancestor (the image's reference or id); an array's values are alternatives.", r#"containers(#{ label: "com.docker.compose.project=shop", status: "running" }).len()"#),
    ("containers", "find_container", "find_container(name_or_id)", "A container by name, id or unique id prefix. Getters: id, name, status, pid, exit_code, oom_killed, image, command, created, ip (its address while it runs on a bridge network), abandoned (created, but its creator was killed before starting it).", r#"find_container("web").status"#),
    ("containers", "logs", "logs(container) / logs(container, #{ stdout, stderr, timestamps, since, until, tail, follow })", "What the container wrote to stdout and stderr, foreground or detached (the last 10 MiB and one older file), as one text. `stdout: false` or `stderr: false` leaves a stream out; `timestamps` puts each line's time in front (RFC 3339 with nanoseconds); `since`/`until` keep the lines written from/before a time (RFC 3339, Unix seconds, or a duration before now such as \"10m\"); `tail` keeps the last lines; with `follow`, the lines are printed as they come until the container exits.", r#"logs("web", #{ tail: 5, stderr: false, since: "10m" })"#),
    ("containers", "print_logs", "print_logs(container, #{ stdout, stderr, timestamps, since, until, tail, follow })", "Prints the container's log lines as `docker logs` does: each to the stream it came from (stdout lines to stdout, stderr lines to stderr); the options are logs'.", r#"print_logs("web", #{ follow: true, timestamps: true })"#),
    ("containers", "add_host", "add_host(spec, \"name:ip\")", "One more line in the container's /etc/hosts (docker --add-host).", r#"c.add_host("db:10.0.0.5")"#),
    ("containers", "add_dns", "add_dns(spec, ip)", "A name server for the container's /etc/resolv.conf, instead of the host's (docker --dns; repeatable).", r#"c.add_dns("10.0.0.2")"#),
    ("containers", "set_init", "set_init(spec, on)", "An init as pid 1 (docker --init): the host's static tini, bound read-only at /sbin/docker-init, forwards signals to the command and reaps orphaned processes.", r#"c.set_init(true)"#),
    ("containers", "set_shm_size", "set_shm_size(spec, size)", "The size of /dev/shm (docker --shm-size; 64m without).", r#"c.set_shm_size("256m")"#),
    ("containers", "add_ulimit", "add_ulimit(spec, \"name=soft[:hard]\")", "A resource limit the command starts with (docker --ulimit): as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack; -1 for unlimited.", r#"c.add_ulimit("nofile=1024:2048")"#),
    ("containers", "set_stop_signal", "set_stop_signal(spec, signal)", "The signal `stop` sends first (docker --stop-signal; the image's STOPSIGNAL or SIGTERM without).", r#"c.set_stop_signal("SIGQUIT")"#),
    ("containers", "set_stop_timeout", "set_stop_timeout(spec, seconds)", "How long `stop` waits before it kills, when not told (docker --stop-timeout; 10 s without).", r#"c.set_stop_timeout(30)"#),
    ("containers", "stats", "stats(container)", "Memory in use, its limit (the host's memory when it has none, as docker stats shows), CPU time (ns), processes and, on cgroup v2, bytes read from and written to block devices (block_read, block_write; () on v1), from the cgroup.", r#"stats("web").memory"#),
    ("containers", "update", "update(container, opts)", "Changes a container's limits and restart policy in place, as docker update: memory, memory_swap (-1 unlimited), cpus, cpu_shares, pids_limit, restart (\"no\", \"on-failure[:max]\", \"always\", \"unless-stopped\"). A running container's cgroup changes at once; the restart policy applies at its next exit.", r#"update("web", #{ memory: "128m", cpus: 1.5, restart: "always" })"#),
    ("containers", "rename", "rename(container, new_name)", "Gives a container another name (Docker's rule: letters, digits, _ . -); its network peers know it by the new one.", r#"rename("web", "web-old")"#),
    ("containers", "top", "top(container)", "The processes of a running container, read from /proc for the pids of its cgroup: #{ uid, pid, ppid, started, cpu_seconds, command } (host pids).", r#"top("web").map(|p| p.command)"#),
    ("containers", "diff", "diff(container)", "What changed in a container's filesystem against its image, from its writable layer: #{ kind, path } with kind A (added), C (changed) or D (deleted), sorted by path.", r#"diff("web")"#),
    ("containers", "events", "events() / events(opts)", "The recorded events of containers (create, start, die with exitCode, oom, kill with signal, stop, pause, unpause, rename, destroy), oldest first: #{ seq, time, time_nano, id, name, image, action, attributes }. opts: since, until (RFC 3339, unix seconds or a duration before now like \"10m\"), container (a name or id, or a list), after (a seq).", r#"events(#{ since: "10m", container: "web" })"#),
    ("containers", "kill", "kill(container) / kill(container, signal)", "Sends a signal (default SIGKILL) to the container's init.", r#"kill("web", "SIGTERM")"#),
    ("containers", "stop", "stop(container) / stop(container, timeout)", "SIGTERM, then SIGKILL after the timeout (default 10s).", r#"stop("web", "2s")"#),
    ("containers", "start", "start(container)", "Starts an exited container again, detached, keeping its writable layer.", r#"start("web")"#),
    ("containers", "remove", "remove(container) / remove(container, #{ force })", "Removes a container and its writable layer; a running one only with force.", r#"remove("web", #{ force: true })"#),
    ("containers", "resume", "resume()", "Starts again the containers whose restart policy wants them running, as Docker's daemon does when it starts: always ones, and unless-stopped ones you did not stop (never on-failure or no ones). For a boot unit (`gocker-script resume`), or after a supervisor was killed. Returns the names started; an error names those that could not be.", "resume()"),
    ("build", "copy_in", "copy_in(container, host_path, path)", "docker cp into a container, running or not: a file or a directory (copied whole; its contents with a trailing \"/.\"), resolved inside the container's root, never through its symlinks onto the host. Returns #{ entries, bytes }.", r#"copy_in("web", "/etc/hostname", "/tmp/")"#),
    ("build", "copy_out", "copy_out(container, path, host_path)", "docker cp out of a container, running or not; the container's symlinks resolve inside its root.", r#"copy_out("web", "/etc/os-release", "/tmp/os-release")"#),
    ("build", "builder", "builder(image) / builder(image, #{ context, no_cache, explain, network, args })", "A build on an image already in the store (\"scratch\" for none): its layers and config, which the steps change; `from()` pulls first. context: the directory COPY reads (its .dockerignore honoured); args: build arguments for ARG; network: of RUN steps (default \"bridge\"); explain: each step in b.steps says why it missed the cache (`why`).", r#"let b = builder("busybox", #{ context: "." });"#),
    ("build", "build_run", "b.run(cmd) (build_run(b, cmd))", "RUN: the command (an array, or a string for the build's shell) in a container of the build's image, with its env, build args, user and working directory; its writable layer becomes a layer. Cached: same steps before and same command → the layer made before, nothing run. A non-zero exit is an error.", r#"b.run("apk add --no-cache curl")"#),
    ("build", "copy", "b.copy(src, dest) / b.copy(srcs, dest, #{ from, chown, chmod })", "COPY: files of the context (wildcards allowed; a directory's contents) to dest in the image (relative to WORKDIR; a trailing / or several sources make it a directory), as a layer. from: another builder or an image; chown: user[:group] of the image; chmod: octal. Cached by the digest of what is copied.", r#"b.copy(["src/", "go.mod"], "/app/", #{ chown: "1000:1000" })"#),
    ("build", "add", "b.add(src, dest) / b.add(srcs, dest, #{ chown, chmod })", "ADD: as copy, but a local tar archive (plain, gzip or zstd) is extracted into dest (every entry created inside the image's root; names climbing out refused). URLs are not fetched.", r#"b.add("rootfs.tar.gz", "/")"#),
    ("build", "env", "b.env(name, value)", "ENV: sets an environment variable of the image (and of later RUN steps).", r#"b.env("PATH", "/app/bin:/usr/bin:/bin")"#),
    ("build", "workdir", "b.workdir(dir)", "WORKDIR: the working directory of later steps and of the image (relative to the previous one).", r#"b.workdir("/app")"#),
    ("build", "user", "b.user(user)", "USER: the user of later RUN steps and of the image.", r#"b.user("nobody")"#),
    ("build", "cmd", "b.cmd(cmd)", "CMD: the image's default command (an array, or a string for the shell).", r#"b.cmd(["httpd", "-f"])"#),
    ("build", "entrypoint", "b.entrypoint(cmd)", "ENTRYPOINT: the image's entrypoint (drops an inherited CMD, as Docker).", r#"b.entrypoint(["/app/run"])"#),
    ("build", "label", "b.label(name, value)", "LABEL: a label of the image.", r#"b.label("org.opencontainers.image.version", "1.0")"#),
    ("build", "expose", "b.expose(port)", "EXPOSE: a port the image listens on (\"80\", \"53/udp\").", r#"b.expose(80)"#),
    ("build", "volume", "b.volume(path)", "VOLUME: a path the image declares as a volume.", r#"b.volume("/data")"#),
    ("build", "stop_signal", "b.stop_signal(signal)", "STOPSIGNAL: the signal `stop` sends first.", r#"b.stop_signal("SIGQUIT")"#),
    ("build", "shell", "b.shell(argv)", "SHELL: the shell of string commands (default [\"/bin/sh\", \"-c\"]).", r#"b.shell(["/bin/ash", "-eo", "pipefail", "-c"])"#),
    ("build", "arg", "b.arg(name) / b.arg(name, default)", "ARG: declares a build argument: the value given to the build (args), else the default; later RUN steps see it as environment, and expand() substitutes it.", r#"b.arg("VERSION", "1.0")"#),
    ("build", "healthcheck", "b.healthcheck(#{ test, interval, timeout, start_period, retries })", "HEALTHCHECK: the image's health check (test: [\"CMD\", ...], [\"CMD-SHELL\", \"...\"] or [\"NONE\"]).", r#"b.healthcheck(#{ test: ["CMD", "wget", "-q", "-O-", "http://localhost/"], interval: "5s" })"#),
    ("build", "onbuild", "b.onbuild(instruction)", "ONBUILD: an instruction recorded for images built from this one.", r#"b.onbuild("COPY . /app")"#),
    ("build", "squash", "b.squash()", "The layers the build added to its base, as one (docker build --squash): replayed one on another, deletions kept as whiteouts; the steps stay in the history as empty layers. Cached like a step.", r#"b.squash()"#),
    ("build", "parse_dockerfile", "parse_dockerfile(text)", "A Dockerfile as data: #{ global_args, stages: [#{ base, name, line, steps: [#{ op, args, exec, flags, line, text }] }] }. Unknown instructions and unsupported flags are errors naming the line.", r#"parse_dockerfile("FROM busybox\nRUN true").stages[0].steps[0].op"#),
    ("build", "dockerfile", "dockerfile(path)", "parse_dockerfile of a file.", r#"dockerfile("./Dockerfile").stages.len()"#),
    ("build", "expand", "expand(text, vars) / b.expand(text)", "Dockerfile variable substitution ($A, ${A}, ${A:-default}, ${A:+alt}) from a map, or from a build's env and args.", r#"expand("${A:-x}/y", #{})"#),
    ("build", "host_platform", "host_platform()", "This host's platform as os/arch (what build makes).", r#"host_platform()"#),
    ("build", "dockerignore", "dockerignore(dir)", "The lines of dir/.dockerignore (none without one).", r#"dockerignore(".")"#),
    ("build", "prune_build_cache", "prune_build_cache()", "Forgets the build cache and removes its images that nothing else uses; returns the removed ids.", r#"prune_build_cache()"#),
    ("networks", "network_create", "network_create(name) / network_create(name, #{ subnet, bridge, keep })", "(keep: not removed when the script fails.) A bridge network: containers on it reach each other by IP and by name, and the outside through NAT. Without a subnet one is picked from 10.89.0.0/16; the bridge device is named from the network unless given.", r#"network_create("backend", #{ subnet: "10.89.7.0/24" })"#),
    ("networks", "networks", "networks()", "Every network with its bridge, subnet, gateway and running containers.", "networks()"),
    ("networks", "network_remove", "network_remove(name)", "Removes a network with no running containers, with its bridge and rules.", r#"network_remove("backend")"#),
    ("script", "interrupted", "interrupted()", "Whether Ctrl-C was pressed since the last call. Calling it takes Ctrl-C over (it no longer ends the program, or the REPL's line), so a loop that polls it can stop what it started and end on its own terms.", r#"while !interrupted() { sleep(0.2); }"#),
    ("script", "made_mark", "made_mark()", "A mark in the list of what this script has made (containers it spawned, networks it created), for made_since.", r#"let m = made_mark();"#),
    ("script", "made_since", "made_since(mark)", "What this script made after the mark, newest first: [#{ kind, id }] (kind \"container\", \"network\" or \"volume\"; not what was made with keep: true). undo_on_error is written over it, and a script file that ends with an uncaught error removes them all (unless run with --keep).", r#"made_since(m)"#),
    ("script", "to_seconds", "to_seconds(duration)", "A duration (seconds, or \"1m30s\", \"500ms\") as seconds.", r#"to_seconds("1m30s")"#),
    ("script", "sleep", "sleep(seconds)", "Pauses the script.", "sleep(0.5)"),
    ("script", "exit", "exit() / exit(code)", "Ends the script (or the REPL) with that exit status, after the current line.", "exit(3)"),
    ("script", "docker_inspect", "docker_inspect(container_or_image)", "A Container or an Image as docker inspect shows it, with Docker's field names: Id, Name, Created, State (Status, Running, Paused, Pid, ExitCode, OOMKilled, StartedAt, FinishedAt, Health), Config, HostConfig (Memory, NanoCpus, CpuShares, PidsLimit, RestartPolicy, PortBindings, Binds, ...), NetworkSettings (IPAddress, Ports, Networks), RestartCount, Mounts; an image's Id, RepoTags, RepoDigests, Created, Size, Config, RootFS, Architecture, Os.", r#"docker_inspect(find_container("web")).State.Pid"#),
    ("script", "to_map", "to_map(value)", "A Spec, Container or Image as a plain map (what ps #{ json } shows; inspect gives Docker's shape).", r#"find_container("web").to_map().spec"#),
    ("script", "template", "template(value, format)", "A value, or each of a list, through a Go-style template as Docker's --format: {{.Field}}, {{.A.B}}, {{json .}}, {{join .List \",\"}}, {{index .Map \"key\"}}, {{upper .X}}, {{lower .X}}, {{len .X}}, {{range .List}}…{{end}} (also range $k, $v := .Map), {{if eq .A \"x\"}}…{{else}}…{{end}}, {{with .A}}, not/and/or/ne; \"table \" first for columns under a header, \\t between columns. Containers are read as ps shows them (.ID .Names .Image .Command .Status .State .Ports .CreatedAt .RunningFor .Networks .Mounts), images as images does (.ID .Repository .Tag .Digest .CreatedAt .CreatedSince .Size .Platform), maps as themselves. An unknown field is an error listing the fields there are.", r#"print(template(ps(), "table {{.Names}}\t{{.Status}}"))"#),
    ("script", "table", "table(value) / table(list, kind)", "Images, containers or networks as a Docker-like table, anything else as JSON. With a kind (\"containers\", \"images\" or \"networks\") an empty list is still a table: its header.", r#"print(table(ps(), "containers"))"#),
    ("script", "check_options", "check_options(func, opts, known) / check_options(func, opts, known, aliases)", "What the stdlib's functions do first with their options: an error for a key not in `known` (naming the nearest one and all of them), or for opts that is not a map; returns the map with each alias (#{ alias: \"canonical\" }) renamed.", r#"let opts = check_options("mine", opts, ["memory", "detach"], #{ mem: "memory" });"#),
    ("script", "check_strings", "check_strings(func, what, value)", "The value if it is an array of strings, else an error saying so (\"run: cmd must be an array of strings, got a string\").", r#"let cmd = check_strings("mine", "cmd", cmd);"#),
    ("script", "to_json", "to_json(value)", "A value as JSON text.", "to_json(inspect(\"web\"))"),
    ("script", "trace", "trace(on)", "Prints each system-level step the primitives take (mounts, clone flags, cgroup writes...), one line each.", "trace(true)"),
    ("script", "help", "help() / help(name)", "Lists the functions by topic, or shows one.", r#"help("pull")"#),
    ("script", "env_file", "env_file(path)", "The variables of an env file as `docker run --env-file` reads it, as [\"K=V\"]: a K=V a line taken as written, a bare K takes this process's value (left out when unset), blank lines and # comments skipped.", r#"run("busybox", ["env"], #{ env_file: "app.env" })"#),
    ("script", "human_size", "human_size(bytes)", "Formats a byte count as docker does (1.5MB, 4.26MB, 123MB).", "human_size(1234567)"),
];

/// A value type scripts hold: what it is, the argument names its functions give it in their
/// signatures (so its methods are read from the docs, never listed twice), and its
/// properties with one line each.
pub struct TypeDoc {
    pub name: &'static str,
    pub summary: &'static str,
    pub receivers: &'static [&'static str],
    pub properties: &'static [(&'static str, &'static str)],
}

pub const TYPES: &[TypeDoc] = &[
    TypeDoc {
        name: "Spec",
        summary: "What a container will be (container(image)): nothing touches the host until spawn. Once spawned it is also that container: wait, kill, logs, exec, stop, remove take it.",
        receivers: &["spec", "spec_or_container"],
        properties: &[
            ("id", "its container's id, once spawned"),
            ("short_id", "the first 12 characters of its container's id, once spawned"),
            ("container", "its container (a Container), once spawned"),
            ("status", "its container's status (created, running, exited), once spawned"),
            ("ip", "its container's address on its bridge network, once spawned"),
            ("exit_code", "how its container ended, once spawned and exited"),
            ("to_map", "the Spec as a plain map"),
        ],
    },
    TypeDoc {
        name: "Container",
        summary: "A created container (ps(), containers(), find_container(name), p.container); its properties read the live state.",
        receivers: &["container", "process_or_container", "spec_or_container", "name_or_id", "c"],
        properties: &[
            ("id", "its full id"),
            ("short_id", "the first 12 characters of its id"),
            ("name", "its name"),
            ("status", "created, running or exited"),
            ("status_text", "Docker's words: Up, Exited (0), Created"),
            ("pid", "its init's pid on the host while it runs, else ()"),
            ("exit_code", "how it ended (128 + signal when killed), else ()"),
            ("oom_killed", "whether the kernel killed it for memory"),
            ("image", "the image it was made from"),
            ("command", "the command it runs, as an array"),
            ("created", "when it was made (seconds since the epoch)"),
            ("ip", "its address on its bridge network, else ()"),
            ("abandoned", "whether its creator died before it started"),
            ("labels", "its labels, the image's under its own (a map)"),
            ("health", "its health check's verdict: \"starting\", \"healthy\" or \"unhealthy\" (() without a check; health(c) has the log)"),
            ("restart_count", "how many times its restart policy has started it again"),
            ("to_map", "everything about it as a plain map"),
        ],
    },
    TypeDoc {
        name: "Process",
        summary: "A started container's init (what spawn returns); container functions take it too.",
        receivers: &["p", "process_or_container"],
        properties: &[
            ("pid", "its pid on the host"),
            ("id", "its container's id"),
            ("container", "its container (a Container)"),
        ],
    },
    TypeDoc {
        name: "Image",
        summary: "A local image (pull, image, images()); every function that takes an image reference takes an Image too.",
        receivers: &["ref", "ref_or_id", "image_or_ref", "source", "image"],
        properties: &[
            ("id", "its config digest, sha256:..."),
            ("short_id", "the first 12 hex digits of its id"),
            ("name", "its first name (repository:tag), else its id"),
            ("digest", "its manifest digest"),
            ("tags", "every name it has"),
            ("digests", "every repository@digest it was pulled as"),
            ("size", "bytes of its layers"),
            ("created", "when it was built (ISO 8601), else ()"),
            ("platform", "os/architecture[/variant]"),
            ("config", "its config (Env, Cmd, Entrypoint, ...) as a map"),
            ("layers", "its layers as maps"),
            ("env", "its environment as [\"K=V\"]"),
            ("cmd", "its default command"),
            ("entrypoint", "its entrypoint"),
            ("exposed_ports", "the ports it EXPOSEs, as [\"80/tcp\"]"),
            ("to_map", "everything about it as a plain map"),
        ],
    },
];

/// The type a name means, case-insensitively for the types ("container" is a function).
pub fn type_doc(name: &str) -> Option<&'static TypeDoc> {
    TYPES.iter().find(|t| t.name == name)
}

/// The first argument's name in a signature: "spec" in `set_env(spec, key, value)`, "p" in
/// `p.output()`.
fn receiver(signature: &str) -> Option<&str> {
    let (head, rest) = signature.split_once('(')?;
    if let Some((recv, _)) = head.split_once('.') {
        return Some(recv.trim());
    }
    let first = rest.split([',', ')']).next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// A type's functions (callable as methods): (name, first sentence of its description).
pub fn methods(t: &TypeDoc) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for d in docs() {
        let takes = receiver(&d.2).is_some_and(|r| t.receivers.contains(&r));
        if takes && !out.iter().any(|(n, _)| *n == d.1) {
            out.push((d.1.as_str(), first_sentence(&d.3)));
        }
    }
    out
}

/// Every name that completes after `value.` for a value of this type: properties, then
/// methods.
pub fn members(t: &TypeDoc) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = t.properties.iter().map(|p| p.0).collect();
    for (m, _) in methods(t) {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

fn first_sentence(desc: &str) -> String {
    desc.split(". ")
        .next()
        .unwrap_or(desc)
        .trim_end_matches('.')
        .to_string()
}

/// help(Container): the type, its properties and its methods, one line each.
pub fn help_type(t: &TypeDoc) -> String {
    let mut out = format!(
        "{}: {}

properties:
",
        t.name, t.summary
    );
    for (name, line) in t.properties {
        out.push_str(&format!(
            "  .{name:<16} {line}
"
        ));
    }
    out.push_str(
        "
methods (x.f(a) is f(x, a)):
",
    );
    for (name, line) in methods(t) {
        out.push_str(&format!(
            "  .{name:<16} {line}
"
        ));
    }
    out.push_str(
        "
help(\"name\") shows one with an example.",
    );
    out
}

pub fn help_index() -> String {
    let mut out = String::new();
    let mut topic = "";
    for (t, name, _, desc, _) in docs() {
        if t != topic {
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
    out.push_str(&format!(
        "\ntypes: {} (help(Container) lists one's properties and methods)\n",
        TYPES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
    ));
    out.push_str("\nhelp(name) shows one function with an example.");
    out
}

pub fn help_for(name: &str) -> String {
    let name = name.trim();
    if let Some(t) = type_doc(name) {
        return help_type(t);
    }
    match docs().iter().find(|d| d.1 == name) {
        Some((_, _, sig, desc, example)) => format!("{sig}\n\n  {desc}\n\n  example: {example}"),
        None => {
            // A property: which types have it.
            let props: Vec<String> = TYPES
                .iter()
                .flat_map(|t| {
                    t.properties
                        .iter()
                        .filter(|p| p.0 == name)
                        .map(move |p| format!("  {}.{}: {}", t.name, p.0, p.1))
                })
                .collect();
            if !props.is_empty() {
                return props.join("\n");
            }
            let close: Vec<&str> = docs()
                .iter()
                .map(|d| d.1.as_str())
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
    let mut out = String::from("\n### types\n\n");
    for t in TYPES {
        let props: Vec<String> = t.properties.iter().map(|p| format!("`{}`", p.0)).collect();
        out.push_str(&format!(
            "- `{}`: {} Properties: {}.\n",
            t.name,
            t.summary,
            props.join(", ")
        ));
    }
    let mut topic = "";
    for (t, _, sig, desc, example) in docs() {
        if t != topic {
            topic = t;
            out.push_str(&format!("\n### {topic}\n\n"));
        }
        out.push_str(&format!("- `{sig}`: {desc} Example: `{example}`\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    /// help() and the README know every function a script can call: each one registered by
    /// the bindings, and each one the stdlib defines, has an entry.
    #[test]
    fn every_function_is_documented() {
        use std::collections::BTreeSet;
        let ctx = crate::script::Context::new(crate::store::Paths::new("/nonexistent"));
        let mut engine = crate::script::build_engine(ctx);
        crate::script::install_stdlib(&mut engine).expect("stdlib");
        // Conversions and operators every value has are not script functions of ours.
        let plumbing = ["to_string", "to_debug", "get$", "set$", "index$", "anon$"];
        let mut names: BTreeSet<String> = engine
            .gen_fn_signatures(false)
            .iter()
            .filter_map(|s| s.split('(').next())
            .map(|n| n.rsplit("::").next().unwrap_or(n).trim().to_string())
            .filter(|n| !plumbing.iter().any(|p| n.starts_with(p)))
            .collect();
        for (_, source) in super::super::STDLIB {
            let ast = engine.compile(source).expect("stdlib compiles");
            names.extend(
                ast.iter_functions()
                    .map(|f| f.name.to_string())
                    .filter(|n| !n.starts_with("anon$")),
            );
        }
        let documented: BTreeSet<&str> = super::docs().iter().map(|d| d.1.as_str()).collect();
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !documented.contains(n.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "functions without a doc entry: {missing:?}"
        );
    }

    /// help(Container) and completion after `c.` know each property of the script's types,
    /// and name none that does not exist; every type has methods.
    #[test]
    fn every_property_of_the_types_is_documented() {
        use std::collections::BTreeSet;
        let ctx = crate::script::Context::new(crate::store::Paths::new("/nonexistent"));
        let engine = crate::script::build_engine(ctx);
        let mut getters: BTreeSet<(String, String)> = BTreeSet::new();
        let mut fns: BTreeSet<(String, String)> = BTreeSet::new();
        for sig in engine.gen_fn_signatures(false) {
            let Some((name, rest)) = sig.split_once('(') else {
                continue;
            };
            let first = rest
                .split([',', ')'])
                .next()
                .unwrap_or("")
                .rsplit(": ")
                .next()
                .unwrap_or("")
                .trim_start_matches("&mut ")
                .to_string();
            match name.strip_prefix("get$") {
                Some(prop) => getters.insert((first, prop.to_string())),
                None => fns.insert((first, name.to_string())),
            };
        }
        for t in super::TYPES {
            for (prop, _) in t.properties {
                let key = (t.name.to_string(), prop.to_string());
                assert!(
                    getters.contains(&key) || fns.contains(&key),
                    "{}.{prop} is documented but not registered",
                    t.name
                );
            }
            assert!(!super::methods(t).is_empty(), "{} has no methods", t.name);
        }
        for (ty, prop) in &getters {
            if let Some(t) = super::type_doc(ty) {
                assert!(
                    t.properties.iter().any(|p| p.0 == prop),
                    "{ty}.{prop} has no line in TYPES"
                );
            }
        }
        let help = super::help_for("Container");
        assert!(help.contains(".status") && help.contains(".exec") && !help.contains(".unshare"));
        assert!(super::help_for("Spec").contains(".set_memory_limit"));
        assert!(super::help_for("Process").contains(".output"));
        assert!(super::help_for("Image").contains(".mount_image"));
    }

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
