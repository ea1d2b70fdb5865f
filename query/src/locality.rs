//! Scan locality for query stages. When a scan is cut into tasks, its files are cut at
//! their HDFS blocks and each task gets the pieces of one host, tasks spread over the
//! hosts in proportion to their bytes; when the stage starts, each task goes to a worker
//! on the host that holds most of its bytes, as far as an even load allows. Without
//! block locations (local files, S3) the library's own cutting stands, and tasks go round
//! the workers. In a run after a lost worker, a task goes back to the worker it ran on,
//! which kept its results, while that worker is there, and the lost worker's tasks are
//! spread over the others ([`crate::routes`]). What each task then reads on its own host,
//! its rack, or elsewhere is counted for the job's summary.

use crate::routes::Routes;
use crate::scans::{byte_range, file_scan, scan_files, stage_scans};
use datafusion::datasource::listing::{FileRange, PartitionedFile};
use datafusion::datasource::physical_plan::FileGroup;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_plan::{displayable, ExecutionPlan, ExecutionPlanProperties};
use datafusion_distributed::{
    DistributedConfig, DistributedLeafExec, NetworkBoundaryExt, RouteTasksEvent,
    RouteTasksEventResponse, RouteTasksHandler, ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
    ScaleUpLeafNodeHandler,
};
use spindle_io::blocks::apportion;
use spindle_io::storage::{FileInfo, Location};
use spindle_job::QuerySpec;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use url::Url;

/// datafusion-distributed's own bytes per scan partition, when its config cannot be read.
const DEFAULT_SPLIT: u64 = 16 << 20;

/// The HDFS blocks of the input files, by path (no scheme, authority or leading `/`).
pub type Blocks = HashMap<String, Vec<Block>>;

/// One HDFS block of a file: where its replicas are.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub offset: u64,
    pub length: u64,
    pub hosts: Vec<String>,
    /// Each replica's rack, in the order of `hosts`.
    pub racks: Vec<String>,
}

/// What the scans of the query's stages read where they ran.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Tasks that read at least half their bytes on their own host, their rack, or
    /// neither; and tasks whose files have no block locations (S3, local files).
    pub data_local: u64,
    pub rack_local: u64,
    pub off_switch: u64,
    pub no_preference: u64,
    pub data_local_bytes: u64,
    pub rack_local_bytes: u64,
    pub off_switch_bytes: u64,
    pub no_preference_bytes: u64,
}

/// The input files' blocks, and the tally of the scans routed by them. Cloned into the
/// session's handlers; the planner says where the blocks are once it has listed the files.
#[derive(Clone, Default)]
pub struct ScanLocality {
    placement: Arc<OnceLock<Placement>>,
    tally: Arc<Mutex<Tally>>,
    routes: Routes,
}

/// A scan task, as a worker keeps its results: what it reads (in full), its number and
/// how many tasks the scan was cut into.
fn task_key(variant: &Arc<dyn ExecutionPlan>, task: usize, tasks: usize) -> u64 {
    let text = displayable(variant.as_ref()).indent(true).to_string();
    hash_of(&(text, task, tasks))
}

fn hash_of(value: &impl std::hash::Hash) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    std::hash::Hasher::finish(&hasher)
}

/// The blocks, and each host's rack as their replicas name it.
struct Placement {
    blocks: Arc<Blocks>,
    racks: HashMap<String, String>,
}

impl ScanLocality {
    /// Scan locality that routes tasks where `routes` says they ran in an earlier run.
    pub fn following(routes: Routes) -> ScanLocality {
        ScanLocality {
            routes,
            ..ScanLocality::default()
        }
    }

    /// Where this plan's scan tasks went, for a later run of the query.
    pub fn routes(&self) -> Routes {
        self.routes.clone()
    }

    /// Says where the input's blocks are; only the first call counts.
    pub fn locate(&self, blocks: Arc<Blocks>) {
        let racks = host_racks(&blocks);
        let _ = self.placement.set(Placement { blocks, racks });
    }

    /// The blocks, once located: a later plan of the same query reuses them.
    pub fn blocks(&self) -> Option<Arc<Blocks>> {
        self.placement.get().map(|p| p.blocks.clone())
    }

