//! The YARN container launcher. The driver's `launch`/`kill` calls become messages to one
//! task that owns the AMRM connection: it turns pending workers into container asks,
//! starts granted containers on their NodeManagers, reports completed containers as
//! [`LauncherEvent`]s, and finally unregisters the application.

pub use super::ask::{Ask, NODE_LOCAL_ASKS_FOR};
use super::describe_exit;
use crate::launcher::{ContainerLauncher, LauncherEvent, Placement};
use crate::progress::Progress;
use spindle_hadoop::credentials::Token;
use spindle_hadoop::sasl::Protection;
use spindle_hadoop::yarn::{
    Allocation, AmCommand, AmRmClient, Container, ContainerId, ContainerLaunchContext, FinalStatus,
    NodeId, NodeManagerClient, ResourceRequest,
};
use spindle_job::wire::WorkerId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{info, warn};

/// Heartbeat while containers are wanted: asks are answered on the next heartbeat.
const EAGER_HEARTBEAT: Duration = Duration::from_millis(100);
/// Heartbeat once every worker has its container: enough to see completions.
const IDLE_HEARTBEAT: Duration = Duration::from_millis(1000);
/// Consecutive failed heartbeats (each after a reconnect attempt, backing off up to 10 s
/// apart: about two and a half minutes) before giving up.
const MAX_HEARTBEAT_FAILURES: u32 = 20;
/// How long unregistering may take, RM restarts and failovers included.
const FINISH_DEADLINE: Duration = Duration::from_secs(120);
/// How long launches gather before they are asked for together.
const LAUNCH_BATCH: Duration = Duration::from_millis(5);

/// What the containers get.
pub struct WorkerTemplate {
    /// The kinds of container; `launch` asks for the first, `launch_in` for any.
    pub asks: Vec<Ask>,
    /// The launch context of worker `id` (command, environment, files, credentials),
    /// unless its launch brought one.
    pub context: Box<dyn Fn(WorkerId) -> ContainerLaunchContext + Send + Sync>,
}

enum Cmd {
    Launch(Launch),
    /// Where the input's bytes are, for the first kind's asks.
    Prefer(Placement),
    Kill(WorkerId),
    Finish {
        status: FinalStatus,
        diagnostics: String,
        done: oneshot::Sender<Result<(), String>>,
    },
}

struct Launch {
    worker: WorkerId,
    /// Index into the template's asks.
    kind: usize,
    context: Option<ContainerLaunchContext>,
}

/// The registered AM: its RM connection and what it registered with (said again if the
/// RM asks for a resync).
pub struct AmSession {
    pub am: AmRmClient,
    pub user: String,
    /// The cluster's `hadoop.rpc.protection`, for NodeManager connections.
    pub protection: Protection,
    pub app_id: String,
    pub host: String,
    pub port: i32,
    /// Told the id of every container that ends (the key-value store drops its keys).
    pub ended: Option<mpsc::UnboundedSender<String>>,
}

/// Unregisters the application; cloneable, so a signal handler can do it too. Only the
/// first call reaches the RM.
#[derive(Clone)]
pub struct Unregister(mpsc::UnboundedSender<Cmd>);

impl Unregister {
    pub async fn finish(&self, status: FinalStatus, diagnostics: &str) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.0
            .send(Cmd::Finish {
                status,
                diagnostics: diagnostics.to_string(),
                done,
            })
            .map_err(|_| "the allocator task has stopped".to_string())?;
        rx.await
            .map_err(|_| "the allocator task stopped before unregistering".to_string())?
    }
}

/// The driver's handle; the work happens in the allocator task.
pub struct YarnLauncher {
    cmds: mpsc::UnboundedSender<Cmd>,
    /// Where each worker runs, for log hints.
    /// Each worker's container id and node web address, for pointing at its logs.
    placements: Arc<Mutex<HashMap<WorkerId, (String, String)>>>,
    app_id: String,
}

