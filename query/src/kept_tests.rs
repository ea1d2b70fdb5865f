use super::*;
use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, UnboundedMemoryPool};
use futures::TryStreamExt;

fn batch(values: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
}

/// A scan of two batches: a leaf stage.
fn scan() -> Arc<dyn ExecutionPlan> {
    let batches = vec![batch(&[1, 2, 3]), batch(&[4, 5])];
    let schema = batches[0].schema();
    MemorySourceConfig::try_new_exec(&[batches], schema, None).unwrap()
}

fn unbounded() -> KeptResults {
    KeptResults::new(&(Arc::new(UnboundedMemoryPool::default()) as Arc<dyn MemoryPool>))
}

async fn run(plan: &Arc<dyn ExecutionPlan>) -> Vec<i64> {
    let stream = plan.execute(0, Arc::new(TaskContext::default())).unwrap();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            column.values().to_vec()
        })
        .collect()
}

#[tokio::test]
async fn a_task_planned_again_replays_what_it_produced() {
    let kept = unbounded();
    let first = kept.wrap(scan(), 0, 2);
    assert_eq!(run(&first).await, [1, 2, 3, 4, 5]);
    assert_eq!(kept.replayed(), 0);
    // The same task of a new run: a new plan, the same text.
    let again = kept.wrap(scan(), 0, 2);
    assert_eq!(run(&again).await, [1, 2, 3, 4, 5]);
    assert_eq!(kept.replayed(), 1);
}

#[tokio::test]
async fn another_task_or_another_plan_computes_its_own() {
    let kept = unbounded();
    run(&kept.wrap(scan(), 0, 2)).await;
    // Task 1 of the same stage reads other files: nothing of task 0's is its.
    run(&kept.wrap(scan(), 1, 2)).await;
    // The same task number in a stage cut into three tasks.
    run(&kept.wrap(scan(), 0, 3)).await;
    let other =
        MemorySourceConfig::try_new_exec(&[vec![batch(&[9])]], batch(&[9]).schema(), None).unwrap();
    assert_eq!(run(&kept.wrap(other, 0, 2)).await, [9]);
    assert_eq!(kept.replayed(), 0);
}

#[tokio::test]
async fn a_stream_left_before_its_end_keeps_nothing() {
    let kept = unbounded();
    let plan = kept.wrap(scan(), 0, 2);
    let mut stream = plan.execute(0, Arc::new(TaskContext::default())).unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().num_rows(), 3);
    drop(stream);
    assert_eq!(run(&kept.wrap(scan(), 0, 2)).await, [1, 2, 3, 4, 5]);
    assert_eq!(kept.replayed(), 0, "a partial output was replayed");
}

#[tokio::test]
async fn results_beyond_the_budget_are_not_kept() {
    // A sixty-fourth of 16 bytes holds no batch.
    let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(16));
    let kept = KeptResults::new(&pool);
    run(&kept.wrap(scan(), 0, 2)).await;
    run(&kept.wrap(scan(), 0, 2)).await;
    assert_eq!(kept.replayed(), 0);
}

#[tokio::test]
async fn kept_results_stay_beside_the_pool_its_operators_share() {
    let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(64 << 20));
    let kept = KeptResults::new(&pool);
    run(&kept.wrap(scan(), 0, 2)).await;
    run(&kept.wrap(scan(), 0, 2)).await;
    assert_eq!(kept.replayed(), 1);
    assert_eq!(pool.reserved(), 0);
}

/// The plan a worker runs for task 1 of 2 of `plan`'s stage.
fn rewritten(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let config = datafusion::prelude::SessionConfig::new().with_extension(Arc::new(
        DistributedTaskContext {
            task_index: 1,
            task_count: 2,
        },
    ));
    let ev = WorkerPlanRewriteEvent {
        plan,
        session_config: &config,
    };
    unbounded().keeper().rewrite_worker_plan(ev).unwrap().plan
}

fn is_kept(plan: &Arc<dyn ExecutionPlan>) -> bool {
    format!("{plan:?}").starts_with("KeptExec")
}

#[test]
fn only_a_stage_that_reads_no_exchange_is_kept() {
    use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
    use datafusion_distributed::NetworkCoalesceExec;
    let exchange = Arc::new(NetworkCoalesceExec::try_new(scan(), 2, 1).unwrap());
    let above_exchange: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(exchange));
    assert!(is_leaf_stage(&scan()).unwrap());
    assert!(!is_leaf_stage(&above_exchange).unwrap());
    assert!(is_kept(&rewritten(scan())));
    assert!(!is_kept(&rewritten(above_exchange)));
}

