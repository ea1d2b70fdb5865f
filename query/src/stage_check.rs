//! A stage job's stages checked against the columns they will see, before any work: a
//! `sql` stage naming a column that is not there, or a shuffle by one, fails the job at
//! once and names the stage, instead of failing its first task (and, on YARN, instead of
//! failing after the application and its workers have started).

use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use spindle_io::bind::declared_schema;
use spindle_job::{Stage, StageSpec};
use std::sync::Arc;

/// Checks `stages` in turn over `input`'s columns: each `sql` stage must plan over the
/// columns the stage before it puts out (as DataFusion plans it in a task), and each
/// shuffle's keys must be among them. The check ends at a `command` without a declared
/// `schema` (its columns are known only once it runs), and is skipped when the input's
/// columns are not known (no file with any bytes: the job has no task to fail).
/// The error names the stage by its 1-based position, as a failing task does.
pub async fn check_stages(stages: &[StageSpec], input: SchemaRef) -> Result<(), String> {
    if input.fields().is_empty() {
        return Ok(());
    }
    let mut columns = input;
    for (index, written) in stages.iter().enumerate() {
        let n = index + 1;
        match &written.stage {
            Stage::Sql(query) => {
                columns = planned_columns(query, columns)
                    .await
                    .map_err(|e| format!("stage {n} (sql): {e}"))?;
            }
            Stage::Shuffle(shuffle) => {
                if let Some(key) = shuffle.by.iter().find(|k| columns.index_of(k).is_err()) {
                    return Err(format!(
                        "stage {n} (shuffle): key `{key}` is not a column (columns: {})",
                        names(&columns)
                    ));
                }
            }
            Stage::Command(command) => match &command.schema {
                Some(declared) => columns = declared_schema(declared),
                None => return Ok(()),
            },
            Stage::Coalesce(_) => {}
        }
    }
    Ok(())
}

/// The columns `query` puts out over a table `input` of `columns`, from DataFusion's
/// logical plan (no data read, nothing run).
async fn planned_columns(query: &str, columns: SchemaRef) -> Result<SchemaRef, String> {
    let ctx = SessionContext::new();
    let table = MemTable::try_new(columns, vec![vec![]]).map_err(|e| e.to_string())?;
    ctx.register_table("input", Arc::new(table))
        .map_err(|e| e.to_string())?;
    let df = ctx.sql(query).await.map_err(|e| e.to_string())?;
    Ok(Arc::new(df.schema().as_arrow().clone()))
}

fn names(columns: &SchemaRef) -> String {
    let names: Vec<&str> = columns.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use spindle_job::{ColumnSpec, ColumnType, CommandStage, RowFormat, ShuffleStage};

    fn clicks() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, true),
            Field::new("status", DataType::Int64, true),
            Field::new("bytes", DataType::Int64, true),
        ]))
    }

    fn sql(q: &str) -> StageSpec {
        Stage::Sql(q.to_string()).into()
    }

    fn shuffle(by: &str) -> StageSpec {
        Stage::Shuffle(ShuffleStage {
            by: vec![by.to_string()],
            partitions: 2,
        })
        .into()
    }

    fn command(schema: Option<Vec<ColumnSpec>>) -> StageSpec {
        Stage::Command(CommandStage {
            run: "cat".into(),
            format: RowFormat::Csv,
            schema,
        })
        .into()
    }

    #[tokio::test]
    async fn stages_that_fit_their_columns_pass() {
        let stages = [
            sql("SELECT user, bytes FROM input WHERE status = 200"),
            shuffle("user"),
            sql("SELECT user, sum(bytes) AS bytes FROM input GROUP BY user"),
            Stage::Coalesce(1).into(),
            sql("SELECT bytes FROM input ORDER BY bytes"),
        ];
        check_stages(&stages, clicks()).await.unwrap();
    }

    #[tokio::test]
    async fn a_column_a_stage_before_dropped_is_named_with_its_stage() {
        let stages = [
            sql("SELECT user, bytes FROM input"),
            shuffle("user"),
            sql("SELECT status FROM input"),
        ];
        let e = check_stages(&stages, clicks()).await.unwrap_err();
        assert!(e.starts_with("stage 3 (sql): "), "{e}");
        assert!(e.contains("status"), "{e}");
        let e = check_stages(&[shuffle("nonesuch")], clicks())
            .await
            .unwrap_err();
        assert_eq!(
            e,
            "stage 1 (shuffle): key `nonesuch` is not a column (columns: user, status, bytes)"
        );
        let e = check_stages(&[sql("SELEC 1")], clicks()).await.unwrap_err();
        assert!(e.starts_with("stage 1 (sql): "), "{e}");
    }

    #[tokio::test]
    async fn a_command_ends_the_check_unless_it_declares_its_columns() {
        let after = sql("SELECT anything FROM input");
        check_stages(&[command(None), after.clone()], clicks())
            .await
            .unwrap();
        let declared = vec![ColumnSpec {
            name: "n".into(),
            data_type: ColumnType::Int64,
        }];
        let e = check_stages(&[command(Some(declared.clone())), after], clicks())
            .await
            .unwrap_err();
        assert!(e.starts_with("stage 2 (sql): "), "{e}");
        check_stages(
            &[command(Some(declared)), sql("SELECT sum(n) FROM input")],
            clicks(),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn an_input_of_unknown_columns_is_not_checked() {
        let empty = Arc::new(Schema::empty());
        check_stages(&[sql("SELECT user FROM input")], empty)
            .await
            .unwrap();
    }
}
