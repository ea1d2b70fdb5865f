//! Messages between the application master and its workers.
//!
//! Frames carry a batch of messages (Dask's rule: batch small messages), encoded with
//! bincode. Task data never travels here: workers fetch it from each other directly.

use crate::plan::Plan;
use crate::spec::{CsvOptions, InputFormat, OutputSpec};

use serde::{Deserialize, Serialize};

pub type TaskId = u32;
pub type WorkerId = u32;

/// A byte range of one file (csv, jsonl, text) or a run of row groups (parquet), with the
/// hosts that hold it locally; possibly with more whole small files read by the same task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Split {
    pub url: String,
    pub start: u64,
    pub end: u64,
    pub file_size: u64,
    /// Parquet only: `[first, last)` row-group indexes.
    pub row_groups: Option<(usize, usize)>,
    /// Hosts holding every byte of this split and of `more`.
    pub hosts: Vec<String>,
    /// Further small files, whole, read after this one by the same task.
    pub more: Vec<Split>,
}

impl Split {
    /// Bytes to read, `more` included.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start) + self.more.iter().map(Split::len).sum::<u64>()
    }

    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This split's own range, then each of `more`.
    pub fn pieces(&self) -> impl Iterator<Item = &Split> {
        std::iter::once(self).chain(self.more.iter())
    }
}

/// When to lz4-compress task outputs (DESIGN.md: only when a sample says it pays).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Auto,
    Always,
    Never,
}

/// Everything a worker needs to know about the job, sent once when it joins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSetup {
    pub job_name: String,
    pub plan: Plan,
    pub format: InputFormat,
    /// Plain fields, not [`CsvOptions`]: the spec's types deserialize only from YAML.
    pub csv_header: bool,
    pub csv_delimiter: u8,
    /// The input schema as an Arrow IPC schema message, inferred once by the master so
    /// that every split parses to the same types.
    pub schema_ipc: Vec<u8>,
    /// The schema is the spec's `input.schema` rather than inferred: input fields it does
    /// not list are skipped instead of failing the task.
    pub schema_declared: bool,
    pub output: OutputSpec,
    /// Where task attempts write output files before the commit renames them.
    pub output_staging: String,
    pub compression: Compression,
}

impl JobSetup {
    pub fn csv_options(&self) -> CsvOptions {
        CsvOptions {
            header: self.csv_header,
            delimiter: self.csv_delimiter as char,
        }
    }
}

/// Where a task's rows come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TaskInput {
    Split(Split),
    /// Fetch these `(producer task, bucket)` results from the workers that hold them.
    Fetch(Vec<FetchSource>),
    /// Fetch one command's output and cast it to the schema all its partitions share
    /// (an Arrow IPC schema message; fields missing from this partition become nulls).
    Unify {
        source: FetchSource,
        schema_ipc: Vec<u8>,
    },
    /// No data: used to measure the runtime's own per-task cost.
    Noop,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FetchSource {
    pub task: TaskId,
    pub bucket: u32,
    pub worker: WorkerId,
    pub addr: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunTask {
    pub task: TaskId,
    pub attempt: u32,
    pub phase: u32,
    pub input: TaskInput,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToWorker {
    Setup(Box<JobSetup>),
    Run(RunTask),
    /// No dependent needs this result any more.
    Release {
        task: TaskId,
    },
    /// Fresh delegation tokens (a Hadoop Credentials file, tokens only) from a master
    /// that logs in from a keytab: the worker's HDFS clients use them from now on.
    Tokens(Vec<u8>),
    Shutdown,
}

/// What a finished task reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TaskStats {
    pub rows_in: u64,
    pub bytes_read: u64,
    pub rows_out: u64,
    /// Bytes this task's result occupies on its worker (what consumers will fetch).
    pub result_bytes: u64,
    /// Bytes of results this task pushed from memory to the spill directory.
    pub spilled_bytes: u64,
    /// Output file written by a final task, relative to the staging directory.
    pub output_file: Option<String>,
    /// The schema of an undeclared command's output (Arrow IPC), for the master to unify.
    pub schema_ipc: Option<Vec<u8>>,
}

/// Why a task failed, which decides whether retrying can help.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum FailureKind {
    /// Bad data, bad SQL: the same input fails the same way, so fail the job now.
    Deterministic,
    /// A command's crash, an I/O error: retry up to the attempt limit.
    Retryable,
    /// A producer's result could not be fetched: recompute it, don't count an attempt.
    InputLost { worker: WorkerId },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToMaster {
    Hello {
        worker: WorkerId,
        host: String,
        data_addr: String,
        slots: u32,
        pid: u32,
    },
    /// Sent every heartbeat interval: a worker silent past its timeout is lost.
    Heartbeat,
    /// The task has been running a while (tasks that end sooner say only `Done` or
    /// `Failed`); a worker's loss counts an attempt only against tasks that began.
    Started { task: TaskId, attempt: u32 },
    /// The task's output is encoded and being stored: its slot is free for the next task.
    Storing { task: TaskId, attempt: u32 },
    Done {
        task: TaskId,
        attempt: u32,
        stats: TaskStats,
    },
    Failed {
        task: TaskId,
        attempt: u32,
        kind: FailureKind,
        error: String,
    },
}
