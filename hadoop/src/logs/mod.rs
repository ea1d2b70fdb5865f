//! Container logs as YARN keeps them: the NodeManagers' aggregated log files (TFile, the
//! default format) and where they are on the remote filesystem.

pub mod aggregated;
pub mod tfile;

#[cfg(test)]
mod tests;

use crate::config::Configuration;

/// The log aggregation controller spindle reads.
const TFILE: &str = "TFile";

/// The directories an application's aggregated logs may be in, most likely first:
/// Hadoop 3.3 and later write `<root>/<user>/bucket-<suffix>-tfile/<NNNN>/<app>` (NNNN is
/// the application's sequence number modulo 10,000), older lines `<root>/<user>/<suffix>/<app>`.
/// `app_sequence` is the number after the last `_` of the application id.
pub fn remote_app_dirs(
    conf: &Configuration,
    user: &str,
    app: &str,
    app_sequence: i32,
) -> Vec<String> {
    let controller_key = |what: &str| format!("yarn.log-aggregation.{TFILE}.{what}");
    let root = conf
        .get(&controller_key("remote-app-log-dir"))
        .or_else(|| conf.get("yarn.nodemanager.remote-app-log-dir"))
        .unwrap_or_else(|| "/tmp/logs".to_string());
    let root = root.trim_end_matches('/');
    let base_suffix = conf
        .get("yarn.nodemanager.remote-app-log-dir-suffix")
        .unwrap_or_else(|| "logs".to_string());
    let mut suffixes = Vec::new();
    if let Some(own) = conf.get(&controller_key("remote-app-log-dir-suffix")) {
        suffixes.push(own);
    }
    suffixes.push(format!("{base_suffix}-{}", TFILE.to_lowercase()));
    suffixes.push(base_suffix);
    let bucket = format!("{:04}", app_sequence.rem_euclid(10_000));
    let mut dirs: Vec<String> = suffixes
        .iter()
        .map(|s| format!("{root}/{user}/bucket-{s}/{bucket}/{app}"))
        .collect();
    dirs.extend(suffixes.iter().map(|s| format!("{root}/{user}/{s}/{app}")));
    dirs.dedup();
    dirs
}

/// The configured aggregation formats other than TFile, if TFile is not among them:
/// their files need a reader spindle does not have.
pub fn unreadable_formats(conf: &Configuration) -> Option<String> {
    let formats = conf
        .get("yarn.log-aggregation.file-formats")
        .unwrap_or_else(|| TFILE.to_string());
    let readable = formats.split(',').any(|f| f.trim() == TFILE);
    (!readable).then_some(formats)
}
