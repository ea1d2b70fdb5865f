//! Outputs refused before any work: roots, the current and home directories, and any
//! output that equals, lies inside, or contains one of the job's inputs.

use spindle_io::Location;
use std::path::{Path, PathBuf};

/// Places a job must never write over, as the binary found them.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// The current directory of the submitting process.
    pub cwd: Option<PathBuf>,
    /// The user's local home directory.
    pub home: Option<PathBuf>,
    /// The user's HDFS home (`/user/<name>`).
    pub hdfs_home: Option<String>,
}

/// What the job reads: the paths as written and the files they expanded to.
pub struct Inputs<'a> {
    pub patterns: &'a [String],
    pub files: &'a [String],
}

/// Checks `output` against roots, protected directories and the inputs.
pub async fn check_output(
    output: &Location,
    inputs: &Inputs<'_>,
    protected: &Protected,
) -> Result<(), String> {
    let out = resolved(output);
    if output.path.as_ref().is_empty() {
        return Err(format!(
            "{} is the root of its filesystem or bucket; write into a directory below it",
            output.url()
        ));
    }
    if output.local_path().is_some() {
        let p = Path::new(&out.1);
        for (what, dir) in [("current", &protected.cwd), ("home", &protected.home)] {
            if let Some(dir) = dir.as_ref().map(|d| canonical(d)) {
                if dir.starts_with(p) {
                    return Err(format!(
                        "{} is the {what} directory or holds it; choose an output directory of its own",
                        output.url()
                    ));
                }
            }
        }
    } else if output.hdfs().is_some() {
        if let Some(home) = &protected.hdfs_home {
            if is_within(home, &out.1) {
                return Err(format!(
                    "{} is your HDFS home directory or holds it; choose an output directory of its own",
                    output.url()
                ));
            }
        }
    }
    let mut input_dirs = vec![];
    for pattern in inputs.patterns {
        if pattern.contains(['*', '?', '[', '{']) {
            continue;
        }
        let loc = Location::parse(pattern).map_err(|e| e.to_string())?;
        if let Ok(Some(spindle_io::tree::EntryKind::Dir)) = loc.stat().await {
            input_dirs.push(loc);
        }
    }
    for dir in &input_dirs {
        let d = resolved(dir);
        if d.0 == out.0 && is_within(&out.1, &d.1) {
            let how = if d.1 == out.1 { "is" } else { "lies inside" };
            return Err(format!(
                "{} {how} the input directory {}; write the output elsewhere",
                output.url(),
                dir.url()
            ));
        }
    }
    for file in inputs.files {
        let f = resolved(&Location::parse(file).map_err(|e| e.to_string())?);
        if f.0 != out.0 {
            continue;
        }
        if f.1 == out.1 || is_within(&out.1, &f.1) {
            return Err(format!(
                "{} is the input file {file} or lies inside it",
                output.url()
            ));
        }
        if is_within(&f.1, &out.1) {
            return Err(format!(
                "{} holds the input file {file}; write the output elsewhere",
                output.url()
            ));
        }
    }
    Ok(())
}

/// `(store, path)` to compare: local paths with symlinks resolved as far as they exist,
/// every HDFS namenode as one store (the default filesystem may be spelled either way).
fn resolved(loc: &Location) -> (String, String) {
    if let Some(p) = loc.local_path() {
        return ("file".into(), canonical(&p).to_string_lossy().to_string());
    }
    let store = if loc.hdfs().is_some() {
        "hdfs".to_string()
    } else {
        loc.root.clone()
    };
    (store, format!("/{}", loc.path))
}

/// The path with its longest existing prefix canonicalized (symlinks resolved).
fn canonical(p: &Path) -> PathBuf {
    let mut rest = vec![];
    let mut cur = p.to_path_buf();
    loop {
        if let Ok(c) = std::fs::canonicalize(&cur) {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (cur.file_name().map(|n| n.to_os_string()), cur.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                cur = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// `inner` equals `outer` or lies below it, by whole path segments.
fn is_within(inner: &str, outer: &str) -> bool {
    let outer = outer.trim_end_matches('/');
    inner == outer || outer.is_empty() || inner.starts_with(&format!("{outer}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check(out: &str, patterns: &[&str], files: &[&str], p: &Protected) -> String {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        let files: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        let inputs = Inputs {
            patterns: &patterns,
            files: &files,
        };
        let out = Location::parse(out).unwrap();
        check_output(&out, &inputs, p)
            .await
            .err()
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn refuses_outputs_that_overlap_inputs_or_protected_places() {
        let dir = tempfile::tempdir().unwrap();
        let root = canonical(dir.path()).to_string_lossy().to_string();
        std::fs::create_dir_all(format!("{root}/in/sub")).unwrap();
        std::fs::write(format!("{root}/in/sub/a.csv"), "x\n").unwrap();
        std::os::unix::fs::symlink(format!("{root}/in"), format!("{root}/alias")).unwrap();
        let input_dir = format!("{root}/in");
        let file = format!("file://{root}/in/sub/a.csv");
        let none = Protected::default();
        let d = [input_dir.as_str()];
        let f = [file.as_str()];
        let cases = [
            (input_dir.clone(), "is the input directory"),
            (format!("{root}/in/out"), "lies inside the input directory"),
            (
                format!("{root}/alias/out"),
                "lies inside the input directory",
            ),
            (root.clone(), "holds the input file"),
            ("/".to_string(), "root of its filesystem"),
            ("s3://bucket".to_string(), "root of its filesystem"),
        ];
        for (out, want) in cases {
            let e = check(&out, &d, &f, &none).await;
            assert!(e.contains(want), "{out}: {e}");
        }
        let glob = format!("{root}/in/sub/*.csv");
        let e = check(&format!("{root}/in/sub"), &[&glob], &f, &none).await;
        assert!(e.contains("holds the input file"), "{e}");
        assert_eq!(check(&format!("{root}/out"), &d, &f, &none).await, "");
        let home = Protected {
            cwd: Some(format!("{root}/work").into()),
            home: Some(format!("{root}/home/me").into()),
            hdfs_home: None,
        };
        for (out, want) in [
            (format!("{root}/work"), "current directory"),
            (format!("{root}/home"), "home directory"),
            (format!("{root}/home/me"), "home directory"),
        ] {
            let e = check(&out, &d, &f, &home).await;
            assert!(e.contains(want), "{out}: {e}");
        }
        assert_eq!(
            check(&format!("{root}/home/me/out"), &d, &f, &home).await,
            ""
        );
    }
}
