//! The `gocker-script` command: the REPL, the script runner, `-e`, and Docker-like verbs,
//! each verb a call of its stdlib function.

mod repl;
mod verbs;

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Parser, Subcommand};
use gocker::container::Expected;
use gocker::runtime::launch::NetworkMode;
use gocker::script::{self, table::pretty, Context};
use gocker::store::Paths;
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Scope};

/// The verbs, for telling `gocker-script pull x` from `gocker-script script.rhai`.
const VERBS: &[&str] = &[
    "pull", "images", "rmi", "tag", "save", "load", "network", "run", "ps", "exec", "logs", "stop",
    "kill", "rm", "start", "inspect", "prune", "commit", "build", "cp", "pause", "unpause",
    "volume", "push", "login", "logout", "restart", "compose", "resume", "wait", "port", "top",
    "stats", "diff", "rename", "update", "version", "info", "system", "events",
];

#[derive(Parser)]
#[command(
    name = "gocker-script",
    version,
    about = "A scriptable container host: Linux containers as values in the Rhai language"
)]
struct Cli {
    /// State directory (default $GOCKER_ROOT or /var/lib/gocker-script)
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Print the system-level steps each primitive takes
    #[arg(long)]
    trace: bool,
    /// With a command: show where in the stdlib an error came from
    #[arg(long)]
    debug: bool,
    /// When the script fails, keep what it made (by default its containers, networks and
    /// volumes are removed)
    #[arg(long)]
    keep: bool,
    /// Evaluate CODE and print its value
    #[arg(short = 'e', value_name = "CODE")]
    eval: Option<String>,
    /// A script to run; ARGS are available to it as the array ARGS
    file: Option<PathBuf>,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Parser)]
