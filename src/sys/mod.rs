//! The bottom floor: what every layer above uses to touch the system safely — paths
//! resolved inside an untrusted root, overlay mounts, rtnetlink, the clock. Nothing here
//! imports anything of the project but its errors and trace.

pub mod copy;
pub mod cpu;
pub mod memory;
pub mod netlink;
pub mod overlay;
pub mod path;
pub mod time;
pub mod xattr;

pub use time::now;