/// The worker swaps a stage's head (the repartition or broadcast feeding the next stage)
/// for one of its own, found by its type: kept above it, the stage would repartition
/// twice, and the metrics the task sends back, one per node in order, would not line up
/// with the coordinator's plan (a broadcast stage's scan rows went missing).
#[test]
fn a_stage_is_kept_below_the_head_its_worker_replaces() {
    use datafusion::physical_plan::Partitioning;
    let shuffled: Arc<dyn ExecutionPlan> =
        Arc::new(RepartitionExec::try_new(scan(), Partitioning::RoundRobinBatch(3)).unwrap());
    let broadcast: Arc<dyn ExecutionPlan> = Arc::new(BroadcastExec::new(scan(), 2));
    let nodes = |plan: &Arc<dyn ExecutionPlan>| {
        let mut n = 0;
        plan.apply(|_| {
            n += 1;
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        n
    };
    for stage in [shuffled, broadcast] {
        let worker = rewritten(Arc::clone(&stage));
        assert!(!is_kept(&worker), "{worker:?}");
        assert_eq!(worker.name(), stage.name());
        assert_eq!(nodes(&worker), nodes(&stage), "{worker:?}");
        assert!(is_kept(worker.children()[0]), "{worker:?}");
    }
}

#[tokio::test]
async fn nothing_is_kept_while_the_pool_is_more_than_half_used() {
    let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(64 << 20));
    let busy = MemoryConsumer::new("a join").register(&pool);
    busy.try_grow(33 << 20).unwrap();
    let kept = KeptResults::new(&pool);
    run(&kept.wrap(scan(), 0, 2)).await;
    run(&kept.wrap(scan(), 0, 2)).await;
    assert_eq!(kept.replayed(), 0);
    drop(busy);
    run(&kept.wrap(scan(), 0, 2)).await;
    run(&kept.wrap(scan(), 0, 2)).await;
    assert_eq!(kept.replayed(), 1);
}

#[test]
fn the_stand_in_shows_as_the_stage_it_wraps() {
    let plan = scan();
    let wrapped = unbounded().wrap(Arc::clone(&plan), 0, 1);
    assert_eq!(wrapped.name(), plan.name());
    let shown = |p: &Arc<dyn ExecutionPlan>| displayable(p.as_ref()).indent(true).to_string();
    assert_eq!(shown(&wrapped), shown(&plan));
    // Found by its type as the stage it wraps, as the worker's metrics walk finds a
    // union that runs only its task's children.
    assert!(wrapped.is::<datafusion::datasource::source::DataSourceExec>());
}

/// Results kept within a budget of `batches` one-batch copies.
fn budget_of(batches: usize) -> KeptResults {
    let size = batch(&[1, 2, 3]).get_array_memory_size();
    let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(size * batches * SHARE_OF_POOL));
    KeptResults::new(&pool)
}

#[test]
fn a_copy_that_outgrows_the_budget_lets_go_of_its_batches_and_its_claim() {
    let one = batch(&[1, 2, 3]);
    let kept = budget_of(2);
    let mut copy = PartitionCopy::new(kept.clone());
    copy.add(&one);
    copy.add(&one);
    assert_eq!(copy.batches.as_ref().map(Vec::len), Some(2));
    copy.add(&one);
    assert!(copy.batches.is_none(), "three batches held in room for two");
    assert_eq!(kept.lock().copying, 0);
    copy.add(&one);
    assert!(copy.batches.is_none());
}

/// Partitions running side by side share one budget: each holding a budget's worth
/// would pin that much per partition.
#[test]
fn copies_under_way_share_the_budget_and_give_it_back_when_dropped() {
    let one = batch(&[1, 2, 3]);
    let kept = budget_of(1);
    let mut first = PartitionCopy::new(kept.clone());
    let mut second = PartitionCopy::new(kept.clone());
    first.add(&one);
    second.add(&one);
    assert!(first.batches.is_some());
    assert!(second.batches.is_none(), "two copies held in room for one");
    drop(first);
    assert_eq!(kept.lock().copying, 0);
    let mut third = PartitionCopy::new(kept.clone());
    third.add(&one);
    assert!(third.batches.is_some());
}

/// A replay counts the rows its scan had made for the partition, so it must know them:
/// a stage whose partitions mix its scan's partitions is not kept.
#[test]
fn a_stage_whose_partitions_do_not_follow_its_scan_is_not_kept() {
    use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
    use datafusion::physical_plan::Partitioning;
    let two = MemorySourceConfig::try_new_exec(
        &[vec![batch(&[1])], vec![batch(&[2])]],
        batch(&[1]).schema(),
        None,
    )
    .unwrap();
    let merged: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(two));
    assert!(!is_kept(&rewritten(merged)));
    let inner =
        Arc::new(RepartitionExec::try_new(scan(), Partitioning::RoundRobinBatch(3)).unwrap());
    let head: Arc<dyn ExecutionPlan> =
        Arc::new(RepartitionExec::try_new(inner, Partitioning::RoundRobinBatch(2)).unwrap());
    let worker = rewritten(head);
    assert!(!is_kept(worker.children()[0]), "{worker:?}");
    assert!(!is_kept(&worker));
}