#[command(name = "gocker-script", version)]
struct VerbCli {
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[arg(long, global = true)]
    trace: bool,
    /// Show where in the stdlib an error came from
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum VolumeVerb {
    /// Create a named volume
    Create { name: String },
    /// List volumes
    Ls,
    /// Remove volumes no container uses
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ComposeVerb {
    /// Create and start the services (stdlib `up`), then follow their logs until Ctrl-C
    Up {
        /// Start them in the background and return
        #[arg(short, long)]
        detach: bool,
    },
    /// Stop and remove the services' containers and networks (stdlib `down`)
    Down {
        /// Remove the named volumes the file declares too
        #[arg(short, long)]
        volumes: bool,
        /// Seconds to wait for each to stop before killing it
        #[arg(short, long)]
        timeout: Option<i64>,
    },
    /// List the services' running containers
    Ps {
        /// Stopped ones too
        #[arg(short, long)]
        all: bool,
    },
    /// Show the services' output (one service's, with SERVICE)
    Logs {
        /// Keep printing as the service writes (one service)
        #[arg(short, long)]
        follow: bool,
        service: Option<String>,
    },
    /// Run a command in a service's running container
    Exec {
        service: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
}

#[derive(Subcommand)]
enum SystemVerb {
    /// Disk used by images, containers, volumes and the build cache
    Df,
    /// Remove stopped containers, unused networks and dangling images
    Prune {
        /// Every unused image, not only dangling ones
        #[arg(short, long)]
        all: bool,
        /// Do not ask
        #[arg(short, long)]
        force: bool,
        /// Unused volumes too
        #[arg(long)]
        volumes: bool,
    },
}

#[derive(Subcommand)]
enum NetworkVerb {
    /// Create a bridge network
    Create {
        /// An IPv4 subnet such as 10.89.1.0/24 (default: a free one from 10.89.0.0/16)
        #[arg(long)]
        subnet: Option<String>,
        /// The bridge device's name
        #[arg(long)]
        bridge: Option<String>,
        name: String,
    },
    /// List networks
    Ls,
    /// Remove networks that have no running containers
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// `run`'s flags, as Docker's.
#[derive(clap::Args)]
struct RunArgs {
    #[arg(long)]
    name: Option<String>,
    /// Run in the background and print the container id
    #[arg(short, long)]
    detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Give the container a pseudo terminal
    #[arg(short, long)]
    tty: bool,
    /// Keep stdin attached (always so in the foreground; accepted for Docker's -it)
    #[arg(short, long)]
    interactive: bool,
    /// Set an environment variable (K=V)
    #[arg(short, long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Read environment variables from a file of K=V lines
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short, long = "memory")]
    memory: Option<String>,
    /// CPU limit (e.g. 0.5)
    #[arg(long)]
    cpus: Option<f64>,
    /// Relative CPU weight (1024 is the default)
    #[arg(long = "cpu-shares", short = 'c')]
    cpu_shares: Option<i64>,
    /// At most this many processes (default 2048; -1 for no limit)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pids_limit: Option<i64>,
    /// Memory plus swap, as Docker's --memory-swap (-1 for unlimited swap)
    #[arg(long = "memory-swap", allow_negative_numbers = true)]
    memory_swap: Option<String>,
    /// Bind mount /host:/container[:ro], or a named volume NAME:/container[:ro]
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// A tmpfs: /container[:size=64m,mode=1777,...]
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Restart policy: no, on-failure[:max], always, unless-stopped
    #[arg(long)]
    restart: Option<String>,
    /// A health check command, run through the shell
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between health checks (e.g. 30s)
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// How long one check may take
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Failures in a row that make it unhealthy
    #[arg(long = "health-retries")]
    health_retries: Option<i64>,
    /// Failures that do not count at first
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// No health check, not even the image's
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    #[arg(short, long)]
    workdir: Option<String>,
    #[arg(short, long)]
    user: Option<String>,
    #[arg(long)]
    hostname: Option<String>,
    /// A network's name, none or host (default: bridge)
    #[arg(long)]
    network: Option<String>,
    /// Publish a port: [IP:]HOST_PORT:CONTAINER_PORT[/udp]
    #[arg(short, long = "publish", value_name = "PORTS")]
    publish: Vec<String>,
    /// Publish every port the image exposes to a free host port
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    #[arg(long)]
    entrypoint: Option<String>,
    /// Add a capability (e.g. NET_RAW, ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// Drop a capability (e.g. CHOWN, ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Every capability and device, no seccomp filter, no masked paths: only for those who mean it
    #[arg(long)]
    privileged: bool,
    /// seccomp=unconfined, seccomp=PROFILE.json (Docker's format) or no-new-privileges
    #[arg(long = "security-opt", value_name = "OPT")]
    security_opt: Vec<String>,
    /// Mount the root filesystem read-only
    #[arg(long = "read-only")]
    read_only: bool,
    /// Add a host device: /dev/X[:/dev/Y][:rwm]
    #[arg(long = "device", value_name = "DEVICE")]
    device: Vec<String>,
    /// Set a label (repeatable)
    #[arg(short, long = "label", value_name = "K=V")]
    label: Vec<String>,
    /// Read labels from a file of K=V lines
    #[arg(long = "label-file", value_name = "FILE")]
    label_file: Vec<String>,
    /// Another name for the container on its network (repeatable)
    #[arg(long = "network-alias", value_name = "NAME")]
    network_alias: Vec<String>,
    /// A mount: type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=...]
    #[arg(long)]
    mount: Vec<String>,
    /// A line for /etc/hosts: NAME:IP
    #[arg(long = "add-host", value_name = "NAME:IP")]
    add_host: Vec<String>,
    /// A name server for /etc/resolv.conf (instead of the host's)
    #[arg(long, value_name = "IP")]
    dns: Vec<String>,
    /// Size of /dev/shm (e.g. 256m; default 64m)
    #[arg(long = "shm-size", value_name = "SIZE")]
    shm_size: Option<String>,
    /// A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, ...; -1 for unlimited)
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    ulimit: Vec<String>,
    /// The signal stop sends first (default: the image's, else SIGTERM)
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    stop_signal: Option<String>,
    /// Seconds stop waits before it kills (default 10)
    #[arg(long = "stop-timeout", value_name = "SECONDS")]
    stop_timeout: Option<i64>,
    /// Pull the image: always, missing (default) or never
    #[arg(long, value_name = "always|missing|never")]
    pull: Option<String>,
    /// The image's platform: only this host's (e.g. linux/amd64)
    #[arg(long)]
    platform: Option<String>,
    /// Run an init (tini) as pid 1 that forwards signals and reaps orphans
    #[arg(long)]
    init: bool,
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

impl RunArgs {
    /// The stdlib `run`'s options map (its keys are the flags' long names): only what was
    /// given, so its defaults stay its own.
    fn options(mut self) -> Result<(String, Vec<String>, Map), String> {
        // Docker's --label-file: K=V lines, blank and # lines skipped; --label wins.
        let mut labels = Vec::new();
        for file in &self.label_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read label file {file}: {e}"))?;
            labels.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        labels.append(&mut self.label);
        self.label = labels;
        let mut opts = Map::new();
        let mut put = |k: &str, v: Dynamic| {
            opts.insert(k.into(), v);
        };
        for (k, on) in [("detach", self.detach), ("rm", self.rm), ("tty", self.tty)] {
            put(k, on.into());
        }
        // -i is always so in the foreground; accepted for Docker's -it.
        let _ = self.interactive;
        for (k, on) in [
            ("privileged", self.privileged),
            ("read_only", self.read_only),
            ("publish_all", self.publish_all),
            ("init", self.init),
        ] {
            if on {
                put(k, true.into());
            }
        }
        for (k, v) in [
            ("env", host_env(self.env)),
            ("env_file", self.env_file),
            ("volume", self.volume),
            ("tmpfs", self.tmpfs),
            ("publish", self.publish),
            ("cap_add", self.cap_add),
            ("cap_drop", self.cap_drop),
            ("security_opt", self.security_opt),
            ("device", self.device),
            ("label", self.label),
            ("network_alias", self.network_alias),
            ("mount", self.mount),
            ("add_host", self.add_host),
            ("dns", self.dns),
            ("ulimit", self.ulimit),
        ] {
            if !v.is_empty() {
                put(k, strings(v));
            }
        }
        for (k, v) in [
            ("name", self.name),
            ("memory", self.memory),
            ("memory_swap", self.memory_swap),
            ("workdir", self.workdir),
            ("user", self.user),
            ("hostname", self.hostname),
            ("network", self.network),
            ("entrypoint", self.entrypoint),
            ("restart", self.restart),
            ("shm_size", self.shm_size),
            ("stop_signal", self.stop_signal),
            ("pull", self.pull),
            ("platform", self.platform),
        ] {
            if let Some(v) = v {
                put(k, v.into());
            }
        }
        let mut health = Map::new();
        if self.no_healthcheck {
            health.insert("test".into(), strings(vec!["NONE".into()]));
        }
        if let Some(c) = self.health_cmd {
            health.insert("cmd".into(), c.into());
        }
        for (k, v) in [
            ("interval", self.health_interval),
            ("timeout", self.health_timeout),
            ("start_period", self.health_start_period),
        ] {
            if let Some(v) = v {
                health.insert(k.into(), v.into());
            }
        }
        if let Some(r) = self.health_retries {
            health.insert("retries".into(), r.into());
        }
        if !health.is_empty() {
            put("health", health.into());
        }
        if let Some(v) = self.cpus {
            put("cpus", v.into());
        }
        for (k, v) in [
            ("pids_limit", self.pids_limit),
            ("cpu_shares", self.cpu_shares),
            ("stop_timeout", self.stop_timeout),
        ] {
            if let Some(v) = v {
                put(k, v.into());
            }
        }
        Ok((self.image, self.cmd, opts))
    }
}

#[derive(Subcommand)]
// Each verb's flags are built only when it is the one given: building all of them took half a
// millisecond of every start (issue 16).
#[command(defer = true)]
// Parsed once per process: the size of `Run` costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
enum Verb {
    /// Create and start a container (stdlib `run`)
    Run(RunArgs),
    /// Manage bridge networks
    Network {
        #[command(subcommand)]
        command: NetworkVerb,
    },
    /// Manage named volumes
    Volume {
        #[command(subcommand)]
        command: VolumeVerb,
    },
    /// List containers
    Ps {
        #[arg(short, long)]
        all: bool,
        #[arg(long)]
        json: bool,
        /// Only those that match: label=K[=V], name=, id=, status=, ancestor= (repeatable)
        #[arg(short, long = "filter", value_name = "KEY=VALUE")]
        filter: Vec<String>,
        /// Only the ids
        #[arg(short, long)]
        quiet: bool,
        /// A Go-style template: {{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.Status}}
        /// {{.State}} {{.Ports}} {{.CreatedAt}} {{.RunningFor}} {{.Networks}} {{.Mounts}},
        /// {{json .}}; "table " first for columns with a header
        #[arg(long, value_name = "TEMPLATE")]
        format: Option<String>,
    },
    /// Run a command in a running container
    Exec {
        #[arg(short, long)]
        user: Option<String>,
        #[arg(short, long)]
        workdir: Option<String>,
        #[arg(short, long = "env", value_name = "K=V")]
        env: Vec<String>,
        container: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Show a container's output (stdout to stdout, stderr to stderr)
    Logs {
        /// Only the last N lines
        #[arg(short = 'n', long)]
        tail: Option<i64>,
        /// Keep printing as the container writes, until it exits
        #[arg(short, long)]
        follow: bool,
        /// Each line's time in front (RFC 3339, nanoseconds)
        #[arg(short, long)]
        timestamps: bool,
        /// Lines written since a time: 2026-11-30T20:00:00Z, Unix seconds, or 10m (ago)
        #[arg(long)]
        since: Option<String>,
        /// Lines written before a time (same forms as --since)
        #[arg(long)]
        until: Option<String>,
        container: String,
    },
    /// Stop containers (SIGTERM, then SIGKILL)
    Stop {
        /// Seconds to wait before killing (default: the container's --stop-timeout, else 10)
        #[arg(short, long)]
        time: Option<i64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to containers
    Kill {
        #[arg(short, long, default_value = "SIGKILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Pause every process of containers (cgroup freezer)
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause containers
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Start stopped containers again (detached)
    Start {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop containers, then start them again
    Restart {
        /// Seconds to wait for each to stop before killing it
        #[arg(short, long, default_value_t = 10)]
        time: i64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Start again the containers whose restart policy wants them up (always, and
    /// unless-stopped ones not stopped by you): for a boot unit, or after a supervisor died
    Resume,
    /// Wait for containers to stop; print their exit codes
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// The host ports of a container's published ports
    Port {
        container: String,
        /// PORT[/PROTO]: only this one
        private: Option<String>,
    },
    /// The processes of a running container
    Top { container: String },
    /// Live CPU, memory, network, block I/O and process figures of containers
    Stats {
        /// One table, then exit
        #[arg(long = "no-stream")]
        no_stream: bool,
        containers: Vec<String>,
    },
    /// Files added (A), changed (C) and deleted (D) in a container
    Diff { container: String },
    /// Give a container another name
    Rename { old: String, new: String },
    /// Change the limits and restart policy of containers, live
    Update {
        #[arg(short, long)]
        memory: Option<String>,
        /// Memory plus swap (-1 for unlimited swap)
        #[arg(long = "memory-swap", allow_negative_numbers = true)]
        memory_swap: Option<String>,
        #[arg(long)]
        cpus: Option<f64>,
        #[arg(short = 'c', long = "cpu-shares")]
        cpu_shares: Option<i64>,
        #[arg(long = "pids-limit", allow_negative_numbers = true)]
        pids_limit: Option<i64>,
        /// no, on-failure[:max], always, unless-stopped
        #[arg(long)]
        restart: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// This program's version, and the host's
    Version,
    /// The host: containers, images, storage, cgroups, kernel, security features
    Info,
    /// Disk usage and cleanup
    System {
        #[command(subcommand)]
        command: SystemVerb,
    },
    /// Container events: create, start, die, oom, kill, stop, pause, unpause, rename, destroy
    Events {
        /// From this time (RFC 3339, unix seconds, or a duration before now like 10m)
        #[arg(long)]
        since: Option<String>,
        /// Up to this time; without it, new events are followed until Ctrl-C
        #[arg(long)]
        until: Option<String>,
        /// container=NAME_OR_ID (repeatable)
        #[arg(short, long = "filter", value_name = "FILTER")]
        filter: Vec<String>,
        /// A Go-style template: {{.Action}} {{.ID}} {{.Actor.Attributes.name}} {{json .}}
        #[arg(long, value_name = "TEMPLATE")]
        format: Option<String>,
    },
    /// Everything about containers or images, as JSON with Docker's field names
    Inspect {
        /// A Go-style template, e.g. {{.State.Status}}, {{.NetworkSettings.IPAddress}}, {{json .Config}}
        #[arg(short, long, value_name = "TEMPLATE")]
        format: Option<String>,
        /// Only containers, or only images, by this name
        #[arg(long = "type", value_name = "container|image")]
        kind: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove exited containers and dangling images
    Prune,
    /// Pull an image from a registry
    Pull {
        reference: String,
        #[arg(long)]
        platform: Option<String>,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Push an image to a registry
    Push {
        /// Manifest format: oci (default) or docker
        #[arg(long, value_name = "oci|docker")]
        format: Option<String>,
        /// Layer compression: gzip (default), zstd or none
        #[arg(long, value_name = "gzip|zstd|none")]
        compression: Option<String>,
        /// Print only the manifest digest
        #[arg(short, long)]
        quiet: bool,
        /// The image: a name, id or id prefix
        source: String,
        /// Where to push it, registry/repository[:tag] (default: the image's own name)
        dest: Option<String>,
    },
    /// Log in to a registry: check the credentials and keep them in Docker's config file
    Login {
        #[arg(short, long)]
        username: Option<String>,
        /// The password (visible to other users of this host: prefer --password-stdin)
        #[arg(short, long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input
        #[arg(long = "password-stdin")]
        password_stdin: bool,
        /// host[:port]
        registry: String,
    },
    /// Log out of a registry: remove its credentials from Docker's config file
    Logout {
        /// host[:port]
        registry: String,
    },
    /// List images
    Images {
        #[arg(long)]
        json: bool,
        /// Show the build cache's intermediate images too
        #[arg(short, long)]
        all: bool,
        /// Only the ids
        #[arg(short, long)]
        quiet: bool,
        /// A Go-style template: {{.ID}} {{.Repository}} {{.Tag}} {{.Digest}} {{.Size}}
        /// {{.CreatedAt}} {{.CreatedSince}} {{.Platform}}, {{json .}}; "table " first for a header
        #[arg(long, value_name = "TEMPLATE")]
        format: Option<String>,
    },
    /// Remove images
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
        #[arg(short, long)]
        force: bool,
    },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Make an image from a container's changes
    Commit {
        /// A comment for the image's history
        #[arg(short, long)]
        message: Option<String>,
        #[arg(short, long)]
        author: Option<String>,
        /// Pause a running container while its files are read
        #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
        pause: bool,
        /// A Dockerfile instruction to apply: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, STOPSIGNAL
        #[arg(short, long = "change", value_name = "INSTRUCTION")]
        change: Vec<String>,
        container: String,
        /// The new image's name (untagged without)
        reference: Option<String>,
    },
    /// Build an image from a Dockerfile
    Build {
        /// Name the image (repeatable)
        #[arg(short, long = "tag", value_name = "REF")]
        tag: Vec<String>,
        /// The Dockerfile (default CONTEXT/Dockerfile)
        #[arg(short, long)]
        file: Option<String>,
        /// A build argument, NAME=VALUE (repeatable)
        #[arg(long = "build-arg", value_name = "NAME=VALUE")]
        build_arg: Vec<String>,
        /// The stage to build (default: the last)
        #[arg(long)]
        target: Option<String>,
        /// Run every step, taking nothing from the cache
        #[arg(long)]
        no_cache: bool,
        /// The network of RUN steps: a network's name, "none" or "host"
        #[arg(long)]
        network: Option<String>,
        /// Print only the image id
        #[arg(short, long)]
        quiet: bool,
        /// Say why each step missed the cache
        #[arg(long)]
        explain: bool,
        /// The layers the build adds, as one
        #[arg(long)]
        squash: bool,
        /// The platform to build for (only this host's: os/arch)
        #[arg(long)]
        platform: Option<String>,
        /// The build context: the directory COPY reads
        context: String,
    },
    /// Copy files between a container and the host (one side is CONTAINER:PATH)
    Cp { src: String, dest: String },
    /// Several services from a compose file, as docker compose
    Compose {
        /// The compose file (default: compose.yaml, compose.yml, docker-compose.yaml or
        /// docker-compose.yml here)
        #[arg(short, long)]
        file: Option<PathBuf>,
        /// The project's name (default: the file's name key, else its directory's name)
        #[arg(short = 'p', long = "project-name")]
        project_name: Option<String>,
        #[command(subcommand)]
        command: ComposeVerb,
    },
    /// Write an image to a tarball (.tar) or an OCI layout directory
    Save {
        image: String,
        #[arg(short, long)]
        output: String,
    },
    /// Load images from a tarball or an OCI layout
    Load {
        #[arg(short, long)]
        input: String,
    },
}

/// The first word after the global options: a verb, a script's file name, or neither.
fn first_word(args: &[String]) -> Option<&str> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => {
                it.next();
            }
            "--trace" | "--debug" => {}
            a if a.starts_with("--root=") => {}
            a => return Some(a),
        }
    }
    None
}

/// Whether a word that is not a verb is meant as a script: an existing file, or a name that
/// looks like one (a .rhai name, a path), whose absence is then reported as such.
fn names_a_script(word: &str) -> bool {
    word.ends_with(".rhai") || word.contains('/') || std::path::Path::new(word).exists()
}

/// The top-level help with every verb and what it does, listed from the verbs themselves so
/// that a new one cannot be left out.
fn cli_command() -> clap::Command {
    use clap::CommandFactory;
    let verbs = VerbCli::command();
    let names: Vec<&clap::Command> = verbs
        .get_subcommands()
        .filter(|v| v.get_name() != "help")
        .collect();
    let width = names.iter().map(|v| v.get_name().len()).max().unwrap_or(0);
    let mut text = String::from("Commands, as Docker's (gocker-script COMMAND --help for each):\n");
    for v in names {
        let about = v.get_about().map(|a| a.to_string()).unwrap_or_default();
        text.push_str(&format!("  {:<width$}  {about}\n", v.get_name()));
    }
    text.push_str("\nWith no FILE and no -e: the REPL.");
    Cli::command().after_help(text)
}

/// A verb's unknown flag, with the verb's nearest one. (clap's own tip is wrong for the verbs
/// that take a command after their arguments: "to pass '--detatch' as a value, use '--'".)
fn flag_error(e: clap::Error, verb: &str) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::CommandFactory;
    let flag = match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::UnknownArgument, Some(ContextValue::String(f))) => f.clone(),
        _ => e.exit(),
    };
    let Some(name) = flag.strip_prefix("--") else {
        e.exit()
    };
    let name = name.split('=').next().unwrap_or(name);
    let mut cli = VerbCli::command();
    // Every verb's flags, made on demand (see Verb).
    cli.build();
    let mut flags: Vec<&str> = Vec::new();
    let mut todo: Vec<&clap::Command> = cli.find_subcommand(verb).into_iter().collect();
    while let Some(c) = todo.pop() {
        flags.extend(c.get_arguments().filter_map(|a| a.get_long()));
        todo.extend(c.get_subcommands());
    }
    let hint = gocker::script::api::closest(name, flags)
        .map(|f| format!(" (did you mean --{f}?)"))
        .unwrap_or_default();
    eprintln!("error: unknown flag for {verb}: --{name}{hint}");
    eprintln!("gocker-script {verb} --help lists its flags");
    ExitCode::from(2)
}

/// The internal entry points the library re-executes a program for (see
/// `process::internal_entry`).
fn internal(args: &[String]) -> Option<ExitCode> {
    gocker::container::process::internal_entry(args)
        .map(|code| ExitCode::from(code.clamp(0, 255) as u8))
}

/// Docker's `commit --change` instructions as commit's changes map.
fn commit_changes(changes: &[String]) -> Result<Map, String> {
    let mut out = Map::new();
    let mut lists: std::collections::BTreeMap<&str, Array> = Default::default();
    let mut labels = Map::new();
    for c in changes {
        // Read by the Dockerfile frontend: quoting, exec and shell forms, flags as in a build.
        let parsed = gocker::build::dockerfile::parse(&format!("FROM scratch\n{c}\n"))
            .map_err(|e| format!("commit --change {c:?}: {}", e.message()))?;
        let Some(step) = parsed.stages.first().and_then(|s| s.steps.first()) else {
            continue;
        };
        // CMD ["a", "b"] (exec form) or CMD a b (shell form, run by /bin/sh -c).
        let argv = || -> Dynamic {
            if step.exec {
                strings(step.args.clone())
            } else {
                strings(vec!["/bin/sh".into(), "-c".into(), step.args.join(" ")])
            }
        };
        let first = || step.args.first().cloned().unwrap_or_default();
        match step.op.as_str() {
            "CMD" => {
                out.insert("cmd".into(), argv());
            }
            "ENTRYPOINT" => {
                out.insert("entrypoint".into(), argv());
            }
            "ENV" => lists
                .entry("env")
                .or_default()
                .extend(step.args.iter().cloned().map(Dynamic::from)),
            "EXPOSE" => lists
                .entry("expose")
                .or_default()
                .extend(step.args.iter().cloned().map(Dynamic::from)),
            "VOLUME" => lists
                .entry("volumes")
                .or_default()
                .extend(step.args.iter().cloned().map(Dynamic::from)),
            "LABEL" => {
                for kv in &step.args {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    labels.insert(k.into(), v.to_string().into());
                }
            }
            "WORKDIR" => {
                out.insert("workdir".into(), first().into());
            }
            "USER" => {
                out.insert("user".into(), first().into());
            }
            "STOPSIGNAL" => {
                out.insert("stop_signal".into(), first().into());
            }
            "HEALTHCHECK" => {
                let mut h = Map::new();
                let test: Vec<String> = if step.args == ["NONE"] {
                    vec!["NONE".into()]
                } else if step.exec {
                    std::iter::once("CMD".to_string()).chain(step.args.clone()).collect()
                } else {
                    vec!["CMD-SHELL".into(), step.args.join(" ")]
                };
                h.insert("test".into(), strings(test));
                for (flag, key) in [
                    ("interval", "interval"),
                    ("timeout", "timeout"),
                    ("start-period", "start_period"),
                ] {
                    if let Some(v) = step.flags.get(flag) {
                        h.insert(key.into(), v.clone().into());
                    }
                }
                if let Some(r) = step.flags.get("retries") {
                    let n: i64 = r.parse().map_err(|_| format!("HEALTHCHECK --retries={r} is not a number"))?;
                    h.insert("retries".into(), n.into());
                }
                out.insert("healthcheck".into(), h.into());
            }
            other => {
                return Err(format!(
                    "commit --change {other} is not supported: use CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR"
                ))
            }
        }
    }
    for (k, v) in lists {
        out.insert(k.into(), v.into());
    }
    if !labels.is_empty() {
        out.insert("labels".into(), labels.into());
    }
    Ok(out)
}

/// Asks on the terminal for a line of input, without echo for a secret.
fn prompt(label: &str, secret: bool) -> Result<String, String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(format!(
            "login needs a {}: give {} (standard input is not a terminal to ask on)",
            label.to_lowercase(),
            if secret {
                "-p PASSWORD or --password-stdin"
            } else {
                "-u USERNAME"
            }
        ));
    }
    eprint!("{label}: ");
    let _ = std::io::stderr().flush();
    let saved = if secret {
        let saved = tcgetattr(&stdin).map_err(|e| format!("cannot read terminal settings: {e}"))?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
            .map_err(|e| format!("cannot turn echo off: {e}"))?;
        Some(saved)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
        eprintln!();
    }
    read.map_err(|e| format!("cannot read the {}: {e}", label.to_lowercase()))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// login's user name and password, from the flags, standard input or the terminal.
fn login_credentials(
    username: Option<String>,
    password: Option<String>,
    password_stdin: bool,
) -> Result<(String, String), String> {
    let username = match username {
        Some(u) => u,
        None => prompt("Username", false)?,
    };
    let password = if password_stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else {
        match password {
            Some(p) => {
                eprintln!("warning: a password on the command line is visible to other users of this host; prefer --password-stdin");
                p
            }
            None => prompt("Password", true)?,
        }
    };
    Ok((username, password))
}

/// The engine (with the stdlib installed) and its context.
struct Host {
    engine: Engine,
    ctx: Rc<Context>,
    /// Verbs' errors with the places in the stdlib they passed through.
    debug: bool,
}

/// Which stdlib files a Host compiles.
#[derive(Clone, Copy)]
enum Stdlib {
    /// Scripts, -e and the REPL: every file.
    All,
    /// The verbs whose code calls nothing of the stdlib beyond containers.rhai (run, ps, rm,
    /// prune, inspect) and the primitives: build, compose and cp need the other files.
    Containers,
    /// The verbs whose code calls primitives only (exec, logs, stop, ...): compiling the
    /// stdlib would be 0.4 ms of their start for nothing (issue 16).
    Primitives,
}

/// How a verb's code ended, when it did not simply succeed.
enum Stop {
    /// exit(n), or stdout closed under us: end with this status now.
    Exit(u8),
    /// An error, already printed: the verb fails with this status.
    Failed(u8),
}

impl Host {
    fn new(
        root: Option<PathBuf>,
        trace: bool,
        debug: bool,
        stdlib: Stdlib,
        early: Option<Expected>,
    ) -> Result<Host, ExitCode> {
        let paths = root.map(Paths::new).unwrap_or_else(Paths::from_env);
        gocker::trace::set(trace);
        let ctx = Context::new(paths);
        // A verb about to run a container: its supervisor starts now, beside the rest.
        if let Some(expected) = early {
            ctx.prepare_to_run(expected);
        }
        let mut engine = script::build_engine(ctx.clone());
        let installed = match stdlib {
            Stdlib::All => script::install_stdlib(&mut engine),
            Stdlib::Containers => {
                script::install_stdlib_files(&mut engine, |n| n == "containers.rhai")
            }
            Stdlib::Primitives => Ok(()),
        };
        match installed {
            Ok(()) => Ok(Host { engine, ctx, debug }),
            Err(e) => {
                eprintln!("error: the stdlib does not compile: {e}");
                Err(ExitCode::from(2))
            }
        }
    }

    /// Compiles `source` over the stdlib and runs it; prints a non-unit value when asked.
    /// Runs a script (or -e's code). With `undo`, a script that ends with an uncaught error
    /// leaves nothing of its own behind: what it made and did not ask to keep is removed.
    fn eval(
        &self,
        source: &str,
        name: &str,
        scope: &mut Scope,
        print_value: bool,
        undo: bool,
    ) -> ExitCode {
        let ast = match self.engine.compile_with_scope(scope, source) {
            Ok(mut ast) => {
                ast.set_source(name);
                ast
            }
            Err(e) => {
                repl::print_error(source, name, &EvalAltResult::ErrorParsing(*e.0, e.1));
                return ExitCode::from(2);
            }
        };
        match self.engine.eval_ast_with_scope::<Dynamic>(scope, &ast) {
            Ok(v) => {
                if print_value && !v.is_unit() {
                    script::print_line(&pretty(&self.ctx, &v));
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                if let EvalAltResult::ErrorTerminated(v, _) = &*e {
                    return ExitCode::from(status(v));
                }
                repl::print_error(source, name, &e);
                if undo {
                    self.ctx.undo_made(&mut |line| eprintln!("{line}"));
                }
                ExitCode::from(1)
            }
        }
    }

    /// Runs a verb's code (its values in `scope`). Its errors are the user's command failing,
    /// not a script of theirs: `error: kind: message`, the stdlib's frames only with --debug,
    /// and the status Docker gives: the container command's 127 or 126 when it could not
    /// start, else `failure`.
    fn verb(&self, code: &str, scope: &mut Scope, failure: u8) -> Result<(), Stop> {
        self.value(code, scope, failure).map(|_| ())
    }

    /// As `verb`, giving the code's value.
    fn value(&self, code: &str, scope: &mut Scope, failure: u8) -> Result<Dynamic, Stop> {
        let e = match self.engine.eval_with_scope::<Dynamic>(scope, code) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if let EvalAltResult::ErrorTerminated(v, _) = &*e {
            return Err(Stop::Exit(status(v)));
        }
        if self.debug {
            repl::print_error(code, "gocker-script", &e);
        } else {
            eprintln!("error: {}", script::describe_plain(&e));
        }
        let code = script::command_status(&e).map(|c| c.clamp(1, 255) as u8);
        Err(Stop::Failed(code.unwrap_or(failure)))
    }
}

/// The exit status a terminated script asked for (exit(n), or a closed stdout's 141).
fn status(v: &Dynamic) -> u8 {
    v.as_int().unwrap_or(0).clamp(0, 255) as u8
}

/// `run IMAGE CMD...` and `exec CONTAINER CMD...`: everything after the image (or the
/// container) is the command's, flags included (`run --entrypoint sh busybox -c '…'`), as
/// Docker reads it: a `--` is put there before clap reads the line.
fn end_of_flags(args: &[String]) -> Vec<String> {
    use clap::CommandFactory;
    let mut out = args.to_vec();
    let cmd = VerbCli::command();
    // The verb: the first word past the global options.
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--root" => i += 2,
            "--trace" | "--debug" => i += 1,
            a if a.starts_with("--root=") => i += 1,
            _ => break,
        }
    }
    let Some(verb) = args
        .get(i)
        .filter(|v| ["run", "exec"].contains(&v.as_str()))
    else {
        return out;
    };
    let Some(mut sub) = cmd.find_subcommand(verb).cloned() else {
        return out;
    };
    // Its flags are made on demand (see Verb).
    sub.build();
    let takes_value = |token: &str| -> bool {
        let arg = if let Some(long) = token.strip_prefix("--") {
            if long.contains('=') {
                return false;
            }
            sub.get_arguments()
                .chain(cmd.get_arguments())
                .find(|a| a.get_long() == Some(long))
        } else {
            // -it, -e: only a lone short flag (no value attached) takes the next word.
            let mut chars = token.chars().skip(1);
            match (chars.next(), chars.next()) {
                (Some(c), None) => sub.get_arguments().find(|a| a.get_short() == Some(c)),
                _ => None,
            }
        };
        arg.is_some_and(|a| a.get_action().takes_values())
    };
    i += 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return out;
        }
        if a.starts_with('-') && a.len() > 1 {
            i += if takes_value(a) { 2 } else { 1 };
            continue;
        }
        // The image (or the container): the command starts after it.
        out.insert(i + 1, "--".into());
        return out;
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = internal(&args) {
        return code;
    }
    // Descriptors leaked by whoever started us must not reach a container
    // (CVE-2024-21626); the supervisor and the exec helper close theirs again.
    gocker::runtime::security::close_fds_from(3);
    match first_word(&args) {
        Some(word) if VERBS.contains(&word) => {
            let cli = match VerbCli::try_parse_from(end_of_flags(&args)) {
                Ok(cli) => cli,
                Err(e) => return flag_error(e, word),
            };
            let stdlib = match cli.verb {
                Verb::Build { .. } | Verb::Compose { .. } | Verb::Cp { .. } => Stdlib::All,
                Verb::Exec { .. }
                | Verb::Logs { .. }
                | Verb::Stop { .. }
                | Verb::Restart { .. }
                | Verb::Kill { .. }
                | Verb::Pause { .. }
                | Verb::Unpause { .. }
                | Verb::Start { .. }
                | Verb::Wait { .. }
                | Verb::Top { .. }
                | Verb::Stats { .. }
                | Verb::Diff { .. }
                | Verb::Rename { .. }
                | Verb::Events { .. }
                | Verb::Images { .. }
                | Verb::Rmi { .. }
                | Verb::Tag { .. }
                | Verb::Pull { .. }
                | Verb::Version
                | Verb::Info => Stdlib::Primitives,
                _ => Stdlib::Containers,
            };
            // How its supervisor is attached, and whether it goes on a bridge (the
            // default network unless --network says none, host or another's).
            let early = match &cli.verb {
                Verb::Run(args) => Some(Expected {
                    detach: args.detach,
                    bridged: NetworkMode::from(args.network.as_deref().unwrap_or("bridge"))
                        .bridge()
                        .is_some(),
                }),
                _ => None,
            };
            return match Host::new(cli.root, cli.trace, cli.debug, stdlib, early) {
                Ok(host) => {
                    let code = run_verb(&host, cli.verb);
                    leave(host);
                    code
                }
                Err(code) => code,
            };
        }
        Some("help") => {
            let _ = cli_command().print_long_help();
            return ExitCode::SUCCESS;
        }
        Some(word) if !word.starts_with('-') && !names_a_script(word) => {
            let hint = gocker::script::api::closest(word, VERBS.iter().copied())
                .map(|v| format!(" (did you mean {v}?)"))
                .unwrap_or_default();
            eprintln!("error: unknown command: {word}{hint}");
            eprintln!("gocker-script --help lists the commands; a script to run must be a file");
            return ExitCode::from(2);
        }
        _ => {}
    }
    let cli = {
        use clap::FromArgMatches;
        let matches = cli_command().get_matches();
        match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        }
    };
    let host = match Host::new(cli.root, cli.trace, cli.debug, Stdlib::All, None) {
        Ok(h) => h,
        Err(code) => return code,
    };
    if let Some(code) = cli.eval {
        // A line as typed at the prompt: help(run) means help("run") here too.
        let declared = |n: &str| {
            ["let ", "const ", "for "]
                .iter()
                .any(|k| code.contains(&format!("{k}{n}")))
        };
        let code = repl::quote_help_names(&code, &declared);
        let status = host.eval(&code, "-e", &mut Scope::new(), true, false);
        leave(host);
        return status;
    }
    if let Some(file) = cli.file {
        let source = match std::fs::read_to_string(&file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        let mut scope = Scope::new();
        scope.push_constant(
            "ARGS",
            cli.args.into_iter().map(Dynamic::from).collect::<Array>(),
        );
        let name = file.display().to_string();
        host.ctx.start_supervisors_ahead();
        let status = host.eval(&source, &name, &mut scope, false, !cli.keep);
        leave(host);
        return status;
    }
    repl::run(&host.engine, &host.ctx)
}

/// The process is about to exit: the scripting host (an engine of some 500 functions, the
/// compiled stdlib, the stores) is left to the exit rather than taken apart piece by piece,
/// 0.4 ms of every verb (issue 16). Nothing in it has work to do when dropped: its database
/// connection needs no close in WAL mode, and the standard streams are flushed at exit.
fn leave(host: Host) {
    std::mem::forget(host);
}

/// `ps --filter KEY=VALUE`s as containers()'s filter map: each key's values in an array
/// (a value-less or unknown key is left for containers() to refuse by name).
fn ps_filter(filters: &[String]) -> Map {
    let mut out = Map::new();
    for f in filters {
        let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
        let entry = out
            .entry(k.into())
            .or_insert_with(|| Dynamic::from_array(Array::new()));
        if let Some(mut a) = entry.write_lock::<Array>() {
            a.push(v.to_string().into());
        }
    }
    out
}

/// Docker's `-e NAME` (no `=`): NAME with the caller's value, or left out when the caller
/// has none.
fn host_env(env: Vec<String>) -> Vec<String> {
    env.into_iter()
        .filter_map(|kv| match kv.contains('=') {
            true => Some(kv),
            false => std::env::var(&kv).ok().map(|v| format!("{kv}={v}")),
        })
        .collect()
}

fn strings(v: Vec<String>) -> Dynamic {
    Dynamic::from_array(v.into_iter().map(Dynamic::from).collect())
}

/// A verb over several containers, one at a time as Docker does: one that fails (a name
/// that does not exist) is reported and the others are still done; the verb then fails.
fn each(host: &Host, ids: Vec<String>, base: Scope, code: &str) -> ExitCode {
    let mut failed = false;
    for id in ids {
        let mut scope = base.clone();
        scope.push("id", id);
        match host.verb(code, &mut scope, 1) {
            Ok(()) => {}
            Err(Stop::Failed(_)) => failed = true,
            Err(Stop::Exit(n)) => return ExitCode::from(n),
        }
    }
    ExitCode::from(u8::from(failed))
}

/// `port CONTAINER [PRIVATE[/PROTO]]`: Docker's lines, from inspect's NetworkSettings.Ports.
const PORT: &str = r#"
    let ports = docker_inspect(find_container(id)).NetworkSettings.Ports;
    if want == "" {
        for k in ports.keys() { for b in ports[k] { print(`${k} -> ${b.HostIp}:${b.HostPort}`) } }
    } else {
        let key = if want.contains("/") { want } else { `${want}/tcp` };
        if !(key in ports) {
            throw #{ kind: "not_found", message: `no public port ${key} published for ${id}` };
        }
        for b in ports[key] { print(`${b.HostIp}:${b.HostPort}`) }
    }
"#;

/// `ps --format` and `ps -q`: the containers through the template in `fmt`.
const FORMATTED_PS: &str =
    "let t = template(ps(#{ all: all, filter: filter }), fmt); if t != \"\" { print(t) }";

/// `inspect NAME...`: every name is looked at, as Docker does; one not found is reported and
/// fails the verb. The maps in one JSON array (Docker's shape), or each through a template.
fn inspect(host: &Host, names: Vec<String>, find: &str, format: Option<String>) -> ExitCode {
    let mut found = Vec::new();
    let mut failed = false;
    for id in names {
        let mut scope = Scope::new();
        scope.push("id", id);
        let code = match &format {
            Some(f) => {
                scope.push("fmt", f.clone());
                format!("template({find}, fmt)")
            }
            None => find.to_string(),
        };
        match host.value(&code, &mut scope, 1) {
            Ok(v) if format.is_some() => script::print_line(&v.to_string()),
            Ok(v) => found.push(script::value::dynamic_to_json(&v)),
            Err(Stop::Failed(_)) => failed = true,
            Err(Stop::Exit(n)) => return ExitCode::from(n),
        }
    }
    if format.is_none() {
        let text = serde_json::to_string_pretty(&found).unwrap_or_default();
        script::print_line(&text);
    }
    ExitCode::from(u8::from(failed))
}

/// Each verb calls its stdlib function; values travel in the scope, never pasted into code.
fn run_verb(host: &Host, verb: Verb) -> ExitCode {
    let mut scope = Scope::new();
    // Docker's statuses: run and exec fail with 125 when the error is gocker-script's own
    // (not the command's); the other verbs with 1.
    let failure = match verb {
        Verb::Run(_) | Verb::Exec { .. } => 125,
        _ => 1,
    };
    let code = match verb {
        Verb::Run(args) => {
            let detach = args.detach;
            let (image, cmd, opts) = match args.options() {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: invalid_argument: {e}");
                    return ExitCode::from(125);
                }
            };
            scope.push("image", image).push("cmd", strings(cmd)).push("opts", opts);
            if detach {
                "print(run(image, cmd, opts).id)"
            } else {
                "exit(run(image, cmd, opts))"
            }
        }
        Verb::Ps { all, json, filter, quiet, format } => {
            scope.push("all", all).push("filter", ps_filter(&filter));
            match (quiet, format, json) {
                (true, _, _) => {
                    scope.push("fmt", "{{.ID}}");
                    FORMATTED_PS
                }
                (_, Some(f), _) => {
                    scope.push("fmt", f);
                    FORMATTED_PS
                }
                (_, None, true) => "print(ps(#{ all: all, json: true, filter: filter }))",
                (_, None, false) => "print(table(ps(#{ all: all, filter: filter }), \"containers\"))",
            }
        }
        Verb::Exec { user, workdir, env, container, cmd } => {
            let mut opts = Map::new();
            opts.insert("attach".into(), true.into());
            if let Some(u) = user {
                opts.insert("user".into(), u.into());
            }
            if let Some(w) = workdir {
                opts.insert("workdir".into(), w.into());
            }
            opts.insert("env".into(), strings(host_env(env)));
            scope.push("id", container).push("cmd", strings(cmd)).push("opts", opts);
            "exit(exec(id, cmd, opts).code)"
        }
        Verb::Logs { tail, follow, timestamps, since, until, container } => {
            let mut opts = Map::new();
            if let Some(n) = tail {
                opts.insert("tail".into(), n.into());
            }
            for (key, value) in [("since", since), ("until", until)] {
                if let Some(v) = value {
                    opts.insert(key.into(), v.into());
                }
            }
            opts.insert("follow".into(), follow.into());
            opts.insert("timestamps".into(), timestamps.into());
            scope.push("id", container).push("opts", opts);
            "print_logs(id, opts)"
        }
        Verb::Stop { time, containers } => {
            let code = match time {
                Some(t) => {
                    scope.push("t", t);
                    "stop(id, t); print(id)"
                }
                None => "stop(id); print(id)",
            };
            return each(host, containers, scope, code);
        }
        Verb::Resume => "for name in resume() { print(name) }",
        Verb::Restart { time, containers } => {
            scope.push("t", time);
            return each(host, containers, scope, "stop(id, t); start(id); print(id)");
        }
        Verb::Kill { signal, containers } => {
            scope.push("sig", signal);
            return each(host, containers, scope, "kill(id, sig); print(id)");
        }
        Verb::Pause { containers } => {
            scope.push("ids", strings(containers));
            "for id in ids { pause(id); print(id) }"
        }
        Verb::Unpause { containers } => {
            scope.push("ids", strings(containers));
            "for id in ids { unpause(id); print(id) }"
        }
        Verb::Rm { force, containers } => {
            scope.push("force", force);
            return each(host, containers, scope, "rm(id, #{ force: force }); print(id)");
        }
        Verb::Start { containers } => {
            return each(host, containers, scope, "start(id); print(id)");
        }
        Verb::Inspect { format, kind, names } => {
            let find = match kind.as_deref() {
                None => "inspect(id)",
                Some("container") => "docker_inspect(find_container(id))",
                Some("image") => "docker_inspect(image(id))",
                Some(other) => {
                    eprintln!("error: invalid_argument: inspect --type {other}: use container or image");
                    return ExitCode::from(2);
                }
            };
            return inspect(host, names, find, format);
        }
        Verb::Wait { containers } => {
            return each(host, containers, scope, "print(wait(id))");
        }
        Verb::Port { container, private } => {
            scope.push("id", container).push("want", private.unwrap_or_default());
            PORT
        }
        Verb::Top { container } => return verbs::top(host, container),
        Verb::Stats { no_stream, containers } => {
            return verbs::stats(host, containers, no_stream)
        }
        Verb::Diff { container } => {
            scope.push("id", container);
            "for c in diff(id) { print(`${c.kind} ${c.path}`) }"
        }
        Verb::Rename { old, new } => {
            scope.push("old", old).push("to", new);
            "rename(old, to)"
        }
        Verb::Update { memory, memory_swap, cpus, cpu_shares, pids_limit, restart, containers } => {
            let mut opts = Map::new();
            for (k, v) in [("memory", memory), ("memory_swap", memory_swap), ("restart", restart)] {
                if let Some(v) = v {
                    opts.insert(k.into(), v.into());
                }
            }
            if let Some(c) = cpus {
                opts.insert("cpus".into(), c.into());
            }
            for (k, v) in [("cpu_shares", cpu_shares), ("pids_limit", pids_limit)] {
                if let Some(v) = v {
                    opts.insert(k.into(), v.into());
                }
            }
            scope.push("opts", opts);
            return each(host, containers, scope, "update(id, opts); print(id)");
        }
        Verb::Version => return verbs::version(),
        Verb::Info => return verbs::info(host),
        Verb::System { command } => match command {
            SystemVerb::Df => return verbs::system_df(host),
            SystemVerb::Prune { all, force, volumes } => {
                return verbs::system_prune(host, all, force, volumes)
            }
        },
        Verb::Events { since, until, filter, format } => {
            return verbs::events(host, since, until, filter, format)
        }
        Verb::Prune => "let r = prune(); for c in r.containers { print(`Deleted container: ${c}`) } for i in r.images { print(`Deleted image: ${i}`) }",
        Verb::Pull { reference, platform, quiet } => {
            let mut opts = Map::new();
            opts.insert("quiet".into(), quiet.into());
            if let Some(p) = platform {
                opts.insert("platform".into(), p.into());
            }
            scope.push("reference", reference).push("opts", opts);
            "print(pull(reference, opts).digest)"
        }
        Verb::Network { command } => match command {
            NetworkVerb::Create { subnet, bridge, name } => {
                let mut opts = Map::new();
                for (k, v) in [("subnet", subnet), ("bridge", bridge)] {
                    if let Some(v) = v {
                        opts.insert(k.into(), v.into());
                    }
                }
                scope.push("name", name).push("opts", opts);
                "print(network_create(name, opts).name)"
            }
            NetworkVerb::Ls => "print(table(networks(), \"networks\"))",
            NetworkVerb::Rm { names } => {
                scope.push("names", strings(names));
                "for n in names { network_remove(n); print(n) }"
            }
        },
        Verb::Volume { command } => match command {
            VolumeVerb::Create { name } => {
                scope.push("name", name.clone());
                "volume_create(name); print(name)"
            }
            VolumeVerb::Ls => "for v in volumes() { print(`${v.name}\t${v.containers}`) }",
            VolumeVerb::Rm { names } => {
                scope.push("names", strings(names));
                "for n in names { volume_remove(n); print(n) }"
            }
        },
        Verb::Push { format, compression, quiet, source, dest } => {
            let mut opts = Map::new();
            opts.insert("quiet".into(), quiet.into());
            for (k, v) in [("format", format), ("compression", compression), ("dest", dest)] {
                if let Some(v) = v {
                    opts.insert(k.into(), v.into());
                }
            }
            scope.push("src", source).push("opts", opts).push("quiet", quiet);
            "let r = push(src, opts); if !quiet { for l in r.layers { print(`${l.digest}: ${l.status}`) } print(`config ${r.config.digest}: ${r.config.status}`); print(`${r.reference}: digest: ${r.digest} size: ${r.size}`) } else { print(r.digest) }"
        }
        Verb::Login { username, password, password_stdin, registry } => {
            let (username, password) = match login_credentials(username, password, password_stdin) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: invalid_argument: {e}");
                    return ExitCode::from(2);
                }
            };
            let mut opts = Map::new();
            opts.insert("username".into(), username.into());
            opts.insert("password".into(), password.into());
            scope.push("registry", registry).push("opts", opts);
            "login(registry, opts); print(\"Login Succeeded\")"
        }
        Verb::Logout { registry } => {
            scope.push("registry", registry);
            "logout(registry); print(`Removing login credentials for ${registry}`)"
        }
        Verb::Images { json, all, quiet, format } => {
            scope.push("all", all);
            match (quiet, format, json) {
                // Each image once, however many names it has: for `rmi $(images -q)`.
                (true, _, _) => "let seen = #{}; for i in images(#{ all: all }) { if !(i.short_id in seen) { seen[i.short_id] = true; print(i.short_id) } }",
                (_, Some(f), _) => {
                    scope.push("fmt", f);
                    "let t = template(images(#{ all: all }), fmt); if t != \"\" { print(t) }"
                }
                (_, None, true) => "print(images(#{ json: true, all: all }))",
                (_, None, false) => "print(table(images(#{ all: all }), \"images\"))",
            }
        }
        Verb::Rmi { images, force } => {
            scope.push("refs", strings(images)).push("force", force);
            "for r in refs { let out = rmi(r, #{ force: force }); for t in out.untagged { print(`Untagged: ${t}`) } for d in out.deleted { print(`Deleted: ${d}`) } }"
        }
        Verb::Commit { message, author, pause, change, container, reference } => {
            let mut opts = Map::new();
            opts.insert("pause".into(), pause.into());
            for (k, v) in [("message", message), ("author", author)] {
                if let Some(v) = v {
                    opts.insert(k.into(), v.into());
                }
            }
            match commit_changes(&change) {
                Ok(changes) if !changes.is_empty() => {
                    opts.insert("changes".into(), changes.into());
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("error: invalid_argument: {e}");
                    return ExitCode::from(2);
                }
            }
            scope
                .push("id", container)
                .push("reference", reference.map(Dynamic::from).unwrap_or(Dynamic::UNIT))
                .push("opts", opts);
            "print(commit(id, reference, opts).id)"
        }
        Verb::Build { tag, file, build_arg, target, no_cache, network, quiet, explain, squash, platform, context } => {
            let mut opts = Map::new();
            let mut args = Map::new();
            for kv in build_arg {
                match kv.split_once('=') {
                    Some((k, v)) => args.insert(k.into(), v.into()),
                    // --build-arg NAME passes the caller's value, as Docker does.
                    None => args.insert(kv.as_str().into(), std::env::var(&kv).unwrap_or_default().into()),
                };
            }
            opts.insert("build_args".into(), args.into());
            opts.insert("tag".into(), strings(tag));
            opts.insert("no_cache".into(), no_cache.into());
            opts.insert("explain".into(), explain.into());
            opts.insert("squash".into(), squash.into());
            opts.insert("quiet".into(), quiet.into());
            for (k, v) in [("file", file), ("target", target), ("network", network), ("platform", platform)] {
                if let Some(v) = v {
                    opts.insert(k.into(), v.into());
                }
            }
            scope.push("dir", context).push("opts", opts);
            "build(dir, opts);"
        }
        Verb::Compose { file, project_name, command } => {
            return compose(host, file, project_name, command);
        }
        Verb::Cp { src, dest } => {
            scope.push("src", src).push("dest", dest);
            "cp(src, dest);"
        }
        Verb::Tag { source, target } => {
            scope.push("src", source).push("dst", target);
            "tag(src, dst);"
        }
        Verb::Save { image, output } => {
            scope.push("image", image).push("out", output);
            "save(image, out)"
        }
        Verb::Load { input } => {
            scope.push("input", input);
            "for i in load(input) { print(`Loaded image: ${i.name}`) }"
        }
    };
    match host.verb(code, &mut scope, failure) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Exit(n) | Stop::Failed(n)) => ExitCode::from(n),
    }
}

