//! A task's failure, classified so the scheduler knows whether retrying can help.

use spindle_io::IoError;
use spindle_job::wire::{FailureKind, WorkerId};

#[derive(Debug)]
pub struct TaskError {
    pub kind: FailureKind,
    pub message: String,
}

impl TaskError {
    pub fn deterministic(message: impl Into<String>) -> Self {
        TaskError {
            kind: FailureKind::Deterministic,
            message: message.into(),
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        TaskError {
            kind: FailureKind::Retryable,
            message: message.into(),
        }
    }

    pub fn input_lost(worker: WorkerId, message: impl Into<String>) -> Self {
        TaskError {
            kind: FailureKind::InputLost { worker },
            message: message.into(),
        }
    }
}

impl From<IoError> for TaskError {
    fn from(e: IoError) -> Self {
        if e.is_transient() {
            TaskError::retryable(e.to_string())
        } else {
            TaskError::deterministic(e.to_string())
        }
    }
}
