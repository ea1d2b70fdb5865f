//! `stages` after a query, on YARN. Once the query's result is in the commit's scratch
//! directory, the query's worker containers go and the stages run as a stage job's do
//! in the master: the same driver, over containers of the same size, committing through
//! the commit prepared (and leased) before the query.
//!
//! Both kinds of worker are containers of one launcher, which names each by a number:
//! the stage job's worker `w` is the launcher's `first + w`, where every query worker's
//! number is below `first`, so a query worker's container that ends late (released, as
//! asked) is never taken for a stage worker.

use super::am::{publish_scheduler, worker_context, Opts};
use super::launch::LaunchInfo;
use super::YarnLauncher;
use crate::commit::Committer;
use crate::kv::service::KvService;
use crate::launcher::{ContainerLauncher, LauncherEvent, Placement};
use crate::prepare::prepare_stages;
use crate::progress::Summary;
use crate::query::then_stages;
use crate::run_job;
use spindle_hadoop::yarn::ContainerLaunchContext;
use spindle_job::wire::{Compression, WorkerId};
use spindle_job::QuerySpec;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// What the stages need from the master beyond the spec and the query's outcome.
pub(super) struct StageSetup<'a> {
    /// Where the stage workers connect to the master.
    pub scheduler: TcpListener,
    pub store: &'a KvService,
    /// The store's address, for the workers' environment.
    pub kv_address: String,
    pub secret: &'a str,
    pub launch: &'a LaunchInfo,
    pub opts: Opts<'a>,
    pub cancel: watch::Receiver<bool>,
}

/// Runs `spec`'s stages over the query's result (summarized in `query`) on new worker
/// containers numbered from `first`, committing their output through `committer`.
pub(super) async fn run_stages_after(
    spec: &QuerySpec,
    query: &Summary,
    committer: Committer,
    setup: StageSetup<'_>,
    workers: (
        &mut YarnLauncher,
        &mut mpsc::UnboundedReceiver<LauncherEvent>,
        WorkerId,
    ),
    started: Instant,
) -> Summary {
    let (launcher, events, first) = workers;
    let stages = spec
        .stage_job(&committer.scratch().url())
        .expect("a query with stages");
    let prepared = async {
        let job = prepare_stages(&stages, &committer, Compression::Auto).await?;
        let address = setup.scheduler.local_addr().map_err(|e| e.to_string())?;
        publish_scheduler(setup.store, &address.to_string()).await?;
        Ok::<_, String>(job)
    };
    let job = match prepared.await {
        Ok(job) => job,
        Err(e) => {
            let _ = committer.abort().await;
            return then_stages(query, Summary::failed(&spec.name, e, started), started);
        }
    };
    let app_id = setup.opts.app_id;
    let context = worker_context(
        setup.launch,
        &setup.kv_address,
        app_id,
        &stages,
        setup.secret,
    );
    let mut stage_workers = StageWorkers {
        launcher,
        first,
        context,
    };
    let (shifted_tx, shifted) = mpsc::unbounded_channel();
    let driver = setup.opts.driver(&stages, committer, setup.cancel);
    let summary = tokio::select! {
        summary = run_job(job, setup.scheduler, setup.secret, &mut stage_workers, shifted, driver) => summary,
        never = forward_shifted(events, first, shifted_tx) => match never {},
    };
    then_stages(query, summary, started)
}

/// The stage job's workers, as containers of the launcher numbered from `first`.
struct StageWorkers<'a> {
    launcher: &'a mut YarnLauncher,
    first: WorkerId,
    context: Box<dyn Fn(WorkerId) -> ContainerLaunchContext + Send + Sync>,
}

impl ContainerLauncher for StageWorkers<'_> {
    fn launch(&mut self, worker: WorkerId) -> Result<(), String> {
        self.launcher
            .launch_in(self.first + worker, 0, (self.context)(worker))
    }

    fn kill(&mut self, worker: WorkerId) {
        self.launcher.kill(self.first + worker);
    }

    fn prefer(&mut self, placement: Placement) {
        self.launcher.prefer(placement);
    }

    fn log_hint(&self, worker: WorkerId) -> String {
        self.launcher.log_hint(self.first + worker)
    }
}

/// Passes the launcher's events on to the stage job's driver, in its workers' numbers;
/// a query worker's end is not the driver's business. Never returns: once the launcher
/// stops, the driver sees its events end.
async fn forward_shifted(
    events: &mut mpsc::UnboundedReceiver<LauncherEvent>,
    first: WorkerId,
    to: mpsc::UnboundedSender<LauncherEvent>,
) -> std::convert::Infallible {
    while let Some(event) = events.recv().await {
        if let Some(event) = shifted(event, first) {
            let _ = to.send(event);
        }
    }
    drop(to);
    std::future::pending().await
}

/// `event` in the stage job's numbers, or `None` for a query worker's.
fn shifted(event: LauncherEvent, first: WorkerId) -> Option<LauncherEvent> {
    let stage_worker = |worker: WorkerId| worker.checked_sub(first);
    Some(match event {
        LauncherEvent::Exited {
            worker,
            success,
            diagnostics,
        } => LauncherEvent::Exited {
            worker: stage_worker(worker)?,
            success,
            diagnostics,
        },
        LauncherEvent::Started {
            worker,
            container,
            host,
        } => LauncherEvent::Started {
            worker: stage_worker(worker)?,
            container,
            host,
        },
        LauncherEvent::Fatal(why) => LauncherEvent::Fatal(why),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(worker: WorkerId) -> LauncherEvent {
        LauncherEvent::Exited {
            worker,
            success: false,
            diagnostics: "killed".into(),
        }
    }

    #[test]
    fn a_query_workers_end_never_reaches_the_stage_driver() {
        // Query workers 0..3 (a replacement included); stage workers from 3.
        assert_eq!(shifted(exited(0), 3), None);
        assert_eq!(shifted(exited(2), 3), None);
        assert_eq!(shifted(exited(4), 3), Some(exited(1)));
        let started = LauncherEvent::Started {
            worker: 5,
            container: "c".into(),
            host: "h".into(),
        };
        let LauncherEvent::Started { worker, .. } = shifted(started, 3).unwrap() else {
            panic!("not a start");
        };
        assert_eq!(worker, 2);
        let fatal = LauncherEvent::Fatal("the RM is gone".into());
        assert_eq!(shifted(fatal.clone(), 3), Some(fatal));
    }
}
