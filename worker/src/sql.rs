//! `sql` stages: DataFusion over one partition, registered as the table `input`.

use crate::error::TaskError;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;

pub async fn run_sql(
    what: &str,
    query: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), TaskError> {
    let fail =
        |e: datafusion::error::DataFusionError| TaskError::deterministic(format!("{what}: {e}"));
    // One partition per task: parallelism comes from running many tasks at once.
    let config = SessionConfig::new()
        .with_target_partitions(1)
        .with_batch_size(spindle_io::read::BATCH_ROWS);
    let ctx = SessionContext::new_with_config(config);
    let table = MemTable::try_new(schema, vec![batches]).map_err(fail)?;
    ctx.register_table("input", Arc::new(table)).map_err(fail)?;
    let df = ctx.sql(query).await.map_err(fail)?;
    let out_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(fail)?;
    Ok((out_schema, batches))
}
