//! The application master of a services application (a spec with `services:`): it
//! serves the key-value store, runs the master script if there is one, asks for each
//! service's containers and runs them until the application ends.

use super::am::{record_summary, serve_kv, AmEnv, KvPlace};
use super::launch::{LaunchInfo, Staged};
use super::tokens::{FRESH_TOKENS_ENV, TOKENS_KEY};
use super::{AmSession, Ask, WorkerTemplate, YarnLauncher};
use crate::cmdline::ServiceCommand;
use crate::kv::service::KvService;
use crate::kv::store::{Op, Txn};
use crate::progress::Status;
use crate::services::state::{Instance, Outcome, ServicePlan};
use crate::services::Ended;
use crate::services::{self, Setup};
use spindle_hadoop::yarn::{ContainerLaunchContext, FinalStatus, Resource};
use spindle_job::{AppSpec, ServiceSpec};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

/// Environment variables every service container and the master script get.
pub const APPLICATION_ID_ENV: &str = "SPINDLE_APPLICATION_ID";
pub const SERVICE_ENV: &str = "SPINDLE_SERVICE";
pub const CONTAINER_ENV: &str = "SPINDLE_CONTAINER_ID";
/// `host:port` of the key-value store (the secret is in the container's credentials).
pub const KV_ENV: &str = "SPINDLE_KV";

/// What the registered application master hands over.
pub struct Registered {
    pub session: AmSession,
    /// The containers that end (their keys go).
    pub ended: mpsc::UnboundedReceiver<String>,
    pub kv_listener: TcpListener,
    pub kv: KvPlace,
    pub secret: String,
    /// Whether the store's clients connect encrypted.
    pub wire: spindle_io::channel::Wire,
    pub launch: LaunchInfo,
    /// Fresh tokens (Credentials files) when the master logs in from a keytab: they go
    /// into the store, where service containers follow them.
    pub fresh_tokens: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    /// Where a stage job's workers connect to the master (the stages after a query).
    pub scheduler: TcpListener,
}

pub async fn run_application(
    app: &AppSpec,
    r: Registered,
    env: &AmEnv,
    started: Instant,
) -> Status {
    let app_id = r.session.app_id.clone();
    let kv_address = format!("{}:{}", r.session.host, r.session.port);
    let order: Vec<String> = app.service_order().into_iter().map(String::from).collect();
    let asks = order
        .iter()
        .map(|name| ask(&app.services[name], app.node_label.as_deref(), &r.launch))
        .collect();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (_progress_tx, progress_rx) = watch::channel(Default::default());
    let template = WorkerTemplate {
        asks,
        context: Box::new(|_| ContainerLaunchContext::default()),
    };
    let launcher = YarnLauncher::start(r.session, template, events_tx, progress_rx);
    let common_env = vec![(APPLICATION_ID_ENV, app_id.clone()), (KV_ENV, kv_address)];
    let (kv, master) = match serve_store_and_master(app, &common_env, env, r.kv).await {
        Ok(started) => started,
        Err(why) => {
            return end(&launcher, app, env, &r.launch, Ended::failed(why), started).await;
        }
    };
    let journal = kv.clone();
    tokio::spawn(serve_kv(
        r.kv_listener,
        r.ended,
        r.secret.clone(),
        r.wire,
        kv.clone(),
    ));
    let follow_tokens = r.fresh_tokens.is_some();
    if let Some(mut fresh) = r.fresh_tokens {
        let store = kv.clone();
        tokio::spawn(async move {
            while let Some(credentials) = fresh.recv().await {
                let put = Txn::ops(vec![Op::Put {
                    key: TOKENS_KEY.into(),
                    value: credentials,
                    owner: None,
                    previous: false,
                }]);
                if let Err(e) = store.txn(&put).await {
                    error!("cannot hand fresh tokens to the services: {e}");
                }
            }
        });
    }
    let launch = &r.launch;
    let secret = &r.secret;
    let context = |i: &Instance| {
        let command = ServiceCommand {
            service: i.service.clone(),
            spec: super::launch::SPEC.into(),
        };
        let files: Vec<Staged> = launch
            .spec
            .iter()
            .chain(launch.service_files.get(&i.service).into_iter().flatten())
            .cloned()
            .collect();
        let mut vars: Vec<(&str, String)> = common_env.clone();
        vars.push((SERVICE_ENV, i.service.clone()));
        vars.push((CONTAINER_ENV, i.name.clone()));
        if follow_tokens {
            vars.push((FRESH_TOKENS_ENV, "1".into()));
        }
        launch.context(&command.to_args(), &i.service, &files, &vars, secret)
    };
    let plans = order
        .iter()
        .map(|name| {
            let s = &app.services[name];
            ServicePlan {
                name: name.clone(),
                instances: s.instances,
                max_restarts: s.max_restarts,
                allow_failures: s.allow_failures,
                depends: s.depends.clone(),
            }
        })
        .collect();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            if term.recv().await.is_some() {
                info!("SIGTERM: stopping the services");
                let _ = cancel_tx.send(true);
            }
        }
        // Never drop the sender: a closed channel would read as a cancel.
        std::future::pending::<()>().await;
        drop(cancel_tx);
    });
    let setup = Setup {
        launcher: &launcher,
        kinds: order
            .iter()
            .enumerate()
            .map(|(k, n)| (n.clone(), k))
            .collect::<HashMap<_, _>>(),
        context: &context,
        kv,
        master,
        cancel: cancel_rx,
    };
    let ended = services::run(plans, setup, events_rx).await;
    if let Err(e) = journal.close().await {
        warn!("{e}");
    }
    end(&launcher, app, env, &r.launch, ended, started).await
}

