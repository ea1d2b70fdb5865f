//! The job spec users write (YAML, the shape in DESIGN.md).
//!
//! Every check that can name a key lives inside deserialization, so that the error carries
//! the key's path (via `serde_path_to_error`) and its line (via `serde_yaml`'s location).

use crate::columns::{ColumnSpec, Columns};
use crate::size::{ByteSize, SizeVisitor};
use crate::timeout::{Timeout, TimeoutVisitor};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// A parsed, validated job spec.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub name: String,
    #[serde(default = "default_queue")]
    pub queue: String,
    #[serde(default)]
    pub workers: WorkerSpec,
    pub input: InputSpec,
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    pub output: OutputSpec,
    /// Attempts per task before the job fails with the task's last error (Hadoop's
    /// `mapreduce.map.maxattempts` is 4).
    #[serde(default = "default_attempts", deserialize_with = "ranged::<_, 1, 100>")]
    pub max_task_attempts: u32,
    /// How long one task may run before it is killed and retried (1s to 7d).
    #[serde(
        default = "default_task_timeout",
        deserialize_with = "timeout_in::<_, 1, 604800>"
    )]
    pub task_timeout: Timeout,
    /// How long a scan waits for a free slot on a host holding its data before it runs
    /// elsewhere (delay scheduling; 0 to 10m, default 500ms).
    #[serde(
        default = "default_locality_wait",
        deserialize_with = "delay_within::<_, 600>"
    )]
    pub locality_wait: Timeout,
    /// Encrypt spindle's own traffic (master and workers, worker to worker). On YARN it
    /// is encrypted anyway when the cluster's `hadoop.rpc.protection` asks for privacy.
    #[serde(default)]
    pub encrypt: bool,
    /// Run a `sql` aggregate before a `shuffle` on each partition too, when it can be
    /// split into partial and final (`combine.rs`); `false` runs the stages as written.
    #[serde(default = "yes")]
    pub combine: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerSpec {
    /// Number of worker containers; locally, defaults to the number of cores.
    #[serde(default, deserialize_with = "optional_ranged::<_, 1, 10000>")]
    pub instances: Option<u32>,
    #[serde(
        default = "default_memory",
        deserialize_with = "size_in::<_, 1048576, 1099511627776>"
    )]
    pub memory: ByteSize,
    #[serde(default = "default_vcores", deserialize_with = "ranged::<_, 1, 1024>")]
    pub vcores: u32,
    /// Replacement workers started after crashes before the job gives up.
    #[serde(
        default = "default_restarts",
        deserialize_with = "ranged::<_, 0, 1000>"
    )]
    pub max_restarts: u32,
    /// A worker silent for this long (no heartbeat) is lost: killed, and its work redone
    /// elsewhere (1s to 1h).
    #[serde(
        default = "default_heartbeat_timeout",
        deserialize_with = "timeout_in::<_, 1, 3600>"
    )]
    pub heartbeat_timeout: Timeout,
}

impl Default for WorkerSpec {
    fn default() -> Self {
        WorkerSpec {
            instances: None,
            memory: default_memory(),
            vcores: default_vcores(),
            max_restarts: default_restarts(),
            heartbeat_timeout: default_heartbeat_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// `file://`, `s3://`, `hdfs://` URL or a local path; globs allowed.
    pub path: String,
    pub format: InputFormat,
    #[serde(default)]
    pub csv: CsvOptions,
    /// The columns to read, instead of inferring them from the first file (csv, jsonl).
    /// Fields a file has beyond these are ignored, as Spark does with a user schema.
    #[serde(default, deserialize_with = "column_list")]
    pub schema: Option<Vec<ColumnSpec>>,
    #[serde(
        default = "default_split",
        deserialize_with = "size_in::<_, 1, 68719476736>"
    )]
    pub split_size: ByteSize,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Csv,
    Jsonl,
    Parquet,
    Text,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default = "comma", deserialize_with = "single_byte_char")]
    pub delimiter: char,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: ',',
        }
    }
}

