//! Services on YARN (Skein's model): each service is a number of containers running a
//! script, started in dependency order, restarted within a budget, steered at run time
//! through the key-value store. [`state`] decides; [`run`] carries its actions out
//! with the YARN launcher and the store.

pub mod control;
pub mod state;

use crate::kv::service::KvService;
use crate::kv::store::{KeyRange, Op, Txn};
use crate::launcher::LauncherEvent;
use crate::yarn::YarnLauncher;
use control::{Command, Reply, COMMANDS, CONTAINERS, REPLIES};
use spindle_hadoop::yarn::ContainerLaunchContext;
use state::{Action, Instance, Outcome, ServicePlan, Services};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// What running services needs besides the plans.
pub struct Setup<'a> {
    pub launcher: &'a YarnLauncher,
    /// The launcher's kind of container for each service.
    pub kinds: HashMap<String, usize>,
    /// The launch context of an instance.
    pub context: &'a (dyn Fn(&Instance) -> ContainerLaunchContext + Sync),
    pub kv: Arc<KvService>,
    /// The master script, running in this container: it ends the application.
    pub master: Option<Child>,
    /// Set on SIGTERM.
    pub cancel: watch::Receiver<bool>,
}

/// How a services application ended, and every container it ran.
pub struct Ended {
    pub outcome: Outcome,
    pub diagnostics: String,
    pub instances: Vec<Instance>,
}

impl Ended {
    pub fn failed(diagnostics: String) -> Self {
        Ended {
            outcome: Outcome::Failed,
            diagnostics,
            instances: Vec::new(),
        }
    }
}

/// Runs the services until the application ends; returns how, and why.
pub async fn run(
    plans: Vec<ServicePlan>,
    mut setup: Setup<'_>,
    mut events: mpsc::UnboundedReceiver<LauncherEvent>,
) -> Ended {
    // A previous attempt's containers and unanswered commands are stale: its containers
    // ended with it.
    let stale = Txn::ops(vec![
        Op::Delete {
            range: KeyRange::Prefix(CONTAINERS.into()),
            previous: false,
        },
        Op::Delete {
            range: KeyRange::Prefix(COMMANDS.into()),
            previous: false,
        },
    ]);
    if let Err(e) = setup.kv.txn(&stale).await {
        return Ended::failed(format!("the key-value store failed: {e}"));
    }
    let publish = publisher(setup.kv.clone());
    let mut commands = commands(setup.kv.clone());
    let (mut services, first) = Services::new(plans, setup.master.is_some());
    let mut todo: VecDeque<Action> = first.into();
    loop {
        while let Some(action) = todo.pop_front() {
            match action {
                Action::Launch { worker, service } => {
                    let instance = services.instance(worker).expect("launched instances exist");
                    let context = (setup.context)(instance);
                    let kind = setup.kinds.get(&service).copied().unwrap_or(usize::MAX);
                    if let Err(e) = setup.launcher.launch_in(worker, kind, context) {
                        todo.extend(services.on_exited(worker, false, &e));
                    }
                    todo.push_front(Action::Changed(worker));
                }
                Action::Stop(worker) => setup.launcher.stop(worker),
                Action::Changed(worker) => {
                    let i = services.instance(worker).expect("changed instances exist");
                    let json = serde_json::to_vec(i).expect("instances serialize");
                    publish.send(vec![put(&format!("{CONTAINERS}{}", i.name), json)]);
                }
                Action::Finish {
                    outcome,
                    diagnostics,
                } => {
                    publish.flush().await;
                    let instances = services.instances().map(|(_, i)| i.clone()).collect();
                    return Ended {
                        outcome,
                        diagnostics,
                        instances,
                    };
                }
            }
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Some(LauncherEvent::Started { worker, container, host }) => {
                    todo.extend(services.on_started(worker, &container, &host));
                }
                Some(LauncherEvent::Exited { worker, success, diagnostics }) => {
                    todo.extend(services.on_exited(worker, success, &diagnostics));
                }
                Some(LauncherEvent::Fatal(why)) => {
                    todo.extend(services.shutdown(Outcome::Failed, why));
                }
                None => todo.extend(services.shutdown(Outcome::Failed, "the launcher stopped".into())),
            },
            Some((id, command)) = commands.recv() => {
                let (actions, reply) = obey(&mut services, command);
                info!(command = %id, ok = reply.ok, message = %reply.message, "command");
                let reply = serde_json::to_vec(&reply).expect("replies serialize");
                publish.send(vec![
                    put(&format!("{REPLIES}{id}"), reply),
                    Op::Delete { range: KeyRange::Key(format!("{COMMANDS}{id}")), previous: false },
                ]);
                todo.extend(actions);
            }
            code = master_exit(&mut setup.master) => {
                setup.master = None;
                todo.extend(services.on_master_exited(code));
            }
            _ = setup.cancel.changed() => {
                todo.extend(services.shutdown(Outcome::Killed, "killed (SIGTERM)".into()));
            }
        }
    }
}

