//! The seam between the master and wherever workers run. Local mode starts processes;
//! YARN mode asks the ResourceManager for containers and starts them on NodeManagers.
//! Both report through [`LauncherEvent`]s so the driver has one code path.

use spindle_job::wire::WorkerId;

/// What a launcher tells the driver about its workers.
#[derive(Debug, Clone, PartialEq)]
pub enum LauncherEvent {
    /// The worker's process or container ended.
    Exited {
        worker: WorkerId,
        success: bool,
        diagnostics: String,
    },
    /// The worker's container is running (YARN only; the driver learns of workers when
    /// they connect, services from this).
    Started {
        worker: WorkerId,
        container: String,
        host: String,
    },
    /// The launcher cannot go on (the ResourceManager is gone or told the AM to stop).
    Fatal(String),
}

/// Where workers should run, from the input's splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Near the input: bytes per host, most first (empty when not known), asked for in
    /// proportion.
    Near(Vec<(String, u64)>),
    /// Anywhere: the job waives locality (`locality_wait: 0`).
    Anywhere,
}

/// Starts and stops worker processes. Workers connect back to the master on their own,
/// carrying their id, so launching is fire-and-forget.
pub trait ContainerLauncher: Send {
    fn launch(&mut self, worker: WorkerId) -> Result<(), String>;
    fn kill(&mut self, worker: WorkerId);
    /// Where workers should run, told before the first launch: a launcher that can ask
    /// for places (YARN) asks there.
    fn prefer(&mut self, _placement: Placement) {}
    /// Where people can read a worker's log.
    fn log_hint(&self, worker: WorkerId) -> String;
}
