//! Running one task: read its input (a split, or peers' results), apply the phase's
//! operations, and hand the result to its sink (buckets for a shuffle, the whole result
//! for a coalesce, or an output file).

use crate::command::{run_command, CommandOp};
use crate::error::TaskError;
use crate::fetch::fetch_all;
use crate::shuffle::hash_partition;
use crate::slot::Slot;
use crate::sql::{columns_read, run_sql};
use crate::store::ResultStore;
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use spindle_io::codec::{decode, decode_schema, encode, encode_schema};
use spindle_io::read::SplitReader;
use spindle_io::schema::{conform, declared};
use spindle_io::write::encode_output;
use spindle_io::Location;
use spindle_job::wire::{FetchSource, JobSetup, RunTask, TaskInput, TaskStats, WorkerId};
use spindle_job::{Op, Sink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What a worker knows about the job, shared by its running tasks.
pub struct Executor {
    pub setup: Arc<JobSetup>,
    pub schema: SchemaRef,
    pub store: Arc<ResultStore>,
    pub secret: Arc<str>,
    pub me: WorkerId,
    pub scratch: PathBuf,
    /// How long a peer may stay silent mid-fetch.
    pub peer_timeout: Duration,
    /// Parses splits; keeps each csv file's header binding for this worker's tasks.
    reader: SplitReader,
    /// The scan projection (only phase 0 scans, so one per job).
    projection: tokio::sync::OnceCell<Option<Vec<usize>>>,
}

impl Executor {
    pub fn new(
        setup: JobSetup,
        store: Arc<ResultStore>,
        secret: Arc<str>,
        me: WorkerId,
        scratch: PathBuf,
        peer_timeout: Duration,
    ) -> Result<Executor, TaskError> {
        let schema = decode_schema(&setup.schema_ipc)?;
        let reader = SplitReader::new(
            setup.format,
            setup.csv_options(),
            schema.clone(),
            setup.schema_declared,
        );
        Ok(Executor {
            setup: Arc::new(setup),
            schema,
            store,
            secret,
            me,
            scratch,
            peer_timeout,
            reader,
            projection: tokio::sync::OnceCell::new(),
        })
    }

    /// Runs `task` in `slot`, which it gives back once only waiting is left: see
    /// [`Executor::write_output`].
    pub async fn run(&self, task: &RunTask, slot: &mut Slot) -> Result<TaskStats, TaskError> {
        let mut stats = TaskStats::default();
        let phase = self
            .setup
            .plan
            .phases
            .get(task.phase as usize)
            .ok_or_else(|| TaskError::deterministic(format!("no phase {}", task.phase)))?;
        let (mut schema, mut batches) = match &task.input {
            TaskInput::Noop => return Ok(stats),
            TaskInput::Split(split) => {
                let projection = self.scan_projection(&phase.ops).await;
                let schema = match &projection {
                    // Reading no column keeps the schema: the reader fills it cheaply.
                    Some(p) if !p.is_empty() => Arc::new(self.schema.project(p).map_err(|e| {
                        TaskError::deterministic(format!("projecting the input: {e}"))
                    })?),
                    _ => self.schema.clone(),
                };
                let scan = self.reader.read(split, projection.as_deref()).await?;
                stats.rows_in = scan.rows;
                stats.bytes_read = scan.bytes_read;
                (Some(schema), scan.batches)
            }
            TaskInput::Fetch(sources) => {
                let encoded = self.fetch(sources).await?;
                let mut schema = None;
                let mut batches = vec![];
                for e in encoded {
                    let (s, b) = decode(&e)?;
                    schema.get_or_insert(s);
                    batches.extend(b);
                }
                (schema, batches)
            }
            TaskInput::Unify { source, schema_ipc } => {
                let target = decode_schema(schema_ipc)?;
                let sources = std::slice::from_ref(source);
                let encoded = self.fetch(sources).await?;
                let mut batches = vec![];
                for e in encoded {
                    for b in decode(&e)?.1 {
                        batches.push(conform(&b, &target).map_err(|err| {
                            TaskError::deterministic(format!(
                                "casting the output of task {} to the schema of all its \
                                 partitions: {err}",
                                source.task
                            ))
                        })?);
                    }
                }
                (Some(target), batches)
            }
        };
        let scratch = if phase.ops.iter().any(|op| matches!(op, Op::Command { .. })) {
            Some(TaskScratch::create(&self.scratch, task)?)
        } else {
            None
        };
        for op in &phase.ops {
            let Some(s) = schema.clone() else { break };
            let what = op.describe();
            let ran = async {
                match op {
                    Op::Sql { query, .. } => run_sql(&what, query, s, batches).await,
                    Op::Command {
                        stage,
                        run,
                        format,
                        schema: columns,
                    } => {
                        let scratch = scratch.as_ref().expect("made for phases with commands");
                        let spool = scratch.dir.join(format!("stdout-{stage}"));
                        let op = CommandOp {
                            what: &what,
                            run,
                            format: *format,
                            schema: columns.as_deref().map(declared),
                            cwd: &scratch.work,
                            spool: &spool,
                            secret: &self.secret,
                        };
                        run_command(&op, s, batches).await
                    }
                }
            };
            // A stage with its own task_timeout is bounded by it; the task as a whole
            // is bounded by the caller.
            let (s, b) = match self.setup.plan.stage_timeouts.get(&op.stage()) {
                Some(&limit) => tokio::time::timeout(limit, ran).await.map_err(|_| {
                    TaskError::retryable(format!(
                        "{what} ran past its task_timeout of {}",
                        spindle_job::Timeout(limit)
                    ))
                })??,
                None => ran.await?,
            };
            schema = Some(s);
            batches = b;
        }
        drop(scratch);
        let schema = schema.unwrap_or_else(|| Arc::new(Schema::empty()));
        // The master unifies what the partitions of an undeclared command printed.
        if let Some(Op::Command { schema: None, .. }) = phase.ops.last() {
            stats.schema_ipc = Some(encode_schema(&schema)?);
        }
        stats.rows_out = batches.iter().map(|b| b.num_rows() as u64).sum();
        let mode = self.setup.compression;
        match &phase.sink {
            Sink::Hash { by, partitions } => {
                let parts = hash_partition(&schema, &batches, by, *partitions)?;
                for (bucket, part) in parts.iter().enumerate() {
                    let bytes = encode(&schema, part, mode)?;
                    stats.result_bytes += bytes.len() as u64;
                    stats.spilled_bytes += self.keep(task, bucket as u32, bytes)?;
                }
            }
            Sink::Whole => {
                let bytes = encode(&schema, &batches, mode)?;
                stats.result_bytes = bytes.len() as u64;
                stats.spilled_bytes += self.keep(task, 0, bytes)?;
            }
            Sink::Output => {
                stats.output_file = Some(self.write_output(task, &schema, &batches, slot).await?);
            }
        }
        Ok(stats)
    }

    /// The encoded results of `sources`, from this worker's store or its peers.
    async fn fetch(&self, sources: &[FetchSource]) -> Result<Vec<bytes::Bytes>, TaskError> {
        fetch_all(
            sources,
            self.me,
            &self.store,
            &self.secret,
            self.peer_timeout,
        )
        .await
    }

    /// Starts fetching a scan task's bytes while it waits for a slot, for the columns
    /// the scan reads once the first scan has worked them out.
    pub fn read_ahead(&self, task: &RunTask) {
        if let TaskInput::Split(split) = &task.input {
            let projection = self.projection.get().cloned().flatten();
            self.reader.read_ahead(split, projection.as_deref());
        }
    }

    /// The columns the first SQL stage reads, for the scan. Csv builds only those (and
    /// one when none is read, for the rows to be counted by); text, which has one
    /// column, skips building it when it is not read.
    async fn scan_projection(&self, ops: &[Op]) -> Option<Vec<usize>> {
        let format = self.setup.format;
        if !matches!(
            format,
            spindle_job::InputFormat::Csv | spindle_job::InputFormat::Text
        ) {
            return None;
        }
        let Some(Op::Sql { query, .. }) = ops.first() else {
            return None;
        };
        let read = self
            .projection
            .get_or_init(|| columns_read(query, self.schema.clone()))
            .await
            .clone()?;
        match format {
            spindle_job::InputFormat::Csv if read.is_empty() => Some(vec![0]),
            spindle_job::InputFormat::Csv => Some(read),
            _ if read.is_empty() => Some(read),
            _ => None,
        }
    }

    fn keep(&self, task: &RunTask, bucket: u32, bytes: bytes::Bytes) -> Result<u64, TaskError> {
        self.store.put(task.task, bucket, bytes).map_err(|e| {
            TaskError::retryable(format!("spilling to {}: {e}", self.scratch.display()))
        })
    }

    /// Encodes the task's output, gives its slot back, then stores the file. Storing is
    /// mostly waiting: an HDFS file's close often waits 0.5 s for the NameNode to hear of
    /// its last block, during which the worker's next task may run. Giving the slot back
    /// tells the master, which bounds how many uploads a worker has pending.
    async fn write_output(
        &self,
        task: &RunTask,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        slot: &mut Slot,
    ) -> Result<String, TaskError> {
        let format = self.setup.output.format;
        let data = {
            let schema = schema.clone();
            let batches = batches.to_vec();
            tokio::task::spawn_blocking(move || encode_output(format, &schema, &batches))
                .await
                .map_err(|e| TaskError::retryable(format!("output encoder: {e}")))??
        };
        let rel = format!(
            "task-{:05}-{}.{}",
            task.task,
            task.attempt,
            format.extension()
        );
        let staging = Location::parse(&self.setup.output_staging)?;
        slot.give_back();
        staging.child(&rel).put(data).await?;
        Ok(rel)
    }
}

/// A command task's own directory under the worker's local dir: `work/` is the
/// programs' working directory, and spooled output sits beside it. Removed when dropped.
struct TaskScratch {
    dir: PathBuf,
    work: PathBuf,
}

impl TaskScratch {
    fn create(local: &Path, task: &RunTask) -> Result<TaskScratch, TaskError> {
        let dir = local
            .join("tasks")
            .join(format!("task-{}-{}", task.task, task.attempt));
        let work = dir.join("work");
        // A directory left by a worker that died with this attempt would hold stale files.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&work).map_err(|e| {
            TaskError::retryable(format!("creating scratch dir {}: {e}", work.display()))
        })?;
        Ok(TaskScratch { dir, work })
    }
}

