//! Progress of the write commands: a bar on a terminal, a log line per tenth otherwise (a
//! container's log, CI), so a long fill is never silent.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress through `total` steps of one task.
pub struct Progress {
    bar: ProgressBar,
    task: &'static str,
    unit: &'static str,
    total: u64,
    done: u64,
    /// Where the next log line is due; `None` when nothing is logged.
    next_line: Option<u64>,
}

impl Progress {
    pub fn new(task: &'static str, total: u64, unit: &'static str) -> Self {
        // indicatif hides the bar by itself when standard error is not a terminal.
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {prefix} ({eta} left)")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(task);
        bar.set_prefix(unit);
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        let next_line = bar.is_hidden().then_some(0);
        let mut progress = Self {
            bar,
            task,
            unit,
            total,
            done: 0,
            next_line,
        };
        progress.log_if_due();
        progress
    }

    /// Progress that shows and logs nothing (tests, callers with their own report).
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
            task: "",
            unit: "",
            total: 0,
            done: 0,
            next_line: None,
        }
    }

    pub fn inc(&mut self, steps: u64) {
        self.done += steps;
        self.bar.inc(steps);
        self.log_if_due();
    }

    /// A line at the start and at each further tenth, but not at the end: the caller's own
    /// report says that.
    fn log_if_due(&mut self) {
        let Some(due) = self.next_line else { return };
        if self.done >= due && (self.done < self.total || self.total == 0 && self.done == 0) {
            log::info!("{}: {}/{} {}", self.task, self.done, self.total, self.unit);
            let step = (self.total / 10).max(1);
            self.next_line = Some((self.done / step + 1) * step);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
