//! A query planned for its workers: the staged physical plan, what it reads, and running
//! it into output files.

use crate::inputs;
use crate::locality::{Blocks, ScanLocality, Tally};
use crate::remote::RemoteWorkers;
use crate::routes::Routes;
use crate::runtime::runtime;
use crate::workers::LocalWorkers;
use crate::QueryError;
use datafusion::arrow::ipc::CompressionType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::physical_plan::{execute_stream, ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion_distributed::{
    display_plan_ascii, ChannelResolver, DistributedExt, NetworkBoundaryExt,
    SessionStateBuilderExt, WorkerResolver,
};
use futures::TryStreamExt;
use spindle_io::storage::{FileInfo, Location};
use spindle_job::{OutputFormat, QuerySpec};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where a query's stages run.
#[derive(Clone)]
pub enum QueryWorkers {
    /// This many workers inside this process: for planning alone (`spindle explain`)
    /// and for tests of planning.
    InProcess(usize),
    /// Worker processes, reached over authenticated connections.
    Remote(RemoteWorkers),
}

/// How a query is cut up.
#[derive(Clone)]
pub struct QueryOptions {
    /// Workers the stages' tasks spread over.
    pub workers: QueryWorkers,
    /// Input bytes per scan partition; `None` keeps datafusion-distributed's 16 MiB.
    pub bytes_per_partition: Option<usize>,
    /// Memory each worker may hold (`workers.memory`); sorts, aggregates and joins past
    /// it spill to local disk or fail saying so, instead of taking the machine's.
    pub memory_per_worker: u64,
    /// Where the inputs' HDFS blocks are, when the caller knows already (an earlier plan
    /// of the query, the master's asks); `None` asks the NameNode. Remote workers only.
    pub blocks: Option<Arc<Blocks>>,
    /// The run before this one, when the query runs again after a lost worker.
    pub earlier: Option<EarlierRun>,
    /// Whether stages' data goes between processes lz4-compressed: it pays across a
    /// network, not between processes of one machine
    /// ([`RemoteWorkers::on_this_machine`]).
    pub compress: bool,
}

/// What a query's next run takes from this one: it is cut into as many tasks, and each
/// scan task goes back to the worker that ran it, so a surviving worker replays the
/// scans it kept ([`crate::kept`]) and only the lost worker's are read again.
#[derive(Clone)]
pub struct EarlierRun {
    routes: Routes,
    named: usize,
}

/// A query ready to run: its coordinating session and staged plan.
pub struct PlannedQuery {
    ctx: SessionContext,
    plan: Arc<dyn ExecutionPlan>,
    /// Every input file, by input name then URL.
    pub files: Vec<String>,
    /// The input files' total size.
    pub input_bytes: u64,
    /// Rows of output, across its partitions, held before they are written out as files
    /// ([`FILE_BYTES`]).
    pub file_bytes: usize,
    /// Where the scans' bytes are, and where the scans ran.
    locality: ScanLocality,
    /// How many workers the planner was told of (remote workers only).
    named: usize,
    /// Rows of output so far, in this run: for progress.
    rows_out: Arc<AtomicU64>,
}

/// What running a query wrote into the staging directory.
#[derive(Debug, Default)]
pub struct Written {
    /// `(partition, file name in staging)`, in partition order: what the commit publishes.
    pub files: Vec<(u32, String)>,
    pub rows: u64,
    pub bytes: u64,
    /// Rows the query's scans produced, when the workers' metrics said (after filters
    /// pushed into the scan; parquet row groups pruned by statistics are not read).
    pub rows_in: Option<u64>,
}

/// A query's inputs listed and registered as tables, its workers not yet known: the
/// part of planning that reads the stores, which `spindle run` does while its workers
/// start.
pub struct Registered {
    state: SessionState,
    listed: Vec<FileInfo>,
}

/// The planner's settings: DataFusion's, but a join side estimated at most
/// `broadcast_bytes` is broadcast to the other side's tasks. DataFusion's own limit
/// (1 MiB) is set for one machine, where the other way (both sides repartitioned) moves
/// nothing across a network; here it would ship the larger side too.
fn planning_config(broadcast_bytes: usize) -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(false);
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.hash_join_single_partition_threshold = broadcast_bytes;
    // A side whose rows are estimated and bytes not keeps DataFusion's row limit, unless
    // broadcasting by size is off.
    if broadcast_bytes == 0 {
        optimizer.hash_join_single_partition_threshold_rows = 0;
    }
    config
}

