//! podman's `image mount`: an image's flattened filesystem, read-only, on the host.

use std::io;

use super::*;

impl ImageStore {
    /// Mounts the image's flattened filesystem read-only and returns where (podman's
    /// `image mount`). Mounting a mounted image returns the same path.
    pub fn mount(&self, spec: &str) -> Result<PathBuf> {
        let img = self.image(spec)?;
        let target = self
            .paths
            .image_mounts()
            .join(img.id.trim_start_matches("sha256:"));
        if overlay::is_mounted(&target) {
            return Ok(target);
        }
        std::fs::create_dir_all(&target).map_err(|e| Error::io("cannot create", &target, e))?;
        let lowers = self.layer_dirs(&img)?;
        if let Err(e) =
            overlay::mount_overlay(&lowers, None, &target, &self.paths.root.join("empty"))
        {
            let _ = std::fs::remove_dir(&target);
            return Err(e);
        }
        Ok(target)
    }

    /// Undoes `mount`.
    pub fn unmount(&self, spec: &str) -> Result<()> {
        let id = self.resolve(spec)?;
        self.unmount_id(&id)
    }

    pub(super) fn unmount_id(&self, id: &str) -> Result<()> {
        let target = self
            .paths
            .image_mounts()
            .join(id.trim_start_matches("sha256:"));
        if overlay::is_mounted(&target) {
            overlay::unmount(&target)?;
        }
        match std::fs::remove_dir(&target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("cannot remove", &target, e)),
        }
    }
}