    /// The placement, when some block is known.
    fn placement(&self) -> Option<&Placement> {
        self.placement.get().filter(|p| !p.blocks.is_empty())
    }

    pub fn tally(&self) -> Tally {
        *self.tally.lock().expect("tally poisoned")
    }

    /// A routing handler that places the scans of `workers`' stages.
    pub fn router(&self, workers: Vec<Url>) -> impl RouteTasksHandler {
        let locality = self.clone();
        move |ev: RouteTasksEvent| locality.route(ev.plan, ev.task_count, &workers)
    }

    /// A leaf planner that cuts file scans into tasks by host.
    pub fn leaf_planner(&self) -> impl ScaleUpLeafNodeHandler {
        let locality = self.clone();
        move |ev: ScaleUpLeafNodeEvent| {
            let split = DistributedConfig::from_session_config(ev.session_config)
                .map(|c| c.file_scan_config_bytes_per_partition as u64)
                .unwrap_or(DEFAULT_SPLIT);
            locality.scale_up(ev.plan, ev.task_count, split)
        }
    }

    /// Cuts the scan `plan` into `tasks` tasks by host, its pieces at most `split` bytes
    /// (so a worker's partitions share a large block); `None` leaves it to the library.
    fn scale_up(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        tasks: usize,
        split: u64,
    ) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
        let scan = file_scan(plan.as_ref())?;
        // Partitioned or ordered scans keep the library's cutting, which respects them.
        if tasks <= 1 || scan.output_partitioning.is_some() || !scan.output_ordering.is_empty() {
            return None;
        }
        let blocks = &self.placement()?.blocks;
        // Compressed files are read whole; others may be cut at byte offsets.
        let cuttable = !scan.file_compression_type.is_compressed()
            && scan.file_source().supports_repartitioning();
        let pieces = pieces(scan_files(scan), blocks, cuttable.then_some(split.max(1)));
        // Nothing of this scan on HDFS (another input is): the library cuts it by size.
        if pieces.iter().all(|p| p.host.is_none()) {
            return None;
        }
        let partitions = plan.output_partitioning().partition_count().max(1);
        let variants = homes(&pieces, tasks).into_iter().map(|task| {
            let mut variant = scan.clone();
            variant.file_groups = spread(task.iter().map(|&i| &pieces[i]), partitions);
            DataSourceExec::from_data_source(variant) as Arc<dyn ExecutionPlan>
        });
        Some(
            DistributedLeafExec::try_new(Arc::clone(plan), variants)
                .map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf))),
        )
    }

    fn route(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        tasks: usize,
        workers: &[Url],
    ) -> Option<Result<RouteTasksEventResponse>> {
        let variants = leaf_variants(plan.as_ref())?;
        if variants.len() != tasks || workers.is_empty() {
            return None;
        }
        let placement = self.placement();
        let no_blocks = Blocks::new();
        let blocks = placement.map_or(&no_blocks, |p| &p.blocks);
        let reads: Vec<TaskBytes> = variants
            .iter()
            .map(|v| task_bytes(v.as_ref(), blocks))
            .collect();
        let keys: Vec<u64> = (variants.iter().enumerate())
            .map(|(task, variant)| task_key(variant, task, tasks))
            .collect();
        // Nothing of this stage's scans is on HDFS: they go round the workers, and count
        // as having no preference.
        let Some(placement) = placement else {
            let mut tally = self.tally.lock().expect("tally poisoned");
            reads.iter().for_each(|read| tally.add(read, "", None));
            let chosen = self
                .routes
                .stick(&keys, in_turn(plan, workers.len(), tasks), workers);
            let urls = chosen.into_iter().map(|w| workers[w].clone()).collect();
            return Some(Ok(RouteTasksEventResponse::new(urls)));
        };
        let hosts: Vec<String> = workers
            .iter()
            .map(|u| u.host_str().unwrap_or_default().to_string())
            .collect();
        let chosen = self.routes.stick(&keys, assign(&reads, &hosts), workers);
        let mut tally = self.tally.lock().expect("tally poisoned");
        for (read, &w) in reads.iter().zip(&chosen) {
            let rack = placement.racks.get(&hosts[w]).map(String::as_str);
            tally.add(read, &hosts[w], rack);
        }
        let urls = chosen.into_iter().map(|w| workers[w].clone()).collect();
        Some(Ok(RouteTasksEventResponse::new(urls)))
    }
}

