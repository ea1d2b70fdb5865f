//! What each stage of a planned query is expected to read and produce, for `spindle
//! explain`: the bytes its scans will read (exact: the file ranges assigned to its
//! tasks) and DataFusion's estimate of its output (from file and row-group statistics,
//! carried up through the plan; csv and jsonl sized by their files' lengths, their rows
//! unknown; unknown wherever DataFusion cannot say).

use crate::scans::{byte_range, scan_files, stage_scans};
use datafusion::common::stats::Precision;
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};
use datafusion_distributed::{BroadcastExec, NetworkBoundaryExt};
use std::collections::BTreeMap;

/// One stage's expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct StageEstimate {
    /// The stage's number in the plan; 0 is the coordinator's final stage.
    pub stage: usize,
    pub tasks: usize,
    /// Bytes of input files its scans read (before row-group pruning).
    pub scan_bytes: u64,
    /// Rows it produces: DataFusion's estimate, if it has one.
    pub rows: Option<Estimated>,
    /// Bytes it produces (in memory, before lz4 on the wire), if estimated.
    pub bytes: Option<Estimated>,
}

/// An estimated quantity, and whether DataFusion knows it exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimated {
    pub value: u64,
    pub exact: bool,
}

impl Estimated {
    fn of(p: Precision<usize>) -> Option<Estimated> {
        match p {
            Precision::Exact(v) => Some(Estimated {
                value: v as u64,
                exact: true,
            }),
            Precision::Inexact(v) => Some(Estimated {
                value: v as u64,
                exact: false,
            }),
            Precision::Absent => None,
        }
    }
}

/// Every stage of `plan` (the coordinator's first), by stage number.
pub fn estimates(plan: &dyn ExecutionPlan) -> Vec<StageEstimate> {
    let mut stages = BTreeMap::new();
    stages.insert(0, estimate(0, 1, plan));
    collect(plan, &mut stages);
    stages.into_values().collect()
}

fn estimate(stage: usize, tasks: usize, plan: &dyn ExecutionPlan) -> StageEstimate {
    // A broadcast stage sends its input to every consumer, and datafusion-distributed's
    // `BroadcastExec` reports no statistics of its own: its input's are the estimate.
    let produced = match plan.downcast_ref::<BroadcastExec>() {
        Some(broadcast) => broadcast.input().as_ref(),
        None => plan,
    };
    let stats = StatisticsContext::new()
        .compute(produced, &StatisticsArgs::new())
        .ok();
    StageEstimate {
        stage,
        tasks,
        scan_bytes: scan_bytes(plan),
        rows: stats.as_ref().and_then(|s| Estimated::of(s.num_rows)),
        bytes: stats
            .as_ref()
            .and_then(|s| Estimated::of(s.total_byte_size)),
    }
}

/// Adds every stage below `plan`.
fn collect(plan: &dyn ExecutionPlan, stages: &mut BTreeMap<usize, StageEstimate>) {
    if let Some(boundary) = plan.as_network_boundary() {
        let stage = boundary.input_stage();
        if let Some(local) = stage.local_plan() {
            stages.insert(
                stage.num(),
                estimate(stage.num(), stage.task_count(), local.as_ref()),
            );
            collect(local.as_ref(), stages);
        }
    }
    for child in plan.children() {
        collect(child.as_ref(), stages);
    }
}

/// The file bytes the scans of this stage (not of the stages below it) read.
fn scan_bytes(plan: &dyn ExecutionPlan) -> u64 {
    let mut bytes = 0;
    stage_scans(plan, &mut |scan| {
        for file in scan_files(scan) {
            let (start, end) = byte_range(file);
            bytes += end - start;
        }
    });
    bytes
}