/// Lists `spec`'s inputs and reads their schemas, in a session whose tasks here share
/// `memory_bytes`; nothing else is read.
pub async fn register(spec: &QuerySpec, memory_bytes: u64) -> Result<Registered, QueryError> {
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(planning_config(spec.broadcast_limit.0 as usize))
        .with_runtime_env(runtime(memory_bytes)?)
        .build();
    let ctx = SessionContext::from(state);
    let listed = inputs::register(&ctx, &spec.inputs).await?;
    Ok(Registered {
        state: ctx.state(),
        listed,
    })
}

/// Registers the inputs and plans the query; nothing is read but the inputs' listings
/// and schemas. Statements other than queries (DDL, DML, `SET`) are refused.
pub async fn plan(spec: &QuerySpec, opts: &QueryOptions) -> Result<PlannedQuery, QueryError> {
    // Workers in this process share the coordinator's pool; a remote worker has its own,
    // and the coordinator runs only the final stage.
    let sharing = match &opts.workers {
        QueryWorkers::InProcess(n) => (*n).max(1) as u64,
        QueryWorkers::Remote(_) => 1,
    };
    let registered = register(spec, opts.memory_per_worker.saturating_mul(sharing)).await?;
    plan_registered(registered, spec, opts).await
}

/// Plans the query over `opts`' workers, its inputs `registered` already (in a session
/// sized as [`plan`] sizes it).
pub async fn plan_registered(
    registered: Registered,
    spec: &QuerySpec,
    opts: &QueryOptions,
) -> Result<PlannedQuery, QueryError> {
    let Registered { state, listed } = registered;
    let runtime = state.runtime_env().clone();
    let builder = SessionStateBuilder::new_from_existing(state);
    let (routes, mut named) = match &opts.earlier {
        Some(earlier) => (earlier.routes.clone(), earlier.named),
        None => (Routes::default(), 0),
    };
    let locality = ScanLocality::following(routes);
    let mut builder = match &opts.workers {
        QueryWorkers::InProcess(n) => distributed(builder, LocalWorkers::start(*n, runtime)),
        QueryWorkers::Remote(workers) => {
            let workers = workers.clone().named_at_least(named);
            named = workers.named();
            distributed(builder, workers.clone())
                .with_distributed_route_tasks_handler(locality.router(workers.urls()))
                .with_distributed_scale_up_leaf_node_handler(locality.leaf_planner())
        }
    }
    .with_distributed_planner()
    .with_distributed_compression(opts.compress.then_some(CompressionType::LZ4_FRAME))
    .map_err(|e| QueryError::Run(e.to_string()))?;
    if let Some(bytes) = opts.bytes_per_partition {
        builder = builder
            .with_distributed_file_scan_config_bytes_per_partition(bytes)
            .map_err(|e| QueryError::Run(e.to_string()))?;
    }
    let ctx = SessionContext::from(builder.build());
    if matches!(opts.workers, QueryWorkers::Remote(_)) {
        let blocks = match &opts.blocks {
            Some(known) => known.clone(),
            None => Arc::new(crate::locality::blocks_of(&listed).await),
        };
        locality.locate(blocks);
    }
    let only_queries = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let planning = async {
        ctx.sql_with_options(&spec.query, only_queries)
            .await?
            .create_physical_plan()
            .await
    };
    let plan = planning
        .await
        .map_err(|e| QueryError::Plan(e.to_string()))?;
    crate::stage_check::check_stages(&spec.stages, plan.schema())
        .await
        .map_err(QueryError::Stages)?;
    Ok(PlannedQuery {
        ctx,
        plan,
        input_bytes: listed.iter().map(|f| f.size).sum(),
        files: listed.into_iter().map(|f| f.url).collect(),
        file_bytes: FILE_BYTES,
        locality,
        named,
        rows_out: Default::default(),
    })
}

