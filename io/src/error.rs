//! One error type for the storage and format layer, keeping sources.

use arrow::error::ArrowError;

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{url}: {source}")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("no input files match {0}")]
    NoMatch(String),
    #[error("{0}")]
    Unsupported(String),
    /// Input that cannot be parsed, located so the user can look at it.
    #[error("{url} at byte offset {offset}: {message}")]
    Malformed {
        url: String,
        offset: u64,
        message: String,
    },
    /// A file whose columns do not match the job's schema.
    #[error("{url}: {message}")]
    Header { url: String, message: String },
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: ArrowError,
    },
    #[error("{context}: {source}")]
    Parquet {
        context: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl IoError {
    pub fn store(url: impl Into<String>, source: object_store::Error) -> Self {
        IoError::Store {
            url: url.into(),
            source,
        }
    }

    pub fn arrow(context: impl Into<String>, source: ArrowError) -> Self {
        IoError::Arrow {
            context: context.into(),
            source,
        }
    }

    /// Whether the same call could succeed later (a network or server fault), as opposed
    /// to bad data that will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(self, IoError::Store { .. } | IoError::Io(_))
    }
}
