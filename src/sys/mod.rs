//! The bottom floor: what every layer above uses to touch the system safely — paths
//! resolved inside an untrusted root, overlay mounts, rtnetlink, the clock. Nothing here
//! imports anything of the project but its errors and trace.

pub mod copy;
pub mod netlink;
pub mod overlay;
pub mod path;
pub mod xattr;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
