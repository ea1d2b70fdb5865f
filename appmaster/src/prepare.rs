//! Everything between a parsed spec and a running driver, the same in local mode and in
//! the YARN application master: list the input, make the output safe to write (refusals,
//! lease, recovery), plan the tasks.

use crate::commit::{CommitError, CommitOptions, Committer, Inputs};
use crate::job::JobDef;
use spindle_io::Location;
use spindle_job::wire::Compression;
use spindle_job::JobSpec;

/// Lists the input, prepares the output commit and plans the job. A `Refused` error means
/// the spec names an output spindle must not write (exit 2); nothing was touched.
pub async fn prepare(
    spec: &JobSpec,
    compression: Compression,
    commit: &CommitOptions,
) -> Result<(Committer, JobDef), CommitError> {
    let files = Location::expand(&spec.input.path)
        .await
        .map_err(|e| CommitError::Failed(e.to_string()))?;
    let urls: Vec<String> = files.iter().map(|f| f.url.clone()).collect();
    let inputs = Inputs {
        patterns: std::slice::from_ref(&spec.input.path),
        files: &urls,
    };
    let committer = Committer::prepare(&spec.output, &spec.name, &inputs, commit).await?;
    match JobDef::from_spec(spec, files, committer.staging(), compression).await {
        Ok(job) => Ok((committer, job)),
        Err(e) => {
            let _ = committer.abort().await;
            Err(CommitError::Failed(e.to_string()))
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
    JobDef::from_spec(spec, files, committer.staging(), compression)
        .await
        .map_err(|e| format!("the stages after the query: {e}"))
}
