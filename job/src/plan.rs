//! From a spec's stage list to phases: runs of per-partition operations separated by the
//! boundaries where data moves between workers (`shuffle`, `coalesce`).
//!
//! Narrow stages (`sql`, `command`) are fused into the phase that precedes them, so one
//! task reads its input once and keeps rows in memory across them. A `command` without a
//! declared schema ends its phase: each partition's output schema is inferred from what the
//! program printed, and a [`PhaseSource::Unify`] phase gives every partition the union of
//! them before anything else reads the rows.

use crate::columns::ColumnSpec;
use crate::spec::{CommandStage, JobSpec, Stage};
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub phases: Vec<Phase>,
    /// How long one task may run.
    pub task_timeout: Duration,
    /// How long one stage's operation may run inside a task, by 1-based stage number,
    /// where the spec bounds it more tightly than `task_timeout`.
    pub stage_timeouts: BTreeMap<usize, Duration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Phase {
    pub source: PhaseSource,
    pub ops: Vec<Op>,
    pub sink: Sink,
}

/// Where a phase's tasks get their rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum PhaseSource {
    /// One task per input split.
    Scan,
    /// One task per bucket, each fetching its bucket from every task of the previous phase.
    Shuffle { partitions: u32 },
    /// At most `n` tasks, each merging a contiguous run of the previous phase's outputs.
    Coalesce { n: u32 },
    /// One task per task of the previous phase, which ends in the undeclared command of
    /// spec stage `stage`: each reads its own partition, but only once every partition is
    /// done, cast to the union of their schemas.
    Unify { stage: usize },
}

/// A per-partition operation; `stage` is the 1-based position in the spec, for errors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Op {
    Sql {
        stage: usize,
        query: String,
    },
    Command {
        stage: usize,
        run: String,
        format: crate::spec::RowFormat,
        schema: Option<Vec<ColumnSpec>>,
    },
}

impl Op {
    /// The 1-based position of its stage in the spec.
    pub fn stage(&self) -> usize {
        match self {
            Op::Sql { stage, .. } | Op::Command { stage, .. } => *stage,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Op::Sql { stage, .. } => format!("stage {stage} (sql)"),
            Op::Command { stage, .. } => format!("stage {stage} (command)"),
        }
    }
}

/// What a phase's tasks do with their result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Sink {
    /// Split rows by the hash of key columns, for the next shuffle phase.
    Hash { by: Vec<String>, partitions: u32 },
    /// Keep the whole result, for a following coalesce.
    Whole,
    /// Write the result to the job's output.
    Output,
}

impl Plan {
    pub fn from_spec(spec: &JobSpec) -> Plan {
        let mut phases = vec![Phase {
            source: PhaseSource::Scan,
            ops: vec![],
            sink: Sink::Output,
        }];
        let mut stage_timeouts = BTreeMap::new();
        for (i, written) in spec.stages.iter().enumerate() {
            let number = i + 1;
            if let Some(t) = written.task_timeout {
                stage_timeouts.insert(number, t.duration());
            }
            let current = phases.last_mut().expect("at least the scan phase");
            match &written.stage {
                Stage::Sql(query) => current.ops.push(Op::Sql {
                    stage: number,
                    query: query.clone(),
                }),
                Stage::Command(CommandStage {
                    run,
                    format,
                    schema,
                }) => {
                    current.ops.push(Op::Command {
                        stage: number,
                        run: run.clone(),
                        format: *format,
                        schema: schema.clone(),
                    });
                    if schema.is_none() {
                        current.sink = Sink::Whole;
                        phases.push(Phase {
                            source: PhaseSource::Unify { stage: number },
                            ops: vec![],
                            sink: Sink::Output,
                        });
                    }
                }
                Stage::Shuffle(s) => {
                    current.sink = Sink::Hash {
                        by: s.by.clone(),
                        partitions: s.partitions,
                    };
                    phases.push(Phase {
                        source: PhaseSource::Shuffle {
                            partitions: s.partitions,
                        },
                        ops: vec![],
                        sink: Sink::Output,
                    });
                }
                Stage::Coalesce(n) => {
                    current.sink = Sink::Whole;
                    phases.push(Phase {
                        source: PhaseSource::Coalesce { n: *n },
                        ops: vec![],
                        sink: Sink::Output,
                    });
                }
            }
        }
        if spec.combine {
            combine_before_shuffles(&mut phases);
        }
        Plan {
            phases,
            task_timeout: spec.task_timeout.duration(),
            stage_timeouts,
        }
    }

    /// How long stage `stage`'s operation may run in one task: its own `task_timeout`
    /// where the spec gives one, else the job's.
    pub fn stage_timeout(&self, stage: usize) -> Duration {
        self.stage_timeouts
            .get(&stage)
            .copied()
            .unwrap_or(self.task_timeout)
    }

    /// How long a task of phase `phase` may run in all: the job's `task_timeout`, or a
    /// longer one of a stage it runs.
    pub fn phase_timeout(&self, phase: usize) -> Duration {
        let ops = self
            .phases
            .get(phase)
            .map(|p| p.ops.as_slice())
            .unwrap_or(&[]);
        ops.iter()
            .map(|op| self.stage_timeout(op.stage()))
            .fold(self.task_timeout, Duration::max)
    }
}

