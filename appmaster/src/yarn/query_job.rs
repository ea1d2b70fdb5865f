//! A query job (`inputs` + `query`) on YARN. The application master is the query's
//! coordinator: it asks for one container per worker, each running `spindle
//! query-worker`, which puts its address in the application's key-value store under a
//! key its container owns. The master plans the query over those workers, runs it with
//! the same loop as `spindle run` (a container that ends, or whose worker's heartbeat key
//! stops changing for `workers.heartbeat_timeout`, is replaced and the query run again,
//! up to `workers.max_restarts`), and commits the output.

use super::am::{
    commit_options, conclude, progress_channel, serve_kv, stop_on_sigterm, worker_ask, AmEnv, Opts,
};
use super::app::{Registered, APPLICATION_ID_ENV, KV_ENV};
use super::ask::NODE_LOCAL_ASKS_FOR;
use super::launch::LaunchInfo;
use super::stages_after::{run_stages_after, StageSetup};
use super::{WorkerTemplate, YarnLauncher};
use crate::cmdline::QueryWorkerCommand;
use crate::commit::{CommitError, Committer, Inputs};
use crate::kv::service::KvService;
use crate::kv::store::Revision;
use crate::launcher::{ContainerLauncher, LauncherEvent};
use crate::progress::{Progress, Status, Summary};
use crate::query::{plan, run_query, LostWorker, QueryPool};
use spindle_io::channel::Wire;
use spindle_job::wire::WorkerId;
use spindle_job::QuerySpec;
use spindle_query::locality::{host_bytes, input_blocks, Blocks};
use spindle_query::remote::{worker_url, RemoteWorkers};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use url::Url;

/// `spindle.query.workers/<id>`: where a query worker serves, owned by its container.
pub const QUERY_WORKERS_PREFIX: &str = "spindle.query.workers/";

pub fn query_worker_key(id: WorkerId) -> String {
    format!("{QUERY_WORKERS_PREFIX}{id}")
}

/// `spindle.query.beats/<id>`: put again and again by a live worker, owned by its
/// container.
pub const QUERY_BEATS_PREFIX: &str = "spindle.query.beats/";

pub fn query_beat_key(id: WorkerId) -> String {
    format!("{QUERY_BEATS_PREFIX}{id}")
}

/// A container that ended is reported to the master within this long.
const LOSS_REPORTED_WITHIN: Duration = Duration::from_secs(5);

/// How often the master looks at the workers' heartbeat keys.
const BEAT_LOOK: Duration = Duration::from_millis(500);

/// The share of a worker container's memory its tasks may hold; the rest is the
/// process's own (YARN kills a container that outgrows its memory).
const TASK_MEMORY_PERCENT: u64 = 80;

/// The share of the master's container memory its query tasks (the final stage) may
/// hold: the rest is the store, the output on its way to files, and the process.
const COORDINATOR_MEMORY_PERCENT: u64 = 50;

/// Containers may wait in the scheduler's queue this long at most.
const JOIN_WITHIN: Duration = Duration::from_secs(600);

