//! Progress bars on stderr for long commands (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `unit`s with elapsed time and a message.
pub fn bar(unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let template = format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A counter of `unit`s with elapsed time and rate, for streams of unknown length.
pub fn counter(unit: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    let template = format!("{{elapsed_precise}} {{pos}} {unit} ({{per_sec}}) {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
