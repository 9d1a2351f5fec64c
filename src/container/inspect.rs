//! A container as `docker inspect` shows it: Docker's field names where gocker-script has
//! the thing (Id, Name with its leading /, State, Config, HostConfig, NetworkSettings,
//! Mounts), so tools and `--format` templates written for Docker read it.

use serde_json::{json, Map, Value};

use super::{Container, ContainerStore, Status};
use crate::sys::time::rfc3339;

/// Docker's zero time, for a container that has not started or finished.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl ContainerStore {
    /// The container as `docker inspect` shows it.
    pub fn inspect(&self, c: &Container) -> Value {
        let spec = &c.spec;
        let paused = c.status == Status::Running && self.paused(c);
        let health = super::health::read(self, &c.id);
        let mut state = json!({
            "Status": if paused { "paused" } else { c.status.as_str() },
            "Running": c.status == Status::Running,
            "Paused": paused,
            "Restarting": false,
            "OOMKilled": c.oom_killed,
            "Dead": false,
            "Pid": c.pid.filter(|_| c.status == Status::Running).unwrap_or(0),
            "ExitCode": c.exit_code.unwrap_or(0),
            "Error": "",
            "StartedAt": c.started.map(rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
            "FinishedAt": c.finished.map(rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
        });
        if let Some(h) = health {
            state["Health"] = serde_json::to_value(h).unwrap_or(Value::Null);
        }

        let ports = |with_bindings: bool| -> Map<String, Value> {
            let mut m = Map::new();
            for p in &spec.publish {
                let key = format!("{}/{}", p.container_port, p.proto);
                let binding = json!({
                    "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                    "HostPort": p.host_port.to_string(),
                });
                let entry = m.entry(key).or_insert_with(|| json!([]));
                if with_bindings {
                    if let Value::Array(a) = entry {
                        a.push(binding);
                    }
                }
            }
            m
        };
        let exposed: Map<String, Value> = ports(false)
            .into_iter()
            .map(|(k, _)| (k, json!({})))
            .collect();
        let restart = match spec.restart {
            None => json!({ "Name": "no", "MaximumRetryCount": 0 }),
            Some(super::spec::Restart::OnFailure { max }) => {
                json!({ "Name": "on-failure", "MaximumRetryCount": max.unwrap_or(0) })
            }
            Some(super::spec::Restart::Always) => {
                json!({ "Name": "always", "MaximumRetryCount": 0 })
            }
            Some(super::spec::Restart::UnlessStopped) => {
                json!({ "Name": "unless-stopped", "MaximumRetryCount": 0 })
            }
        };
        let volumes_dir = self.paths().root.join("volumes");
        let mut mounts: Vec<Value> = spec
            .binds
            .iter()
            .map(|b| {
                let volume = b
                    .source
                    .strip_prefix(&volumes_dir)
                    .ok()
                    .and_then(|rest| rest.iter().next())
                    .map(|n| n.to_string_lossy().to_string());
                json!({
                    "Type": if volume.is_some() { "volume" } else { "bind" },
                    "Name": volume.unwrap_or_default(),
                    "Source": b.source.display().to_string(),
                    "Destination": b.target,
                    "RW": !b.readonly,
                })
            })
            .collect();
        mounts.extend(spec.tmpfs.iter().map(|t| {
            json!({ "Type": "tmpfs", "Source": "", "Destination": t.target,
                    "RW": !t.options.split(',').any(|o| o == "ro") })
        }));
        let binds: Vec<String> = spec
            .binds
            .iter()
            .map(|b| {
                let ro = if b.readonly { ":ro" } else { "" };
                format!("{}:{}{ro}", b.source.display(), b.target)
            })
            .collect();
        let tmpfs: Map<String, Value> = spec
            .tmpfs
            .iter()
            .map(|t| (t.target.clone(), Value::String(t.options.clone())))
            .collect();
        let mut networks = Map::new();
        if let super::NetworkMode::Bridge(name) = &spec.network {
            let net = self.networks().get(name).ok();
            networks.insert(
                name.clone(),
                json!({
                    "IPAddress": c.ip.clone().unwrap_or_default(),
                    "Gateway": net.as_ref().map(|n| n.gateway.to_string()).unwrap_or_default(),
                    "IPPrefixLen": net.as_ref().map(|n| n.subnet.prefix).unwrap_or(0),
                    "Aliases": spec.network_aliases,
                }),
            );
        } else {
            networks.insert(
                spec.network.as_str().to_string(),
                json!({ "IPAddress": "" }),
            );
        }
        let gateway = networks
            .values()
            .next()
            .and_then(|n| n.get("Gateway").cloned())
            .unwrap_or_else(|| json!(""));
        let l = &spec.limits;
        json!({
            "Id": c.id,
            "Created": rfc3339(c.created),
            "Path": c.command.first().cloned().unwrap_or_default(),
            "Args": c.command.iter().skip(1).collect::<Vec<_>>(),
            "State": state,
            "Image": c.image_id.clone().unwrap_or_else(|| c.image.clone()),
            "Name": format!("/{}", c.name),
            "RestartCount": super::restarts(&self.dir(&c.id)),
            "Driver": "overlay",
            "Platform": "linux",
            "LogPath": self.dir(&c.id).join("log").display().to_string(),
            "Mounts": mounts,
            "Config": {
                "Hostname": spec.hostname.clone().unwrap_or_else(|| c.id.chars().take(12).collect()),
                "User": spec.user.clone().unwrap_or_default(),
                "Tty": spec.tty,
                "Env": spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                "Cmd": c.command,
                "Entrypoint": spec.entrypoint,
                "Image": c.image,
                "WorkingDir": spec.workdir.clone().unwrap_or_default(),
                "Labels": c.config.labels,
                "ExposedPorts": exposed,
                "StopSignal": spec.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into()),
                "StopTimeout": spec.stop_timeout,
                "Healthcheck": spec.health,
            },
            "HostConfig": {
                "Binds": binds,
                "NetworkMode": spec.network.as_str(),
                "PortBindings": ports(true),
                "RestartPolicy": restart,
                "AutoRemove": spec.auto_remove,
                "CapAdd": spec.security.cap_add,
                "CapDrop": spec.security.cap_drop,
                "Privileged": spec.security.privileged,
                "ReadonlyRootfs": spec.security.read_only,
                "SecurityOpt": match spec.security.seccomp {
                    crate::runtime::security::SeccompProfile::Unconfined => vec!["seccomp=unconfined".to_string()],
                    crate::runtime::security::SeccompProfile::Custom { ref path, .. } => vec![format!("seccomp={path}")],
                    crate::runtime::security::SeccompProfile::Default => Vec::new(),
                },
                "Tmpfs": tmpfs,
                "ExtraHosts": spec.extra_hosts.iter().map(|(n, ip)| format!("{n}:{ip}")).collect::<Vec<_>>(),
                "Dns": spec.dns,
                "ShmSize": spec.shm_size.unwrap_or(64 << 20),
                "Init": spec.init,
                "Ulimits": spec.ulimits.iter().map(|u| json!({ "Name": u.name, "Soft": u.soft as i64, "Hard": u.hard as i64 })).collect::<Vec<_>>(),
                "Memory": l.memory.unwrap_or(0),
                "MemorySwap": l.memory_swap.unwrap_or(0),
                "NanoCpus": l.cpus.map(|c| (c * 1e9).round() as i64).unwrap_or(0),
                "CpuShares": l.cpu_shares.unwrap_or(0),
                "PidsLimit": l.pids.unwrap_or(crate::runtime::cgroup::DEFAULT_PIDS_LIMIT),
                "Devices": spec.security.devices.iter().map(|d| json!({
                    "PathOnHost": d.host, "PathInContainer": d.target, "CgroupPermissions": d.access,
                })).collect::<Vec<_>>(),
            },
            "NetworkSettings": {
                "IPAddress": c.ip.clone().unwrap_or_default(),
                "Gateway": gateway,
                "Ports": ports(true),
                "Networks": networks,
            },
        })
    }
}
