//! The application master in its YARN container. It registers first
//! (so `spindle status` finds it within a second of the container starting), then runs
//! the same driver as `spindle run` with a YARN container launcher, records the summary
//! beside the spec for `submit --wait`, and unregisters with a status and diagnostics.

use super::app::{APPLICATION_ID_ENV, KV_ENV};
use super::cluster::Cluster;
use super::kv_journal::{Flush, HdfsJournal};
use super::launch::{
    read_credentials, secret_from, shared_tokens, LaunchInfo, AM_RM_TOKEN_KIND, LAUNCH_ENV,
};
use super::staging::Staging;
use super::tokens::{keep_fresh, keytab_from, now_ms, refresh_file, submitted_expiry, KeytabLogin};
use super::{AmSession, Ask, Unregister, WorkerTemplate, YarnLauncher, KV_HISTORY, KV_JOURNAL};
use crate::cmdline::WorkerCommand;
use crate::commit::{CommitHooks, CommitOptions, Committer, LeaseOwner, Protected, LEASE_TTL};
use crate::kv::service::KvService;
use crate::kv::store::{Op, Txn};
use crate::progress::{counted, human_bytes, Progress, Status, Summary, PROGRESS_KEY};
use crate::{prepare, run_job, DriverOptions};
use spindle_hadoop::credentials::{Credentials, CredentialsFormat, Token};
use spindle_hadoop::sasl::Qop;
use spindle_hadoop::yarn::{AmRmClient, FinalStatus, Resource};
use spindle_io::channel::Wire;
use spindle_job::wire::Compression;
use spindle_job::{JobSpec, Spec, WorkerSpec};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

/// What the container gives the application master, gathered by the binary from its
/// arguments and environment.
pub struct AmEnv {
    /// The spec localized into the container, as the binary read it.
    pub spec: Result<Spec, String>,
    /// What `submit` staged, as JSON.
    pub launch: String,
    pub workers: u32,
    /// `CONTAINER_ID`: names the application and this attempt.
    pub container_id: String,
    /// `NM_HOST`: the host to listen on and to register.
    pub host: String,
    /// `HADOOP_TOKEN_FILE_LOCATION`: the AMRMToken and the application's secret.
    pub credentials_file: String,
    pub cluster: Cluster,
    /// The container's working directory (its localized files).
    pub cwd: PathBuf,
    pub protected: Protected,
    /// The container's log directory (the first of `LOG_DIRS`): the master script's
    /// output goes there.
    pub log_dir: PathBuf,
    /// `PATH`, which the master script gets with the working directory (and the spindle
    /// binary) in front.
    pub path: Option<String>,
}

