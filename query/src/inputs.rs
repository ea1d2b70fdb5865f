//! A query job's named inputs as DataFusion tables over exactly the files spindle lists,
//! on the same stores (local disk, S3, HDFS) the rest of spindle reads.

use crate::sized::SizedByFiles;
use crate::QueryError;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use spindle_io::storage::{FileInfo, Location};
use spindle_job::{InputFormat, QueryInput};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers each input as a table named by its key; returns every file it lists, by
/// input name, then URL. Inputs are listed and their schemas read together (each a
/// store's round trips), and a failure is the first failing input's by name.
pub async fn register(
    ctx: &SessionContext,
    inputs: &BTreeMap<String, QueryInput>,
) -> Result<Vec<FileInfo>, QueryError> {
    let made: Vec<_> = futures::stream::iter(inputs.values().map(|input| table(ctx, input)))
        .buffered(INPUTS_AT_ONCE)
        .collect()
        .await;
    let mut all = Vec::new();
    for (name, made) in inputs.keys().zip(made) {
        let fail = |message: String| QueryError::Input {
            name: name.clone(),
            message,
        };
        let (table, files) = made.map_err(fail)?;
        ctx.register_table(name.as_str(), Arc::new(table))
            .map_err(|e| fail(e.to_string()))?;
        all.extend(files);
    }
    Ok(all)
}

/// Inputs listed at once: a spec names a few, and each listing may be many requests.
const INPUTS_AT_ONCE: usize = 8;

/// One input's table over exactly the files it lists, and those files.
async fn table(
    ctx: &SessionContext,
    input: &QueryInput,
) -> Result<(ListingTable, Vec<FileInfo>), String> {
    let files = Location::expand(&input.path)
        .await
        .map_err(|e| e.to_string())?;
    if input.format == InputFormat::Csv && input.csv.header {
        same_csv_columns(input, &files).await?;
    }
    // The session's stores resolve each file's store from its URL (crate::stores).
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(&f.url))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    // The files are listed already: no extension filter may drop one.
    let options = ListingOptions::new(file_format(input)).with_file_extension("");
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options);
    let config = match &input.schema {
        Some(columns) => config.with_schema(spindle_io::bind::declared_schema(columns)),
        None => config
            .infer_schema(&ctx.state())
            .await
            .map_err(|e| format!("cannot read the schema of {}: {e}", input.path))?,
    };
    let table = ListingTable::try_new(config).map_err(|e| e.to_string())?;
    Ok((table, files))
}

/// DataFusion binds csv columns by position: every file of an input must name the same
/// columns in the same order as the first (or as a declared schema), or the query would
/// read one column as another.
async fn same_csv_columns(input: &QueryInput, files: &[FileInfo]) -> Result<(), String> {
    let mut expected: Option<(Vec<String>, String)> = input.schema.as_ref().map(|cols| {
        let names = cols.iter().map(|c| c.name.clone()).collect();
        (names, "the declared schema".to_string())
    });
    // Heads are read a few at a time, in order, so the first file sets the expectation.
    let mut heads = futures::stream::iter(files)
        .map(|file| async move { (file, csv_header(file, input.csv.delimiter).await) })
        .buffered(HEADS_AT_ONCE);
    while let Some((file, names)) = heads.next().await {
        let names = names?;
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

/// Header reads in flight at once: enough to hide a store's latency, few enough not
/// to flood it.
const HEADS_AT_ONCE: usize = 16;
/// A header longer than this is not a csv header anyone wrote by hand.
const HEADER_BYTES: u64 = 64 * 1024;

/// The column names in the first line of a csv file.
async fn csv_header(file: &FileInfo, delimiter: char) -> Result<Vec<String>, String> {
    let location = Location::parse(&file.url).map_err(|e| e.to_string())?;
    let head = location
        .get_range(0..file.size.min(HEADER_BYTES))
        .await
        .map_err(|e| format!("{}: {e}", file.url))?;
    let head = String::from_utf8_lossy(&head);
    let line = head
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or("");
    Ok(line
        .split(delimiter)
        .map(|n| n.trim().trim_matches('"').to_string())
        .collect())
}

/// Csv and jsonl are sized by their files' lengths ([`SizedByFiles`]); parquet's own
/// statistics say more.
fn file_format(input: &QueryInput) -> Arc<dyn FileFormat> {
    match input.format {
        InputFormat::Csv => Arc::new(SizedByFiles(Arc::new(
            CsvFormat::default()
                .with_has_header(input.csv.header)
                .with_delimiter(input.csv.delimiter as u8),
        ))),
        InputFormat::Jsonl => Arc::new(SizedByFiles(Arc::new(JsonFormat::default()))),
        InputFormat::Parquet => Arc::new(ParquetFormat::default()),
        InputFormat::Text => unreachable!("the spec refuses text inputs for queries"),
    }
}
