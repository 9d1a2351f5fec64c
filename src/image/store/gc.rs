//! Removing: rmi (untag, or delete an image with the layers no other image shares), prune,
//! and reclaiming what killed processes left (orphan layers, rows, scratch).

use std::io;
use std::path::Path;

use super::*;
use crate::image::oci::digest_hex;

impl ImageStore {
    /// Removes a name, and the image with it when it was the last name (or when `spec` is an
    /// id); layers no other image uses are deleted. `in_use` says which containers use an
    /// image; such an image is refused unless `force`.
    pub fn remove(
        &self,
        spec: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> Result<Vec<String>>,
    ) -> Result<RemoveReport> {
        let id = self.resolve(spec)?;
        let tag_name = reference::parse(spec)
            .ok()
            .map(|r| reference::canonical(&r));
        let mut report = RemoveReport::default();
        let names: Vec<String> = {
            let conn = self.db.lock();
            let mut stmt =
                conn.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
            let names = stmt
                .query_map([&id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            names
        };
        let is_tag = |n: &String| !n.contains('@');
        let by_name = tag_name.as_ref().filter(|n| names.contains(n)).cloned();
        if let Some(name) = &by_name {
            let others = names.iter().filter(|n| *n != name && is_tag(n)).count();
            if others > 0 || (!is_tag(name) && names.iter().any(is_tag)) {
                self.db
                    .lock()
                    .execute("DELETE FROM tags WHERE name = ?1", [name])?;
                report.untagged.push(reference::familiar(name));
                return Ok(report);
            }
        } else if names.iter().filter(|n| is_tag(n)).count() > 1 && !force {
            let tags: Vec<String> = names
                .iter()
                .filter(|n| is_tag(n))
                .map(|n| reference::familiar(n))
                .collect();
            return Err(Error::conflict(format!(
                "image {} has several names ({}): remove them by name, or force",
                short(&id),
                tags.join(", ")
            )));
        }
        let users = in_use(&id)?;
        if !users.is_empty() && !force {
            return Err(Error::conflict(format!(
                "image {} is used by container{} {}: remove {} first, or force",
                spec,
                if users.len() > 1 { "s" } else { "" },
                users.join(", "),
                if users.len() > 1 { "them" } else { "it" }
            )));
        }
        self.unmount_id(&id)?;
        let chain: Vec<String> = {
            let mut conn = self.db.lock();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let chain = {
                let mut stmt = tx.prepare(
                    "SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY position",
                )?;
                let chain = stmt
                    .query_map([&id], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                chain
            };
            tx.execute("DELETE FROM images WHERE id = ?1", [&id])?;
            tx.commit()?;
            chain
        };
        report
            .untagged
            .extend(names.iter().map(|n| reference::familiar(n)));
        report.deleted.push(id);
        self.collect_layers(&chain)?;
        Ok(report)
    }

    /// Deletes those of `candidates` no image uses any more.
    fn collect_layers(&self, candidates: &[String]) -> Result<Vec<String>> {
        let hexes: Vec<String> = candidates
            .iter()
            .map(|c| digest_hex(c).map(str::to_string))
            .collect::<Result<_>>()?;
        let _locks = lock::exclusive_all(&self.paths.locks(), &hexes)?;
        let doomed: Vec<String> = {
            let mut conn = self.db.lock();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut doomed = Vec::new();
            for c in candidates {
                let used: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM image_layers WHERE chain_id = ?1",
                    [c],
                    |r| r.get(0),
                )?;
                if used == 0 && tx.execute("DELETE FROM layers WHERE chain_id = ?1", [c])? > 0 {
                    doomed.push(c.clone());
                }
            }
            tx.commit()?;
            doomed
        };
        for c in &doomed {
            self.delete_layer_files(digest_hex(c)?)?;
        }
        Ok(doomed)
    }

    /// Removes untagged images (all unused images with `all`), and whatever a crashed
    /// process left in the scratch directory. Returns the removed image ids.
    pub fn prune(
        &self,
        all: bool,
        in_use: &dyn Fn(&str) -> Result<Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        // The build cache's images stay (unless `all`): they make rebuilds take milliseconds.
        let cached = self.build_cached()?;
        for img in self.images()? {
            let dangling = img.tags.is_empty() && !cached.contains(&img.id);
            if (all || dangling) && in_use(&img.id)?.is_empty() {
                let r = self.remove(&img.id, true, in_use)?;
                removed.extend(r.deleted);
            }
        }
        self.reclaim_orphans()?;
        self.sweep_scratch()?;
        Ok(removed)
    }

    /// What killed processes left in the store: layers recorded but used by no image (the
    /// finished layers of a pull killed before its image was committed), and layer
    /// directories or tar-splits with no row (an rmi killed between its row and its files).
    /// A layer somebody is working on holds its lock and is left alone.
    fn reclaim_orphans(&self) -> Result<()> {
        let unused: Vec<String> = {
            let conn = self.db.lock();
            let mut stmt = conn.prepare(
                "SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)",
            )?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            rows
        };
        if !unused.is_empty() {
            self.collect_layers(&unused)?;
        }
        let Ok(entries) = std::fs::read_dir(self.paths.layers()) else {
            return Ok(());
        };
        let mut hexes: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .map(|n| {
                n.trim_end_matches(".split")
                    .trim_end_matches(".pushed")
                    .to_string()
            })
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        hexes.sort();
        hexes.dedup();
        for hex in hexes {
            let Some(_busy_otherwise) = lock::try_exclusive(&self.paths.locks(), &hex)? else {
                continue;
            };
            if self.layer_present(&format!("sha256:{hex}"))? {
                continue;
            }
            crate::trace::step(|| format!("remove orphan layer {hex} (no row)"));
            self.delete_layer_files(&hex)?;
        }
        Ok(())
    }

    /// Removes scratch entries of processes that are gone.
    fn sweep_scratch(&self) -> Result<()> {
        let tmp = self.paths.tmp();
        let Ok(entries) = std::fs::read_dir(&tmp) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .split('-')
                .nth(2)
                .and_then(|p| p.split('.').next())
                .and_then(|p| p.parse::<i32>().ok());
            // A layer's scratch is garbage once nobody holds that layer's lock (a pid can
            // be reused); other scratch, once its process is gone.
            let layer_hex = name
                .strip_prefix("layer-")
                .or_else(|| name.strip_prefix("split-"))
                .and_then(|r| r.split('-').next());
            let alive = match layer_hex {
                Some(hex) => lock::try_exclusive(&self.paths.locks(), hex)?.is_none(),
                None => pid
                    .map(|p| Path::new(&format!("/proc/{p}")).exists())
                    .unwrap_or(true),
            };
            if !alive {
                let path = e.path();
                if path.is_dir() {
                    remove_tree(&path)?;
                } else {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(())
    }

    /// A layer's directory and tar-split. The directory is renamed into scratch first, so a
    /// crash mid-delete never leaves a half layer under its real name.
    fn delete_layer_files(&self, hex: &str) -> Result<()> {
        let dir = self.paths.layer(hex);
        let trash = self
            .paths
            .tmp()
            .join(format!("trash-{hex}-{}", std::process::id()));
        match std::fs::rename(&dir, &trash) {
            Ok(()) => remove_tree(&trash)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove layer", &dir, e)),
        }
        let _ = std::fs::remove_file(self.paths.layer_split(hex));
        let _ = std::fs::remove_file(self.paths.layer_pushed(hex));
        Ok(())
    }
}
