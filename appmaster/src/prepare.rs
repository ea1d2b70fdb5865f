//! Everything between a parsed spec and a running driver, the same in local mode and in
//! the YARN application master: list the input, make the output safe to write (refusals,
//! lease, recovery), plan the tasks.

use crate::commit::{CommitError, CommitOptions, Committer, Inputs};
use crate::job::JobDef;
use arrow::datatypes::SchemaRef;
use spindle_io::read::input_schema;
use spindle_io::storage::FileInfo;
use spindle_io::{IoError, Location};
use spindle_job::wire::Compression;
use spindle_job::JobSpec;
use spindle_query::stage_check::check_stages;

/// Why a job could not be prepared.
#[derive(Debug)]
pub enum PrepareError {
    /// The spec asks for what must not or cannot be done, found before anything was
    /// touched (exit 2); the message names the key.
    Refused(String),
    /// The input cannot be read, the output is held by another writer, or the store
    /// failed.
    Failed(String),
}

impl std::fmt::Display for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrepareError::Refused(m) | PrepareError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<CommitError> for PrepareError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Refused(_) => PrepareError::Refused(e.to_string()),
            CommitError::Failed(m) => PrepareError::Failed(m),
        }
    }
}

/// The columns of the input `files` (declared by the spec or inferred), once `spec`'s
/// stages are checked against them: what `prepare` does before touching the output, and
/// what `submit` and `explain` do to refuse a stage as early.
pub async fn checked_columns(
    spec: &JobSpec,
    files: &[FileInfo],
) -> Result<SchemaRef, PrepareError> {
    let schema = input_schema(files, &spec.input)
        .await
        .map_err(|e| PrepareError::Failed(e.to_string()))?;
    check_stages(&spec.stages, schema.clone())
        .await
        .map_err(|e| PrepareError::Refused(format!("key `stages`: {e}")))?;
    Ok(schema)
}

/// Lists the input, checks the stages against its columns, prepares the output commit
/// and plans the job. A `Refused` error means the spec names an output spindle must not
/// write, or a stage that cannot run on the input's columns (exit 2); nothing was
/// touched.
pub async fn prepare(
    spec: &JobSpec,
    compression: Compression,
    commit: &CommitOptions,
) -> Result<(Committer, JobDef), PrepareError> {
    let failed = |e: IoError| PrepareError::Failed(e.to_string());
    let files = Location::expand(&spec.input.path).await.map_err(failed)?;
    let schema = checked_columns(spec, &files).await?;
    let urls: Vec<String> = files.iter().map(|f| f.url.clone()).collect();
    let inputs = Inputs {
        patterns: std::slice::from_ref(&spec.input.path),
        files: &urls,
    };
    let committer = Committer::prepare(&spec.output, &spec.name, &inputs, commit).await?;
    match JobDef::from_spec(spec, files, schema, committer.staging(), compression).await {
        Ok(job) => Ok((committer, job)),
        Err(e) => {
            let _ = committer.abort().await;
            Err(failed(e))
        }
    }
}

/// Plans a query job's `stages` (as `spec`, from [`spindle_job::QuerySpec::stage_job`])
/// over the query's result in `committer`'s scratch directory. The commit was prepared
/// before the query ran, against the query's inputs; the stages write into its staging.
pub async fn prepare_stages(
    spec: &JobSpec,
    committer: &Committer,
    compression: Compression,
) -> Result<JobDef, String> {
    let result = committer.scratch();
    let files = Location::expand(&result.url())
        .await
        .map_err(|e| format!("the query's result: {e}"))?;
    let schema = input_schema(&files, &spec.input)
        .await
        .map_err(|e| format!("the query's result: {e}"))?;
    let mut job = JobDef::from_spec(spec, files, schema, committer.staging(), compression)
        .await
        .map_err(|e| format!("the stages after the query: {e}"))?;
    job.input_called = Some((result.url(), "the query's result".to_string()));
    Ok(job)
}