impl YarnLauncher {
    /// Takes over a registered AMRM client. `progress` feeds the heartbeats' progress.
    pub fn start(
        session: AmSession,
        template: WorkerTemplate,
        events: mpsc::UnboundedSender<LauncherEvent>,
        progress: watch::Receiver<Progress>,
    ) -> YarnLauncher {
        let (cmds, rx) = mpsc::unbounded_channel();
        let placements = Arc::new(Mutex::new(HashMap::new()));
        let app_id = session.app_id.clone();
        let kinds = template.asks.len();
        let allocator = Allocator {
            contexts: HashMap::new(),
            am: session.am,
            user: session.user,
            protection: session.protection,
            registered_as: (session.host, session.port),
            ended: session.ended,
            finished: None,
            template,
            events,
            progress,
            placements: placements.clone(),
            pending: (0..kinds).map(|_| VecDeque::new()).collect(),
            asked: vec![None; kinds],
            containers: HashMap::new(),
            workers: HashMap::new(),
            nm_tokens: HashMap::new(),
            nms: HashMap::new(),
            release: Vec::new(),
            failures: 0,
        };
        tokio::spawn(allocator.run(rx));
        YarnLauncher {
            cmds,
            placements,
            app_id,
        }
    }

    /// Unregisters with the ResourceManager; YARN shows `diagnostics` to users.
    pub async fn finish(&self, status: FinalStatus, diagnostics: &str) -> Result<(), String> {
        self.unregister().finish(status, diagnostics).await
    }

    pub fn unregister(&self) -> Unregister {
        Unregister(self.cmds.clone())
    }

    /// Asks for a container of the template's kind `kind` and starts `context` in it.
    pub fn launch_in(
        &self,
        worker: WorkerId,
        kind: usize,
        context: ContainerLaunchContext,
    ) -> Result<(), String> {
        self.cmds
            .send(Cmd::Launch(Launch {
                worker,
                kind,
                context: Some(context),
            }))
            .map_err(|_| "the allocator task has stopped".to_string())
    }

    /// Stops a worker's container (or drops its ask); it is then reported as exited.
    pub fn stop(&self, worker: WorkerId) {
        let _ = self.cmds.send(Cmd::Kill(worker));
    }
}

impl ContainerLauncher for YarnLauncher {
    fn launch(&mut self, worker: WorkerId) -> Result<(), String> {
        self.cmds
            .send(Cmd::Launch(Launch {
                worker,
                kind: 0,
                context: None,
            }))
            .map_err(|_| "the allocator task has stopped".to_string())
    }

    fn kill(&mut self, worker: WorkerId) {
        let _ = self.cmds.send(Cmd::Kill(worker));
    }

    fn prefer(&mut self, placement: Placement) {
        let _ = self.cmds.send(Cmd::Prefer(placement));
    }

    fn log_hint(&self, worker: WorkerId) -> String {
        let placements = self.placements.lock().expect("placements poisoned");
        match placements.get(&worker) {
            Some((container, node)) => format!(
                "container {container} on {node} (spindle logs {} --container {container})",
                self.app_id
            ),
            None => format!("worker {worker} never got a container"),
        }
    }
}

struct Running {
    worker: WorkerId,
    node: NodeId,
    /// Which of the template's asks it answered.
    kind: usize,
}

/// A launch waiting for its container.
struct Pending {
    worker: WorkerId,
    context: Option<ContainerLaunchContext>,
}

