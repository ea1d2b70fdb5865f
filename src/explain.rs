//! `spindle explain`: what a job will run, without running it.

use clap::Args;
use serde_json::json;
use spindle_appmaster::prepare::{checked_columns, PrepareError};
use spindle_appmaster::progress::{counted, human_bytes};
use spindle_io::Location;
use spindle_job::{JobSpec, Plan, Spec};
use spindle_query::estimate::{Estimated, StageEstimate};
use std::path::PathBuf;
use std::process::ExitCode;

/// Show the plan a job spec runs: a query's stages, tasks and exchanges, or a pipeline's
/// phases
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle explain conf/examples/revenue.yaml\n  \
    spindle explain job.yaml --workers 8 --json\n\n\
    It lists the input's files and reads their schemas, as `spindle run` would; nothing\n\
    else is read. A stage job's stages are checked against the input's columns. A query\n\
    job's query is planned; the plan ends with each stage's scanned bytes and\n\
    DataFusion's estimate of its output.")]
pub struct ExplainArgs {
    /// The job spec (YAML)
    spec: PathBuf,
    /// Plan for this many workers (default: the spec's workers.instances, else the cores)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    workers: Option<u32>,
    /// Print a JSON document instead of text
    #[arg(long)]
    json: bool,
}

pub async fn explain(args: ExplainArgs) -> ExitCode {
    crate::init_logging("warn");
    let spec_path = args.spec.display().to_string();
    let spec = match Spec::from_file(&spec_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut estimates = None;
    let (kind, stages, tasks, text) = match spec {
        Spec::Query(q) => {
            let count = crate::run::worker_count(args.workers, q.workers.instances) as usize;
            let workers = spindle_query::QueryWorkers::InProcess(count);
            let planned = match crate::query_run::plan(&q, &spec_path, workers).await {
                Ok(p) => p,
                Err(code) => return code,
            };
            let (stages, tasks) = planned.stages();
            let expected = planned.estimates();
            let mut text = format!(
                "{}\n{}\n{}",
                inputs_line(planned.files.len(), count),
                planned.explain().trim_end(),
                describe_estimates(&expected)
            );
            if let Some(job) = q.stage_job("<the query's result>") {
                text.push_str("Then the stages, over the query's result (parquet):\n");
                text.push_str(&describe_phases(&Plan::from_spec(&job)));
            }
            estimates = Some(expected);
            ("query", stages, Some(tasks), text)
        }
        Spec::Job(job) => {
            let files = match checked_input(&job, &spec_path).await {
                Ok(files) => files,
                Err(code) => return code,
            };
            let plan = Plan::from_spec(&job);
            let count = crate::run::worker_count(args.workers, job.workers.instances) as usize;
            let text = format!("{}\n{}", inputs_line(files, count), describe_phases(&plan));
            ("stages", plan.phases.len(), None, text)
        }
        Spec::App(_) => {
            eprintln!("error: {spec_path} describes services; there is no plan to explain");
            return ExitCode::from(2);
        }
    };
    if args.json {
        let estimates = estimates.map(|e| e.iter().map(estimate_json).collect::<Vec<_>>());
        let doc = json!({
            "kind": kind,
            "stages": stages,
            "tasks": tasks,
            "plan": text,
            "estimates": estimates,
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    }
    ExitCode::SUCCESS
}

/// Lists a stage job's input and checks its stages against the input's columns, as
/// `spindle run` does before any work; returns how many files there are, or the exit
/// code after saying why not.
async fn checked_input(job: &JobSpec, spec_path: &str) -> Result<usize, ExitCode> {
    let failed = |key: &str, e: String| {
        eprintln!("error: {spec_path}: key `{key}`: {e}");
        ExitCode::FAILURE
    };
    let files = Location::expand(&job.input.path)
        .await
        .map_err(|e| failed("input.path", e.to_string()))?;
    match checked_columns(job, &files).await {
        Ok(_) => Ok(files.len()),
        Err(PrepareError::Failed(e)) => Err(failed("input.path", e)),
        Err(PrepareError::Refused(why)) => {
            eprintln!("error: {spec_path}: {why}");
            Err(ExitCode::from(2))
        }
    }
}

fn inputs_line(files: usize, workers: usize) -> String {
    format!(
        "{}, planned for {}",
        counted(files as u64, "input file", "input files"),
        counted(workers as u64, "worker", "workers")
    )
}

/// One line per stage: the bytes its scans read, and the rows and bytes DataFusion
/// expects it to produce (`~` estimated, `?` unknown).
fn describe_estimates(stages: &[StageEstimate]) -> String {
    let shown = |e: Option<Estimated>, bytes: bool| match e {
        None => "?".to_string(),
        Some(e) => {
            let value = match bytes {
                true => human_bytes(e.value),
                false => e.value.to_string(),
            };
            format!("{}{value}", if e.exact { "" } else { "~" })
        }
    };
    let mut s = String::from("Estimates (DataFusion's statistics; ~ estimated, ? unknown):\n");
    for e in stages {
        let name = match e.stage {
            0 => "final stage".to_string(),
            n => format!("Stage {n}"),
        };
        let tasks = match e.tasks {
            1 => "1 task".to_string(),
            n => format!("{n} tasks"),
        };
        let scans = match e.scan_bytes {
            0 => String::new(),
            b => format!(", scans {} of files", human_bytes(b)),
        };
        let joins = match e.joins.is_empty() {
            true => String::new(),
            false => format!(", joins: {}", e.joins.join(", ")),
        };
        s.push_str(&format!(
            "  {name}: {tasks}{scans}, out {} rows, {}{joins}\n",
            shown(e.rows, false),
            shown(e.bytes, true),
        ));
    }
    s
}

fn estimate_json(e: &StageEstimate) -> serde_json::Value {
    let value = |e: Option<Estimated>| e.map(|e| json!({ "value": e.value, "exact": e.exact }));
    json!({
        "stage": e.stage,
        "tasks": e.tasks,
        "scan_bytes": e.scan_bytes,
        "rows": value(e.rows),
        "bytes": value(e.bytes),
        "joins": e.joins,
    })
}

/// One line per phase: where its rows come from, what it does, where they go.
fn describe_phases(plan: &Plan) -> String {
    let mut s = String::new();
    for (i, phase) in plan.phases.iter().enumerate() {
        let ops: Vec<String> = phase.ops.iter().map(|op| op.describe()).collect();
        s.push_str(&format!(
            "phase {}: {:?} -> [{}] -> {:?}\n",
            i + 1,
            phase.source,
            ops.join(", "),
            phase.sink
        ));
    }
    s
}
