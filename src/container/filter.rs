//! Docker's container filters (`docker ps --filter`): by label, name, id, status and image.
//! Values of one key are alternatives (any may match), except labels, which must all match;
//! different keys must all match.

use super::{Container, Status};
use crate::error::{Error, Result};

/// The statuses a filter can ask for (Docker's, less those gocker-script has no state for).
pub const STATUSES: [&str; 4] = ["created", "running", "paused", "exited"];

/// Which containers a listing keeps; empty keeps every one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// `key` (present with any value) or `key=value`; all must match.
    pub labels: Vec<(String, Option<String>)>,
    /// Parts of a name.
    pub names: Vec<String>,
    /// Ids or their prefixes.
    pub ids: Vec<String>,
    pub statuses: Vec<String>,
    /// Image references as given at run, or image ids (what the reference names now).
    pub ancestors: Vec<Ancestor>,
}

/// An image a container may have been made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Ancestor {
    /// The reference or id as the filter gave it.
    pub given: String,
    /// The id of the local image it names, if any.
    pub id: Option<String>,
}

impl Filter {
    /// Adds `label` as Docker writes it: "key" or "key=value".
    pub fn label(&mut self, text: &str) -> Result<()> {
        let (k, v) = match text.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (text, None),
        };
        if k.is_empty() {
            return Err(Error::invalid(format!(
                "label filter {text:?} has no key: use \"key\" or \"key=value\""
            )));
        }
        self.labels.push((k.to_string(), v));
        Ok(())
    }

    /// Adds a status, checked.
    pub fn status(&mut self, text: &str) -> Result<()> {
        if !STATUSES.contains(&text) {
            return Err(Error::invalid(format!(
                "invalid status filter {text:?}: use one of {}",
                STATUSES.join(", ")
            )));
        }
        self.statuses.push(text.to_string());
        Ok(())
    }

    /// Whether the filter asks for a status (then stopped containers are listed too).
    pub fn has_status(&self) -> bool {
        !self.statuses.is_empty()
    }

    /// Whether `c` passes; `paused` tells whether it is paused (asked only when a status
    /// is filtered on, as it costs a look at its cgroup).
    pub fn matches(&self, c: &Container, paused: impl FnOnce() -> bool) -> bool {
        let labels = &c.spec.labels;
        let labelled = self.labels.iter().all(|(k, v)| match v {
            Some(v) => labels.get(k) == Some(v),
            None => labels.contains_key(k),
        });
        let named = self.names.is_empty() || self.names.iter().any(|n| c.name.contains(n.as_str()));
        let id = self.ids.is_empty() || self.ids.iter().any(|i| c.id.starts_with(i.as_str()));
        let made_from = self.ancestors.is_empty()
            || self.ancestors.iter().any(|a| {
                c.image == a.given
                    || (a.id.is_some() && c.image_id == a.id)
                    || c.image_id
                        .as_deref()
                        .is_some_and(|i| id_prefix(i, &a.given))
            });
        if !(labelled && named && id && made_from) {
            return false;
        }
        if self.statuses.is_empty() {
            return true;
        }
        let status = match c.status {
            Status::Running if paused() => "paused",
            s => s.as_str(),
        };
        self.statuses.iter().any(|s| s == status)
    }
}

/// Whether `given` is a prefix (three hex digits or more) of image id `id`.
fn id_prefix(id: &str, given: &str) -> bool {
    let given = given.trim_start_matches("sha256:");
    given.len() >= 3
        && given.bytes().all(|b| b.is_ascii_hexdigit())
        && id.trim_start_matches("sha256:").starts_with(given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::spec::Spec;

    fn container(name: &str, labels: &[(&str, &str)], status: Status) -> Container {
        let mut spec = Spec::new("busybox");
        for (k, v) in labels {
            spec.labels.insert(k.to_string(), v.to_string());
        }
        Container {
            id: format!("{:0<64}", "abc123"),
            name: name.into(),
            image: "busybox".into(),
            image_id: Some(format!("sha256:{:0<64}", "feed")),
            command: vec![],
            status,
            pid: None,
            exit_code: None,
            oom_killed: false,
            created: 0,
            started: None,
            finished: None,
            spec,
            ip: None,
            shim_pid: None,
            config: Default::default(),
        }
    }

    #[test]
    fn keys_and_values_combine_as_dockers() {
        let web = container(
            "shop-web-1",
            &[("app", "shop"), ("tier", "web")],
            Status::Running,
        );
        let mut f = Filter::default();
        assert!(f.matches(&web, || false), "an empty filter keeps all");
        f.label("app").unwrap();
        f.label("tier=web").unwrap();
        assert!(f.matches(&web, || false));
        f.label("tier=db").unwrap();
        assert!(!f.matches(&web, || false), "every label must match");

        let mut f = Filter {
            names: vec!["nope".into(), "web".into()],
            ..Default::default()
        };
        assert!(f.matches(&web, || false), "any name may match, as a part");
        f.ids = vec!["abc1".into()];
        assert!(f.matches(&web, || false));
        f.ids = vec!["ffff".into()];
        assert!(!f.matches(&web, || false), "keys all match");

        let mut f = Filter::default();
        f.status("running").unwrap();
        assert!(f.matches(&web, || false));
        assert!(!f.matches(&web, || true), "a paused one is not running");
        f.status("paused").unwrap();
        assert!(f.matches(&web, || true));
        assert!(f
            .status("dead")
            .unwrap_err()
            .message()
            .contains("created, running"));
        assert!(Filter::default().label("=x").is_err());

        let mut f = Filter {
            ancestors: vec![Ancestor {
                given: "feed".into(),
                id: None,
            }],
            ..Default::default()
        };
        assert!(f.matches(&web, || false), "by id prefix");
        f.ancestors = vec![Ancestor {
            given: "alpine".into(),
            id: Some("sha256:other".into()),
        }];
        assert!(!f.matches(&web, || false));
        f.ancestors = vec![Ancestor {
            given: "busybox".into(),
            id: None,
        }];
        assert!(f.matches(&web, || false), "by the reference given");
    }
}
