//! YARN protocols: domain types and typed clients for the ResourceManager (client and
//! AM sides) and the NodeManager.

mod amrm;
mod client;
mod container;
mod convert;
mod convert_am;
mod nm;
mod types;

pub use amrm::{AmRmClient, APPLICATION_MASTER_PROTOCOL};
pub use client::{ApplicationClient, APPLICATION_CLIENT_PROTOCOL};
pub use container::*;
pub use nm::{NodeManagerClient, CONTAINER_MANAGEMENT_PROTOCOL};
pub use types::*;