/// A stage as written: what it does and, for `sql` and `command`, how long it may take
/// in one task (`task_timeout:` beside the stage's key).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageSpec {
    #[serde(flatten)]
    pub stage: Stage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_timeout: Option<Timeout>,
}

impl From<Stage> for StageSpec {
    fn from(stage: Stage) -> Self {
        StageSpec {
            stage,
            task_timeout: None,
        }
    }
}

impl PartialEq<Stage> for StageSpec {
    fn eq(&self, other: &Stage) -> bool {
        self.stage == *other
    }
}

/// One step applied to every partition.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// DataFusion SQL over the partition, registered as table `input`.
    Sql(String),
    /// Hash-partition rows by key columns into `partitions` outputs.
    Shuffle(ShuffleStage),
    /// Stream the partition through a program, like Hadoop Streaming.
    Command(CommandStage),
    /// Merge partitions into at most N.
    Coalesce(u32),
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShuffleStage {
    #[serde(deserialize_with = "non_empty_list")]
    pub by: Vec<String>,
    #[serde(deserialize_with = "ranged::<_, 1, 100000>")]
    pub partitions: u32,
}

/// `command: "prog args"` or `command: { run: "prog args", format: csv, schema: [...] }`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommandStage {
    pub run: String,
    pub format: RowFormat,
    /// The columns the program prints, the same for every partition. Without it each
    /// partition's output is inferred, and the partitions' schemas are unified before any
    /// later stage or the output sees them.
    pub schema: Option<Vec<ColumnSpec>>,
}

/// How rows travel through a `command` stage's stdin and stdout.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RowFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub path: String,
    #[serde(default = "default_output_format")]
    pub format: OutputFormat,
    #[serde(default)]
    pub mode: OutputMode,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Parquet => "parquet",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Refuse to start when the output path already holds files.
    #[default]
    ErrorIfExists,
    /// Replace the output, but only once the new one is complete.
    Overwrite,
}

/// A spec that could not be read, naming the key and line at fault.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read job spec {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl JobSpec {
    /// Reads and validates a spec file.
    pub fn from_file(path: &str) -> Result<JobSpec, SpecError> {
        JobSpec::from_yaml(&read_spec(path)?, path)
    }

    /// Parses YAML text; `origin` names the text in errors (usually the file name).
    pub fn from_yaml(text: &str, origin: &str) -> Result<JobSpec, SpecError> {
        let spec: JobSpec = parse_yaml(text, origin, PhantomData)?;
        let has_schema = spec.input.schema.is_some();
        if has_schema && !matches!(spec.input.format, InputFormat::Csv | InputFormat::Jsonl) {
            return Err(SpecError::Invalid {
                origin: origin.to_string(),
                message: "key `input.schema`: only csv and jsonl inputs take a schema \
                          (parquet files carry their own, text is one `line` column)"
                    .into(),
            });
        }
        Ok(spec)
    }
}

/// The text of a spec file.
pub(crate) fn read_spec(path: &str) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_string(),
        source,
    })
}

/// Deserializes YAML text with `seed`; every kind of spec reports a failure the same way:
/// "line L, column C: key `a.b`: message".
pub(crate) fn parse_yaml<'de, S: DeserializeSeed<'de>>(
    text: &'de str,
    origin: &str,
    seed: S,
) -> Result<S::Value, SpecError> {
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(
        serde_yaml::Deserializer::from_str(text),
        &mut track,
    );
    seed.deserialize(de).map_err(|inner| {
        let path = track.path().to_string();
        let location = inner
            .location()
            .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        // serde_yaml appends its own " at line N column M"; we already said where.
        let mut text = inner.to_string();
        if let Some(cut) = text.find(" at line ") {
            text.truncate(cut);
        }
        // serde_yaml may start with the path too; we print it once.
        if let Some((head, rest)) = text.split_once(": ") {
            if !head.is_empty() && !head.contains(' ') && path.starts_with(head) {
                text = rest.to_string();
            }
        }
        let key = if path == "." || path.is_empty() {
            String::new()
        } else {
            format!("key `{path}`: ")
        };
        SpecError::Invalid {
            origin: origin.to_string(),
            message: format!("{location}{key}{text}"),
        }
    })
}

