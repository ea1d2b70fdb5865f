//! The runtime a coordinator or a worker runs a query's tasks in: a memory pool of a
//! fixed size (sorts, aggregates and joins past it spill or fail saying so, instead of
//! taking the machine's memory) and spindle's stores.

use crate::stores::SpindleStores;
use crate::QueryError;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use std::num::NonZeroUsize;
use std::sync::Arc;

/// A runtime whose tasks share `memory_bytes`.
pub fn runtime(memory_bytes: u64) -> Result<Arc<RuntimeEnv>, QueryError> {
    let pool = FairSpillPool::new(usize::try_from(memory_bytes).unwrap_or(usize::MAX));
    // The five largest consumers are named when the pool runs out.
    let tracked = TrackConsumersPool::new(pool, NonZeroUsize::new(5).expect("5 > 0"));
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(tracked))
        .with_object_store_registry(Arc::new(SpindleStores::default()))
        .build_arc()
        .map_err(|e| QueryError::Run(e.to_string()))
}
