//! A query job's named inputs as DataFusion tables over exactly the files spindle lists,
//! on the same stores (local disk, S3, HDFS) the rest of spindle reads.

use crate::QueryError;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use spindle_io::storage::{FileInfo, Location};
use spindle_job::{InputFormat, QueryInput};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers each input as a table named by its key; returns every file it lists, by
/// input name, then URL.
pub async fn register(
    ctx: &SessionContext,
    inputs: &BTreeMap<String, QueryInput>,
) -> Result<Vec<FileInfo>, QueryError> {
    let mut all = Vec::new();
    for (name, input) in inputs {
        let fail = |message: String| QueryError::Input {
            name: name.clone(),
            message,
        };
        let files = Location::expand(&input.path)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if input.format == InputFormat::Csv && input.csv.header {
            same_csv_columns(input, &files).await.map_err(&fail)?;
        }
        let mut urls = Vec::with_capacity(files.len());
        for file in &files {
            register_store(ctx, &file.url).map_err(&fail)?;
            urls.push(ListingTableUrl::parse(&file.url).map_err(|e| fail(e.to_string()))?);
        }
        // The files are listed already: no extension filter may drop one.
        let options = ListingOptions::new(file_format(input)).with_file_extension("");
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options);
        let config = match &input.schema {
            Some(columns) => config.with_schema(spindle_io::bind::declared_schema(columns)),
            None => config
                .infer_schema(&ctx.state())
                .await
                .map_err(|e| fail(format!("cannot read the schema of {}: {e}", input.path)))?,
        };
        let table = ListingTable::try_new(config).map_err(|e| fail(e.to_string()))?;
        ctx.register_table(name.as_str(), Arc::new(table))
            .map_err(|e| fail(e.to_string()))?;
        all.extend(files);
    }
    Ok(all)
}

/// DataFusion binds csv columns by position: every file of an input must name the same
/// columns in the same order as the first (or as a declared schema), or the query would
/// read one column as another.
async fn same_csv_columns(input: &QueryInput, files: &[FileInfo]) -> Result<(), String> {
    let mut expected: Option<(Vec<String>, String)> = input.schema.as_ref().map(|cols| {
        let names = cols.iter().map(|c| c.name.clone()).collect();
        (names, "the declared schema".to_string())
    });
    for file in files {
        let location = Location::parse(&file.url).map_err(|e| e.to_string())?;
        let head = location
            .get_range(0..file.size.min(64 * 1024))
            .await
            .map_err(|e| format!("{}: {e}", file.url))?;
        let head = String::from_utf8_lossy(&head);
        let line = head
            .trim_start_matches('\u{feff}')
            .lines()
            .next()
            .unwrap_or("");
        let names: Vec<String> = line
            .split(input.csv.delimiter)
            .map(|n| n.trim().trim_matches('"').to_string())
            .collect();
        match &expected {
            None => expected = Some((names, file.url.clone())),
            Some((want, from)) if *want != names => {
                return Err(format!(
                    "{} has the columns {names:?}, {from} {want:?}: a query reads csv columns \
                     by position, so every file must list the same columns in the same order",
                    file.url
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn file_format(input: &QueryInput) -> Arc<dyn FileFormat> {
    match input.format {
        InputFormat::Csv => Arc::new(
            CsvFormat::default()
                .with_has_header(input.csv.header)
                .with_delimiter(input.csv.delimiter as u8),
        ),
        InputFormat::Jsonl => Arc::new(JsonFormat::default()),
        InputFormat::Parquet => Arc::new(ParquetFormat::default()),
        InputFormat::Text => unreachable!("the spec refuses text inputs for queries"),
    }
}

/// DataFusion finds a file's store by its URL's scheme and authority; spindle's stores
/// (with their credentials and HDFS clients) are registered under the same keys.
fn register_store(ctx: &SessionContext, file_url: &str) -> Result<(), String> {
    let location = Location::parse(file_url).map_err(|e| e.to_string())?;
    if location.root == "file://" {
        return Ok(()); // DataFusion's own local store
    }
    let root = url::Url::parse(&location.root).map_err(|e| format!("{file_url}: {e}"))?;
    ctx.register_object_store(&root, location.store);
    Ok(())
}
