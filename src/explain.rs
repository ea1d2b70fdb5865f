//! `spindle explain`: what a job will run, without running it.

use clap::Args;
use serde_json::json;
use spindle_job::{Plan, Spec};
use std::path::PathBuf;
use std::process::ExitCode;

/// Show the plan a job spec runs: a query's stages, tasks and exchanges, or a pipeline's
/// phases
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle explain conf/examples/revenue.yaml\n  \
    spindle explain job.yaml --workers 8 --json\n\n\
    For a query job (`inputs` + `query`) this lists its inputs' files and reads their\n\
    schemas, as `spindle run` would, and plans the query; nothing else is read.")]
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
    let (kind, stages, tasks, text) = match spec {
        Spec::Query(q) => {
            let count = crate::run::worker_count(args.workers, q.workers.instances) as usize;
            let workers = spindle_query::QueryWorkers::InProcess(count);
            let planned = match crate::query_run::plan(&q, &spec_path, workers).await {
                Ok(p) => p,
                Err(code) => return code,
            };
            let (stages, tasks) = planned.stages();
            (
                "query",
                stages,
                Some(tasks),
                format!(
                    "{}\n{}",
                    inputs_line(planned.files.len(), count),
                    planned.explain()
                ),
            )
        }
        Spec::Job(job) => {
            let plan = Plan::from_spec(&job);
            ("stages", plan.phases.len(), None, describe_phases(&plan))
        }
        Spec::App(_) => {
            eprintln!("error: {spec_path} describes services; there is no plan to explain");
            return ExitCode::from(2);
        }
    };
    if args.json {
        let doc = json!({ "kind": kind, "stages": stages, "tasks": tasks, "plan": text });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    }
    ExitCode::SUCCESS
}

fn inputs_line(files: usize, workers: usize) -> String {
    format!("{files} input files, planned for {workers} workers")
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