/// Where a service's containers are asked for. Named nodes or racks bind only when
/// `relax_locality` is off, as in Skein. Without them, at every running node (and
/// anywhere): schedulers hand out one off-switch container per node heartbeat but many
/// node-local ones, so naming the nodes gets all instances in one heartbeat.
/// A service's own `node_label` wins over the application's, as in Skein.
fn ask(s: &ServiceSpec, app_label: Option<&str>, launch: &LaunchInfo) -> Ask {
    let anywhere = s.nodes.is_empty() && s.racks.is_empty();
    Ask {
        resource: Resource {
            memory_mb: s.resources.memory.bytes().div_ceil(1 << 20) as i64,
            vcores: s.resources.vcores as i32,
            gpus: i64::from(s.resources.gpus),
        },
        hosts: if anywhere {
            launch.hosts()
        } else {
            s.nodes.clone()
        },
        racks: if anywhere {
            launch.racks()
        } else {
            s.racks.clone()
        },
        relax_locality: s.relax_locality || anywhere,
        host_racks: HashMap::new(),
        host_bytes: Vec::new(),
        node_local_until: None,
        node_label: [s.node_label.as_deref(), app_label]
            .into_iter()
            .flatten()
            .find(|l| !l.is_empty())
            .map(str::to_string),
    }
}

/// Opens the key-value store (replaying a previous attempt's journal) and starts the
/// master script, if there is one.
async fn serve_store_and_master(
    app: &AppSpec,
    common_env: &[(&str, String)],
    env: &AmEnv,
    kv: KvPlace,
) -> Result<(Arc<KvService>, Option<Child>), String> {
    let kv = kv
        .open()
        .await
        .map_err(|e| format!("cannot open the key-value store: {e}"))?;
    let script = app
        .master
        .as_ref()
        .and_then(|m| Some((m, m.script.as_ref()?)));
    let master = match script {
        None => None,
        Some((m, script)) => Some(
            start_master(script, &m.env, common_env, env)
                .map_err(|e| format!("cannot start the master script: {e}"))?,
        ),
    };
    Ok((kv, master))
}

/// The master script, in this container's directory, logging beside the AM.
fn start_master(
    script: &str,
    vars: &std::collections::BTreeMap<String, String>,
    common: &[(&str, String)],
    env: &AmEnv,
) -> Result<Child, String> {
    let log = |name: &str| {
        std::fs::File::create(env.log_dir.join(name))
            .map_err(|e| format!("{}: {e}", env.log_dir.join(name).display()))
    };
    let path = match &env.path {
        Some(p) => format!("{}:{p}", env.cwd.display()),
        None => env.cwd.display().to_string(),
    };
    tokio::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(&env.cwd)
        .envs(vars)
        .envs(common.iter().map(|(k, v)| (*k, v)))
        .env(SERVICE_ENV, "master")
        .env(CONTAINER_ENV, "master")
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .stdout(log("master.out")?)
        .stderr(log("master.err")?)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("bash: {e}"))
}

/// Records how the application ended beside its spec and unregisters with it.
async fn end(
    launcher: &YarnLauncher,
    app: &AppSpec,
    env: &AmEnv,
    launch: &LaunchInfo,
    ended: Ended,
    started: Instant,
) -> Status {
    let Ended {
        outcome,
        diagnostics,
        instances,
    } = ended;
    info!(?outcome, %diagnostics, "application ended");
    let summary = serde_json::json!({
        "application": app.name,
        "outcome": outcome,
        "diagnostics": diagnostics,
        "wall_time_s": started.elapsed().as_secs_f64(),
        // Which container ran which service, for `spindle logs --service` once the
        // key-value store is gone.
        "containers": instances,
    });
    let json = serde_json::to_vec_pretty(&summary).expect("summary serializes");
    record_summary(env, &launch.app_dir, json).await;
    let (status, final_status) = match outcome {
        Outcome::Succeeded => (Status::Succeeded, FinalStatus::Succeeded),
        Outcome::Failed => (Status::Failed, FinalStatus::Failed),
        Outcome::Killed => (Status::Killed, FinalStatus::Killed),
    };
    let diagnostics = format!("application {}: {diagnostics}", app.name);
    if let Err(e) = launcher.finish(final_status, &diagnostics).await {
        error!("{e}");
    }
    status
}
