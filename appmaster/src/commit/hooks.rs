//! Pause and failure points inside the commit, for the fault-injection tests: the binary
//! turns a hidden test setting into these; production runs have none.

use spindle_io::IoError;

/// The steps a commit passes, in order: `before-publish` (staged and complete),
/// `after-move-old` (HDFS: the old output moved aside), `after-publish` (the new output
/// in place), `done` (the old output removed).
#[derive(Debug, Clone, Default)]
pub struct CommitHooks {
    /// Print `paused at commit step <step>` to stderr and wait there forever.
    pub pause_at: Option<String>,
    /// Fail with an injected error at this step.
    pub fail_at: Option<String>,
}

impl CommitHooks {
    /// Parses `pause:<step>` or `fail:<step>`.
    pub fn parse(text: &str) -> Result<CommitHooks, String> {
        match text.split_once(':') {
            Some(("pause", step)) => Ok(CommitHooks {
                pause_at: Some(step.to_string()),
                fail_at: None,
            }),
            Some(("fail", step)) => Ok(CommitHooks {
                pause_at: None,
                fail_at: Some(step.to_string()),
            }),
            _ => Err(format!(
                "bad commit hook {text:?}: want pause:<step> or fail:<step>"
            )),
        }
    }

    pub(crate) async fn step(&self, name: &str) -> Result<(), IoError> {
        if self.fail_at.as_deref() == Some(name) {
            return Err(IoError::Unsupported(format!(
                "injected failure at commit step {name}"
            )));
        }
        if self.pause_at.as_deref() == Some(name) {
            eprintln!("paused at commit step {name}");
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}