/// Scans with no preferred host, placed the same way whenever `plan` is planned again on
/// as many workers (the index of each task's worker). Tasks go round the workers from a
/// place that depends on the plan, so one-task scans do not all land on the first.
fn in_turn(plan: &Arc<dyn ExecutionPlan>, workers: usize, tasks: usize) -> Vec<usize> {
    let start = hash_of(&displayable(plan.as_ref()).one_line().to_string()) as usize;
    (0..tasks).map(|i| (start + i) % workers).collect()
}

impl Tally {
    fn add(&mut self, read: &TaskBytes, host: &str, rack: Option<&str>) {
        self.no_preference_bytes += read.unplaced;
        if read.total == 0 {
            self.no_preference += u64::from(read.unplaced > 0);
            return;
        }
        let local = read.on_host.get(host).copied().unwrap_or(0);
        let in_rack = rack
            .and_then(|r| read.in_rack.get(r).copied())
            .unwrap_or(0)
            .max(local);
        self.data_local_bytes += local;
        self.rack_local_bytes += in_rack - local;
        self.off_switch_bytes += read.total - in_rack;
        if local * 2 >= read.total {
            self.data_local += 1;
        } else if in_rack * 2 >= read.total {
            self.rack_local += 1;
        } else {
            self.off_switch += 1;
        }
    }
}

/// The bytes one scan task reads, by the hosts and racks that hold them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TaskBytes {
    /// Bytes in HDFS blocks.
    pub total: u64,
    /// Bytes of files with no block locations (S3, local files).
    pub unplaced: u64,
    pub on_host: HashMap<String, u64>,
    pub in_rack: HashMap<String, u64>,
}

/// For each task, the index of its worker (`hosts[i]` is worker `i`'s host): tasks with
/// the most bytes in one place choose first, each the worker with the most of its bytes
/// on its host among those below an even share of the tasks (then the least loaded).
pub fn assign(tasks: &[TaskBytes], hosts: &[String]) -> Vec<usize> {
    let cap = tasks.len().div_ceil(hosts.len().max(1));
    let mut load = vec![0usize; hosts.len()];
    let mut chosen = vec![0usize; tasks.len()];
    let best_place = |t: &TaskBytes| t.on_host.values().copied().max().unwrap_or(0);
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(best_place(&tasks[i])));
    for i in order {
        let t = &tasks[i];
        let w = (0..hosts.len())
            .filter(|&w| load[w] < cap)
            .max_by_key(|&w| {
                let local = t.on_host.get(&hosts[w]).copied().unwrap_or(0);
                (local, std::cmp::Reverse(load[w]), std::cmp::Reverse(w))
            })
            .unwrap_or(0);
        load[w] += 1;
        chosen[i] = w;
    }
    chosen
}

/// The blocks of the HDFS files among `files`, by path, for placing scans; none when the
/// NameNode cannot say (locality is an optimisation).
pub async fn blocks_of(files: &[FileInfo]) -> Blocks {
    if !files.iter().any(|f| f.url.starts_with("hdfs://")) {
        return HashMap::new();
    }
    let located = spindle_io::blocks::hdfs_blocks(files).await;
    located
        .into_iter()
        .filter_map(|(url, blocks)| {
            let (_, path) = spindle_io::blocks::split_hdfs_url(&url)?;
            let blocks = blocks
                .into_iter()
                .map(|b| Block {
                    offset: b.offset,
                    length: b.length,
                    hosts: b.hosts,
                    racks: b.racks,
                })
                .collect();
            Some((path.trim_start_matches('/').to_string(), blocks))
        })
        .collect()
}

/// The blocks of `spec`'s inputs (HDFS inputs only), for asking for workers near them
/// before the query is planned, and for placing its scans.
pub async fn input_blocks(spec: &QuerySpec) -> Blocks {
    let mut files = Vec::new();
    for input in spec.inputs.values() {
        // A listing error is the planner's to report, naming the input.
        if let Ok(listed) = Location::expand(&input.path).await {
            files.extend(listed);
        }
    }
    blocks_of(&files).await
}