/// Where a shuffle feeds a decomposable GROUP BY of its own keys, each map task
/// aggregates first (see [`crate::combine`]); the stage number stays the user's.
fn combine_before_shuffles(phases: &mut [Phase]) {
    for i in 1..phases.len() {
        let Sink::Hash { by, .. } = &phases[i - 1].sink else {
            continue;
        };
        let Some(Op::Sql { stage, query }) = phases[i].ops.first() else {
            continue;
        };
        let Some(c) = crate::combine::split_aggregate(query, by) else {
            continue;
        };
        let stage = *stage;
        phases[i - 1].ops.push(Op::Sql {
            stage,
            query: c.partial,
        });
        phases[i].ops[0] = Op::Sql {
            stage,
            query: c.merge,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_timeouts_override_the_jobs_for_their_stage() {
        let spec = JobSpec::from_yaml(
            r#"
name: t
input: {path: /x, format: csv}
task_timeout: 10m
stages:
  - sql: "SELECT 1"
  - command: slow
    task_timeout: 2h
  - shuffle: {by: [a], partitions: 3}
  - task_timeout: 30s
    sql: "SELECT 2"
output: {path: /y}
"#,
            "t",
        )
        .unwrap();
        let plan = Plan::from_spec(&spec);
        let (ten_min, two_h) = (Duration::from_secs(600), Duration::from_secs(7200));
        assert_eq!(plan.stage_timeout(1), ten_min);
        assert_eq!(plan.stage_timeout(2), two_h);
        assert_eq!(plan.stage_timeout(4), Duration::from_secs(30));
        assert_eq!(plan.phase_timeout(0), two_h, "the scan phase runs stage 2");
        assert_eq!(
            plan.phase_timeout(1),
            ten_min,
            "the unify phase runs no stage"
        );
        assert_eq!(
            plan.phase_timeout(2),
            ten_min,
            "stage 4 is shorter than the job's"
        );
    }

    #[test]
    fn shuffle_splits_phases_and_fuses_narrow_stages() {
        let spec = JobSpec::from_yaml(
            r#"
name: t
input: {path: /x, format: csv}
stages:
  - sql: "SELECT 1"
  - command: cat
  - shuffle: {by: [a], partitions: 3}
  - sql: "SELECT 2"
  - coalesce: 1
output: {path: /y}
"#,
            "t",
        )
        .unwrap();
        let plan = Plan::from_spec(&spec);
        assert_eq!(plan.phases.len(), 4);
        assert_eq!(plan.phases[0].ops.len(), 2);
        assert_eq!(plan.phases[0].sink, Sink::Whole);
        assert_eq!(plan.phases[1].source, PhaseSource::Unify { stage: 2 });
        assert!(plan.phases[1].ops.is_empty());
        assert_eq!(
            plan.phases[1].sink,
            Sink::Hash {
                by: vec!["a".into()],
                partitions: 3
            }
        );
        assert_eq!(
            plan.phases[2].source,
            PhaseSource::Shuffle { partitions: 3 }
        );
        assert_eq!(plan.phases[2].sink, Sink::Whole);
        assert_eq!(plan.phases[2].ops[0].describe(), "stage 4 (sql)");
        assert_eq!(plan.phases[3].source, PhaseSource::Coalesce { n: 1 });
        assert_eq!(plan.phases[3].sink, Sink::Output);
    }

    #[test]
    fn a_command_with_a_declared_schema_stays_fused() {
        let spec = JobSpec::from_yaml(
            r#"
name: t
input: {path: /x, format: csv}
stages:
  - command: {run: cat, schema: [{name: a, type: utf8}]}
  - sql: "SELECT a FROM input"
  - command: cat
output: {path: /y}
"#,
            "t",
        )
        .unwrap();
        let plan = Plan::from_spec(&spec);
        assert_eq!(plan.phases.len(), 2);
        assert_eq!(plan.phases[0].ops.len(), 3);
        assert_eq!(plan.phases[0].sink, Sink::Whole);
        assert_eq!(plan.phases[1].source, PhaseSource::Unify { stage: 3 });
        assert!(plan.phases[1].ops.is_empty());
        assert_eq!(plan.phases[1].sink, Sink::Output);
    }

    #[test]
    fn a_decomposable_group_by_after_a_shuffle_is_combined_map_side() {
        let spec = JobSpec::from_yaml(
            r#"
name: t
input: {path: /x, format: csv}
stages:
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: {by: [user], partitions: 3}
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
output: {path: /y}
"#,
            "t",
        )
        .unwrap();
        let plan = Plan::from_spec(&spec);
        let queries = |ops: &[Op]| -> Vec<(usize, String)> {
            ops.iter()
                .map(|op| match op {
                    Op::Sql { stage, query } => (*stage, query.clone()),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let map = queries(&plan.phases[0].ops);
        assert_eq!(map.len(), 2);
        assert_eq!(map[0].0, 1);
        assert_eq!(map[1].0, 3, "the partial keeps the user's stage number");
        assert!(
            map[1].1.contains("count(*) AS __spindle_partial_2"),
            "{map:?}"
        );
        let reduce = queries(&plan.phases[1].ops);
        assert_eq!(reduce.len(), 1);
        assert!(
            reduce[0].1.contains("sum(__spindle_partial_2) AS hits"),
            "{reduce:?}"
        );
    }

    #[test]
    fn combine_false_runs_the_stages_as_written() {
        let spec = JobSpec::from_yaml(
            r#"
name: t
input: {path: /x, format: csv}
stages:
  - shuffle: {by: [user], partitions: 3}
  - sql: "SELECT user, count(*) AS hits FROM input GROUP BY user"
output: {path: /y}
combine: false
"#,
            "t",
        )
        .unwrap();
        let plan = Plan::from_spec(&spec);
        assert!(plan.phases[0].ops.is_empty(), "{:?}", plan.phases[0].ops);
        assert_eq!(plan.phases[1].ops.len(), 1);
    }
}