/// The session's workers: who they are and how to reach them.
fn distributed<W>(builder: SessionStateBuilder, workers: W) -> SessionStateBuilder
where
    W: WorkerResolver + ChannelResolver + Clone + Send + Sync + 'static,
{
    builder
        .with_distributed_worker_resolver(workers.clone())
        .with_distributed_channel_resolver(workers)
}

impl PlannedQuery {
    /// Stages and the tasks they run: the coordinator's final stage (one task) and each
    /// stage below an exchange.
    pub fn stages(&self) -> (usize, usize) {
        let mut below = BTreeMap::new();
        count_stages(self.plan.as_ref(), &mut below);
        (below.len() + 1, below.values().sum::<usize>() + 1)
    }

    /// The staged plan: each stage with its tasks, and the exchanges between them.
    pub fn explain(&self) -> String {
        display_plan_ascii(self.plan.as_ref(), false)
    }

    /// Where the scans of the run so far read their bytes (HDFS inputs only).
    pub fn locality(&self) -> Tally {
        self.locality.tally()
    }

    /// The inputs' HDFS blocks, as this plan found them: for planning the query again.
    pub fn blocks(&self) -> Option<Arc<Blocks>> {
        self.locality.blocks()
    }

    /// What a run of the query after this one takes from it.
    pub fn earlier_run(&self) -> EarlierRun {
        EarlierRun {
            routes: self.locality.routes(),
            named: self.named,
        }
    }

    /// Rows the query has put out so far in its current run (a run that fails and
    /// starts again counts from zero).
    pub fn rows_out(&self) -> u64 {
        self.rows_out.load(Ordering::Relaxed)
    }

    /// What each stage reads and is expected to produce.
    pub fn estimates(&self) -> Vec<crate::estimate::StageEstimate> {
        crate::estimate::estimates(self.plan.as_ref())
    }

    /// Runs the query into `staging`: each output partition as one file
    /// (`task-PPPPP-NNNN.<ext>`) per its share of `file_bytes` of rows, in order, so the
    /// coordinator holds about `file_bytes` of output however large the output is. A failed run may leave files there for the caller's abort.
    pub async fn write(
        &self,
        format: OutputFormat,
        staging: &Location,
    ) -> Result<Written, QueryError> {
        self.rows_out.store(0, Ordering::Relaxed);
        let partitions = self.plan.output_partitioning().partition_count();
        let parts = (0..partitions.max(1)).map(|p| self.write_partition(p, format, staging));
        let mut written = Written::default();
        for (p, files) in futures::future::try_join_all(parts)
            .await?
            .into_iter()
            .enumerate()
        {
            for file in files {
                written.rows += file.rows;
                written.bytes += file.bytes;
                written.files.push((p as u32, file.name));
            }
        }
        written.rows_in = crate::scanned::rows_scanned(self.plan.clone()).await;
        Ok(written)
    }

