//! Query jobs: one SQL query over named inputs (`inputs:` + `query:`), the form that
//! lets DataFusion plan joins, aggregations and global order across partitions.
//!
//! The other form (`input:` + `stages:`) stays for pipelines with `command` stages.
//! The two compose one way: `stages:` after a `query:` run over the query's result (as
//! parquet), and the last stage's output is the job's output.

use crate::columns::ColumnSpec;
use crate::size::ByteSize;
use crate::spec::{
    column_list, default_attempts, default_locality_wait, default_queue, default_split,
    default_task_timeout, parse_yaml, read_spec, size_in, timeout_in, CsvOptions, InputFormat,
    InputSpec, JobSpec, OutputSpec, SpecError, StageSpec, WorkerSpec,
};
use crate::timeout::Timeout;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// A parsed, validated query job.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    pub name: String,
    #[serde(default = "default_queue")]
    pub queue: String,
    #[serde(default)]
    pub workers: WorkerSpec,
    /// Tables the query reads, by the name it uses for them.
    #[serde(deserialize_with = "named_inputs")]
    pub inputs: BTreeMap<String, QueryInput>,
    /// One SQL statement (DataFusion's dialect) over the inputs.
    #[serde(deserialize_with = "one_query")]
    pub query: String,
    /// Stages run over the query's result, in the `input` + `stages` form's terms (the
    /// way to put a `command` stage after a query); none by default.
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    pub output: OutputSpec,
    /// Input bytes per scan task (default 16 MiB): smaller spreads a small input over
    /// more tasks.
    #[serde(default, deserialize_with = "optional_split")]
    pub split_size: Option<ByteSize>,
    /// A join side estimated at most this large is sent whole to every task of the other
    /// side instead of both sides being shuffled (Spark's
    /// `spark.sql.autoBroadcastJoinThreshold`); 0 broadcasts only what DataFusion must.
    #[serde(
        default = "default_broadcast_limit",
        deserialize_with = "size_in::<_, 0, 1073741824>"
    )]
    pub broadcast_limit: ByteSize,
    /// How long the query may run before it is stopped and fails (1s to 7d, default 24h);
    /// the commit after it is not cut short.
    #[serde(
        default = "default_query_timeout",
        deserialize_with = "timeout_in::<_, 1, 604800>"
    )]
    pub timeout: Timeout,
    /// Encrypt the traffic between the query's coordinator and workers, as well as
    /// authenticating it (it always is).
    #[serde(default)]
    pub encrypt: bool,
}

/// Spark's default: moving 10 MiB to each worker costs less than shuffling the other
/// side of the join, which is larger.
fn default_broadcast_limit() -> ByteSize {
    ByteSize(10 << 20)
}

fn default_query_timeout() -> Timeout {
    Timeout::secs(24 * 3600)
}

/// One named input: files and how to read them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueryInput {
    /// `file://`, `s3://`, `hdfs://` URL or a local path; globs allowed.
    pub path: String,
    #[serde(deserialize_with = "table_format")]
    pub format: InputFormat,
    #[serde(default)]
    pub csv: CsvOptions,
    /// The columns to read instead of inferring them (csv, jsonl).
    #[serde(default, deserialize_with = "column_list")]
    pub schema: Option<Vec<ColumnSpec>>,
}

impl QuerySpec {
    pub fn from_file(path: &str) -> Result<QuerySpec, SpecError> {
        QuerySpec::from_yaml(&read_spec(path)?, path)
    }

    pub fn from_yaml(text: &str, origin: &str) -> Result<QuerySpec, SpecError> {
        let spec: QuerySpec = parse_yaml(text, origin, PhantomData)?;
        for (name, input) in &spec.inputs {
            if input.schema.is_some() && input.format == InputFormat::Parquet {
                return Err(SpecError::Invalid {
                    origin: origin.to_string(),
                    message: format!(
                        "key `inputs.{name}.schema`: parquet files carry their own schema"
                    ),
                });
            }
        }
        Ok(spec)
    }

    /// The job that runs this spec's `stages` over the query's result, written as parquet
    /// at `result`, into the spec's output; `None` when the spec has no stages.
    pub fn stage_job(&self, result: &str) -> Option<JobSpec> {
        if self.stages.is_empty() {
            return None;
        }
        Some(JobSpec {
            name: self.name.clone(),
            queue: self.queue.clone(),
            workers: self.workers.clone(),
            input: InputSpec {
                path: result.to_string(),
                format: InputFormat::Parquet,
                csv: CsvOptions::default(),
                schema: None,
                split_size: self.split_size.unwrap_or_else(default_split),
            },
            stages: self.stages.clone(),
            output: self.output.clone(),
            max_task_attempts: default_attempts(),
            task_timeout: default_task_timeout(),
            locality_wait: default_locality_wait(),
            encrypt: self.encrypt,
            combine: true,
        })
    }

    /// Every input's path, in name order (for the output's overlap checks).
    pub fn input_paths(&self) -> Vec<String> {
        self.inputs.values().map(|i| i.path.clone()).collect()
    }
}

/// Input names become SQL table names: unquoted identifiers, so `FROM clicks` finds them.
fn named_inputs<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, QueryInput>, D::Error> {
    let inputs = BTreeMap::<String, QueryInput>::deserialize(d)?;
    if inputs.is_empty() {
        return Err(de::Error::custom(
            "name at least one input, e.g. `inputs: { clicks: { path: ..., format: csv } }`",
        ));
    }
    for name in inputs.keys() {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(de::Error::custom(format!(
                "input name `{name}` is not a table name: use lowercase letters, digits and \
                 `_`, starting with a letter"
            )));
        }
    }
    Ok(inputs)
}

