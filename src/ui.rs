//! What people and scripts see: a progress line while a job runs, a summary at the end.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spindle_appmaster::progress::{Progress, Status, Summary};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::watch;

static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// Draws progress on stderr: a bar on a terminal, a line every few seconds otherwise.
pub fn progress(mut rx: watch::Receiver<Progress>) -> tokio::task::JoinHandle<()> {
    let tty = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        let bar = BAR.get_or_init(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} tasks  {msg}",
                )
                .expect("valid template"),
            );
            bar
        });
        let mut last_line = std::time::Instant::now();
        loop {
            if rx.changed().await.is_err() {
                return;
            }
            let p = rx.borrow().clone();
            let msg = p.describe();
            if p.query_stages > 0 {
                // A query's tasks are not counted one by one: no bar, its rows out.
                if tty {
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                            .expect("valid template"),
                    );
                    bar.set_message(msg);
                    bar.tick();
                } else if last_line.elapsed() > Duration::from_secs(5) {
                    last_line = std::time::Instant::now();
                    eprintln!("progress: {msg}");
                }
            } else if tty {
                bar.set_length(p.tasks_total);
                bar.set_position(p.tasks_done);
                bar.set_message(msg);
                bar.tick();
            } else if last_line.elapsed() > Duration::from_secs(5) {
                last_line = std::time::Instant::now();
                eprintln!("progress: {}/{} tasks, {msg}", p.tasks_done, p.tasks_total);
            }
        }
    })
}

pub fn clear_progress() {
    if let Some(bar) = BAR.get() {
        bar.finish_and_clear();
    }
}

/// Writes a summary document (`--summary-json PATH`), saying on stderr why if it cannot.
pub fn write_summary_json(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("error: cannot write {}: {e}", path.display());
    }
}

/// Prints the summary, writes the JSON file, and turns the status into an exit code.
pub fn finish(summary: &Summary, json: bool, json_path: Option<&Path>) -> ExitCode {
    let text = serde_json::to_string_pretty(summary).expect("summary serializes");
    if let Some(path) = json_path {
        write_summary_json(path, &text);
    }
    if json {
        println!("{text}");
    } else {
        print!("{}", summary.render());
    }
    match summary.status {
        Status::Succeeded => ExitCode::SUCCESS,
        Status::Failed => {
            eprintln!(
                "error: job {} failed: {}",
                summary.job,
                summary.error.as_deref().unwrap_or("unknown error")
            );
            ExitCode::FAILURE
        }
        Status::Killed => {
            eprintln!("error: job {} was killed", summary.job);
            ExitCode::from(130)
        }
    }
}
