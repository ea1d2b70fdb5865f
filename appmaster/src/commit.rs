//! The output commit: attempts write under `<output>/_temporary/<attempt>/`, the job's
//! success renames them into place and writes `_SUCCESS`; failure deletes the staging
//! directory. Readers never see a partial result.

use object_store::ObjectStoreExt;
use spindle_io::{IoError, Location};
use spindle_job::{OutputMode, OutputSpec};

#[derive(Clone)]
pub struct Committer {
    pub output: Location,
    pub staging: Location,
    mode: OutputMode,
    ext: &'static str,
}

impl Committer {
    /// Checks the output before any work: `error_if_exists` refuses a non-empty path.
    pub async fn prepare(spec: &OutputSpec, attempt: &str) -> Result<Committer, IoError> {
        let output = Location::parse(&spec.path)?;
        if spec.mode == OutputMode::ErrorIfExists {
            let existing = output.list().await?;
            if let Some(first) = existing.first() {
                return Err(IoError::Unsupported(format!(
                    "output {} already exists (holds {}); remove it or set `output.mode: overwrite`",
                    output.url(),
                    first.location
                )));
            }
            if output.head().await.is_ok() {
                return Err(IoError::Unsupported(format!(
                    "output {} is an existing file",
                    output.url()
                )));
            }
        }
        let staging = output.child(&format!("_temporary/{attempt}"));
        Ok(Committer {
            output,
            staging,
            mode: spec.mode,
            ext: spec.format.extension(),
        })
    }

    /// Moves each final task's file into place as `part-NNNNN.<ext>`, in task order.
    pub async fn commit(&self, files: &[(u32, String)]) -> Result<u64, IoError> {
        if self.mode == OutputMode::Overwrite {
            for meta in self.output.list().await? {
                let rel = meta.location.as_ref()[self.output.path.as_ref().len()..]
                    .trim_start_matches('/');
                if !rel.starts_with("_temporary") {
                    self.output
                        .store
                        .delete(&meta.location)
                        .await
                        .map_err(|e| IoError::store(self.output.url(), e))?;
                }
            }
        }
        let mut bytes = 0;
        for (i, (_, rel)) in files.iter().enumerate() {
            let from = self.staging.child(rel);
            bytes += from.head().await.map(|m| m.size).unwrap_or(0);
            let to = self.output.child(&format!("part-{i:05}.{}", self.ext));
            from.rename_to(&to).await?;
        }
        self.output.child("_temporary").remove_all().await?;
        self.output.child("_SUCCESS").put(vec![]).await?;
        Ok(bytes)
    }

    /// Removes everything this attempt wrote; an output that did not exist before is gone.
    pub async fn abort(&self) -> Result<(), IoError> {
        self.staging.remove_all().await?;
        let temporary = self.output.child("_temporary");
        if temporary.list().await?.is_empty() {
            temporary.remove_all().await?;
        }
        self.output.remove_dir_if_empty().await
    }
}