pub(crate) fn default_queue() -> String {
    "default".into()
}
pub(crate) fn default_attempts() -> u32 {
    4
}
fn default_memory() -> ByteSize {
    ByteSize::mib(2048)
}
fn default_vcores() -> u32 {
    1
}
fn default_restarts() -> u32 {
    3
}
pub(crate) fn default_split() -> ByteSize {
    ByteSize::mib(128)
}
pub(crate) fn default_output_format() -> OutputFormat {
    OutputFormat::Parquet
}
pub(crate) fn default_task_timeout() -> Timeout {
    Timeout::secs(3600)
}
pub(crate) fn default_locality_wait() -> Timeout {
    Timeout(std::time::Duration::from_millis(500))
}
fn default_heartbeat_timeout() -> Timeout {
    Timeout::secs(30)
}
fn yes() -> bool {
    true
}
fn comma() -> char {
    ','
}

/// A whole number in `MIN..=MAX`: every count in a spec has bounds, so a typo cannot ask
/// for billions of tasks or containers.
pub(crate) fn ranged<'de, D: Deserializer<'de>, const MIN: u32, const MAX: u32>(
    d: D,
) -> Result<u32, D::Error> {
    let v = d.deserialize_any(Within::new(CountVisitor, MIN as u64, MAX as u64))?;
    Ok(v as u32)
}

fn optional_ranged<'de, D: Deserializer<'de>, const MIN: u32, const MAX: u32>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    ranged::<D, MIN, MAX>(d).map(Some)
}

/// A size in `MIN..=MAX` bytes.
pub(crate) fn size_in<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    d: D,
) -> Result<ByteSize, D::Error> {
    d.deserialize_any(Within::new(SizeVisitor, ByteSize(MIN), ByteSize(MAX)))
}

/// A duration in `MIN..=MAX` seconds.
pub(crate) fn timeout_in<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    d: D,
) -> Result<Timeout, D::Error> {
    let (min, max) = (Timeout::secs(MIN), Timeout::secs(MAX));
    d.deserialize_any(Within::new(TimeoutVisitor::LIMIT, min, max))
}

fn delay_within<'de, D: Deserializer<'de>, const MAX: u64>(d: D) -> Result<Timeout, D::Error> {
    let (min, max) = (Timeout(std::time::Duration::ZERO), Timeout::secs(MAX));
    d.deserialize_any(Within::new(TimeoutVisitor::DELAY, min, max))
}

/// A whole number, for counts.
#[derive(Clone, Copy)]
pub(crate) struct CountVisitor;

impl Visitor<'_> for CountVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("{v} is out of range: cannot be negative")))
    }
}

/// Checks the range inside the value's own visitor: serde_yaml gives an error raised
/// there the value's line, and one raised after it only the line of the enclosing map.
pub(crate) struct Within<V, T> {
    inner: V,
    min: T,
    max: T,
}

impl<V, T: PartialOrd + fmt::Display> Within<V, T> {
    pub(crate) fn new(inner: V, min: T, max: T) -> Self {
        Within { inner, min, max }
    }

    fn check<E: de::Error>(&self, v: Result<T, E>) -> Result<T, E> {
        let v = v?;
        if v < self.min || v > self.max {
            return Err(E::custom(format!(
                "{v} is out of range: must be {} to {}",
                self.min, self.max
            )));
        }
        Ok(v)
    }
}