/// Errors are returned only before registering; afterwards every failure ends in
/// finishApplicationMaster with the reason as diagnostics.
pub async fn run_appmaster(env: AmEnv, started: Instant) -> Result<Status, String> {
    let args = &env;
    let creds = read_credentials(&env.credentials_file)?;
    let secret = secret_from(&creds)?;
    let secret_for_kv = secret.clone();
    let amrm_token = creds
        .token_by_kind(AM_RM_TOKEN_KIND)
        .ok_or("the container's credentials hold no AMRMToken")?
        .clone();
    let mut launch = LaunchInfo::decode(&args.launch)
        .map_err(|e| format!("{LAUNCH_ENV} is not a launch description: {e}"))?;
    launch.tokens = shared_tokens(&creds).into();
    let keytab = keytab_from(&creds, launch.keytab_principal.as_deref(), &env.cwd)?;
    let cluster = &env.cluster;
    let app_id = app_id_from_container(&env.container_id)?;
    let host = env.host.clone();
    let listener = TcpListener::bind((host.as_str(), 0))
        .await
        .map_err(|e| format!("cannot listen on {host}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    // The registered RPC port is the key-value store's: clients find it in the report.
    let kv_listener = TcpListener::bind((host.as_str(), 0))
        .await
        .map_err(|e| format!("cannot listen on {host}: {e}"))?;
    let kv_port = kv_listener.local_addr().map_err(|e| e.to_string())?.port();
    let schedulers = cluster.conf.rm_scheduler_addresses();
    let protection = cluster.conf.rpc_protection().map_err(|e| e.to_string())?;
    // Where the cluster encrypts its own RPC, the application encrypts its traffic too.
    let cluster_wire = if protection.allows(Qop::Privacy) {
        Wire::Encrypted
    } else {
        Wire::Authenticated
    };
    let mut am = AmRmClient::connect_any(
        &schedulers,
        &amrm_token,
        &cluster.identity.user,
        protection.clone(),
    )
    .await
    .map_err(|e| {
        format!(
            "cannot reach the ResourceManager scheduler at {}: {e}",
            schedulers.join(", ")
        )
    })?;
    am.register(&host, kv_port as i32, "")
        .await
        .map_err(|e| format!("registerApplicationMaster: {e}"))?;
    info!(
        app = %app_id,
        master = %format!("{host}:{port}"),
        kv = %format!("{host}:{kv_port}"),
        after_ms = started.elapsed().as_millis() as u64,
        "registered with the ResourceManager"
    );
    let (ended_tx, ended_rx) = mpsc::unbounded_channel();
    let kv = KvPlace {
        default_fs: cluster.conf.get("fs.defaultFS").unwrap_or_default(),
        conf_dir: env.cwd.clone(),
        journal: format!("{}/{KV_JOURNAL}", launch.app_dir),
        flush: Flush::for_cluster(&cluster.conf, &cluster.identity.user),
    };
    let session = AmSession {
        am,
        user: cluster.identity.user.clone(),
        protection,
        app_id: app_id.clone(),
        host: host.clone(),
        port: kv_port as i32,
        ended: Some(ended_tx),
    };
    let (tokens_tx, tokens_rx) = mpsc::unbounded_channel();
    let fresh_tokens = keytab.is_some();
    if let Some(login) = keytab {
        keep_tokens_fresh(cluster, login, &launch, &env.credentials_file, tokens_tx);
    }
    let spec = match &env.spec {
        Ok(Spec::Job(job)) => Ok(job),
        Err(e) => Err(e),
        Ok(other) => {
            let registered = super::app::Registered {
                session,
                ended: ended_rx,
                kv_listener,
                kv,
                secret,
                wire: cluster_wire,
                launch,
                fresh_tokens: fresh_tokens.then_some(tokens_rx),
                scheduler: listener,
            };
            return Ok(match other {
                Spec::App(app) => super::app::run_application(app, registered, &env, started).await,
                Spec::Query(query) => {
                    super::query_job::run_query_job(query, registered, &env, started).await
                }
                Spec::Job(_) => unreachable!("matched above"),
            });
        }
    };
    // Workers find the master in the store: a job cannot run without it, so a store
    // that cannot be opened (an unreadable journal) fails the job now.
    let wire = match &spec {
        Ok(spec) if spec.encrypt => Wire::Encrypted,
        _ => cluster_wire,
    };
    let store = open_store(kv, &format!("{host}:{port}")).await;
    if let Ok(service) = &store {
        tokio::spawn(serve_kv(
            kv_listener,
            ended_rx,
            secret_for_kv,
            wire,
            service.clone(),
        ));
    }

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (progress_tx, progress_rx) = progress_channel(store.as_ref().ok());
    let template = spec.as_ref().ok().map(|spec| WorkerTemplate {
        // Pointed at the data by the driver once it has planned the splits.
        asks: vec![worker_ask(&spec.workers, &launch)],
        context: worker_context(
            &launch,
            &format!("{host}:{kv_port}"),
            &app_id,
            spec,
            &secret,
        ),
    });
    let template = template.unwrap_or(WorkerTemplate {
        asks: vec![Ask::default()],
        context: Box::new(|_| Default::default()),
    });
    let mut launcher = YarnLauncher::start(session, template, events_tx, progress_rx);
    let summary = match (spec, &store) {
        (Err(e), _) => Summary::failed("spec", format!("bad spec: {e}"), started),
        (Ok(spec), Err(e)) => Summary::failed(&spec.name, e.clone(), started),
        (Ok(spec), Ok(_)) => {
            let opts = Opts {
                workers: args.workers,
                app_id: &app_id,
                env: &env,
                progress: progress_tx,
                racks: launch.host_racks(),
                wire,
                tokens: Some(tokens_rx),
            };
            run_spec(
                spec,
                listener,
                &secret,
                &mut launcher,
                events_rx,
                opts,
                started,
            )
            .await
        }
    };
    info!(status = ?summary.status, error = ?summary.error, "job ended");
    Ok(conclude(&summary, &env, &launch, store.ok(), &launcher).await)
}

/// Records `summary` beside the spec (where `submit --wait` reads it once YARN reports
/// the application finished), closes the store's journal and unregisters with the
/// summary's status and a line of diagnostics.
pub(super) async fn conclude(
    summary: &Summary,
    env: &AmEnv,
    launch: &LaunchInfo,
    store: Option<Arc<KvService>>,
    launcher: &YarnLauncher,
) -> Status {
    let json = serde_json::to_vec_pretty(summary).expect("summary serializes");
    record_summary(env, &launch.app_dir, json).await;
    let (final_status, diagnostics) = match summary.status {
        Status::Succeeded => (FinalStatus::Succeeded, success_line(summary)),
        Status::Failed => (
            FinalStatus::Failed,
            format!(
                "job {} failed: {}",
                summary.job,
                summary.error.as_deref().unwrap_or("unknown error")
            ),
        ),
        Status::Killed => (FinalStatus::Killed, "killed".to_string()),
    };
    // Leave the journal closed, not open until its lease runs out.
    if let Some(service) = store {
        if let Err(e) = service.close().await {
            warn!("{e}");
        }
    }
    if let Err(e) = launcher.finish(final_status, &diagnostics).await {
        error!("{e}");
    }
    summary.status
}

/// How long recording the summary may take: the master unregisters after it whatever
/// HDFS does, or YARN would think it alive forever.
const SUMMARY_WITHIN: Duration = Duration::from_secs(60);

/// Writes `json` as `summary.json` in `app_dir`, where `submit --wait` reads it once YARN
/// reports the application ended; a failure is logged, as the end goes on without it.
pub(super) async fn record_summary(env: &AmEnv, app_dir: &str, json: Vec<u8>) {
    let default_fs = env.cluster.conf.get("fs.defaultFS").unwrap_or_default();
    let write = async {
        let staging = Staging::connect(&default_fs, &env.cwd, &env.cluster.identity)?;
        staging.file(app_dir, "summary.json", json).await.map(drop)
    };
    match tokio::time::timeout(SUMMARY_WITHIN, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!("cannot record the summary: {e}"),
        Err(_) => error!(
            "cannot record the summary: HDFS had no answer within {} s",
            SUMMARY_WITHIN.as_secs()
        ),
    }
}

/// How the master drives a stage job's workers, beyond the job's spec.
pub(super) struct Opts<'a> {
    pub workers: u32,
    pub app_id: &'a str,
    pub env: &'a AmEnv,
    pub progress: watch::Sender<crate::Progress>,
    /// Host to rack, as the ResourceManager reported at submit.
    pub racks: HashMap<String, String>,
    pub wire: Wire,
    /// Fresh tokens for the workers, as Credentials files.
    pub tokens: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
}

impl Opts<'_> {
    /// The driver's options for `spec`'s workers on YARN, committing through `committer`.
    pub(super) fn driver(
        self,
        spec: &JobSpec,
        committer: Committer,
        cancel: watch::Receiver<bool>,
    ) -> DriverOptions {
        DriverOptions {
            workers: self.workers,
            max_restarts: spec.workers.max_restarts,
            max_attempts: spec.max_task_attempts,
            locality_wait: spec.locality_wait.duration(),
            racks: self.racks,
            // Containers may wait in the queue; lost containers are reported by YARN.
            join_timeout: Duration::from_secs(600),
            heartbeat_timeout: spec.workers.heartbeat_timeout.duration(),
            committer: Some(committer),
            progress: Some(self.progress),
            cancel: Some(cancel),
            logs: Some(format!("spindle logs {}", self.app_id)),
            wire: self.wire,
            tokens: self.tokens,
        }
    }
}

