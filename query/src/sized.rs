//! Csv and jsonl files carry no statistics, so DataFusion would know nothing of how big
//! their scans are: `spindle explain` could say nothing of their output, and the join
//! selection could not see that a csv dimension table is small enough to broadcast.
//! Spark sizes a file scan by its files' lengths; [`SizedByFiles`] does the same, giving
//! each file an inexact byte size (its length) where its format gives none. Rows stay
//! unknown: counting them would mean reading the files at planning time.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::ExecutionPlan;
use object_store::{ObjectMeta, ObjectStore};
use std::sync::Arc;

/// A file format whose files' statistics include their length as an inexact byte size
/// when the format itself gives none; everything else is the wrapped format's.
#[derive(Debug)]
pub(crate) struct SizedByFiles(pub Arc<dyn FileFormat>);

#[async_trait]
impl FileFormat for SizedByFiles {
    fn get_ext(&self) -> String {
        self.0.get_ext()
    }

    fn get_ext_with_compression(&self, compression: &FileCompressionType) -> Result<String> {
        self.0.get_ext_with_compression(compression)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.0.compression_type()
    }

    async fn infer_schema(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        self.0.infer_schema(state, store, objects).await
    }

    async fn infer_stats(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Statistics> {
        let stats = self
            .0
            .infer_stats(state, store, table_schema, object)
            .await?;
        Ok(match stats.total_byte_size {
            Precision::Absent => {
                let length = usize::try_from(object.size).unwrap_or(usize::MAX);
                stats.with_total_byte_size(Precision::Inexact(length))
            }
            _ => stats,
        })
    }

    async fn infer_ordering(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Option<LexOrdering>> {
        self.0
            .infer_ordering(state, store, table_schema, object)
            .await
    }

    async fn create_physical_plan(
        &self,
        state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.0.create_physical_plan(state, conf).await
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        self.0.file_source(table_schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::file_format::csv::CsvFormat;
    use datafusion::prelude::SessionContext;
    use object_store::memory::InMemory;
    use object_store::path::Path;

    fn meta(size: u64) -> ObjectMeta {
        ObjectMeta {
            location: Path::from("t/a.csv"),
            last_modified: Default::default(),
            size,
            e_tag: None,
            version: None,
        }
    }

    /// A csv file is as big as its length says, inexactly; its rows stay unknown.
    #[tokio::test]
    async fn a_file_without_statistics_is_sized_by_its_length() {
        let state = SessionContext::new().state();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let sized = SizedByFiles(Arc::new(CsvFormat::default()));
        let stats = sized
            .infer_stats(&state, &store, schema.clone(), &meta(12_345))
            .await
            .unwrap();
        assert_eq!(stats.total_byte_size, Precision::Inexact(12_345));
        assert_eq!(stats.num_rows, Precision::Absent);
        assert_eq!(sized.get_ext(), CsvFormat::default().get_ext());
        assert!(sized.compression_type().is_some());
    }
}
