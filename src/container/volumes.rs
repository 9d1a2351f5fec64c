//! Named volumes (docker -v NAME:/path): directories the store keeps under
//! `volumes/NAME/_data`, made on first use, bound into containers like host paths, and
//! removed only when no container uses them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::copy::{CopyArgs, CopyMode, CopyRoot};
use super::spec::Spec;
use super::ContainerStore;
use crate::error::{Error, Kind, Result};

/// Whether a bind's source names a volume rather than a host path: Docker's rule, a name
/// of letters, digits, `_`, `.` and `-` not starting with a punctuation mark.
pub fn is_name(source: &Path) -> bool {
    let s = source.to_string_lossy();
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A volume as `volumes()` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub name: String,
    pub path: PathBuf,
    /// The containers whose spec binds it.
    pub containers: Vec<String>,
}

impl ContainerStore {
    fn volume_dir(&self, name: &str) -> PathBuf {
        self.paths().root.join("volumes").join(name)
    }

    /// Whether volume `name` exists.
    pub fn volume_exists(&self, name: &Path) -> bool {
        is_name(name) && self.volume_dir(&name.to_string_lossy()).exists()
    }

    /// Makes volume `name` (nothing if it exists); returns its data directory.
    pub fn volume_create(&self, name: &str) -> Result<PathBuf> {
        if !is_name(Path::new(name)) {
            return Err(Error::invalid(format!(
                "{name:?} is not a volume name (letters, digits, _ . - ; a host path must be absolute)"
            )));
        }
        let data = self.volume_dir(name).join("_data");
        std::fs::create_dir_all(&data).map_err(|e| Error::io("cannot create", &data, e))?;
        Ok(data)
    }

    /// Every volume, with the containers that use it.
    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let dir = self.paths().root.join("volumes");
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("cannot list", &dir, e)),
        };
        names.sort();
        let all = self.list()?;
        Ok(names
            .into_iter()
            .map(|name| Volume {
                path: self.volume_dir(&name).join("_data"),
                containers: all
                    .iter()
                    .filter(|c| c.spec.binds.iter().any(|b| b.source == Path::new(&name)))
                    .map(|c| c.name.clone())
                    .collect(),
                name,
            })
            .collect())
    }

    /// Removes volume `name` and its data; refused while a container uses it.
    pub fn volume_remove(&self, name: &str) -> Result<()> {
        let v = self
            .volumes()?
            .into_iter()
            .find(|v| v.name == name)
            .ok_or_else(|| Error::not_found(format!("no volume named {name:?}")))?;
        if !v.containers.is_empty() {
            return Err(Error::conflict(format!(
                "volume {name} is in use by {}: remove them first",
                v.containers.join(", ")
            )));
        }
        crate::store::remove_tree(&self.volume_dir(name))
    }

    /// The spec as the runtime needs it: named volumes as their (made) directories. Also
    /// the volumes that are empty, as (data directory, path in the container): the image's
    /// content at that path goes into them (`populate`), as Docker does on first use.
    pub(super) fn with_volumes(&self, spec: &Spec) -> Result<(Spec, Vec<(PathBuf, PathBuf)>)> {
        let mut out = spec.clone();
        let mut empty = Vec::new();
        for b in out.binds.iter_mut() {
            if !b.source.is_absolute() && is_name(&b.source) {
                let data = self.volume_create(&b.source.to_string_lossy())?;
                let is_empty = std::fs::read_dir(&data)
                    .map_err(|e| Error::io("cannot list", &data, e))?
                    .next()
                    .is_none();
                if is_empty {
                    empty.push((data.clone(), PathBuf::from(&b.target)));
                }
                b.source = data;
            }
        }
        Ok((out, empty))
    }

    /// Copies what the image holds at `target` into an empty volume's `data` (owners,
    /// modes, links and extended attributes kept), through the copy helper: the image's
    /// layers are mounted in its private namespace at `mount_point`, nothing on the host.
    /// An image with nothing there leaves the volume empty.
    pub(super) fn populate(
        &self,
        layers: &[PathBuf],
        mount_point: &Path,
        data: &Path,
        target: &Path,
    ) -> Result<()> {
        if layers.is_empty() {
            return Ok(());
        }
        let args = CopyArgs {
            from: CopyRoot::Overlay {
                lowers: layers.to_vec(),
                upper: None,
                target: mount_point.to_path_buf(),
                empty: self.paths().root.join("empty"),
            },
            into: CopyRoot::Dir(data.to_path_buf()),
            sources: vec![format!("{}/.", target.display())],
            dest: "/".into(),
            mode: CopyMode::Cp,
            owner: None,
            chmod: None,
            ignore: Vec::new(),
            extract: false,
        };
        crate::trace::step(|| {
            format!(
                "copy the image's {} into the new volume {}",
                target.display(),
                data.display()
            )
        });
        match self.copy(&args) {
            Err(e) if e.kind() == Kind::NotFound => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_name;
    use std::path::Path;

    #[test]
    fn volume_names_are_docker_names() {
        for (s, want) in [
            ("data", true),
            ("my-vol_1.x", true),
            ("/srv", false),
            ("./x", false),
            ("-x", false),
            ("a/b", false),
            ("", false),
        ] {
            assert_eq!(is_name(Path::new(s)), want, "{s}");
        }
    }
}
