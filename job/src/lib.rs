//! The job: its YAML spec, the plan of phases the runtime executes, and the messages the
//! application master and workers exchange about it; and application specs, Skein's
//! format for long-running services.
//!
//! Kept free of I/O so that the CLI, the application master and the workers agree on one
//! definition of a job without pulling each other's dependencies.

pub mod app_spec;
mod blame;
pub mod columns;
pub mod combine;
pub mod plan;
pub mod query_spec;
pub mod size;
pub mod spec;
pub mod timeout;
pub mod wire;

pub use app_spec::{
    AclSpec, AppSpec, FileKind, FileSpec, MasterSpec, Resources, ServiceSpec, Spec, Visibility,
};
pub use columns::{ColumnSpec, ColumnType};
pub use plan::{Op, Phase, PhaseSource, Plan, Sink};
pub use query_spec::{QueryInput, QuerySpec};
pub use size::ByteSize;
pub use spec::{
    CommandStage, CsvOptions, InputFormat, InputSpec, JobSpec, OutputFormat, OutputMode,
    OutputSpec, RowFormat, ShuffleStage, SpecError, Stage, StageSpec, WorkerSpec,
};
pub use timeout::Timeout;