async fn run_spec(
    spec: &JobSpec,
    listener: TcpListener,
    secret: &str,
    launcher: &mut YarnLauncher,
    events: mpsc::UnboundedReceiver<crate::LauncherEvent>,
    opts: Opts<'_>,
    started: Instant,
) -> Summary {
    let commit = commit_options(opts.env, opts.app_id);
    let (committer, job) = match prepare(spec, Compression::Auto, &commit).await {
        Ok(p) => p,
        Err(e) => return Summary::failed(&spec.name, e.to_string(), started),
    };
    let cancel = stop_on_sigterm(committer.clone(), launcher.unregister());
    let driver = opts.driver(spec, committer, cancel);
    run_job(job, listener, secret, launcher, events, driver).await
}

/// Workers of `workers`' size, at any of the cluster's hosts and racks, until pointed
/// at the input's bytes ([`Ask::near`]).
pub(super) fn worker_ask(workers: &WorkerSpec, launch: &LaunchInfo) -> Ask {
    Ask {
        resource: Resource {
            memory_mb: workers.memory.bytes().div_ceil(1 << 20) as i64,
            vcores: workers.vcores as i32,
            gpus: 0,
        },
        hosts: launch.hosts(),
        racks: launch.racks(),
        relax_locality: true,
        host_racks: launch.host_racks(),
        ..Default::default()
    }
}

