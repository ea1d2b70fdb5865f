//! Container logs as YARN keeps them: the NodeManagers' aggregated log files (TFile, the
//! default format) and where they are on the remote filesystem.

pub mod aggregated;
pub mod indexed;
mod java_ser;
pub mod tfile;

#[cfg(test)]
mod tests;

use crate::config::Configuration;

/// The formats NodeManagers aggregate logs in (`yarn.log-aggregation.file-formats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// The default: one TFile per node, a key per container.
    TFile,
    /// Indexed: the files back to back, an index at the end.
    IFile,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::TFile => "TFile",
            LogFormat::IFile => "IFile",
        }
    }
}

/// The directories an application's aggregated logs may be in, most likely first, with
/// the format of the files there: Hadoop 3.3 and later write
/// `<root>/<user>/bucket-<suffix>-<format>/<NNNN>/<app>` (NNNN is the application's
/// sequence number modulo 10,000), older lines `<root>/<user>/<suffix>[-<format>]/<app>`.
/// `app_sequence` is the number after the last `_` of the application id.
pub fn remote_app_dirs(
    conf: &Configuration,
    user: &str,
    app: &str,
    app_sequence: i32,
) -> Vec<(LogFormat, String)> {
    let base_root = conf
        .get("yarn.nodemanager.remote-app-log-dir")
        .unwrap_or_else(|| "/tmp/logs".to_string());
    let base_suffix = conf
        .get("yarn.nodemanager.remote-app-log-dir-suffix")
        .unwrap_or_else(|| "logs".to_string());
    let bucket = format!("{:04}", app_sequence.rem_euclid(10_000));
    let mut dirs = Vec::new();
    for format in [LogFormat::TFile, LogFormat::IFile] {
        let key = |what: &str| format!("yarn.log-aggregation.{}.{what}", format.name());
        let root = conf
            .get(&key("remote-app-log-dir"))
            .unwrap_or(base_root.clone());
        let root = root.trim_end_matches('/').to_string();
        let mut suffixes = Vec::new();
        match conf.get(&key("remote-app-log-dir-suffix")) {
            Some(own) => suffixes.push(own),
            None => suffixes.push(format!("{base_suffix}-{}", format.name().to_lowercase())),
        }
        if format == LogFormat::TFile {
            // TFile files of Hadoop before 3.3 sit under the plain suffix.
            suffixes.push(base_suffix.clone());
        }
        for s in &suffixes {
            dirs.push((format, format!("{root}/{user}/bucket-{s}/{bucket}/{app}")));
        }
        for s in &suffixes {
            dirs.push((format, format!("{root}/{user}/{s}/{app}")));
        }
    }
    dirs.dedup();
    dirs
}