/// The bytes each host holding some of `blocks` holds.
pub fn host_bytes(blocks: &Blocks) -> Vec<(String, u64)> {
    let mut by_host: HashMap<String, u64> = HashMap::new();
    for block in blocks.values().flatten() {
        for host in &block.hosts {
            *by_host.entry(host.clone()).or_default() += block.length;
        }
    }
    by_host.into_iter().collect()
}

/// A part of a file that one task reads, and the host that holds it (if known).
#[derive(Debug, Clone)]
pub struct Piece {
    file: PartitionedFile,
    bytes: u64,
    host: Option<String>,
}

/// `files` cut at their blocks and then into pieces of at most `split` bytes (when they
/// may be cut; else each whole, homed where most of it is), each piece homed on the
/// replica host of its block with the fewest bytes so far.
fn pieces<'a>(
    files: impl Iterator<Item = &'a PartitionedFile>,
    blocks: &Blocks,
    split: Option<u64>,
) -> Vec<Piece> {
    let mut held: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    for file in files {
        let (start, end) = byte_range(file);
        let overlapping: Vec<(u64, u64, &Block)> = block_parts(file, blocks).collect();
        let mut home = |hosts: &[String], bytes: u64| {
            let host = hosts
                .iter()
                .min_by_key(|h| held.get(*h).copied().unwrap_or(0))?;
            *held.entry(host.clone()).or_default() += bytes;
            Some(host.clone())
        };
        if let (Some(split), false) = (split, overlapping.is_empty()) {
            for (s, e, block) in overlapping {
                let host = home(&block.hosts, e - s);
                let mut at = s;
                while at < e {
                    let to = e.min(at + split);
                    let mut piece = file.clone();
                    piece.range = Some(FileRange {
                        start: at as i64,
                        end: to as i64,
                    });
                    out.push(Piece {
                        file: piece,
                        bytes: to - at,
                        host: host.clone(),
                    });
                    at = to;
                }
            }
        } else {
            // Whole: homed on the host of its largest block.
            let largest = overlapping.iter().max_by_key(|(s, e, _)| e - s);
            let host = largest.and_then(|(_, _, b)| home(&b.hosts, end - start));
            out.push(Piece {
                file: file.clone(),
                bytes: end - start,
                host,
            });
        }
    }
    out
}

/// The pieces (by index) of each of `tasks` tasks: task slots go to hosts in proportion
/// to the bytes they hold ([`apportion`]), a host's pieces to its tasks
/// evenly by bytes, and pieces of hosts without a slot (or of no host) to the task with
/// the fewest bytes.
pub fn homes(pieces: &[Piece], tasks: usize) -> Vec<Vec<usize>> {
    let tasks = tasks.max(1);
    let mut by_host: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in pieces.iter().enumerate() {
        by_host
            .entry(p.host.as_deref().unwrap_or(""))
            .or_default()
            .push(i);
    }
    let bytes_of = |ids: &[usize]| ids.iter().map(|&i| pieces[i].bytes).sum::<u64>();
    let mut hosts: Vec<(&str, u64)> = by_host
        .iter()
        .filter(|(h, _)| !h.is_empty())
        .map(|(h, ids)| (*h, bytes_of(ids)))
        .collect();
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let weights: Vec<u64> = hosts.iter().map(|(_, b)| *b).collect();
    let slots = apportion(tasks as u64, &weights);
    let mut out: Vec<Vec<usize>> = Vec::with_capacity(tasks);
    let mut load: Vec<u64> = Vec::with_capacity(tasks);
    let mut homeless: Vec<usize> = by_host.get("").cloned().unwrap_or_default();
    for ((host, _), &n) in hosts.iter().zip(&slots) {
        let n = n as usize;
        let mut ids = by_host[host].clone();
        if n == 0 {
            homeless.extend(ids);
            continue;
        }
        ids.sort_by_key(|&i| std::cmp::Reverse(pieces[i].bytes));
        let first = out.len();
        out.extend((0..n).map(|_| Vec::new()));
        load.extend((0..n).map(|_| 0));
        for i in ids {
            let t = (first..first + n).min_by_key(|&t| load[t]).expect("a slot");
            load[t] += pieces[i].bytes;
            out[t].push(i);
        }
    }
    // No host known at all: every task is homeless.
    while out.len() < tasks {
        out.push(Vec::new());
        load.push(0);
    }
    homeless.sort_by_key(|&i| std::cmp::Reverse(pieces[i].bytes));
    for i in homeless {
        let t = (0..tasks).min_by_key(|&t| load[t]).expect("a task");
        load[t] += pieces[i].bytes;
        out[t].push(i);
    }
    out
}