fn obey(services: &mut Services, command: Result<Command, String>) -> (Vec<Action>, Reply) {
    let done = match command {
        Err(e) => Err(e),
        Ok(Command::Scale {
            service,
            count,
            delta,
        }) => services
            .target(&service)
            .ok_or_else(|| services.unknown_service(&service))
            .and_then(|current| {
                control::scaled(current, count, delta).map_err(|e| format!("{service}: {e}"))
            })
            .and_then(|n| {
                let actions = services.scale(&service, n)?;
                Ok((actions, format!("{service} scaled to {n}")))
            }),
        Ok(Command::Kill { container }) => services
            .kill(&container)
            .map(|actions| (actions, format!("{container} killed"))),
        Ok(Command::Shutdown {
            outcome,
            diagnostics,
        }) => Ok((
            services.shutdown(outcome, diagnostics),
            "shutting down".to_string(),
        )),
    };
    match done {
        Ok((actions, message)) => (actions, Reply { ok: true, message }),
        Err(message) => (Vec::new(), Reply { ok: false, message }),
    }
}

fn put(key: &str, value: Vec<u8>) -> Op {
    Op::Put {
        key: key.to_string(),
        value,
        owner: None,
        previous: false,
    }
}

/// Writes to the store in order, off the loop; [`Publisher::flush`] waits for the rest.
struct Publisher {
    writes: mpsc::UnboundedSender<Vec<Op>>,
    task: JoinHandle<()>,
}

impl Publisher {
    fn send(&self, ops: Vec<Op>) {
        let _ = self.writes.send(ops);
    }

    /// Lets what was sent reach the store (within 5 s) before the application ends.
    async fn flush(self) {
        drop(self.writes);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

fn publisher(kv: Arc<KvService>) -> Publisher {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Op>>();
    let task = tokio::spawn(async move {
        while let Some(ops) = rx.recv().await {
            if let Err(e) = kv.txn(&Txn::ops(ops)).await {
                warn!("cannot publish to the key-value store: {e}");
            }
        }
    });
    Publisher { writes: tx, task }
}

/// Commands as they are put, with their ids; unreadable ones as errors to answer.
fn commands(kv: Arc<KvService>) -> mpsc::UnboundedReceiver<(String, Result<Command, String>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let range = KeyRange::Prefix(COMMANDS.into());
        let mut after = kv.revision();
        loop {
            let events = match kv.next_events(&range, after).await {
                Ok(events) if events.is_empty() => return,
                Ok(events) => events,
                Err(compacted) => {
                    after = compacted.oldest.saturating_sub(1);
                    continue;
                }
            };
            for e in events {
                after = e.revision;
                let Some((value, _)) = e.put else { continue };
                let id = e.key[COMMANDS.len()..].to_string();
                let command =
                    serde_json::from_slice(&value).map_err(|err| format!("not a command: {err}"));
                if tx.send((id, command)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The master script's exit code once it ends (`None` if a signal ended it); never,
/// without one.
async fn master_exit(master: &mut Option<Child>) -> Option<i32> {
    match master {
        Some(child) => match child.wait().await {
            Ok(status) => status.code(),
            Err(e) => {
                warn!("cannot wait for the master script: {e}");
                None
            }
        },
        None => std::future::pending().await,
    }
}