    /// Output partition `p`, streamed into files of its share of `file_bytes` each
    /// (one file, perhaps empty, when it has few or none).
    async fn write_partition(
        &self,
        p: usize,
        format: OutputFormat,
        staging: &Location,
    ) -> Result<Vec<StagedFile>, QueryError> {
        let fail = |e: datafusion::error::DataFusionError| QueryError::Run(explain_error(e));
        let mut stream = match self.plan.output_partitioning().partition_count() {
            0 | 1 => execute_stream(self.plan.clone(), self.ctx.task_ctx()),
            _ => self.plan.execute(p, self.ctx.task_ctx()),
        }
        .map_err(fail)?;
        // What the coordinator holds is bounded across partitions, not per partition.
        let partitions = self.plan.output_partitioning().partition_count().max(1);
        let per_partition = (self.file_bytes / partitions).max(MIN_FILE_BYTES.min(self.file_bytes));
        let mut files = Vec::new();
        let mut batches = Vec::new();
        let mut buffered = 0;
        loop {
            let batch = stream.try_next().await.map_err(fail)?;
            let done = batch.is_none();
            if let Some(batch) = batch {
                self.rows_out
                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                buffered += batch.get_array_memory_size();
                batches.push(batch);
            }
            let full = buffered >= per_partition;
            if full || (done && (!batches.is_empty() || files.is_empty())) {
                let name = format!("task-{p:05}-{:04}.{}", files.len(), format.extension());
                let batches = std::mem::take(&mut batches);
                files.push(self.stage_file(format, batches, staging, name).await?);
                buffered = 0;
            }
            if done {
                return Ok(files);
            }
        }
    }

    /// Encodes `batches` off the async threads and puts them in `staging` as `name`.
    async fn stage_file(
        &self,
        format: OutputFormat,
        batches: Vec<RecordBatch>,
        staging: &Location,
        name: String,
    ) -> Result<StagedFile, QueryError> {
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let schema = self.plan.schema();
        let data = tokio::task::spawn_blocking(move || {
            spindle_io::write::encode_output(format, &schema, &batches)
        })
        .await
        .map_err(|e| QueryError::Run(format!("output encoder: {e}")))?
        .map_err(|e| QueryError::Run(e.to_string()))?;
        let bytes = data.len() as u64;
        staging
            .child(&name)
            .put(data)
            .await
            .map_err(|e| QueryError::Run(e.to_string()))?;
        Ok(StagedFile { name, rows, bytes })
    }
}

/// Rows of output (in Arrow's memory) the coordinator holds before it writes them out as
/// files: big enough for few files, small enough for a coordinator in a small container.
pub const FILE_BYTES: usize = 64 << 20;

/// Many output partitions share [`FILE_BYTES`], but none writes files smaller than this.
const MIN_FILE_BYTES: usize = 4 << 20;

/// One file a query's run put into the staging directory.
struct StagedFile {
    name: String,
    rows: u64,
    bytes: u64,
}

/// DataFusion's message, with what to change when the query ran out of memory.
fn explain_error(e: datafusion::error::DataFusionError) -> String {
    hint_memory(e.to_string())
}

/// `text`, and when it says memory ran out, the keys that change that. A join side built
/// whole (`HashJoinInput`, without a partition number) was chosen to be broadcast by its
/// estimated size, which may be wrong.
fn hint_memory(text: String) -> String {
    if !text.contains("Resources exhausted") {
        return text;
    }
    let broadcast = text.contains("for HashJoinInput ");
    let or_shuffle = match broadcast {
        true => ", or lower `broadcast_limit` so that this join shuffles both sides instead",
        false => "",
    };
    format!(
        "{text} (each worker's tasks share `workers.memory`; raise `workers.memory`{or_shuffle})"
    )
}

