//! The application master: the scheduler core, the task graph built from a job plan, the
//! container launcher seam (local processes or YARN containers), the server workers connect
//! to, and the output commit.

pub mod cmdline;
pub mod commit;
pub mod driver;
pub mod job;
pub mod kv;
pub mod launcher;
pub mod local;
pub mod prepare;
pub mod progress;
pub mod query;
pub mod scheduler;
mod server;
pub mod services;
pub mod yarn;

pub use driver::{run_job, DriverOptions};
pub use job::{JobDef, TaskKind};
pub use launcher::{ContainerLauncher, LauncherEvent, Placement};
pub use local::LocalLauncher;
pub use prepare::prepare;
pub use progress::{Progress, Summary};
