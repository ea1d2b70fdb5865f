//! YARN mode: workers are containers the ResourceManager grants and the NodeManagers
//! start. The [`YarnLauncher`] is the driver's [`crate::ContainerLauncher`]; behind it one
//! task owns the AMRM connection (heartbeats, asks, completions, unregister).

pub mod aggregated_logs;
mod allocator;
pub mod am;
pub mod app;
mod ask;
pub mod clean_guard;
pub mod clean_plan;
pub mod clean_survey;
pub mod cluster;
mod exit;
pub mod hdfs_error;
pub mod kv_journal;
pub mod launch;
pub mod query_job;
mod stages_after;
pub mod staging;
pub mod tokens;

pub use allocator::{AmSession, Ask, Unregister, WorkerTemplate, YarnLauncher};
pub use exit::describe_exit;

/// Alias of the application's secret in the containers' Credentials file.
pub const SECRET_ALIAS: &str = "spindle.secret";
/// The key-value journal's name in the application's staging directory.
pub const KV_JOURNAL: &str = "kv.journal";
/// Events the key-value store remembers for watchers that reconnect.
pub const KV_HISTORY: usize = 100_000;
/// YARN application type of spindle applications (`yarn application -appTypes SPINDLE`).
pub const APPLICATION_TYPE: &str = "SPINDLE";
