//! What each stage of a planned query is expected to read and produce, for `spindle
//! explain`: the bytes its scans will read (exact: the file ranges assigned to its
//! tasks) and DataFusion's estimate of its output (from file and row-group statistics,
//! carried up through the plan; csv and jsonl sized by their files' lengths, their rows
//! unknown; bytes from rows and column widths where DataFusion gives rows alone; unknown
//! wherever neither can say).

use crate::scans::{byte_range, scan_files, stage_scans};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::stats::Precision;
use datafusion::common::JoinType;
use datafusion::common::Statistics;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode, SortMergeJoinExec,
};
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};
use datafusion_distributed::{BroadcastExec, NetworkBoundaryExt, NetworkBroadcastExec};
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
    /// How each of its joins runs, in plan order ([`join_strategies`]).
    pub joins: Vec<String>,
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
            .and_then(|s| output_bytes(s, &produced.schema())),
        joins: join_strategies(plan),
    }
}

/// How each join of this stage (not of the stages below it) runs: `broadcast` (one side
/// built once and sent whole to every task: `broadcast_limit`), `partitioned` (both sides
/// shuffled by the key), `collected` (one side built whole where the stage runs), or a
/// nested-loop, cross or sort-merge join; then its type, as `broadcast inner`.
fn join_strategies(plan: &dyn ExecutionPlan) -> Vec<String> {
    let mut joins = vec![];
    stage_joins(plan, &mut joins);
    joins
}

/// Adds the joins of `plan`'s stage, in plan order; a stage below it is another's.
fn stage_joins(plan: &dyn ExecutionPlan, joins: &mut Vec<String>) {
    if plan.is_network_boundary() {
        return;
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        let strategy = match join.partition_mode() {
            PartitionMode::Partitioned => "partitioned",
            _ if reads_a_broadcast(join.left().as_ref()) => "broadcast",
            _ => "collected",
        };
        joins.push(format!("{strategy} {}", join_type(join.join_type())));
    } else if let Some(join) = plan.downcast_ref::<NestedLoopJoinExec>() {
        joins.push(format!("nested-loop {}", join_type(join.join_type())));
    } else if let Some(join) = plan.downcast_ref::<SortMergeJoinExec>() {
        joins.push(format!("sort-merge {}", join_type(&join.join_type())));
    } else if plan.is::<CrossJoinExec>() {
        joins.push("cross".to_string());
    }
    for child in plan.children() {
        stage_joins(child.as_ref(), joins);
    }
}

/// Whether this side of a join, within its stage, is fed by a broadcast from another.
fn reads_a_broadcast(side: &dyn ExecutionPlan) -> bool {
    if side.is_network_boundary() {
        return side.is::<NetworkBroadcastExec>();
    }
    side.children()
        .iter()
        .any(|c| reads_a_broadcast(c.as_ref()))
}

/// `Inner`, `LeftSemi`, ... as `inner`, `left semi`.
fn join_type(t: &JoinType) -> String {
    let mut words = String::new();
    for (i, c) in format!("{t:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

/// DataFusion's estimate of the bytes a plan produces; where it has none (it gives up
/// after most filters and joins) but knows the rows, the rows times each column's
/// width: fixed for primitive types, and for the others the column's own estimate
/// (parquet's sizes, scaled through filters); unknown if any column has neither.
fn output_bytes(stats: &Statistics, schema: &Schema) -> Option<Estimated> {
    if let Some(bytes) = Estimated::of(stats.total_byte_size) {
        return Some(bytes);
    }
    let rows = Estimated::of(stats.num_rows)?;
    let mut estimate = Estimated {
        value: 0,
        exact: rows.exact,
    };
    for (i, field) in schema.fields().iter().enumerate() {
        let bytes = match field.data_type().primitive_width() {
            Some(width) => rows.value.saturating_mul(width as u64),
            None => {
                estimate.exact = false;
                let column = stats.column_statistics.get(i)?;
                *column.byte_size.get_value()? as u64
            }
        };
        estimate.value = estimate.value.saturating_add(bytes);
    }
    Some(estimate)
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::common::ColumnStatistics;

    fn schema(types: &[DataType]) -> Schema {
        let fields: Vec<_> = types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
            .collect();
        Schema::new(fields)
    }

    fn rows(n: Precision<usize>, columns: Vec<ColumnStatistics>) -> Statistics {
        Statistics {
            num_rows: n,
            total_byte_size: Precision::Absent,
            column_statistics: columns,
        }
    }

    #[test]
    fn join_types_read_as_words() {
        assert_eq!(join_type(&JoinType::Inner), "inner");
        assert_eq!(join_type(&JoinType::LeftSemi), "left semi");
        assert_eq!(join_type(&JoinType::RightAnti), "right anti");
    }

    #[test]
    fn datafusions_own_byte_estimate_is_kept() {
        let mut stats = rows(Precision::Exact(10), vec![]);
        stats.total_byte_size = Precision::Inexact(4096);
        let got = output_bytes(&stats, &schema(&[DataType::Utf8]));
        let want = Estimated {
            value: 4096,
            exact: false,
        };
        assert_eq!(got, Some(want));
    }

    #[test]
    fn fixed_width_columns_are_rows_times_their_widths() {
        let stats = rows(Precision::Exact(100), vec![]);
        let got = output_bytes(&stats, &schema(&[DataType::Int64, DataType::Int32]));
        let want = Estimated {
            value: 1200,
            exact: true,
        };
        assert_eq!(got, Some(want));
        let inexact = rows(Precision::Inexact(100), vec![]);
        let got = output_bytes(&inexact, &schema(&[DataType::Date32]));
        assert_eq!(got.map(|e| (e.value, e.exact)), Some((400, false)));
    }

    #[test]
    fn a_string_column_counts_its_own_estimate_or_the_total_is_unknown() {
        let sized = ColumnStatistics::new_unknown().with_byte_size(Precision::Inexact(500));
        let unsized_ = ColumnStatistics::new_unknown();
        let types = [DataType::Int64, DataType::Utf8];
        let stats = rows(Precision::Exact(100), vec![unsized_.clone(), sized]);
        let got = output_bytes(&stats, &schema(&types));
        assert_eq!(got.map(|e| (e.value, e.exact)), Some((1300, false)));
        let stats = rows(Precision::Exact(100), vec![unsized_.clone(), unsized_]);
        assert_eq!(output_bytes(&stats, &schema(&types)), None);
        // No column statistics at all: nothing to say of the string column.
        assert_eq!(
            output_bytes(&rows(Precision::Exact(100), vec![]), &schema(&types)),
            None
        );
        assert_eq!(
            output_bytes(&rows(Precision::Absent, vec![]), &schema(&types[..1])),
            None
        );
    }
}