/// How this attempt commits. Each AM attempt stages under its own name (its container
/// id): a later attempt never commits what an earlier one left half-written.
pub(super) fn commit_options(env: &AmEnv, app_id: &str) -> CommitOptions {
    CommitOptions {
        owner: LeaseOwner {
            attempt: env.container_id.clone(),
            host: env.host.clone(),
            pid: std::process::id(),
            app: Some(app_id.to_string()),
        },
        protected: env.protected.clone(),
        hooks: CommitHooks::default(),
        lease_ttl: LEASE_TTL,
    }
}

/// Says stop on SIGTERM. YARN stops the AM container with SIGTERM (`spindle kill`, `yarn
/// application -kill`, a NodeManager going down) and SIGKILL a quarter second later: too
/// soon for an orderly stop, so the staged output goes and the AM unregisters at once.
pub(super) fn stop_on_sigterm(staged: Committer, unregister: Unregister) -> watch::Receiver<bool> {
    let (cancel_tx, cancel_rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            if term.recv().await.is_some() {
                info!("SIGTERM: removing staged output, unregistering, stopping the job");
                let _ = cancel_tx.send(true);
                let (aborted, finished) = tokio::join!(
                    staged.abort(),
                    unregister.finish(FinalStatus::Killed, "killed (SIGTERM)")
                );
                if let Err(e) = aborted {
                    error!(
                        "cannot remove staged output {}: {e}",
                        staged.staging().url()
                    );
                }
                if let Err(e) = finished {
                    // After `yarn application -kill` the RM has already ended the attempt.
                    info!("unregistering after SIGTERM: {e}");
                }
            }
        }
        // Never drop the sender: a closed channel would read as a stop.
        std::future::pending::<()>().await;
        drop(cancel_tx);
    });
    cancel_rx
}

/// The key holding a job's scheduler address (`host:port`), where its workers connect.
pub const SCHEDULER_KEY: &str = "spindle.scheduler";

/// Opens the key-value store (replaying an earlier attempt's journal) and publishes
/// where this attempt's workers connect.
async fn open_store(kv: KvPlace, scheduler: &str) -> Result<Arc<KvService>, String> {
    let service = kv
        .open()
        .await
        .map_err(|e| format!("the key-value store cannot be served: {e}"))?;
    publish_scheduler(&service, scheduler).await?;
    Ok(service)
}