/// Formats a query can read as a table; `text` has no columns to speak of.
fn table_format<'de, D: Deserializer<'de>>(d: D) -> Result<InputFormat, D::Error> {
    match InputFormat::deserialize(d)? {
        InputFormat::Text => Err(de::Error::custom(
            "a query reads csv, jsonl or parquet inputs; read text with `input:` and `stages:`",
        )),
        f => Ok(f),
    }
}

fn optional_split<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ByteSize>, D::Error> {
    size_in::<D, 1, 68719476736>(d).map(Some)
}

fn one_query<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let q = String::deserialize(d)?;
    if q.trim().is_empty() {
        return Err(de::Error::custom("the query is empty"));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "name: revenue\n\
        inputs:\n  clicks: { path: data/clicks.csv, format: csv }\n  \
        users: { path: data/users/, format: parquet }\n\
        query: |\n  SELECT count(*) FROM clicks c JOIN users u ON c.user = u.id\n\
        output: { path: out/revenue }\n";

    #[test]
    fn reads_named_inputs_and_a_query() {
        let spec = QuerySpec::from_yaml(GOOD, "job.yaml").unwrap();
        assert_eq!(spec.inputs.len(), 2);
        assert_eq!(spec.inputs["users"].format, InputFormat::Parquet);
        assert!(spec.query.starts_with("SELECT count(*)"));
        assert_eq!(spec.input_paths(), vec!["data/clicks.csv", "data/users/"]);
        assert_eq!(spec.timeout, Timeout::secs(24 * 3600));
        let e = error(&format!("{GOOD}timeout: 0s\n"));
        assert!(e.contains("key `timeout`"), "{e}");
    }

    #[test]
    fn a_join_side_up_to_the_broadcast_limit_is_broadcast_10_mib_unless_said() {
        let spec = QuerySpec::from_yaml(GOOD, "job.yaml").unwrap();
        assert_eq!(spec.broadcast_limit, ByteSize(10 << 20));
        let off = QuerySpec::from_yaml(&format!("{GOOD}broadcast_limit: 0\n"), "j").unwrap();
        assert_eq!(off.broadcast_limit, ByteSize(0));
        let e = error(&format!("{GOOD}broadcast_limit: 2 GiB\n"));
        assert!(
            e.contains("key `broadcast_limit`") && e.contains("line 8"),
            "{e}"
        );
    }

    fn error(text: &str) -> String {
        QuerySpec::from_yaml(text, "job.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_names_formats_and_keys_are_errors_naming_the_key() {
        let bad_name = GOOD.replace("  users:", "  Users:");
        let e = error(&bad_name);
        assert!(e.contains("key `inputs`") && e.contains("`Users`"), "{e}");
        let text = GOOD.replace("format: parquet", "format: text");
        let e = error(&text);
        assert!(
            e.contains("key `inputs.users.format`") && e.contains("line 4"),
            "{e}"
        );
        let schema = GOOD.replace(
            "format: parquet }",
            "format: parquet, schema: [{ name: a, type: int64 }] }",
        );
        let e = error(&schema);
        assert!(e.contains("key `inputs.users.schema`"), "{e}");
        let e = error(&format!("{GOOD}stages:\n  - coalesce: 0\n"));
        assert!(e.contains("key `stages[0].coalesce`"), "{e}");
        let empty = GOOD.replace(
            "query: |\n  SELECT count(*) FROM clicks c JOIN users u ON c.user = u.id\n",
            "query: \"  \"\n",
        );
        let e = error(&empty);
        assert!(e.contains("key `query`") && e.contains("empty"), "{e}");
    }

    #[test]
    fn a_spec_is_one_form_or_the_other() {
        use crate::Spec;
        assert!(matches!(
            Spec::from_yaml(GOOD, "j").unwrap(),
            Spec::Query(_)
        ));
        let both = format!("{GOOD}input: {{ path: x, format: csv }}\n");
        let e = Spec::from_yaml(&both, "j").unwrap_err().to_string();
        assert!(
            e.contains("key `input`") && e.contains("under `inputs`"),
            "{e}"
        );
        assert_eq!(e.matches("key `input`").count(), 1, "{e}");
    }

    #[test]
    fn stages_after_a_query_read_its_result_as_parquet_and_write_the_output() {
        let text = format!("{GOOD}split_size: 1MiB\nstages:\n  - command: cat\n  - coalesce: 1\n");
        let spec = QuerySpec::from_yaml(&text, "job.yaml").unwrap();
        assert_eq!(spec.stages.len(), 2);
        let job = spec
            .stage_job("file:///tmp/.out.spindle-a/query-result")
            .unwrap();
        assert_eq!(job.input.path, "file:///tmp/.out.spindle-a/query-result");
        assert_eq!(job.input.format, InputFormat::Parquet);
        assert_eq!(job.input.split_size, ByteSize(1 << 20));
        assert_eq!(job.stages, spec.stages);
        assert_eq!(job.output, spec.output);
        assert_eq!(
            (job.name, job.workers),
            (spec.name.clone(), spec.workers.clone())
        );
        let plain = QuerySpec::from_yaml(GOOD, "job.yaml").unwrap();
        assert_eq!(plain.stage_job("x"), None);
    }
}
