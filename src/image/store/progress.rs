//! Per-blob progress bars for pull and push, drawn on stderr and only on a terminal.

use std::io::{self, IsTerminal};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A set of bars, one per blob; hidden bars when not on a terminal or not wanted.
pub(crate) struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub(crate) fn new(wanted: bool) -> Progress {
        let multi = (wanted && io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    /// A bar of `total` bytes labelled with the short form of `digest`.
    pub(crate) fn bar(&self, digest: &str, total: u64) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = multi.add(ProgressBar::new(total));
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(
            digest
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>(),
        );
        bar
    }

    pub(crate) fn finish(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}
