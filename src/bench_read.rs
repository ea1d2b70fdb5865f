//! `spindle bench read`: how fast plain hdfs-native reads a set of files, with no
//! parsing, no tasks and no workers: the ceiling a scan is measured against
//! (`scripts/bench/locality.sh`).

use clap::Args;
use futures::{StreamExt, TryStreamExt};
use spindle_io::blocks::split_hdfs_url;
use spindle_io::storage::hdfs_client;
use spindle_io::Location;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct ReadBench {
    /// HDFS files, directories or globs (hdfs://...)
    #[arg(required = true)]
    paths: Vec<String>,
    /// Files read at once
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=256))]
    parallel: u16,
    /// Print JSON: {"files":N,"bytes":B,"seconds":S,"mb_per_s":R}
    #[arg(long)]
    json: bool,
}

pub async fn run(args: ReadBench) -> ExitCode {
    match measure(&args).await {
        Ok((files, bytes, seconds)) => {
            let rate = bytes as f64 / 1e6 / seconds.max(1e-9);
            if args.json {
                println!(
                    "{{\"files\":{files},\"bytes\":{bytes},\"seconds\":{seconds:.4},\"mb_per_s\":{rate:.1}}}"
                );
            } else {
                println!(
                    "read {files} files, {:.1} MB in {seconds:.3} s: {rate:.1} MB/s",
                    bytes as f64 / 1e6
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Files, bytes and seconds.
async fn measure(args: &ReadBench) -> Result<(usize, u64, f64), String> {
    let mut files = vec![];
    for p in &args.paths {
        files.extend(Location::expand(p).await.map_err(|e| e.to_string())?);
    }
    if files.is_empty() {
        return Err(format!("{} matched no files", args.paths.join(" ")));
    }
    let started = Instant::now();
    let bytes: Vec<u64> = futures::stream::iter(&files)
        .map(|f| read_all(&f.url))
        .buffer_unordered(args.parallel as usize)
        .try_collect()
        .await?;
    Ok((
        files.len(),
        bytes.iter().sum(),
        started.elapsed().as_secs_f64(),
    ))
}

/// Reads every byte of one HDFS file, returning how many.
async fn read_all(url: &str) -> Result<u64, String> {
    let (authority, path) =
        split_hdfs_url(url).ok_or_else(|| format!("{url}: not an hdfs:// file"))?;
    let client = hdfs_client(&format!("hdfs://{authority}")).map_err(|e| e.to_string())?;
    let reader = client.read(path).await.map_err(|e| format!("{url}: {e}"))?;
    let mut chunks = reader.read_range_stream(0, reader.file_length());
    let mut n = 0u64;
    while let Some(chunk) = chunks.next().await {
        n += chunk.map_err(|e| format!("{url} at byte {n}: {e}"))?.len() as u64;
    }
    Ok(n)
}