/// As a seed, for values read inside a hand-written map visitor.
impl<'de, V, T> de::DeserializeSeed<'de> for Within<V, T>
where
    V: Visitor<'de, Value = T> + Copy,
    T: PartialOrd + fmt::Display,
{
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, V, T> Visitor<'de> for Within<V, T>
where
    V: Visitor<'de, Value = T> + Copy,
    T: PartialOrd + fmt::Display,
{
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.check(self.inner.visit_u64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.check(self.inner.visit_i64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.check(self.inner.visit_f64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        self.check(self.inner.visit_str(v))
    }
}

fn non_empty_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    if v.is_empty() {
        return Err(de::Error::custom("needs at least one column"));
    }
    Ok(v)
}

pub(crate) fn column_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<ColumnSpec>>, D::Error> {
    Columns::deserialize(d).map(|c| Some(c.0))
}

fn single_byte_char<'de, D: Deserializer<'de>>(d: D) -> Result<char, D::Error> {
    let s = String::deserialize(d)?;
    let unescaped = if s == "\\t" { "\t" } else { s.as_str() };
    let mut chars = unescaped.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() && c != '\n' && c != '"' => Ok(c),
        _ => Err(de::Error::custom(format!(
            "delimiter must be one ASCII character other than newline or quote, got `{s}`"
        ))),
    }
}

const STAGES: &[&str] = &["sql", "shuffle", "command", "coalesce"];

/// A stage is a one-key map (`- sql: ...`), the form Skein-style YAML users write, with
/// an optional `task_timeout:` beside that key.
impl<'de> Deserialize<'de> for StageSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StageVisitor;
        impl<'de> Visitor<'de> for StageVisitor {
            type Value = StageSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a stage: `sql: ...`, `shuffle: {by, partitions}`, `command: ...` or `coalesce: N`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StageSpec, A::Error> {
                let mut stage: Option<(String, Stage)> = None;
                let mut task_timeout = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "task_timeout" {
                        // 1s to 7d, like the job's
                        let (min, max) = (Timeout::secs(1), Timeout::secs(604_800));
                        task_timeout = Some(map.next_value_seed(Within::new(
                            TimeoutVisitor::LIMIT,
                            min,
                            max,
                        ))?);
                        continue;
                    }
                    if let Some((first, _)) = &stage {
                        return Err(de::Error::custom(format!(
                            "a stage has exactly one key, found `{first}` and `{key}` (start each stage with `- `)"
                        )));
                    }
                    let parsed = match key.as_str() {
                        "sql" => Stage::Sql(map.next_value()?),
                        "shuffle" => Stage::Shuffle(map.next_value()?),
                        "command" => Stage::Command(map.next_value()?),
                        "coalesce" => {
                            let n = map.next_value_seed(Within::new(CountVisitor, 1, 100_000))?;
                            Stage::Coalesce(n as u32)
                        }
                        other => return Err(de::Error::unknown_variant(other, STAGES)),
                    };
                    stage = Some((key, parsed));
                }
                let (key, stage) = stage.ok_or_else(|| de::Error::custom("empty stage"))?;
                if task_timeout.is_some() && !matches!(stage, Stage::Sql(_) | Stage::Command(_)) {
                    return Err(de::Error::custom(format!(
                        "`task_timeout` applies to sql and command stages; {key} tasks follow the job's task_timeout"
                    )));
                }
                Ok(StageSpec {
                    stage,
                    task_timeout,
                })
            }
        }
        d.deserialize_map(StageVisitor)
    }
}

impl<'de> Deserialize<'de> for CommandStage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = CommandStage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a command line, or a map with `run` and optional `format` and `schema`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandStage, E> {
                non_blank_command(v)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CommandStage, A::Error> {
                let mut run: Option<String> = None;
                let mut format = RowFormat::Jsonl;
                let mut schema = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "run" => run = Some(map.next_value()?),
                        "format" => format = map.next_value()?,
                        "schema" => schema = Some(map.next_value::<Columns>()?.0),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["run", "format", "schema"],
                            ))
                        }
                    }
                }
                let run = run.ok_or_else(|| de::Error::missing_field("run"))?;
                let mut stage: CommandStage = non_blank_command(&run)?;
                stage.format = format;
                stage.schema = schema;
                Ok(stage)
            }
        }
        d.deserialize_any(CommandVisitor)
    }
}

fn non_blank_command<E: de::Error>(v: &str) -> Result<CommandStage, E> {
    if v.trim().is_empty() {
        return Err(E::custom("command must not be empty"));
    }
    Ok(CommandStage {
        run: v.to_string(),
        format: RowFormat::Jsonl,
        schema: None,
    })
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