/// `compose`: the file's stack through the stdlib's up, down and stack_ps.
fn compose(
    host: &Host,
    file: Option<PathBuf>,
    project: Option<String>,
    verb: ComposeVerb,
) -> ExitCode {
    let mut scope = Scope::new();
    // The file is read for up, and for the project's name when -p does not give it.
    let needs_file = matches!(verb, ComposeVerb::Up { .. }) || project.is_none();
    let file = if needs_file {
        let found = match file {
            Some(f) => Ok(f),
            None => std::env::current_dir()
                .map_err(|e| format!("cannot read the current directory: {e}"))
                .and_then(|d| gocker::compose::find(&d).map_err(|e| e.message().to_string())),
        };
        match found {
            Ok(f) => Dynamic::from(f.display().to_string()),
            Err(e) => {
                eprintln!("error: not_found: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        Dynamic::UNIT
    };
    scope.push("file", file).push(
        "project",
        project.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
    );
    // The stack's name: -p, else the file's.
    let prelude = "let stack = if file != () { compose_load(file) } else { #{} }; if project != () { stack.name = project; } let name = stack.name;";
    let code = match verb {
        ComposeVerb::Up { detach } => {
            scope.push("detach", detach);
            // Attached: the services' logs until Ctrl-C, then they are stopped (not removed).
            "let r = up(stack); for s in r.keys() { print(`Container ${r[s].name}  Started`) }
             if !detach { follow_stack(name); for c in stack_ps(name) { if c.status == \"running\" { stop(c) } print(`Container ${c.name}  Stopped`) } }"
        }
        ComposeVerb::Down { volumes, timeout } => {
            let mut opts = Map::new();
            opts.insert("volumes".into(), volumes.into());
            if let Some(t) = timeout {
                opts.insert("timeout".into(), t.into());
            }
            scope.push("opts", opts);
            "for x in down(if file != () { stack } else { name }, opts) { print(`Removed ${x}`) }"
        }
        ComposeVerb::Ps { all } => {
            scope.push("all", all);
            "let list = []; for c in stack_ps(name) { if all || c.status == \"running\" { list.push(c) } } print(table(list, \"containers\"))"
        }
        ComposeVerb::Logs { follow, service } => {
            scope.push("follow", follow).push(
                "service",
                service.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
            );
            "if service != () {
                 print_logs(stack_container(name, service), #{ follow: follow });
             } else if follow {
                 follow_stack(name);
             } else {
                 let list = stack_ps(name); list.reverse();
                 for c in list { for l in logs(c).split(\"\\n\") { if l != \"\" { print(`${c.name}  | ${l}`) } } }
             }"
        }
        ComposeVerb::Exec { service, cmd } => {
            scope.push("service", service).push("cmd", strings(cmd));
            "exit(exec(stack_container(name, service), cmd, #{ attach: true }).code)"
        }
    };
    match host.verb(&format!("{prelude}\n{code}"), &mut scope, 1) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Exit(n) | Stop::Failed(n)) => ExitCode::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The image (or container) ends the flags: what follows is the command's.
    #[test]
    fn the_command_starts_after_the_image_whatever_flags_come_first() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        // Flags with values (their verb's flags are made on demand) and flags without.
        assert_eq!(
            end_of_flags(&words(
                "g run -d --name b --network none -e A=1 img sh -c x"
            )),
            words("g run -d --name b --network none -e A=1 img -- sh -c x")
        );
        assert_eq!(
            end_of_flags(&words("g --root /r exec -it -w /tmp box ls -l")),
            words("g --root /r exec -it -w /tmp box -- ls -l")
        );
        // Ended before the image: as given. After it, a `--` is the command's, as Docker's.
        assert_eq!(
            end_of_flags(&words("g run -- img ls")),
            words("g run -- img ls")
        );
        assert_eq!(
            end_of_flags(&words("g run img -- ls")),
            words("g run img -- -- ls")
        );
        assert_eq!(end_of_flags(&words("g ps -a")), words("g ps -a"));
    }

    /// VERBS tells a verb from a script's name: it must be exactly the verbs clap knows.
    #[test]
    fn every_verb_is_known_as_one() {
        use clap::CommandFactory;
        let mut verbs: Vec<String> = VerbCli::command()
            .get_subcommands()
            .map(|v| v.get_name().to_string())
            .collect();
        let mut known: Vec<String> = VERBS.iter().map(|v| v.to_string()).collect();
        verbs.sort();
        known.sort();
        assert_eq!(verbs, known);
    }
}