pub async fn run_query_job(
    spec: &QuerySpec,
    r: Registered,
    env: &AmEnv,
    started: Instant,
) -> Status {
    let app_id = r.session.app_id.clone();
    let kv_address = format!("{}:{}", r.session.host, r.session.port);
    let store = r.kv.open().await;
    // The application's own traffic (the store, the stages' workers) is encrypted where
    // the spec or the cluster asks.
    let wire = match spec.encrypt {
        true => Wire::Encrypted,
        false => r.wire,
    };
    if let Ok(service) = &store {
        tokio::spawn(serve_kv(
            r.kv_listener,
            r.ended,
            r.secret.clone(),
            wire,
            service.clone(),
        ));
    }
    let silent_after = spec.workers.heartbeat_timeout.duration();
    // A few beats within the time allowed (one late beat is not silence), each a put in
    // the journal: no more than one per worker per 5 s.
    let beat = (silent_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let command = QueryWorkerCommand {
        memory_bytes: spec.workers.memory.bytes() / 100 * TASK_MEMORY_PERCENT,
        bind: None,
        encrypt: spec.encrypt,
        heartbeat_ms: beat.as_millis() as u64,
        worker_id: None,
    };
    let launch = r.launch.clone();
    let secret = r.secret.clone();
    let vars = [
        (APPLICATION_ID_ENV, app_id.clone()),
        (KV_ENV, kv_address.clone()),
    ];
    let mut ask = worker_ask(&spec.workers, &launch);
    // Workers where the input's bytes are, in proportion: its scans are placed by host.
    let blocks = Arc::new(input_blocks(spec).await);
    let host_bytes = host_bytes(&blocks);
    if !host_bytes.is_empty() {
        ask.node_local_until = Some(tokio::time::Instant::now() + NODE_LOCAL_ASKS_FOR);
        ask.near(host_bytes);
    }
    let template = WorkerTemplate {
        asks: vec![ask],
        context: Box::new(move |id| {
            let command = QueryWorkerCommand {
                worker_id: Some(id),
                ..command.clone()
            };
            launch.context(
                &command.to_args(),
                &format!("query-worker-{id}"),
                &[],
                &vars,
                &secret,
            )
        }),
    };
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (progress_tx, progress_rx) = progress_channel(store.as_ref().ok());
    let mut launcher = YarnLauncher::start(r.session, template, events_tx, progress_rx);
    let summary = match &store {
        Err(e) => Summary::failed(&spec.name, e.clone(), started),
        Ok(service) => {
            let pool = ContainerPool {
                launcher: &mut launcher,
                events: &mut events,
                store: service.clone(),
                secret: r.secret.as_str().into(),
                slots: Vec::new(),
                coming: Vec::new(),
                next: 0,
                fatal: None,
                silent_after,
                coordinator_memory: coordinator_memory(spec, &r.launch),
            };
            let master = Master {
                env,
                app_id: &app_id,
                progress: &progress_tx,
                scheduler: r.scheduler,
                kv_address,
                secret: &r.secret,
                launch: &r.launch,
                wire,
                tokens: r.fresh_tokens,
            };
            run(spec, pool, blocks, master, started).await
        }
    };
    tracing::info!(status = ?summary.status, error = ?summary.error, "query ended");
    conclude(&summary, env, &r.launch, store.ok(), &launcher).await
}

/// What the master runs the query with, and hands on to the `stages` after it.
struct Master<'a> {
    env: &'a AmEnv,
    app_id: &'a str,
    progress: &'a watch::Sender<Progress>,
    /// Where the stages' workers connect.
    scheduler: TcpListener,
    kv_address: String,
    secret: &'a str,
    launch: &'a LaunchInfo,
    wire: Wire,
    tokens: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
}

/// What the master's query tasks may hold: a share of its container, or a worker's
/// memory when an older client did not say how big the container is.
fn coordinator_memory(spec: &QuerySpec, launch: &LaunchInfo) -> u64 {
    match launch.am_memory_mb {
        Some(mb) => ((mb.max(0) as u64) << 20) * COORDINATOR_MEMORY_PERCENT / 100,
        None => spec.workers.memory.bytes(),
    }
}

async fn run(
    spec: &QuerySpec,
    mut pool: ContainerPool<'_>,
    blocks: Arc<Blocks>,
    master: Master<'_>,
    started: Instant,
) -> Summary {
    let Master {
        env,
        app_id,
        progress,
        ..
    } = master;
    let workers = env.workers.max(1) as usize;
    let failed = |e: String| Summary::failed(&spec.name, e, started);
    if let Err(e) = pool.start(workers).await {
        return failed(e);
    }
    let planned = match plan(spec, &pool, Some(blocks), None).await {
        Ok(p) => p,
        Err(e) => return failed(e.to_string()),
    };
    let patterns = spec.input_paths();
    let inputs = Inputs {
        patterns: &patterns,
        files: &planned.files,
    };
    let options = commit_options(env, app_id);
    let committer = match Committer::prepare(&spec.output, &spec.name, &inputs, &options).await {
        Ok(c) => c,
        Err(CommitError::Refused(why)) => return failed(format!("key `output.path`: {why}")),
        Err(CommitError::Failed(e)) => return failed(e),
    };
    let cancel = stop_on_sigterm(committer.clone(), pool.launcher.unregister());
    let query = run_query(
        spec,
        &mut pool,
        planned,
        &committer,
        cancel.clone(),
        Some(progress),
        started,
    )
    .await;
    if spec.stages.is_empty() || query.status != Status::Succeeded {
        return query;
    }
    // The query's containers go before the stages' are asked for: each gets its memory.
    let first = pool.release();
    let setup = StageSetup {
        scheduler: master.scheduler,
        store: &pool.store,
        kv_address: master.kv_address,
        secret: master.secret,
        launch: master.launch,
        opts: Opts {
            workers: workers as u32,
            app_id,
            env,
            progress: progress.clone(),
            racks: master.launch.host_racks(),
            wire: master.wire,
            tokens: master.tokens,
        },
        cancel,
    };
    let ContainerPool {
        launcher, events, ..
    } = pool;
    run_stages_after(
        spec,
        &query,
        committer,
        setup,
        (launcher, events, first),
        started,
    )
    .await
}

