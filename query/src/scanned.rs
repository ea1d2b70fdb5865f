//! What a finished query read: the rows its scans produced, summed over every task from
//! the metrics the workers send back with their results.

use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::{rewrite_distributed_plan_with_metrics, DistributedMetricsFormat};
use std::sync::Arc;
use std::time::Duration;

/// Workers send a task's metrics when it ends; a worker that never does costs this
/// long, and the count is then unknown rather than the query late.
const METRICS_WAIT: Duration = Duration::from_secs(5);

/// Rows the scans of an executed `plan` produced, if the metrics arrive in time.
pub async fn rows_scanned(plan: Arc<dyn ExecutionPlan>) -> Option<u64> {
    let collected =
        rewrite_distributed_plan_with_metrics(plan, DistributedMetricsFormat::Aggregated);
    let plan = tokio::time::timeout(METRICS_WAIT, collected)
        .await
        .ok()?
        .ok()?;
    let mut rows = 0;
    add_scan_rows(plan.as_ref(), &mut rows);
    Some(rows)
}

/// The plan's leaves are its scans (datafusion-distributed wraps each in a
/// `DistributedLeafExec`); a stage below an exchange is its exchange's child, so the
/// walk reaches every leaf once. A stage that replayed its kept results instead of
/// scanning counts the rows its scans had made ([`crate::kept`]).
fn add_scan_rows(plan: &dyn ExecutionPlan, rows: &mut u64) {
    let metrics = plan.metrics();
    if plan.children().is_empty() {
        *rows += metrics.as_ref().and_then(|m| m.output_rows()).unwrap_or(0) as u64;
    }
    let replayed = metrics.and_then(|m| m.sum_by_name(crate::kept::REPLAYED_SCAN_ROWS));
    *rows += replayed.map_or(0, |r| r.as_usize()) as u64;
    for child in plan.children() {
        add_scan_rows(child.as_ref(), rows);
    }
}
