//! `sql` stages: DataFusion over one partition, registered as the table `input`.

use crate::error::TaskError;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
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

/// The input columns `query` reads, from DataFusion's optimized plan, so a scan can skip
/// building the others; empty when it reads none (`count(*)`: only the rows count).
/// `None` (read everything) when the query scans `input` more than once or cannot be
/// planned (its error is reported when it runs).
pub async fn columns_read(query: &str, schema: SchemaRef) -> Option<Vec<usize>> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    let table = MemTable::try_new(schema.clone(), vec![vec![]]).ok()?;
    ctx.register_table("input", Arc::new(table)).ok()?;
    let plan = ctx.sql(query).await.ok()?.into_optimized_plan().ok()?;
    let mut scans = 0;
    let mut projection = None;
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            scans += 1;
            projection = scan.projection.clone();
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .ok()?;
    match projection {
        Some(p) if scans == 1 && !schema.fields().is_empty() => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, true),
            Field::new("url", DataType::Utf8, true),
            Field::new("status", DataType::Int64, true),
            Field::new("bytes", DataType::Int64, true),
        ]))
    }

    #[tokio::test]
    async fn finds_the_columns_a_query_reads() {
        let q = "SELECT user, bytes FROM input WHERE status = 200";
        let mut cols = columns_read(q, schema()).await.unwrap();
        cols.sort();
        assert_eq!(cols, vec![0, 2, 3]);
        assert_eq!(
            columns_read("SELECT count(*) FROM input", schema()).await,
            Some(vec![])
        );
        assert_eq!(
            columns_read("SELECT * FROM input", schema()).await,
            Some(vec![0, 1, 2, 3])
        );
        let self_join = "SELECT a.user FROM input a JOIN input b ON a.url = b.url";
        assert_eq!(columns_read(self_join, schema()).await, None);
        assert_eq!(columns_read("SELECT nope FROM input", schema()).await, None);
    }
}
