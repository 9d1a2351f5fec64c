//! The machinery of one container, below the store and the networks: its launch description,
//! cgroups (v1 and v2), the clone into namespaces, the init from root filesystem to execve,
//! and the confinement (capabilities, seccomp, device rules). It imports only sys/.

pub mod cgroup;
pub mod clone;
pub mod devices;
pub mod init;
pub mod launch;
pub mod rootfs;
pub mod seccomp;
pub mod security;