/// The query's worker containers.
struct ContainerPool<'a> {
    launcher: &'a mut YarnLauncher,
    events: &'a mut mpsc::UnboundedReceiver<LauncherEvent>,
    store: Arc<KvService>,
    secret: Arc<str>,
    /// The workers, in order.
    slots: Vec<Slot>,
    /// Replacements asked for that do not serve yet.
    coming: Vec<WorkerId>,
    /// The next worker id: a replacement gets a new one, so its key is its own.
    next: WorkerId,
    /// Why the launcher stopped, once it has: no more containers can be had.
    fatal: Option<String>,
    /// A worker whose heartbeat key has not changed for this long is lost.
    silent_after: Duration,
    /// What the master's own query tasks may hold.
    coordinator_memory: u64,
}

/// One worker of the query.
struct Slot {
    id: WorkerId,
    url: Url,
    /// The revision of its last heartbeat seen, and when it was first seen.
    beat: Option<Revision>,
    heard_at: Instant,
}

impl Slot {
    fn new(id: WorkerId, url: Url) -> Slot {
        Slot {
            id,
            url,
            beat: None,
            heard_at: Instant::now(),
        }
    }
}

impl ContainerPool<'_> {
    /// Ends every worker's container (and drops the asks of those still coming);
    /// returns the first number no worker of the pool ever had.
    fn release(&mut self) -> WorkerId {
        for id in 0..self.next {
            self.launcher.kill(id);
        }
        self.slots.clear();
        self.coming.clear();
        self.next
    }

    /// Asks for `count` workers and waits until each serves.
    async fn start(&mut self, count: usize) -> Result<(), String> {
        let ids: Vec<WorkerId> = (0..count).map(|_| self.new_id()).collect();
        for &id in &ids {
            self.launcher.launch(id)?;
        }
        self.slots = self.slots_when_serving(ids).await?;
        Ok(())
    }

    /// Workers `ids` as the pool's workers, once each serves.
    async fn slots_when_serving(&mut self, ids: Vec<WorkerId>) -> Result<Vec<Slot>, String> {
        let urls = self.serving(&ids).await?;
        Ok(ids
            .into_iter()
            .zip(urls)
            .map(|(id, url)| Slot::new(id, url))
            .collect())
    }

    fn new_id(&mut self) -> WorkerId {
        self.next += 1;
        self.next - 1
    }

    /// The first worker whose heartbeat has not changed for `silent_after`: a stopped
    /// process, whose container still runs.
    fn silent(&mut self) -> Option<LostWorker> {
        let now = Instant::now();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let beat = self
                .store
                .peek(&query_beat_key(slot.id))
                .map(|e| e.mod_revision);
            if beat != slot.beat {
                slot.beat = beat;
                slot.heard_at = now;
            } else if now.duration_since(slot.heard_at) > self.silent_after {
                let message = format!(
                    "query worker {} ({}) was silent for {}s (workers.heartbeat_timeout)",
                    slot.id,
                    self.launcher.log_hint(slot.id),
                    self.silent_after.as_secs_f64()
                );
                return Some(LostWorker { index, message });
            }
        }
        None
    }

    /// Replacements that serve by now: workers of the next run.
    fn adopt_served(&mut self) {
        let mut served = Vec::new();
        self.coming.retain(|&id| {
            let Some(entry) = self.store.peek(&query_worker_key(id)) else {
                return true;
            };
            match worker_url(&String::from_utf8_lossy(&entry.value)) {
                Ok(url) => {
                    served.push(Slot::new(id, url));
                    false
                }
                Err(_) => true,
            }
        });
        self.slots.extend(served);
    }

    /// The addresses of workers `ids` once each has put its key, or why not: a
    /// container ended first, the launcher stopped, or they took too long.
    async fn serving(&mut self, ids: &[WorkerId]) -> Result<Vec<Url>, String> {
        let store = self.store.clone();
        let keys = ids.iter().map(|&id| {
            let store = store.clone();
            async move {
                let key = query_worker_key(id);
                let entry = store.wait(&key, JOIN_WITHIN).await.ok_or_else(|| {
                    format!(
                        "query worker {id} did not start within {} s",
                        JOIN_WITHIN.as_secs()
                    )
                })?;
                worker_url(&String::from_utf8_lossy(&entry.value))
            }
        });
        let registered = futures::future::try_join_all(keys);
        let ended = async {
            loop {
                match self.events.recv().await {
                    Some(LauncherEvent::Exited {
                        worker,
                        diagnostics,
                        ..
                    }) if ids.contains(&worker) => {
                        break format!(
                            "query worker {worker} ended before it served: {diagnostics} ({})",
                            self.launcher.log_hint(worker)
                        )
                    }
                    Some(LauncherEvent::Fatal(why)) => {
                        self.fatal = Some(why.clone());
                        break why;
                    }
                    Some(_) => continue,
                    None => break "the container launcher stopped".to_string(),
                }
            }
        };
        tokio::select! {
            urls = registered => urls,
            why = ended => Err(why),
        }
    }
}