struct Allocator {
    am: AmRmClient,
    user: String,
    protection: Protection,
    /// Host and RPC port the AM registered with.
    registered_as: (String, i32),
    ended: Option<mpsc::UnboundedSender<String>>,
    /// Set once unregistered (with the outcome): nothing more goes to the RM.
    finished: Option<Result<(), String>>,
    template: WorkerTemplate,
    events: mpsc::UnboundedSender<LauncherEvent>,
    progress: watch::Receiver<Progress>,
    placements: Arc<Mutex<HashMap<WorkerId, (String, String)>>>,
    /// Per kind of container, the workers waiting for one, in launch order.
    pending: Vec<VecDeque<Pending>>,
    /// Per kind, the requests last sent to the RM (asks replace each other, so only
    /// changed ones are sent again); `None` before the first and after a resync.
    asked: Vec<Option<Vec<ResourceRequest>>>,
    containers: HashMap<ContainerId, Running>,
    /// Launch contexts brought by launches, kept for the container's life.
    contexts: HashMap<WorkerId, ContainerLaunchContext>,
    workers: HashMap<WorkerId, ContainerId>,
    nm_tokens: HashMap<NodeId, Token>,
    nms: HashMap<NodeId, NodeManagerClient>,
    /// Containers to hand back on the next heartbeat.
    release: Vec<ContainerId>,
    failures: u32,
}