/// Task counts by stage number, for every stage below `plan`.
fn count_stages(plan: &dyn ExecutionPlan, stages: &mut BTreeMap<usize, usize>) {
    if let Some(boundary) = plan.as_network_boundary() {
        let stage = boundary.input_stage();
        stages.insert(stage.num(), stage.task_count());
        if let Some(local) = stage.local_plan() {
            count_stages(local.as_ref(), stages);
        }
    }
    for child in plan.children() {
        count_stages(child.as_ref(), stages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spindle_io::channel::Wire;

    /// A query job over facts (4 csv files of 500 rows, `k` in 0..10, `v`) and dims (10
    /// rows: `id`, `name`), written under `dir`.
    fn facts_and_dims_query(dir: &std::path::Path, query: &str) -> QuerySpec {
        let facts = dir.join("facts");
        std::fs::create_dir(&facts).unwrap();
        for f in 0..4 {
            let rows: String = (0..500)
                .map(|i| format!("{},{i}\n", (f * 500 + i) % 10))
                .collect();
            std::fs::write(facts.join(format!("f{f}.csv")), format!("k,v\n{rows}")).unwrap();
        }
        let dims = dir.join("dims.csv");
        let names: String = (0..10).map(|k| format!("{k},name{k}\n")).collect();
        std::fs::write(&dims, format!("id,name\n{names}")).unwrap();
        let yaml = format!(
            "name: t\ninputs:\n  facts: {{ path: \"{}\", format: csv }}\n  \
             dims: {{ path: \"{}\", format: csv }}\nquery: {query}\noutput: {{ path: out }}\n",
            facts.display(),
            dims.display()
        );
        QuerySpec::from_yaml(&yaml, "t").unwrap()
    }

    /// The facts joined to the 10 dims, with rows of `v > 490`, planned on 3 workers in
    /// 1 KiB splits, with `broadcast_limit` if given.
    async fn facts_join_planned(
        dir: &std::path::Path,
        broadcast_limit: Option<u64>,
    ) -> PlannedQuery {
        let mut spec = facts_and_dims_query(
            dir,
            "SELECT d.name, f.v FROM facts f JOIN dims d ON f.k = d.id WHERE f.v > 490",
        );
        if let Some(limit) = broadcast_limit {
            spec.broadcast_limit = spindle_job::ByteSize(limit);
        }
        let opts = small_options(QueryWorkers::InProcess(3), Some(1024));
        plan(&spec, &opts).await.unwrap()
    }

    /// Every stage's joins, as `spindle explain` names them.
    fn joins_of(planned: &PlannedQuery) -> Vec<String> {
        let estimates = planned.estimates().into_iter();
        estimates.flat_map(|e| e.joins).collect()
    }

    /// Options for the small test inputs: 64 MiB a worker, blocks asked of nobody.
    fn small_options(workers: QueryWorkers, bytes_per_partition: Option<usize>) -> QueryOptions {
        QueryOptions {
            workers,
            bytes_per_partition,
            memory_per_worker: 64 << 20,
            blocks: None,
            earlier: None,
            compress: false,
        }
    }

    /// Inputs are listed together: their files come back in the inputs' name order, and
    /// of two failing inputs the error names the first by name, whichever failed first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inputs_listed_together_keep_their_order_and_name_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let spec = facts_and_dims_query(dir.path(), "SELECT 1");
        let registered = register(&spec, 64 << 20).await.unwrap();
        let urls: Vec<&str> = registered.listed.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(urls.len(), 5, "{urls:?}");
        assert!(urls[0].ends_with("/dims.csv"), "dims sorts first: {urls:?}");
        assert!(urls[1..].iter().all(|u| u.contains("/facts/f")), "{urls:?}");

        let yaml = format!(
            "name: t\ninputs:\n  a_gone: {{ path: \"{0}/none/*.csv\", format: csv }}\n  \
             b: {{ path: \"{0}/dims.csv\", format: csv }}\n  \
             c_gone: {{ path: \"{0}/none.csv\", format: csv }}\n\
             query: SELECT 1\noutput: {{ path: out }}\n",
            dir.path().display()
        );
        let spec = QuerySpec::from_yaml(&yaml, "t").unwrap();
        let e = register(&spec, 64 << 20)
            .await
            .err()
            .expect("missing inputs fail");
        let e = e.to_string();
        assert!(e.starts_with("key `inputs.a_gone`: "), "{e}");
    }

    /// Two csv inputs in several files, joined, grouped and ordered globally.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_join_runs_in_stages_and_writes_one_ordered_file() {
        let dir = tempfile::tempdir().unwrap();
        let spec = facts_and_dims_query(
            dir.path(),
            "SELECT d.name, count(*) AS n, sum(f.v) AS s FROM facts f \
             JOIN dims d ON f.k = d.id GROUP BY d.name ORDER BY d.name DESC LIMIT 3",
        );
        let opts = small_options(QueryWorkers::InProcess(3), Some(1024));
        let planned = plan(&spec, &opts).await.unwrap();
        assert_eq!(planned.files.len(), 5);
        let (stages, tasks) = planned.stages();
        assert!(stages >= 2 && tasks > stages, "{}", planned.explain());
        let staging = Location::parse(&dir.path().join("staging").display().to_string()).unwrap();
        let written = planned.write(OutputFormat::Csv, &staging).await.unwrap();
        assert_eq!(written.files, vec![(0, "task-00000-0000.csv".to_string())]);
        let text = std::fs::read_to_string(dir.path().join("staging/task-00000-0000.csv")).unwrap();
        // Each key k has 200 rows; their v sum to 4 * (sum of i < 500 with i % 10 == k).
        let sum = |k: u64| 4 * (0..500u64).filter(|i| i % 10 == k).sum::<u64>();
        let expected = format!(
            "name,n,s\nname9,200,{}\nname8,200,{}\nname7,200,{}\n",
            sum(9),
            sum(8),
            sum(7)
        );
        assert_eq!(text, expected);
        assert_eq!(written.rows, 3);
        assert_eq!(
            written.rows_in,
            Some(2010),
            "4 files of 500 rows and 10 dims"
        );
    }

    /// Csv files carry no statistics; sized by their lengths ([`crate::sized`]), the
    /// 10-row dims table is seen to be the small side of the join and broadcast to the
    /// facts' scans, where without sizes both sides were shuffled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_csv_table_is_broadcast_to_the_join_not_shuffled() {
        let dir = tempfile::tempdir().unwrap();
        let planned = facts_join_planned(dir.path(), None).await;
        let explain = planned.explain();
        assert!(explain.contains("NetworkBroadcastExec"), "{explain}");
        assert!(!explain.contains("Shuffle"), "{explain}");
        assert_eq!(joins_of(&planned), ["broadcast inner"]);
        // The broadcast stage scans dims.csv alone, and is estimated at about its size.
        let dims = std::fs::metadata(dir.path().join("dims.csv"))
            .unwrap()
            .len();
        let estimates = planned.estimates();
        let broadcast = estimates.iter().find(|e| e.scan_bytes == dims);
        let bytes = broadcast.and_then(|e| e.bytes);
        assert!(
            bytes.is_some_and(|b| !b.exact && b.value > 0 && b.value <= dims),
            "{estimates:?}\n{explain}"
        );
        let staging = Location::parse(&dir.path().join("staging").display().to_string()).unwrap();
        let written = planned.write(OutputFormat::Csv, &staging).await.unwrap();
        // v in 491..500 in each of the 4 files, each with its k's name.
        assert_eq!(written.rows, 4 * 9);
        let mut rows = vec![];
        for (_, name) in &written.files {
            let text = std::fs::read_to_string(dir.path().join("staging").join(name)).unwrap();
            rows.extend(text.lines().skip(1).map(String::from));
        }
        rows.sort();
        let mut expected: Vec<String> = (0..4)
            .flat_map(|f| (491..500).map(move |i| format!("name{},{i}", (f * 500 + i) % 10)))
            .collect();
        expected.sort();
        assert_eq!(rows, expected);
    }

    #[test]
    fn out_of_memory_names_workers_memory_and_for_a_broadcast_join_broadcast_limit() {
        let broadcast = hint_memory(
            "Resources exhausted: Additional allocation failed for HashJoinInput with top \
             memory consumers"
                .into(),
        );
        assert!(broadcast.contains("raise `workers.memory`"), "{broadcast}");
        assert!(broadcast.contains("lower `broadcast_limit`"), "{broadcast}");
        let partitioned = hint_memory(
            "Resources exhausted: Additional allocation failed for HashJoinInput[1] with top"
                .into(),
        );
        assert!(
            partitioned.contains("raise `workers.memory`"),
            "{partitioned}"
        );
        assert!(!partitioned.contains("broadcast_limit"), "{partitioned}");
        assert_eq!(hint_memory("no such table".into()), "no such table");
    }

    /// With `broadcast_limit: 0` the same join shuffles both sides, as a join whose
    /// sides are both large does (the TPC-H tests run all 22 queries that way too).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_no_broadcast_limit_both_sides_of_a_join_are_shuffled() {
        let dir = tempfile::tempdir().unwrap();
        let planned = facts_join_planned(dir.path(), Some(0)).await;
        let explain = planned.explain();
        assert!(explain.contains("NetworkShuffleExec"), "{explain}");
        assert!(!explain.contains("Broadcast"), "{explain}");
        assert_eq!(joins_of(&planned), ["partitioned inner"]);
        let staging = Location::parse(&dir.path().join("staging").display().to_string()).unwrap();
        let written = planned.write(OutputFormat::Csv, &staging).await.unwrap();
        assert_eq!(written.rows, 4 * 9);
    }

    /// The same join on two workers served over authenticated connections, one of them
    /// encrypted, its stages' data lz4-compressed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_join_runs_on_workers_reached_over_authenticated_connections() {
        let dir = tempfile::tempdir().unwrap();
        let spec = facts_and_dims_query(
            dir.path(),
            "SELECT d.name, count(*) AS n FROM facts f JOIN dims d ON f.k = d.id \
             GROUP BY d.name ORDER BY n DESC, d.name LIMIT 2",
        );
        let urls = vec![
            crate::remote::tests::served("s3cret", Wire::Authenticated).await,
            crate::remote::tests::served("s3cret", Wire::Encrypted).await,
        ];
        // Compressed as between hosts, so lz4 is read back through both kinds of wire.
        let opts = QueryOptions {
            compress: true,
            ..small_options(
                QueryWorkers::Remote(RemoteWorkers::new(urls, "s3cret".into())),
                Some(1024),
            )
        };
        let planned = plan(&spec, &opts).await.unwrap();
        let (stages, tasks) = planned.stages();
        assert!(stages >= 2 && tasks > stages, "{}", planned.explain());
        let staging = Location::parse(&dir.path().join("staging").display().to_string()).unwrap();
        let written = planned.write(OutputFormat::Csv, &staging).await.unwrap();
        let text = std::fs::read_to_string(dir.path().join("staging/task-00000-0000.csv")).unwrap();
        assert_eq!(text, "name,n\nname0,200\nname1,200\n");
        assert_eq!(written.rows, 2);
        assert_eq!(
            written.rows_in,
            Some(2010),
            "4 files of 500 rows and 10 dims"
        );
    }

    /// A run after a lost worker is cut into as many tasks as the run before, on the
    /// workers left, so their scan tasks are the ones they ran and kept; planned afresh
    /// on those workers it would be cut into fewer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_after_a_lost_worker_is_cut_into_as_many_tasks_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let spec = facts_and_dims_query(
            dir.path(),
            "SELECT d.name, count(*) AS n FROM facts f JOIN dims d ON f.k = d.id GROUP BY d.name",
        );
        let mut urls = vec![];
        for _ in 0..3 {
            urls.push(crate::remote::tests::served("s3cret", Wire::Authenticated).await);
        }
        let over =
            |urls: Vec<url::Url>| QueryWorkers::Remote(RemoteWorkers::new(urls, "s3cret".into()));
        let first = plan(&spec, &small_options(over(urls.clone()), Some(1024)))
            .await
            .unwrap();
        let left = vec![urls[0].clone(), urls[2].clone()];
        let again = QueryOptions {
            earlier: Some(first.earlier_run()),
            ..small_options(over(left.clone()), Some(1024))
        };
        let again = plan(&spec, &again).await.unwrap();
        assert_eq!(again.stages(), first.stages(), "{}", again.explain());
        let afresh = plan(&spec, &small_options(over(left), Some(1024)))
            .await
            .unwrap();
        assert!(afresh.stages().1 < first.stages().1, "{}", afresh.explain());
        let staging = Location::parse(&dir.path().join("staging").display().to_string()).unwrap();
        let written = again.write(OutputFormat::Csv, &staging).await.unwrap();
        assert_eq!(written.rows, 10);
    }

    /// A partition larger than `file_bytes` goes out as several files, in order, each
    /// whole, and nothing is held back.
    #[tokio::test]
    async fn a_large_partition_is_written_as_several_files_in_order() {
        use datafusion::arrow::array::Int64Array;
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::datasource::memory::MemorySourceConfig;
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let batches: Vec<RecordBatch> = (0..5)
            .map(|b| {
                let column = Int64Array::from_iter_values(b * 3..b * 3 + 3);
                RecordBatch::try_new(schema.clone(), vec![Arc::new(column)]).unwrap()
            })
            .collect();
        let one_batch = batches[0].get_array_memory_size();
        let planned = PlannedQuery {
            ctx: SessionContext::new(),
            plan: MemorySourceConfig::try_new_exec(&[batches], schema, None).unwrap(),
            files: vec![],
            input_bytes: 0,
            // Two batches a file.
            file_bytes: one_batch * 2,
            locality: ScanLocality::default(),
            named: 0,
            rows_out: Default::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let staging = Location::parse(&dir.path().display().to_string()).unwrap();
        let written = planned.write(OutputFormat::Csv, &staging).await.unwrap();
        let names: Vec<&str> = written.files.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "task-00000-0000.csv",
                "task-00000-0001.csv",
                "task-00000-0002.csv"
            ]
        );
        let mut values = vec![];
        for name in names {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("x"), "{name} has its header");
            values.extend(lines.map(|l| l.parse::<i64>().unwrap()));
        }
        assert_eq!(values, (0..15).collect::<Vec<_>>());
        assert_eq!(written.rows, 15);
        assert_eq!(planned.rows_out(), 15, "progress counts every row put out");
    }

    #[tokio::test]
    async fn an_unknown_column_is_a_plan_error_and_a_missing_input_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a.csv");
        std::fs::write(&data, "x\n1\n").unwrap();
        let yaml = |path: &str, q: &str| {
            format!("name: t\ninputs:\n  a: {{ path: \"{path}\", format: csv }}\nquery: {q}\noutput: {{ path: out }}\n")
        };
        let opts = small_options(QueryWorkers::InProcess(2), None);
        let spec = QuerySpec::from_yaml(&yaml(&data.display().to_string(), "SELECT y FROM a"), "t")
            .unwrap();
        let e = plan(&spec, &opts).await.err().unwrap().to_string();
        assert!(e.starts_with("key `query`") && e.contains('y'), "{e}");
        let missing = dir.path().join("none/*.csv").display().to_string();
        let spec = QuerySpec::from_yaml(&yaml(&missing, "SELECT 1"), "t").unwrap();
        let e = plan(&spec, &opts).await.err().unwrap().to_string();
        assert!(e.starts_with("key `inputs.a`"), "{e}");
    }

    #[tokio::test]
    async fn csv_files_with_columns_in_another_order_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "x,y\n1,2\n").unwrap();
        std::fs::write(dir.path().join("b.csv"), "y,x\n3,4\n").unwrap();
        let yaml = format!(
            "name: t\ninputs:\n  t: {{ path: \"{}/*.csv\", format: csv }}\n\
             query: SELECT sum(x) FROM t\noutput: {{ path: out }}\n",
            dir.path().display()
        );
        let spec = QuerySpec::from_yaml(&yaml, "t").unwrap();
        let opts = small_options(QueryWorkers::InProcess(2), None);
        let e = plan(&spec, &opts).await.err().unwrap().to_string();
        assert!(
            e.starts_with("key `inputs.t`") && e.contains("b.csv"),
            "{e}"
        );
        std::fs::write(dir.path().join("b.csv"), "x,y\n3,4\n").unwrap();
        assert!(plan(&spec, &opts).await.is_ok());
    }
}
