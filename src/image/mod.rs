//! Images: references, the registry client, layer unpacking and the local image store.

pub mod archive;
pub mod commit;
pub mod oci;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use registry::Credentials;
pub use store::{Image, ImageStore, LayerInfo, PullOptions, RemoveReport};