/// Puts where a stage job's workers connect (`host:port`) at [`SCHEDULER_KEY`].
pub(super) async fn publish_scheduler(service: &KvService, scheduler: &str) -> Result<(), String> {
    let publish = Txn::ops(vec![Op::Put {
        key: SCHEDULER_KEY.into(),
        value: scheduler.as_bytes().to_vec(),
        owner: None,
        previous: false,
    }]);
    service
        .txn(&publish)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot publish {SCHEDULER_KEY}: {e}"))
}

/// `spindle.workers/<id>`: a running worker's data address and host, owned by its
/// container.
pub const WORKERS_PREFIX: &str = "spindle.workers/";

/// Where the key-value journal lives: `journal` on `default_fs`.
pub struct KvPlace {
    pub default_fs: String,
    pub conf_dir: PathBuf,
    pub journal: String,
    pub flush: Flush,
}

/// How long opening the journal may take: recovering an earlier attempt's lease (up to
/// two minutes), then reading, replaying and compacting it. A NameNode that stops
/// answering would otherwise hold the master, heartbeating, forever.
const KV_OPEN_WITHIN: Duration = Duration::from_secs(300);

impl KvPlace {
    /// Replays the journal (a previous attempt's keys, at their revisions).
    pub async fn open(&self) -> Result<Arc<KvService>, String> {
        let opening = HdfsJournal::open(
            &self.default_fs,
            &self.conf_dir,
            &self.journal,
            self.flush.clone(),
            KV_HISTORY,
        );
        let (store, sink) = tokio::time::timeout(KV_OPEN_WITHIN, opening)
            .await
            .map_err(|_| {
                format!(
                    "{}: HDFS had no answer within {} s",
                    self.journal,
                    KV_OPEN_WITHIN.as_secs()
                )
            })??;
        Ok(KvService::new(store, Box::new(sink)))
    }
}

/// How often a job's master may put its progress in the store: each put is a journal
/// write and an event in the store's history, and the client reads it every 5 s.
const PUBLISH_PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// A job's progress channel. With a store, its line is also published there
/// ([`publish_progress`]), for stage and query jobs alike.
pub(super) fn progress_channel(
    store: Option<&Arc<KvService>>,
) -> (watch::Sender<Progress>, watch::Receiver<Progress>) {
    let (tx, rx) = watch::channel(Progress::default());
    if let Some(store) = store {
        tokio::spawn(publish_progress(store.clone(), rx.clone()));
    }
    (tx, rx)
}

/// Puts the job's progress line in the store (at [`PROGRESS_KEY`]), at most every
/// [`PUBLISH_PROGRESS_EVERY`], for `spindle submit --wait` to show; ends when the job's
/// progress does.
async fn publish_progress(store: Arc<KvService>, mut progress: watch::Receiver<Progress>) {
    while progress.changed().await.is_ok() {
        let line = progress.borrow_and_update().describe();
        let put = Txn::ops(vec![Op::Put {
            key: PROGRESS_KEY.into(),
            value: line.into_bytes(),
            owner: None,
            previous: false,
        }]);
        if store.txn(&put).await.is_err() {
            return;
        }
        tokio::time::sleep(PUBLISH_PROGRESS_EVERY).await;
    }
}

/// Serves the store, dropping the keys of each container that `ended` names. Until the
/// journal is open, clients wait in the listen queue; if it cannot be opened, the
/// endpoint closes and clients are refused.
pub async fn serve_kv(
    listener: TcpListener,
    mut ended: mpsc::UnboundedReceiver<String>,
    secret: String,
    wire: Wire,
    service: Arc<KvService>,
) {
    let owners = service.clone();
    tokio::spawn(async move {
        while let Some(container) = ended.recv().await {
            if let Err(e) = owners.drop_owner(&container).await {
                error!("cannot drop the keys of {container}: {e}");
            }
        }
    });
    crate::kv::server::serve(listener, secret.into(), wire, service).await;
}

