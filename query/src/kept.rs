//! Leaf stages' results kept on the worker that computed them. When a worker is lost the
//! query runs again; a scan task routed to the same surviving worker then replays what it
//! produced instead of reading its input again, and only the lost worker's scans (and
//! the stages above the scans, which read everything anew) are computed again.
//!
//! Only leaf stages (no exchange below them) are kept: their output depends only on their
//! plan, which names the files and byte ranges the task reads, so a task whose plan text
//! (task number and count) is the same as before produces what it produced before. A stage
//! reading an exchange could receive rows distributed differently in the new run (round
//! robin), so its results are never reused. A partition's output is kept only once its
//! stream ended without error, only within the worker's budget (a sixty-fourth of its
//! memory pool, held beside it, shared with the copies still being made) and only while
//! the pool is at most half used.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::Result;
use datafusion::execution::memory_pool::{MemoryLimit, MemoryPool};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{
    ExecutionPlanMetricsSet, Metric, MetricBuilder, MetricValue, MetricsSet,
};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    displayable, ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    ExecutionPlanProperties, PlanProperties, ReplaceChildrenOptions,
};
use datafusion_distributed::{
    BroadcastExec, DistributedTaskContext, NetworkBoundaryExt, WorkerPlanRewriteEvent,
    WorkerPlanRewriteEventResponse, WorkerPlanRewriteHandler,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The metric in which a kept result's replay counts the rows its scans had made, so the
/// query's rows in ([`crate::scanned`]) are the same whether a scan ran or replayed.
pub const REPLAYED_SCAN_ROWS: &str = "replayed_scan_rows";

/// What kept results may hold, as a share of the worker's memory pool. They are not
/// counted in the pool: in it they would shrink every spilling operator's fair share
/// (measured: TPC-H 5–10% slower), so they stay small instead; a sixteenth still cost
/// 5–12%, as memory held is memory the next scans fault in afresh (BENCHMARKS.md).
const SHARE_OF_POOL: usize = 64;
/// The budget when the pool has no limit.
const UNLIMITED_POOL_BUDGET: usize = 32 << 20;

/// One task's stage, as its worker received it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct TaskPlan {
    /// The plan in full (every file and byte range it reads).
    text: Arc<str>,
    task: usize,
    tasks: usize,
}

/// The results a worker keeps, shared by every query session it serves.
#[derive(Clone)]
pub struct KeptResults {
    inner: Arc<Inner>,
}

struct Inner {
    kept: Mutex<Kept>,
    budget: usize,
    pool: Arc<dyn MemoryPool>,
    /// Half the pool's limit, if it has one.
    pool_half: Option<usize>,
    /// Partitions replayed instead of computed, since the worker started.
    replayed: AtomicU64,
}

/// A partition's output, and the rows its scans produced for it.
struct KeptPartition {
    batches: Vec<RecordBatch>,
    scan_rows: usize,
    /// The bytes `batches` hold, as claimed from the budget.
    bytes: usize,
}

struct Kept {
    partitions: HashMap<(TaskPlan, usize), Arc<KeptPartition>>,
    /// The bytes the partitions hold.
    held: usize,
    /// The bytes copies of partitions still running hold: they count against the budget
    /// too, or every running partition could hold a budget's worth.
    copying: usize,
}

impl KeptResults {
    /// Results kept within a share of `pool`.
    pub fn new(pool: &Arc<dyn MemoryPool>) -> KeptResults {
        let limit = match pool.memory_limit() {
            MemoryLimit::Finite(bytes) => Some(bytes),
            MemoryLimit::Infinite | MemoryLimit::Unknown => None,
        };
        let budget = limit.map_or(UNLIMITED_POOL_BUDGET, |bytes| bytes / SHARE_OF_POOL);
        KeptResults {
            inner: Arc::new(Inner {
                kept: Mutex::new(Kept {
                    partitions: HashMap::new(),
                    held: 0,
                    copying: 0,
                }),
                budget,
                pool: Arc::clone(pool),
                pool_half: limit.map(|bytes| bytes / 2),
                replayed: AtomicU64::new(0),
            }),
        }
    }

    /// How many partitions were replayed instead of computed.
    pub fn replayed(&self) -> u64 {
        self.inner.replayed.load(Ordering::Relaxed)
    }

    /// A handler that makes the worker keep (and replay) its leaf stages' results.
    pub fn keeper(&self) -> impl WorkerPlanRewriteHandler {
        let kept = self.clone();
        move |ev: WorkerPlanRewriteEvent| {
            let task = ev
                .session_config
                .get_extension::<DistributedTaskContext>()
                .map(|c| (c.task_index, c.task_count));
            let plan = match task {
                Some((task, tasks)) if is_leaf_stage(&ev.plan)? => {
                    kept.wrap_below_head(ev.plan, task, tasks)?
                }
                _ => ev.plan,
            };
            Ok(WorkerPlanRewriteEventResponse::new(plan))
        }
    }