impl Drop for TaskScratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove scratch dir");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spindle_io::codec::encode_schema;
    use spindle_job::wire::{Compression, Split};
    use spindle_job::{InputFormat, JobSpec, Plan};

    #[tokio::test]
    async fn scans_filters_and_writes_a_csv_split() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, "user,bytes\na,1\nb,2\na,3\n").unwrap();
        let spec = JobSpec::from_yaml(
            &format!(
                "name: t\ninput: {{path: {}, format: csv}}\nstages:\n  - sql: \"SELECT user, bytes * 10 AS b FROM input WHERE user = 'a'\"\noutput: {{path: {}/out, format: jsonl}}\n",
                input.display(),
                dir.path().display()
            ),
            "t",
        )
        .unwrap();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("user", arrow::datatypes::DataType::Utf8, true),
            arrow::datatypes::Field::new("bytes", arrow::datatypes::DataType::Int64, true),
        ]));
        let setup = JobSetup {
            job_name: "t".into(),
            plan: Plan::from_spec(&spec),
            format: InputFormat::Csv,
            csv_header: true,
            csv_delimiter: b',',
            schema_ipc: encode_schema(&schema).unwrap(),
            schema_declared: false,
            output: spec.output.clone(),
            output_staging: format!("{}/stage", dir.path().display()),
            compression: Compression::Auto,
        };
        let store = Arc::new(ResultStore::new(1 << 20, dir.path().join("spill")));
        let ex = Executor::new(
            setup,
            store,
            Arc::from("s"),
            1,
            dir.path().to_path_buf(),
            Duration::from_secs(5),
        )
        .unwrap();
        let size = std::fs::metadata(&input).unwrap().len();
        let task = RunTask {
            task: 0,
            attempt: 1,
            phase: 0,
            input: TaskInput::Split(Split {
                url: format!("file://{}", input.display()),
                start: 0,
                end: size,
                file_size: size,
                row_groups: None,
                hosts: vec![],
                more: Vec::new(),
            }),
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        let told = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tell = told.clone();
        let mut slot = Slot::new(
            Some(slots.clone().acquire_owned().await.unwrap()),
            move || tell.store(true, std::sync::atomic::Ordering::SeqCst),
        );
        let stats = ex.run(&task, &mut slot).await.unwrap();
        // The slot went back (and the master was told) for the next task to use.
        assert_eq!(slots.available_permits(), 1);
        assert!(told.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(stats.rows_in, 3);
        assert_eq!(stats.rows_out, 2);
        let file = dir.path().join("stage").join(stats.output_file.unwrap());
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(
            text,
            "{\"user\":\"a\",\"b\":10}\n{\"user\":\"a\",\"b\":30}\n"
        );
    }

    #[tokio::test]
    async fn a_command_runs_in_its_own_scratch_dir_which_is_removed_after() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jsonl");
        std::fs::write(&input, "{\"user\":\"a\"}\n").unwrap();
        let spec = JobSpec::from_yaml(
            &format!(
                "name: t\ninput: {{path: {}, format: jsonl}}\nstages:\n  - command: \"cat >/dev/null; touch left-behind; printf '{{\\\"cwd\\\":\\\"%s\\\"}}\\\\n' \\\"$(pwd)\\\"\"\noutput: {{path: {}/out, format: jsonl}}\n",
                input.display(),
                dir.path().display()
            ),
            "t",
        )
        .unwrap();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("user", arrow::datatypes::DataType::Utf8, true),
        ]));
        let mut plan = Plan::from_spec(&spec);
        // The command is the last stage; write its output from this phase directly.
        plan.phases.truncate(1);
        plan.phases[0].sink = Sink::Output;
        let setup = JobSetup {
            job_name: "t".into(),
            plan,
            format: InputFormat::Jsonl,
            csv_header: true,
            csv_delimiter: b',',
            schema_ipc: encode_schema(&schema).unwrap(),
            schema_declared: false,
            output: spec.output.clone(),
            output_staging: format!("{}/stage", dir.path().display()),
            compression: Compression::Auto,
        };
        let local = dir.path().join("local");
        let store = Arc::new(ResultStore::new(1 << 20, local.join("spill")));
        let ex = Executor::new(
            setup,
            store,
            Arc::from("s"),
            1,
            local.clone(),
            Duration::from_secs(5),
        )
        .unwrap();
        let size = std::fs::metadata(&input).unwrap().len();
        let task = RunTask {
            task: 7,
            attempt: 2,
            phase: 0,
            input: TaskInput::Split(Split {
                url: format!("file://{}", input.display()),
                start: 0,
                end: size,
                file_size: size,
                row_groups: None,
                hosts: vec![],
                more: Vec::new(),
            }),
        };
        let stats = ex.run(&task, &mut Slot::unheld()).await.unwrap();
        let file = dir.path().join("stage").join(stats.output_file.unwrap());
        let cwd = local.join("tasks").join("task-7-2").join("work");
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            format!("{{\"cwd\":\"{}\"}}\n", cwd.display())
        );
        assert!(!local.join("tasks").join("task-7-2").exists());
        assert_eq!(std::fs::read_dir(local.join("tasks")).unwrap().count(), 0);
        let reported = decode_schema(&stats.schema_ipc.unwrap()).unwrap();
        assert_eq!(
            reported.as_ref(),
            &arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
                "cwd",
                arrow::datatypes::DataType::Utf8,
                true
            )])
        );
    }
}
