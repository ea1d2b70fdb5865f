//! What can go wrong with a query job, said so that the user knows where to look.

/// A query job that cannot be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// An input cannot be listed or read; names the input's key in the spec.
    #[error("key `inputs.{name}`: {message}")]
    Input { name: String, message: String },
    /// The query does not plan (DataFusion's message names its line and column).
    #[error("key `query`: {0}")]
    Plan(String),
    /// A stage after the query does not fit the columns it would see.
    #[error("key `stages`: {0}")]
    Stages(String),
    /// The query failed while running.
    #[error("{0}")]
    Run(String),
}
