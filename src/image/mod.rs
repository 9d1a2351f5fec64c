//! Images: references, the registry client, layer unpacking and the local image store.

pub mod archive;
pub mod commit;
pub mod layer_blob;
pub mod login;
pub mod oci;
pub mod parallel_gzip;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use registry::Credentials;
pub use store::{
    BlobStatus, Image, ImageStore, LayerInfo, ManifestFormat, PullOptions, PushOptions, PushReport,
    PushedBlob, RemoveReport,
};