impl QueryPool for ContainerPool<'_> {
    fn count(&self) -> usize {
        self.slots.len()
    }

    /// Containers asked for, a replacement included as soon as it is asked for (the
    /// query may end before it runs).
    fn started(&self) -> usize {
        self.next as usize
    }

    fn coordinator_memory(&self) -> u64 {
        self.coordinator_memory
    }

    /// A container's end reaches the master through the NodeManager's and the master's
    /// heartbeats to the ResourceManager, a second or more each, while the query sees
    /// the broken connection at once.
    fn loss_settles(&self) -> Duration {
        LOSS_REPORTED_WITHIN
    }

    fn remote(&self) -> RemoteWorkers {
        let urls = self.slots.iter().map(|slot| slot.url.clone()).collect();
        RemoteWorkers::new(urls, self.secret.clone())
    }

    async fn lost(&mut self) -> LostWorker {
        if self.fatal.is_some() {
            return std::future::pending().await;
        }
        let mut look = tokio::time::interval(BEAT_LOOK);
        loop {
            let event = tokio::select! {
                event = self.events.recv() => event,
                _ = look.tick() => match self.silent() {
                    Some(lost) => return lost,
                    None => continue,
                },
            };
            match event {
                Some(LauncherEvent::Exited {
                    worker,
                    diagnostics,
                    ..
                }) => {
                    let Some(index) = self.slots.iter().position(|slot| slot.id == worker) else {
                        // A replaced worker's container, ending as asked, or a
                        // replacement that ended before it served: not coming any more.
                        self.coming.retain(|&id| id != worker);
                        continue;
                    };
                    let message = format!(
                        "query worker {worker} ({}) ended: {diagnostics}",
                        self.launcher.log_hint(worker)
                    );
                    return LostWorker { index, message };
                }
                Some(LauncherEvent::Fatal(why)) => {
                    self.fatal = Some(why.clone());
                    return LostWorker {
                        index: 0,
                        message: why,
                    };
                }
                Some(LauncherEvent::Started { .. }) => continue,
                None => return std::future::pending().await,
            }
        }
    }

    /// A container may wait in the scheduler's queue for long (a full cluster): the
    /// query runs again at once on the workers left, if any, and the newcomer joins
    /// the run after it serves.
    async fn replace(&mut self, index: usize) -> Result<(), String> {
        if let Some(why) = &self.fatal {
            return Err(why.clone());
        }
        // A stopped process's container still runs: it goes.
        let gone = self.slots.remove(index);
        self.launcher.kill(gone.id);
        let id = self.new_id();
        self.launcher.launch(id)?;
        self.coming.push(id);
        self.adopt_served();
        if self.slots.is_empty() {
            let coming = std::mem::take(&mut self.coming);
            self.slots = self.slots_when_serving(coming).await?;
        } else {
            tracing::info!(
                workers = self.slots.len(),
                coming = ?self.coming,
                "the query runs again on the workers left while its replacements start"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_keeps_to_half_of_the_master_container() {
        let yaml = "name: t\ninputs:\n  a: { path: x, format: csv }\nquery: SELECT 1\n\
                    output: { path: out }\n";
        let spec = QuerySpec::from_yaml(yaml, "t").unwrap();
        let mut launch: LaunchInfo = serde_json::from_str(
            r#"{"fs_scheme":"hdfs","fs_host":"nn","fs_port":8020,"common":[],"app_dir":"/d"}"#,
        )
        .unwrap();
        // From a client that did not say: a worker's memory, as before.
        assert_eq!(
            coordinator_memory(&spec, &launch),
            spec.workers.memory.bytes()
        );
        launch.am_memory_mb = Some(1024);
        assert_eq!(coordinator_memory(&spec, &launch), 512 << 20);
    }
}