/// `pieces` dealt into `partitions` file groups, evenly by bytes (the largest first).
fn spread<'a>(pieces: impl Iterator<Item = &'a Piece>, partitions: usize) -> Vec<FileGroup> {
    let mut pieces: Vec<&Piece> = pieces.collect();
    pieces.sort_by_key(|p| std::cmp::Reverse(p.bytes));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); partitions];
    for p in pieces {
        let g = groups.iter_mut().min_by_key(|(b, _)| *b).expect("a group");
        g.0 += p.bytes;
        g.1.push(p.file.clone());
    }
    groups
        .into_iter()
        .map(|(_, files)| FileGroup::new(files))
        .collect()
}

/// The per-task plans of the scan at the bottom of this stage, if it has one.
fn leaf_variants(plan: &dyn ExecutionPlan) -> Option<Vec<Arc<dyn ExecutionPlan>>> {
    if plan.as_network_boundary().is_some() {
        return None;
    }
    if let Some(leaf) = plan.downcast_ref::<DistributedLeafExec>() {
        return Some(leaf.variants().to_vec());
    }
    plan.children()
        .into_iter()
        .find_map(|c| leaf_variants(c.as_ref()))
}

/// The bytes a task's file ranges read, placed by the blocks that hold them.
fn task_bytes(plan: &dyn ExecutionPlan, blocks: &Blocks) -> TaskBytes {
    let mut bytes = TaskBytes::default();
    stage_scans(plan, &mut |scan| {
        for file in scan_files(scan).filter(|f| !blocks.contains_key(key_of(f))) {
            let (start, end) = byte_range(file);
            bytes.unplaced += end - start;
        }
        for (start, end, block) in scan_files(scan).flat_map(|f| block_parts(f, blocks)) {
            let overlap = end - start;
            bytes.total += overlap;
            for host in &block.hosts {
                *bytes.on_host.entry(host.clone()).or_default() += overlap;
            }
            let mut racks = block.racks.clone();
            racks.sort();
            racks.dedup();
            for rack in racks {
                *bytes.in_rack.entry(rack).or_default() += overlap;
            }
        }
    });
    bytes
}

/// The parts `[start, end)` of `file`'s range that lie in each of its blocks.
fn block_parts<'a>(
    file: &PartitionedFile,
    blocks: &'a Blocks,
) -> impl Iterator<Item = (u64, u64, &'a Block)> {
    let (start, end) = byte_range(file);
    blocks
        .get(key_of(file))
        .into_iter()
        .flatten()
        .filter_map(move |b| {
            let (s, e) = (start.max(b.offset), end.min(b.offset + b.length));
            (s < e).then_some((s, e, b))
        })
}

/// `file`'s key in [`Blocks`].
fn key_of(file: &PartitionedFile) -> &str {
    file.object_meta.location.as_ref().trim_start_matches('/')
}

