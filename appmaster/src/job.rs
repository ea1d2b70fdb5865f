//! A job as the driver runs it: the task graph built from a plan and the input splits,
//! and what each task reads.

use crate::scheduler::TaskGraph;
use arrow::datatypes::SchemaRef;
use spindle_io::codec::encode_schema;
use spindle_io::splits::{local_host, plan_splits};
use spindle_io::storage::FileInfo;
use spindle_io::{IoError, Location};
use spindle_job::wire::{Compression, JobSetup, Split};
use spindle_job::{JobSpec, PhaseSource, Plan};

/// What one task reads.
#[derive(Debug, Clone)]
pub enum TaskKind {
    Scan(Split),
    /// Fetch `bucket` of every dependency's result.
    Fetch {
        bucket: u32,
    },
    /// Fetch the result of `from`, one of the tasks it waits for, cast to the union of the
    /// schemas that all of them (the partitions of spec stage `stage`, a command) printed.
    Unify {
        from: u32,
        stage: usize,
    },
    Noop,
}

pub struct JobDef {
    pub name: String,
    pub graph: TaskGraph,
    /// Per task: its phase and what it reads.
    pub tasks: Vec<(u32, TaskKind)>,
    /// Sent to every worker; `None` for runtime benchmarks that move no data.
    pub setup: Option<JobSetup>,
    /// How long a task of each phase may run; the master's backstop for a worker that
    /// cannot stop one (empty: the driver's default).
    pub phase_timeouts: Vec<std::time::Duration>,
    pub input_files: usize,
    /// What messages call the input when its path is not one the user wrote: its
    /// directory's URL and the name to say instead (the query's result, inside the
    /// output's staging).
    pub input_called: Option<(String, String)>,
}

impl JobDef {
    /// Splits the listed input `files`, parsed with `schema` (declared by the spec or
    /// inferred: [`spindle_io::read::input_schema`]), and lays out one task per split and per downstream
    /// partition.
    pub async fn from_spec(
        spec: &JobSpec,
        files: Vec<FileInfo>,
        schema: SchemaRef,
        output_staging: &Location,
        compression: Compression,
    ) -> Result<JobDef, IoError> {
        let splits = plan_splits(
            &files,
            spec.input.format,
            spec.input.split_size.bytes(),
            &local_host(),
        )
        .await?;
        let plan = Plan::from_spec(spec);
        let mut graph = TaskGraph::default();
        let mut tasks = vec![];
        let mut previous: Vec<u32> = vec![];
        for (phase_no, phase) in plan.phases.iter().enumerate() {
            let phase_no = phase_no as u32;
            let mut current = vec![];
            match phase.source {
                PhaseSource::Scan => {
                    for split in &splits {
                        current.push(graph.add(vec![], split.hosts.clone()));
                        tasks.push((phase_no, TaskKind::Scan(split.clone())));
                    }
                }
                PhaseSource::Shuffle { partitions } => {
                    for bucket in 0..partitions {
                        current.push(graph.add(previous.clone(), vec![]));
                        tasks.push((phase_no, TaskKind::Fetch { bucket }));
                    }
                }
                PhaseSource::Unify { stage } => {
                    for &from in &previous {
                        current.push(graph.add_reading(previous.clone(), from));
                        tasks.push((phase_no, TaskKind::Unify { from, stage }));
                    }
                }
                PhaseSource::Coalesce { n } => {
                    let groups = (n as usize).min(previous.len()).max(1);
                    for g in 0..groups {
                        let from = g * previous.len() / groups;
                        let to = (g + 1) * previous.len() / groups;
                        current.push(graph.add(previous[from..to].to_vec(), vec![]));
                        tasks.push((phase_no, TaskKind::Fetch { bucket: 0 }));
                    }
                }
            }
            previous = current;
        }
        let phase_timeouts = (0..plan.phases.len())
            .map(|p| plan.phase_timeout(p))
            .collect();
        Ok(JobDef {
            name: spec.name.clone(),
            graph,
            tasks,
            phase_timeouts,
            setup: Some(JobSetup {
                job_name: spec.name.clone(),
                plan,
                format: spec.input.format,
                csv_header: spec.input.csv.header,
                csv_delimiter: spec.input.csv.delimiter as u8,
                schema_ipc: encode_schema(&schema)?,
                schema_declared: spec.input.schema.is_some(),
                output: spec.output.clone(),
                output_staging: output_staging.url(),
                compression,
            }),
            input_files: files.len(),
            input_called: None,
        })
    }

    /// `url`, an input file, as messages name it.
    pub fn input_file_name(&self, url: &str) -> String {
        let called = self.input_called.as_ref().and_then(|(dir, name)| {
            let file = url.strip_prefix(dir.as_str())?.trim_start_matches('/');
            Some(format!("{name}, {file}"))
        });
        called.unwrap_or_else(|| url.to_string())
    }

    /// A job of tasks that do nothing, to measure the runtime's own cost per task.
    pub fn noop(name: &str, graph: TaskGraph) -> JobDef {
        let tasks = (0..graph.len()).map(|_| (0, TaskKind::Noop)).collect();
        JobDef {
            name: name.to_string(),
            graph,
            tasks,
            phase_timeouts: vec![],
            setup: None,
            input_files: 0,
            input_called: None,
        }
    }
}
