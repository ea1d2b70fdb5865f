//! What the driver reports while it runs and when it ends, for people and for scripts.

use serde::{Deserialize, Serialize};

/// A snapshot for progress bars.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub tasks_done: u64,
    pub tasks_total: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    pub bytes_read: u64,
    pub spilled_bytes: u64,
    pub workers: u32,
    pub retries: u64,
    /// A query job's stages; 0 for a job of `stages`. A query's tasks run as streams
    /// into one another, so none is counted done before the query is: its progress is
    /// the rows it has put out.
    pub query_stages: u64,
}

/// Where a running job's master publishes its progress in the application's key-value
/// store, as the text of [`Progress::describe`], for `spindle submit --wait` to show.
pub const PROGRESS_KEY: &str = "spindle.progress";

impl Progress {
    /// The progress line's words: a stage job's counts, or a running query's shape and
    /// the rows it has put out.
    pub fn describe(&self) -> String {
        let retries = if self.retries > 0 {
            format!(", {}", counted(self.retries, "retry", "retries"))
        } else {
            String::new()
        };
        if self.query_stages > 0 {
            return format!(
                "query running: {}, {} on {}, {} rows out{retries}",
                counted(self.query_stages, "stage", "stages"),
                counted(self.tasks_total, "task", "tasks"),
                counted(self.workers, "worker", "workers"),
                self.rows_out
            );
        }
        format!(
            "{} rows in, {} read, {} rows out, {}{retries}",
            self.rows_in,
            human_bytes(self.bytes_read),
            self.rows_out,
            counted(self.workers, "worker", "workers"),
        )
    }
}

/// How scans were placed relative to their data.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LocalityCounts {
    pub data_local: u64,
    pub rack_local: u64,
    pub off_switch: u64,
    /// Scans of stores without host information (S3).
    pub no_preference: u64,
    /// The bytes of the splits placed so (scan placements only).
    #[serde(default)]
    pub data_local_bytes: u64,
    #[serde(default)]
    pub rack_local_bytes: u64,
    #[serde(default)]
    pub off_switch_bytes: u64,
    #[serde(default)]
    pub no_preference_bytes: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Succeeded,
    Failed,
    Killed,
}

/// The end of a job, as printed and as written by `--summary-json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub job: String,
    pub status: Status,
    pub error: Option<String>,
    pub input_files: u64,
    pub rows_in: u64,
    pub bytes_read: u64,
    pub rows_out: u64,
    pub bytes_written: u64,
    /// Intermediate results moved from worker memory to local disk.
    pub spilled_bytes: u64,
    pub output: Option<String>,
    pub output_files: u64,
    pub tasks: u64,
    pub task_attempts: u64,
    pub retries: u64,
    pub workers: u32,
    pub workers_lost: u32,
    pub locality: LocalityCounts,
    pub wall_time_s: f64,
    /// From the first scan starting to the last finishing: `bytes_read` over this is
    /// the input's read rate, without start-up and later stages.
    #[serde(default)]
    pub scan_time_s: f64,
    /// Whether workers' connections (to the master and to each other) were encrypted.
    #[serde(default)]
    pub encrypted: bool,
    pub logs: Option<String>,
}

impl Summary {
    /// The summary of a job that failed before it could start.
    pub fn failed(job: &str, error: String, started: std::time::Instant) -> Summary {
        Summary {
            error: Some(error),
            wall_time_s: started.elapsed().as_secs_f64(),
            ..Summary::new(job, Status::Failed)
        }
    }

    /// A job's summary with nothing counted yet.
    pub fn new(job: &str, status: Status) -> Summary {
        Summary {
            job: job.to_string(),
            status,
            error: None,
            input_files: 0,
            rows_in: 0,
            bytes_read: 0,
            rows_out: 0,
            bytes_written: 0,
            spilled_bytes: 0,
            output: None,
            output_files: 0,
            tasks: 0,
            task_attempts: 0,
            retries: 0,
            workers: 0,
            workers_lost: 0,
            locality: LocalityCounts::default(),
            wall_time_s: 0.0,
            scan_time_s: 0.0,
            encrypted: false,
            logs: None,
        }
    }

    /// Lines for the terminal.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let status = match self.status {
            Status::Succeeded => "succeeded",
            Status::Failed => "FAILED",
            Status::Killed => "KILLED",
        };
        s.push_str(&format!(
            "job {} {status} in {:.2}s\n",
            self.job, self.wall_time_s
        ));
        if let Some(e) = &self.error {
            s.push_str(&format!("  error:    {e}\n"));
        }
        s.push_str(&format!(
            "  input:    {} rows, {} from {}\n",
            self.rows_in,
            human_bytes(self.bytes_read),
            counted(self.input_files, "file", "files")
        ));
        if let Some(out) = &self.output {
            s.push_str(&format!(
                "  output:   {} rows, {} in {} at {out}\n",
                self.rows_out,
                human_bytes(self.bytes_written),
                counted(self.output_files, "file", "files")
            ));
        }
        if self.spilled_bytes > 0 {
            s.push_str(&format!(
                "  spilled:  {}\n",
                human_bytes(self.spilled_bytes)
            ));
        }
        s.push_str(&format!(
            "  tasks:    {} ({}, {}) on {} ({} lost)\n",
            self.tasks,
            counted(self.task_attempts, "attempt", "attempts"),
            counted(self.retries, "retry", "retries"),
            counted(self.workers, "worker", "workers"),
            self.workers_lost
        ));
        if self.encrypted {
            s.push_str("  traffic:  encrypted (AES-256-GCM)\n");
        }
        let l = &self.locality;
        s.push_str(&format!(
            "  locality: {} data-local ({}), {} rack-local ({}), {} off-switch ({}), {} no preference ({})\n",
            l.data_local,
            human_bytes(l.data_local_bytes),
            l.rack_local,
            human_bytes(l.rack_local_bytes),
            l.off_switch,
            human_bytes(l.off_switch_bytes),
            l.no_preference,
            human_bytes(l.no_preference_bytes)
        ));
        if let Some(logs) = &self.logs {
            s.push_str(&format!("  logs:     {logs}\n"));
        }
        s
    }
}

pub fn human_bytes(b: u64) -> String {
    spindle_job::ByteSize(b).to_string()
}

/// `n` and the word for it: "1 worker", "2 workers".
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
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
            query.describe(),
            "query running: 3 stages, 7 tasks on 2 workers, 1234 rows out, 1 retry"
        );
        let job = Progress {
            rows_in: 10,
            bytes_read: 2048,
            rows_out: 5,
            workers: 2,
            ..Progress::default()
        };
        assert_eq!(
            job.describe(),
            "10 rows in, 2.0 KiB read, 5 rows out, 2 workers"
        );
        let one = Progress { workers: 1, ..job };
        assert!(one.describe().ends_with(", 1 worker"), "{}", one.describe());
    }
}