impl Allocator {
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        let mut next_beat = Instant::now();
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    None => return,
                    Some(Cmd::Launch(launch)) => {
                        let Some(queue) = self.pending.get_mut(launch.kind) else {
                            let _ = self.events.send(LauncherEvent::Exited {
                                worker: launch.worker,
                                success: false,
                                diagnostics: format!("no container kind {}", launch.kind),
                            });
                            continue;
                        };
                        queue.push_back(Pending { worker: launch.worker, context: launch.context });
                        // Ask almost at once (start-up time is mostly waiting for
                        // containers), but after the driver's other launches of this
                        // moment, so that one ask covers them all.
                        next_beat = next_beat.min(Instant::now() + LAUNCH_BATCH);
                    }
                    Some(Cmd::Kill(worker)) => self.kill(worker).await,
                    Some(Cmd::Prefer(placement)) => self.prefer(placement),
                    Some(Cmd::Finish { status, diagnostics, done }) => {
                        if self.finished.is_none() {
                            self.finished = Some(self.finish(status, &diagnostics).await);
                        }
                        let _ = done.send(self.finished.clone().expect("set above"));
                    }
                },
                _ = tokio::time::sleep_until(next_beat), if self.finished.is_none() => {
                    if let Err(fatal) = self.heartbeat().await {
                        let _ = self.events.send(LauncherEvent::Fatal(fatal));
                        // Keep serving Finish, which may still reach the RM.
                        next_beat = Instant::now() + IDLE_HEARTBEAT * 10;
                        continue;
                    }
                    let wait = if self.failures > 0 {
                        // Give an RM failover time: 1 s, 2 s, ... up to 10 s apart.
                        Duration::from_secs(u64::from(self.failures.min(10)))
                    } else if self.pending.iter().all(VecDeque::is_empty) {
                        IDLE_HEARTBEAT
                    } else {
                        EAGER_HEARTBEAT
                    };
                    next_beat = Instant::now() + wait;
                }
            }
        }
    }

    /// Points the first kind's asks at the data (node-local for a start), or anywhere.
    fn prefer(&mut self, placement: Placement) {
        let Some(ask) = self.template.asks.first_mut() else {
            return;
        };
        match placement {
            Placement::Near(host_bytes) => {
                if !host_bytes.is_empty() {
                    ask.node_local_until = Some(Instant::now() + NODE_LOCAL_ASKS_FOR);
                }
                ask.near(host_bytes);
            }
            Placement::Anywhere => {
                ask.hosts.clear();
                ask.racks.clear();
                ask.host_bytes.clear();
            }
        }
    }

    /// Running containers of `kind`, per host.
    fn held_by_host(&self, kind: usize) -> HashMap<String, i32> {
        let mut held = HashMap::new();
        for running in self.containers.values().filter(|r| r.kind == kind) {
            *held.entry(running.node.host.clone()).or_default() += 1;
        }
        held
    }

    /// One allocate call; an error is returned only when the RM is gone for good.
    async fn heartbeat(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let wanted: Vec<Vec<ResourceRequest>> = (0..self.template.asks.len())
            .map(|kind| {
                let want = self.pending[kind].len() as i32;
                let held = self.held_by_host(kind);
                self.template.asks[kind].requests(priority_of(kind), want, &held, now)
            })
            .collect();
        let asks: Vec<ResourceRequest> = wanted
            .iter()
            .zip(&self.asked)
            // Nothing to cancel before the first ask (or after a resync): no zeros.
            .filter(|(want, asked)| match asked {
                Some(asked) => asked != *want,
                None => want.iter().any(|r| r.num_containers > 0),
            })
            .flat_map(|(want, _)| want.iter().cloned())
            .collect();
        if !asks.is_empty() {
            let at: Vec<String> = asks
                .iter()
                .map(|r| format!("{}={}", r.resource_name, r.num_containers))
                .collect();
            info!(asks = %at.join(" "), "asking for containers");
        }
        let release = std::mem::take(&mut self.release);
        let progress = {
            let p = self.progress.borrow();
            if p.tasks_total == 0 {
                0.0
            } else {
                p.tasks_done as f32 / p.tasks_total as f32
            }
        };
        match self.am.allocate(&asks, &release, progress).await {
            Ok(allocation) => {
                self.failures = 0;
                self.asked = wanted.into_iter().map(Some).collect();
                self.on_allocation(allocation).await
            }
            Err(e) if RmFault::of(&e) == RmFault::Refused => {
                // Asking again would be refused again: a label the queue may not use, a
                // container larger than the cluster allows.
                self.release.extend(release);
                Err(format!(
                    "the ResourceManager refused the containers asked for: {e}"
                ))
            }
            Err(e) => {
                self.release.extend(release);
                self.failures += 1;
                warn!(error = %e, failures = self.failures, "heartbeat to the ResourceManager failed");
                if self.failures >= MAX_HEARTBEAT_FAILURES {
                    return Err(format!(
                        "lost the ResourceManager after {} heartbeats: {e}",
                        self.failures
                    ));
                }
                match RmFault::of(&e) {
                    RmFault::NotRegistered => {
                        // A new active RM (failover, or a restart) recovered this attempt
                        // but not its registration.
                        match self.register_again().await {
                            Ok(()) => self.failures = 0,
                            Err(e) => warn!(error = %e, "registering again failed"),
                        }
                    }
                    // A standby RM after a failover, or a dropped connection: try the next.
                    RmFault::Standby => self.reconnect().await,
                    RmFault::Other if self.am.is_closed() => self.reconnect().await,
                    RmFault::Other | RmFault::Refused => {}
                }
                Ok(())
            }
        }
    }

    async fn reconnect(&mut self) {
        if let Err(e) = self.am.reconnect().await {
            warn!(error = %e, "reconnecting to the ResourceManager failed");
        }
    }

    /// Registers again with what this attempt registered with, and forgets what it has
    /// asked for so that the next heartbeat repeats every outstanding ask: what Hadoop's
    /// AMRMClient does when a restarted or newly active RM does not know it. Running
    /// containers need nothing: their NodeManagers report them to the new RM, and they
    /// keep reporting through allocate.
    async fn register_again(&mut self) -> Result<(), spindle_hadoop::Error> {
        warn!("the ResourceManager does not know this application master (it restarted or failed over); registering again");
        let (host, port) = self.registered_as.clone();
        self.am.register(&host, port, "").await?;
        self.asked.iter_mut().for_each(|a| *a = None);
        info!("registered again; repeating every outstanding ask");
        Ok(())
    }

    async fn on_allocation(&mut self, a: Allocation) -> Result<(), String> {
        if let Some(token) = a.amrm_token {
            info!("the ResourceManager rolled the AMRMToken over");
            self.am.update_token(token);
        }
        match a.command {
            Some(AmCommand::Shutdown) => {
                return Err("the ResourceManager told this application master to shut down".into())
            }
            Some(AmCommand::Resync) => {
                self.register_again()
                    .await
                    .map_err(|e| format!("re-registering after an RM restart failed: {e}"))?;
            }
            None => {}
        }
        self.nm_tokens.extend(a.nm_tokens);
        for status in a.completed {
            if let Some(ended) = &self.ended {
                let _ = ended.send(status.id.to_string());
            }
            let Some(running) = self.containers.remove(&status.id) else {
                continue;
            };
            self.workers.remove(&running.worker);
            self.contexts.remove(&running.worker);
            let diagnostics = format!(
                "container {} on {} {}",
                status.id,
                running.node.host,
                describe_exit(status.exit_status, &status.diagnostics)
            );
            let _ = self.events.send(LauncherEvent::Exited {
                worker: running.worker,
                success: status.exit_status == 0,
                diagnostics,
            });
        }
        let mut by_node: HashMap<NodeId, Vec<(WorkerId, Container)>> = HashMap::new();
        for container in a.allocated {
            let queue = kind_of(container.priority).and_then(|k| self.pending.get_mut(k));
            match queue.and_then(VecDeque::pop_front) {
                Some(p) => {
                    if let Some(context) = p.context {
                        self.contexts.insert(p.worker, context);
                    }
                    by_node
                        .entry(container.node.clone())
                        .or_default()
                        .push((p.worker, container))
                }
                // The RM answered an ask we had already lowered.
                None => self.release.push(container.id),
            }
        }
        for (node, batch) in by_node {
            self.start_on_node(node, batch).await;
        }
        Ok(())
    }

    /// Starts a node's new containers in one call. A worker whose container cannot start
    /// is reported as exited, so the driver replaces it (within its restart budget).
    async fn start_on_node(&mut self, node: NodeId, batch: Vec<(WorkerId, Container)>) {
        let requests: Vec<(ContainerLaunchContext, Token)> = batch
            .iter()
            .filter_map(|(w, c)| {
                let context = match self.contexts.get(w) {
                    Some(context) => context.clone(),
                    None => (self.template.context)(*w),
                };
                Some((context, c.token.clone()?))
            })
            .collect();
        let result = match self.nm(&node).await {
            Ok(nm) => nm
                .start_containers(&requests)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let failed: HashMap<ContainerId, String> = match &result {
            Ok(r) => r
                .failed
                .iter()
                .map(|f| (f.id, f.exception.to_string()))
                .collect(),
            Err(e) => batch.iter().map(|(_, c)| (c.id, e.clone())).collect(),
        };
        if result.is_err() {
            self.nms.remove(&node);
        }
        for (worker, container) in batch {
            let why = match (&container.token, failed.get(&container.id)) {
                (None, _) => Some("the ResourceManager sent no container token".to_string()),
                (_, Some(e)) => Some(e.clone()),
                _ => None,
            };
            if let Some(why) = why {
                self.release.push(container.id);
                let _ = self.events.send(LauncherEvent::Exited {
                    worker,
                    success: false,
                    diagnostics: format!(
                        "container {} on {} did not start: {why}",
                        container.id, node.host
                    ),
                });
                continue;
            }
            info!(worker, container = %container.id, node = %node.host, "container started");
            let _ = self.events.send(LauncherEvent::Started {
                worker,
                container: container.id.to_string(),
                host: node.host.clone(),
            });
            self.placements.lock().expect("placements poisoned").insert(
                worker,
                (
                    container.id.to_string(),
                    container.node_http_address.clone(),
                ),
            );
            self.workers.insert(worker, container.id);
            self.containers.insert(
                container.id,
                Running {
                    worker,
                    node: node.clone(),
                    kind: kind_of(container.priority).unwrap_or(0),
                },
            );
        }
    }

    /// The NodeManager connection for `node`, opened with its NMToken on first use.
    async fn nm(&mut self, node: &NodeId) -> Result<&NodeManagerClient, String> {
        if !self.nms.contains_key(node) {
            let token = self
                .nm_tokens
                .get(node)
                .ok_or_else(|| format!("no NMToken for node {}", node.host))?;
            let client = NodeManagerClient::connect(node, token, &self.user, &self.protection)
                .await
                .map_err(|e| format!("cannot reach the NodeManager on {}: {e}", node.host))?;
            self.nms.insert(node.clone(), client);
        }
        Ok(&self.nms[node])
    }

    async fn kill(&mut self, worker: WorkerId) {
        let queued = self.pending.iter_mut().find_map(|q| {
            let i = q.iter().position(|p| p.worker == worker)?;
            q.remove(i)
        });
        if queued.is_some() {
            let _ = self.events.send(LauncherEvent::Exited {
                worker,
                success: false,
                diagnostics: "cancelled before it got a container".into(),
            });
            return;
        }
        let Some(id) = self.workers.get(&worker).copied() else {
            return;
        };
        let node = self.containers[&id].node.clone();
        let stopped = match self.nm(&node).await {
            Ok(nm) => nm.stop_containers(&[id]).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = stopped {
            // Releasing through the RM stops it too, one heartbeat later.
            warn!(worker, container = %id, error = %e, "stopContainers failed; releasing");
            self.release.push(id);
        }
    }

    /// Unregisters, riding out an RM restart or failover on the way (within
    /// [`FINISH_DEADLINE`]): a new RM that does not know the attempt gets it registered
    /// again first, so YARN records the job's real final status.
    async fn finish(&mut self, status: FinalStatus, diagnostics: &str) -> Result<(), String> {
        let deadline = Instant::now() + FINISH_DEADLINE;
        let mut attempt = 0;
        loop {
            let error = match self.am.finish(status, diagnostics, None).await {
                Ok(true) => return Ok(()),
                Ok(false) => None,
                Err(e) => Some(e),
            };
            if let Some(e) = &error {
                match RmFault::of(e) {
                    RmFault::NotRegistered => {
                        if let Err(e) = self.register_again().await {
                            warn!(error = %e, "registering again before unregistering failed");
                        }
                    }
                    // The RM answered: retrying would get the same answer.
                    RmFault::Refused | RmFault::Other if e.remote().is_some() => {
                        return Err(format!("cannot unregister from the ResourceManager: {e}"))
                    }
                    RmFault::Standby | RmFault::Refused | RmFault::Other => {
                        warn!(error = %e, "finishApplicationMaster failed; retrying");
                        if self.am.is_closed() || RmFault::of(e) == RmFault::Standby {
                            self.reconnect().await;
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(match error {
                    Some(e) => format!("cannot unregister from the ResourceManager within {FINISH_DEADLINE:?}: {e}"),
                    None => format!("the ResourceManager did not confirm unregistering within {FINISH_DEADLINE:?}"),
                });
            }
            // 100 ms, doubling to 5 s: quick for the usual "not yet", patient with an RM
            // that is restarting.
            let wait = Duration::from_millis(100 << attempt.min(6)).min(Duration::from_secs(5));
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }
}

/// What a failed call to the ResourceManager's scheduler asks the AM to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RmFault {
    /// The RM is up but does not know this attempt's registration (after a restart or
    /// failover, Hadoop 3 says so with `ApplicationMasterNotRegisteredException`).
    NotRegistered,
    /// This RM is the standby of an HA pair: the active one is elsewhere.
    Standby,
    /// The asks themselves are invalid (`InvalidResourceRequestException`, and its
    /// `InvalidLabelResourceRequestException`): repeating them cannot help.
    Refused,
    Other,
}

impl RmFault {
    fn of(e: &spindle_hadoop::Error) -> Self {
        match e.remote().map(|r| r.class.as_str()) {
            Some(c) if c.ends_with("ApplicationMasterNotRegisteredException") => {
                Self::NotRegistered
            }
            Some(c) if c.ends_with("StandbyException") => Self::Standby,
            Some(c) if c.ends_with("ResourceRequestException") => Self::Refused,
            _ => Self::Other,
        }
    }
}

/// Kind `k` of container is asked for at priority `k + 1` (0 is the highest, kept free).
fn priority_of(kind: usize) -> i32 {
    kind as i32 + 1
}

fn kind_of(priority: i32) -> Option<usize> {
    usize::try_from(priority - 1).ok()
}

#[cfg(test)]
#[path = "allocator_tests.rs"]
mod tests;
