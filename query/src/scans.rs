//! The file scans in a staged plan, as datafusion-distributed leaves them (one variant per
//! task inside a `DistributedLeafExec`): what explain's estimates and scan placement read.

use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::{DistributedLeafExec, NetworkBoundaryExt};

/// The file scan `plan` is, if it is one.
pub fn file_scan(plan: &dyn ExecutionPlan) -> Option<&FileScanConfig> {
    plan.downcast_ref::<DataSourceExec>()?
        .data_source()
        .downcast_ref::<FileScanConfig>()
}

/// The bytes `[start, end)` of its file that `file` reads.
pub fn byte_range(file: &PartitionedFile) -> (u64, u64) {
    match &file.range {
        Some(r) => (r.start.max(0) as u64, r.end.max(r.start).max(0) as u64),
        None => (0, file.object_meta.size),
    }
}

/// Calls `f` with every file scan of this stage (every task's), not of the stages below
/// its exchanges.
pub fn stage_scans(plan: &dyn ExecutionPlan, f: &mut impl FnMut(&FileScanConfig)) {
    if plan.as_network_boundary().is_some() {
        return;
    }
    if let Some(leaf) = plan.downcast_ref::<DistributedLeafExec>() {
        for variant in leaf.variants() {
            stage_scans(variant.as_ref(), f);
        }
        return;
    }
    if let Some(scan) = file_scan(plan) {
        f(scan);
    }
    for child in plan.children() {
        stage_scans(child.as_ref(), f);
    }
}

/// Every file (or range of one) that `scan` reads.
pub fn scan_files(scan: &FileScanConfig) -> impl Iterator<Item = &PartitionedFile> {
    scan.file_groups.iter().flat_map(|g| g.iter())
}
