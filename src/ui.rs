//! What people and scripts see: a progress line while a job runs, a summary at the end.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spindle_appmaster::progress::{human_bytes, Progress, Status, Summary};
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
            let msg = progress_message(&p);
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

/// The progress line's words: a stage job's counts, or a running query's shape and the
/// rows it has put out.
fn progress_message(p: &Progress) -> String {
    let retries = if p.retries > 0 {
        format!(", {} retries", p.retries)
    } else {
        String::new()
    };
    if p.query_stages > 0 {
        return format!(
            "query running: {} stages, {} tasks on {} workers, {} rows out{retries}",
            p.query_stages, p.tasks_total, p.workers, p.rows_out
        );
    }
    format!(
        "{} rows in, {} read, {} rows out, {} workers{retries}",
        p.rows_in,
        human_bytes(p.bytes_read),
        p.rows_out,
        p.workers,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_query_shows_its_shape_and_rows_out_and_a_stage_job_its_counts() {
        let query = Progress {
            query_stages: 3,
            tasks_total: 7,
            workers: 2,
            rows_out: 1234,
            retries: 1,
            ..Progress::default()
        };
        assert_eq!(
            progress_message(&query),
            "query running: 3 stages, 7 tasks on 2 workers, 1234 rows out, 1 retries"
        );
        let job = Progress {
            rows_in: 10,
            bytes_read: 2048,
            rows_out: 5,
            workers: 2,
            ..Progress::default()
        };
        assert_eq!(
            progress_message(&job),
            "10 rows in, 2.0 KiB read, 5 rows out, 2 workers"
        );
    }
}