    /// Wraps the stage below its producer head. The worker replaces a stage's head (the
    /// repartition or broadcast feeding the next stage) with one of its own when the
    /// stage is first executed, recognising it by its type; a stand-in over the head
    /// would be kept under the new head, repartitioning twice and adding a node the
    /// coordinator's copy of the plan lacks, so every metric the task sends back would
    /// land on the wrong node. What the head does depends on the next stage, so what is
    /// kept is what goes into it.
    fn wrap_below_head(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        task: usize,
        tasks: usize,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !is_head(&plan) {
            return Ok(match partitions_follow_scans(&plan) {
                true => self.wrap(plan, task, tasks),
                false => plan,
            });
        }
        let [input] = plan.children()[..] else {
            return Ok(plan);
        };
        if !partitions_follow_scans(input) {
            return Ok(plan);
        }
        let wrapped = self.wrap(Arc::clone(input), task, tasks);
        let recompute = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        plan.replace_children(vec![wrapped], recompute)
    }

    fn wrap(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        task: usize,
        tasks: usize,
    ) -> Arc<dyn ExecutionPlan> {
        let text = displayable(plan.as_ref()).indent(true).to_string().into();
        Arc::new(KeptExec {
            input: plan,
            task: TaskPlan { text, task, tasks },
            kept: self.clone(),
            replayed: ExecutionPlanMetricsSet::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.inner.kept.lock().expect("kept results poisoned")
    }

    fn get(&self, key: &(TaskPlan, usize)) -> Option<Arc<KeptPartition>> {
        self.lock().partitions.get(key).cloned()
    }

    /// Claims `bytes` of the budget for a copy under way, if the budget (and the pool)
    /// has room for them.
    fn claim(&self, bytes: usize) -> bool {
        let mut kept = self.lock();
        // Within the budget, and only while the pool is at most half used: the stages
        // still running come first.
        let within_budget = kept.held + kept.copying + bytes <= self.inner.budget;
        let pool_roomy = self
            .inner
            .pool_half
            .is_none_or(|half| self.inner.pool.reserved() + bytes <= half);
        let room = within_budget && pool_roomy;
        if room {
            kept.copying += bytes;
        }
        room
    }

    /// Gives back `bytes` a copy claimed.
    fn release(&self, bytes: usize) {
        self.lock().copying -= bytes;
    }

    /// Keeps a finished copy as `key`'s output.
    fn keep(&self, key: (TaskPlan, usize), partition: KeptPartition) {
        let mut kept = self.lock();
        kept.copying -= partition.bytes;
        kept.held += partition.bytes;
        if let Some(before) = kept.partitions.insert(key, Arc::new(partition)) {
            // Two streams of the same partition ended (the stage was asked twice): the
            // earlier copy is dropped, and so is its share of the budget.
            kept.held -= before.bytes;
        }
    }
}

/// A copy of a running partition's batches, each claimed from the budget; given up (its
/// claim given back) once the budget has no room for the next, or when it is dropped
/// before its partition ends.
struct PartitionCopy {
    batches: Option<Vec<RecordBatch>>,
    bytes: usize,
    kept: KeptResults,
}

impl PartitionCopy {
    fn new(kept: KeptResults) -> PartitionCopy {
        PartitionCopy {
            batches: Some(Vec::new()),
            bytes: 0,
            kept,
        }
    }

    fn add(&mut self, batch: &RecordBatch) {
        let Some(batches) = &mut self.batches else {
            return;
        };
        let bytes = batch.get_array_memory_size();
        if self.kept.claim(bytes) {
            self.bytes += bytes;
            batches.push(batch.clone());
        } else {
            self.give_up();
        }
    }

    fn give_up(&mut self) {
        if self.batches.take().is_some() {
            self.kept.release(std::mem::take(&mut self.bytes));
        }
    }

    /// Keeps the copy, if whole, as `key`'s output, which its scans made of `scan_rows()`
    /// rows (read only then): its partition ended without error.
    fn finish(mut self, key: (TaskPlan, usize), scan_rows: impl FnOnce() -> usize) {
        if let Some(batches) = self.batches.take() {
            let partition = KeptPartition {
                batches,
                scan_rows: scan_rows(),
                bytes: std::mem::take(&mut self.bytes),
            };
            self.kept.keep(key, partition);
        }
    }
}

impl Drop for PartitionCopy {
    fn drop(&mut self) {
        self.give_up();
    }
}

/// Whether each partition of `plan` reads only the same partition of its scan (one child
/// all the way down, as many partitions, no repartition): then the rows its scan made
/// for a partition are known, and a replay of the partition can count them as read.
fn partitions_follow_scans(plan: &Arc<dyn ExecutionPlan>) -> bool {
    match plan.children()[..] {
        [] => true,
        [child] => {
            let partitions = |p: &Arc<dyn ExecutionPlan>| p.output_partitioning().partition_count();
            !plan.is::<RepartitionExec>()
                && partitions(child) == partitions(plan)
                && partitions_follow_scans(child)
        }
        _ => false,
    }
}

/// The rows the scan at the bottom of `plan` made for `partition` (the plan's partitions
/// following its scan's: [`partitions_follow_scans`]).
fn scan_rows(plan: &Arc<dyn ExecutionPlan>, partition: usize) -> usize {
    if let Some(child) = plan.children().first() {
        return scan_rows(child, partition);
    }
    let of_partition = |m: &Metric| {
        m.partition() == Some(partition) && matches!(m.value(), MetricValue::OutputRows(_))
    };
    let rows = plan.metrics().and_then(|m| m.sum(of_partition));
    rows.map_or(0, |r| r.as_usize())
}

/// Whether `plan` is a stage's producer head, which the worker rebuilds.
fn is_head(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.is::<RepartitionExec>() || plan.is::<BroadcastExec>()
}

/// Whether `plan` reads no exchange: a stage whose input is only its own scans.
fn is_leaf_stage(plan: &Arc<dyn ExecutionPlan>) -> Result<bool> {
    let mut leaf = true;
    plan.apply(|node| {
        if node.is_network_boundary() {
            leaf = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(leaf)
}

/// A leaf stage's root, standing in for it (same name, children and display, so the plan
/// keeps its shape for metrics), that replays a partition kept from an earlier run or
/// keeps what the stage computes.
struct KeptExec {
    input: Arc<dyn ExecutionPlan>,
    task: TaskPlan,
    kept: KeptResults,
    /// The rows the scans of replayed partitions had made ([`REPLAYED_SCAN_ROWS`]).
    replayed: ExecutionPlanMetricsSet,
}

impl fmt::Debug for KeptExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeptExec({})", self.input.name())
    }
}

impl DisplayAs for KeptExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.input.fmt_as(t, f)
    }
}

impl ExecutionPlan for KeptExec {
    fn name(&self) -> &str {
        self.input.name()
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    /// Code that finds a node by its type (a union that runs only its task's children
    /// when the task's metrics are collected) finds the stage this stands in for.
    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.input.as_ref())
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.input.children()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.input.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(KeptExec {
            input: Arc::clone(&self.input).replace_children(children, options)?,
            task: self.task.clone(),
            kept: self.kept.clone(),
            replayed: self.replayed.clone(),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let recompute = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        self.replace_children(children, recompute)
    }

    /// The metrics of the node it stands in for, and the scan rows it replayed.
    fn metrics(&self) -> Option<MetricsSet> {
        let replayed = self.replayed.clone_inner();
        if replayed.iter().next().is_none() {
            return self.input.metrics();
        }
        let mut metrics = self.input.metrics().unwrap_or_default();
        replayed.iter().for_each(|m| metrics.push(Arc::clone(m)));
        Some(metrics)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let key = (self.task.clone(), partition);
        let schema = self.input.schema();
        if let Some(kept) = self.kept.get(&key) {
            self.kept.inner.replayed.fetch_add(1, Ordering::Relaxed);
            MetricBuilder::new(&self.replayed)
                .counter(REPLAYED_SCAN_ROWS, partition)
                .add(kept.scan_rows);
            tracing::info!(
                task = self.task.task,
                tasks = self.task.tasks,
                partition,
                "replayed kept results of a leaf stage's task"
            );
            let replay = futures::stream::iter(kept.batches.clone().into_iter().map(Ok));
            return Ok(Box::pin(RecordBatchStreamAdapter::new(schema, replay)));
        }
        let computed = self.input.execute(partition, context)?;
        // The batches so far ride along with the stream, while the budget has room for
        // them; at its end (and only if no error came) they are kept. A stream dropped
        // early keeps nothing, and a partition too large to keep is not copied to its
        // end: its copies would pin every batch it made.
        let copy = PartitionCopy::new(self.kept.clone());
        let state = (computed, copy, key, Arc::clone(&self.input));
        let teed = futures::stream::unfold(Some(state), move |state| async move {
            let (mut stream, mut copy, key, input) = state?;
            match stream.next().await {
                Some(Ok(batch)) => {
                    copy.add(&batch);
                    Some((Ok(batch), Some((stream, copy, key, input))))
                }
                Some(Err(e)) => Some((Err(e), None)),
                None => {
                    copy.finish(key, || scan_rows(&input, partition));
                    None
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, teed)))
    }
}

#[cfg(test)]
#[path = "kept_tests.rs"]
mod tests;
