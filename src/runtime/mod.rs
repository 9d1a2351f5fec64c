//! The host-side machinery of containers: mounts (overlayfs), and later namespaces, cgroups
//! and the init process.

pub mod cgroup;
pub mod clone;
pub mod devices;
pub mod init;
pub mod overlay;
pub mod seccomp;
pub mod security;