/// Each host's rack, as the blocks' replicas name them.
fn host_racks(blocks: &Blocks) -> HashMap<String, String> {
    let mut racks = HashMap::new();
    for block in blocks.values().flatten() {
        for (host, rack) in block.hosts.iter().zip(&block.racks) {
            racks.insert(host.clone(), rack.clone());
        }
    }
    racks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(total: u64, on: &[(&str, u64)]) -> TaskBytes {
        TaskBytes {
            total,
            on_host: on.iter().map(|(h, b)| (h.to_string(), *b)).collect(),
            ..Default::default()
        }
    }

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|h| h.to_string()).collect()
    }

    fn piece(bytes: u64, host: Option<&str>) -> Piece {
        Piece {
            file: PartitionedFile::new("f", bytes),
            bytes,
            host: host.map(str::to_string),
        }
    }

    /// The hosts of each task's pieces.
    fn task_hosts(pieces: &[Piece], tasks: &[Vec<usize>]) -> Vec<Vec<Option<String>>> {
        tasks
            .iter()
            .map(|t| {
                let mut hosts: Vec<_> = t.iter().map(|&i| pieces[i].host.clone()).collect();
                hosts.dedup();
                hosts
            })
            .collect()
    }

    #[test]
    fn files_are_cut_at_their_blocks_then_to_the_split_size_unless_they_cannot_be() {
        let block = |offset, length, host: &str| Block {
            offset,
            length,
            hosts: vec![host.to_string()],
            racks: vec!["/r".to_string()],
        };
        let blocks: HashMap<String, Vec<Block>> = [
            (
                "d/two".to_string(),
                vec![block(0, 100, "a"), block(100, 150, "b")],
            ),
            ("d/one".to_string(), vec![block(0, 30, "c")]),
        ]
        .into();
        let files = [
            PartitionedFile::new("d/two", 250),
            PartitionedFile::new("d/one", 30),
            PartitionedFile::new("d/elsewhere", 40),
        ];
        let cut = pieces(files.iter(), &blocks, Some(60));
        let shown: Vec<(i64, i64, Option<&str>)> = cut
            .iter()
            .map(|p| {
                let r = p.file.range.as_ref().map_or((0, -1), |r| (r.start, r.end));
                (r.0, r.1, p.host.as_deref())
            })
            .collect();
        assert_eq!(
            shown,
            [
                (0, 60, Some("a")),
                (60, 100, Some("a")),
                (100, 160, Some("b")),
                (160, 220, Some("b")),
                (220, 250, Some("b")),
                (0, 30, Some("c")),
                (0, -1, None),
            ]
        );
        // Compressed: whole files, each homed on the host of its largest block.
        let whole = pieces(files.iter(), &blocks, None);
        let hosts: Vec<Option<&str>> = whole.iter().map(|p| p.host.as_deref()).collect();
        assert_eq!(hosts, [Some("b"), Some("c"), None]);
        assert!(whole.iter().all(|p| p.file.range.is_none()));
        assert_eq!(whole.iter().map(|p| p.bytes).sum::<u64>(), 320);
    }

    #[test]
    fn each_task_reads_the_pieces_of_one_host() {
        let pieces: Vec<Piece> = (0..24)
            .map(|i| piece(100, Some(["a", "b", "c"][i % 3])))
            .collect();
        let tasks = homes(&pieces, 6);
        assert_eq!(tasks.len(), 6);
        for hosts in task_hosts(&pieces, &tasks) {
            assert_eq!(hosts.len(), 1, "{hosts:?}");
        }
        assert!(tasks.iter().all(|t| t.len() == 4), "{tasks:?}");
        let mut all: Vec<usize> = tasks.concat();
        all.sort();
        assert_eq!(all, (0..24).collect::<Vec<_>>(), "every piece read once");
    }

    #[test]
    fn hosts_get_tasks_in_proportion_to_their_bytes() {
        let mut pieces: Vec<Piece> = (0..6).map(|_| piece(10, Some("a"))).collect();
        pieces.extend((0..2).map(|_| piece(10, Some("b"))));
        let tasks = homes(&pieces, 4);
        let hosts = task_hosts(&pieces, &tasks);
        let on = |h: &str| hosts.iter().filter(|t| t[0].as_deref() == Some(h)).count();
        assert_eq!((on("a"), on("b")), (3, 1), "{hosts:?}");
    }

    #[test]
    fn pieces_of_no_known_host_go_to_the_lightest_tasks() {
        let pieces = vec![
            piece(50, Some("a")),
            piece(10, Some("b")),
            piece(30, None),
            piece(5, None),
        ];
        let tasks = homes(&pieces, 2);
        let load: Vec<u64> = tasks
            .iter()
            .map(|t| t.iter().map(|&i| pieces[i].bytes).sum())
            .collect();
        assert_eq!(load.iter().sum::<u64>(), 95);
        assert_eq!(tasks.concat().len(), 4);
        // b's task (10) takes the 30 and then the 5: 45 against a's 50.
        assert_eq!(load.iter().max(), Some(&50), "{tasks:?}");
        // More tasks than pieces: some read nothing, none reads twice.
        let tasks = homes(&pieces[..1], 3);
        assert_eq!(tasks.iter().map(Vec::len).collect::<Vec<_>>(), [1, 0, 0]);
    }

    #[test]
    fn each_task_goes_to_the_worker_holding_its_bytes() {
        let tasks = [
            task(10, &[("b", 10)]),
            task(10, &[("c", 10)]),
            task(10, &[("a", 10)]),
        ];
        assert_eq!(assign(&tasks, &hosts(&["a", "b", "c"])), [1, 2, 0]);
    }

    #[test]
    fn no_worker_takes_more_than_an_even_share_even_when_it_holds_everything() {
        let tasks: Vec<TaskBytes> = (0..4).map(|_| task(10, &[("a", 10)])).collect();
        let chosen = assign(&tasks, &hosts(&["a", "b"]));
        assert_eq!(chosen.iter().filter(|&&w| w == 0).count(), 2, "{chosen:?}");
        assert_eq!(chosen.iter().filter(|&&w| w == 1).count(), 2, "{chosen:?}");
    }

    #[test]
    fn the_task_with_most_in_one_place_chooses_first() {
        // Both prefer a; a has room for one: the one with more bytes there gets it.
        let tasks = [task(10, &[("a", 4)]), task(10, &[("a", 9)])];
        assert_eq!(assign(&tasks, &hosts(&["a", "b"])), [1, 0]);
    }

    #[test]
    fn a_task_read_where_it_runs_counts_as_data_local_bytes_and_the_rest_by_rack() {
        let mut read = task(10, &[("a", 6), ("b", 4)]);
        read.in_rack = [("/r1".to_string(), 6), ("/r2".to_string(), 4)].into();
        let mut tally = Tally::default();
        tally.add(&read, "a", Some("/r1"));
        assert_eq!((tally.data_local, tally.data_local_bytes), (1, 6));
        assert_eq!((tally.rack_local_bytes, tally.off_switch_bytes), (0, 4));
        tally.add(&read, "c", Some("/r2"));
        assert_eq!((tally.off_switch, tally.rack_local_bytes), (1, 4));
        assert_eq!(tally.off_switch_bytes, 4 + 6);
        assert_eq!((tally.no_preference, tally.no_preference_bytes), (0, 0));
    }

    #[test]
    fn a_task_reading_files_without_blocks_has_no_preference() {
        let mut tally = Tally::default();
        let s3 = TaskBytes {
            unplaced: 7,
            ..Default::default()
        };
        tally.add(&s3, "a", None);
        assert_eq!((tally.no_preference, tally.no_preference_bytes), (1, 7));
        // Partly on HDFS: placed by its HDFS bytes; the others have no preference.
        let mut mixed = task(10, &[("a", 10)]);
        mixed.unplaced = 3;
        tally.add(&mixed, "a", None);
        assert_eq!((tally.data_local, tally.data_local_bytes), (1, 10));
        assert_eq!((tally.no_preference, tally.no_preference_bytes), (1, 10));
        // A task that reads nothing is not counted.
        tally.add(&TaskBytes::default(), "a", None);
        assert_eq!(tally.no_preference, 1);
    }

    #[test]
    fn scans_without_a_preferred_host_go_round_the_workers_the_same_way_each_time() {
        use datafusion::arrow::array::Int64Array;
        use datafusion::arrow::record_batch::RecordBatch;
        use datafusion::datasource::memory::MemorySourceConfig;
        let column = Arc::new(Int64Array::from(vec![1]));
        let batch = RecordBatch::try_from_iter([("v", column as _)]).unwrap();
        let plan = MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], batch.schema(), None)
            .unwrap() as Arc<dyn ExecutionPlan>;
        let placed = in_turn(&plan, 3, 4);
        assert_eq!(placed, in_turn(&plan, 3, 4), "placed differently");
        let expected: Vec<usize> = (0..4).map(|i| (placed[0] + i) % 3).collect();
        assert_eq!(placed, expected);
    }
}
