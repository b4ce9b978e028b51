//! Progress on a terminal: one line per function being deployed with its current step;
//! when it finishes, its final line scrolls up above the active ones. Silent when
//! disabled or when stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::summary::{FunctionReport, Outcome};

/// A step of the per-function state machine, as shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Getting,
    Creating,
    Uploading,
    UpdatingConfiguration,
    Waiting,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Getting => "getting",
            Step::Creating => "creating",
            Step::Uploading => "uploading",
            Step::UpdatingConfiguration => "updating configuration",
            Step::Waiting => "waiting",
        }
    }
}

pub struct Progress {
    multi: Option<MultiProgress>,
    name_width: usize,
}

impl Progress {
    pub fn new(enabled: bool, names: &[&str]) -> Self {
        let shown = enabled && std::io::stderr().is_terminal();
        Progress {
            multi: shown.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            name_width: names.iter().map(|n| n.len()).max().unwrap_or(0),
        }
    }

    /// A line for a function that starts deploying now.
    pub fn line(&self, function_name: &str) -> Line {
        let bar = self.multi.as_ref().map(|multi| {
            let style = ProgressStyle::with_template(&format!(
                "{{spinner:.cyan}} {{prefix:<{}}} {{msg}}",
                self.name_width
            ))
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = multi.add(ProgressBar::new_spinner().with_style(style));
            bar.set_prefix(function_name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Line {
            bar,
            multi: self.multi.clone(),
            name_width: self.name_width,
        }
    }
}

pub struct Line {
    bar: Option<ProgressBar>,
    multi: Option<MultiProgress>,
    name_width: usize,
}

impl Line {
    pub fn step(&self, step: Step) {
        if let Some(bar) = &self.bar {
            bar.set_message(step.as_str());
        }
    }

    /// Replaces the spinner with the function's final line.
    pub fn finish(&self, report: &FunctionReport) {
        let (Some(bar), Some(multi)) = (&self.bar, &self.multi) else {
            return;
        };
        let mark = match report.outcome {
            Outcome::Failed => "✗",
            _ => "✓",
        };
        let detail = match (&report.outcome, &report.error) {
            (Outcome::Failed, Some(e)) => format!("failed: {e}"),
            (Outcome::Updated, _) => format!("updated ({})", report.changed.join(", ")),
            (Outcome::Created, _) => "created".into(),
            (Outcome::Unchanged, _) => "unchanged".into(),
            (Outcome::Failed, None) => "failed".into(),
        };
        bar.finish_and_clear();
        multi.remove(bar);
        let _ = multi.println(format!(
            "{mark} {:<w$} {detail}",
            report.function_name,
            w = self.name_width
        ));
    }
}
