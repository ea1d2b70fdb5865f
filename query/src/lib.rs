//! Query jobs: one SQL query over named inputs, planned by DataFusion and cut into
//! stages at its exchanges by `datafusion-distributed`; spindle supplies the inputs'
//! stores, the workers and the output.

mod error;
pub mod estimate;
pub mod inputs;
pub mod kept;
pub mod locality;
mod planned;
pub mod remote;
mod routes;
mod runtime;
mod scanned;
mod scans;
mod sized;
pub mod stage_check;
mod stores;
pub mod workers;

pub use error::QueryError;
pub use planned::{
    plan, plan_registered, register, EarlierRun, PlannedQuery, QueryOptions, QueryWorkers,
    Registered, Written,
};
pub use runtime::runtime;
