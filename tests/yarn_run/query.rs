//! Query jobs over HDFS: TPC-H tables uploaded to the MiniDFSCluster, `spindle run` of a
//! query job reading `hdfs:///` inputs and committing `hdfs:///` output, each answer
//! equal to DuckDB's on the same files.

use super::*;
use common::tpch::{python, script as tpch_script, TABLES};

#[test]
fn query_jobs_read_and_write_hdfs_with_duckdbs_answers() {
    let local = tempfile::tempdir().unwrap();
    let data = local.path().join("tpch");
    let generated = Command::new(python())
        .arg(tpch_script())
        .args(["gen", "--sf", "0.01", "--files", "3"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", text(&generated));
    let base = "/it/tpch";
    for table in TABLES {
        for entry in std::fs::read_dir(data.join(table)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            put(
                &format!("{base}/{table}/{name}"),
                std::fs::read(&path).unwrap(),
            );
        }
    }
    // Joins of five tables, a semi-join with a subquery, grouping, global order and limit.
    for n in [3u32, 5, 18] {
        let query = std::fs::read_to_string(data.join(format!("queries/q{n:02}.sql"))).unwrap();
        let out = format!("{base}-out/q{n:02}");
        let mut spec = format!("name: tpch-q{n:02}\ninputs:\n");
        for t in TABLES {
            spec.push_str(&format!(
                "  {t}: {{ path: \"hdfs://{base}/{t}\", format: parquet }}\n"
            ));
        }
        spec.push_str("split_size: 128 KiB\nquery: |\n");
        for line in query.lines() {
            spec.push_str(&format!("  {line}\n"));
        }
        spec.push_str(&format!(
            "output: {{ path: \"hdfs://{out}\", format: csv }}\n"
        ));
        let spec_path = local.path().join(format!("q{n:02}.yaml"));
        std::fs::write(&spec_path, spec).unwrap();
        let started = Instant::now();
        let run = spindle(&[
            "run",
            &spec_path.display().to_string(),
            "--workers",
            "3",
            "--quiet",
        ]);
        assert!(run.status.success(), "q{n:02}: {}", text(&run));
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "q{n:02} took {:?}",
            started.elapsed()
        );
        let fetched = local.path().join(format!("out{n:02}"));
        std::fs::create_dir(&fetched).unwrap();
        let parts: Vec<String> = ls(&out)
            .into_iter()
            .filter(|f| f.starts_with("part-"))
            .collect();
        assert!(
            !parts.is_empty(),
            "q{n:02}: nothing in {out}: {:?}",
            ls(&out)
        );
        for name in parts {
            std::fs::write(fetched.join(&name), get(&format!("{out}/{name}")).unwrap()).unwrap();
        }
        let compared = Command::new(python())
            .arg(tpch_script())
            .arg("compare")
            .arg(data.join(format!("answers/q{n:02}.csv")))
            .arg(&fetched)
            .output()
            .unwrap();
        assert!(compared.status.success(), "q{n:02}: {}", text(&compared));
    }
}