/// Obtains fresh delegation tokens from `login` before the submitted ones expire, and
/// again before those do; each set goes to this container's credentials file, to the
/// containers launched from then on, and (through `workers`) to running workers.
fn keep_tokens_fresh(
    cluster: &Cluster,
    login: KeytabLogin,
    launch: &LaunchInfo,
    own_credentials: &str,
    workers: mpsc::UnboundedSender<Vec<u8>>,
) {
    let shared = launch.tokens.clone();
    let expires = submitted_expiry(&shared.get()).unwrap_or_else(|| now_ms() + 3_600_000);
    let own = own_credentials.to_string();
    let publish = move |fresh: &BTreeMap<String, Token>| {
        shared.update(fresh.clone());
        if let Err(e) = refresh_file(&own, fresh) {
            warn!("cannot put fresh tokens into the master's credentials: {e}");
        }
        let creds = Credentials {
            tokens: shared.get(),
            ..Default::default()
        };
        let _ = workers.send(creds.write(CredentialsFormat::Writable));
    };
    tokio::spawn(keep_fresh(
        cluster.conf.clone(),
        cluster.conf_dirs.clone(),
        launch.file_systems.clone(),
        login,
        expires,
        publish,
    ));
}

pub(super) fn worker_context(
    launch: &LaunchInfo,
    kv_address: &str,
    app_id: &str,
    spec: &JobSpec,
    secret: &str,
) -> Box<dyn Fn(u32) -> spindle_hadoop::yarn::ContainerLaunchContext + Send + Sync> {
    let launch = launch.clone();
    // Workers find the master in the key-value store (`spindle.scheduler`), where they
    // also say where they serve data.
    let template = WorkerCommand::new(
        None,
        spec.workers.vcores,
        spec.workers.memory.bytes(),
        spec.workers.heartbeat_timeout.duration(),
    );
    let vars = [
        (APPLICATION_ID_ENV, app_id.to_string()),
        (KV_ENV, kv_address.to_string()),
    ];
    let secret = secret.to_string();
    Box::new(move |id| {
        // The directory comes from the container's LOCAL_DIRS, the secret from its
        // credentials.
        let command = WorkerCommand {
            id,
            ..template.clone()
        };
        launch.context(
            &command.to_args(),
            &format!("worker-{id}"),
            &[],
            &vars,
            &secret,
        )
    })
}

fn success_line(s: &Summary) -> String {
    format!(
        "job {} succeeded: {} rows in ({}), {} rows out in {} to {}, {}, {} ({} lost), {:.1} s",
        s.job,
        s.rows_in,
        human_bytes(s.bytes_read),
        s.rows_out,
        counted(s.output_files, "file", "files"),
        s.output.as_deref().unwrap_or("-"),
        counted(s.tasks, "task", "tasks"),
        counted(s.workers, "worker", "workers"),
        s.workers_lost,
        s.wall_time_s
    )
}

/// `container_[e<epoch>_]<ts>_<app>_<attempt>_<seq>` → `application_<ts>_<app>`.
fn app_id_from_container(container: &str) -> Result<String, String> {
    let parts: Vec<&str> = container.split('_').collect();
    let rest = match parts.as_slice() {
        ["container", e, rest @ ..] if e.starts_with('e') => rest,
        ["container", rest @ ..] => rest,
        _ => &[][..],
    };
    match rest {
        [ts, app, _, _] => Ok(format!("application_{ts}_{app}")),
        _ => Err(format!(
            "CONTAINER_ID {container:?} is not a container id: this role runs inside a YARN container"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_id_from_container_ids() {
        assert_eq!(
            app_id_from_container("container_1700000000000_0007_01_000001").unwrap(),
            "application_1700000000000_0007"
        );
        assert_eq!(
            app_id_from_container("container_e17_1700000000000_0007_01_000001").unwrap(),
            "application_1700000000000_0007"
        );
        assert!(app_id_from_container("").is_err());
    }
}
