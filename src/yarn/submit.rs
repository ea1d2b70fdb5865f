//! `spindle submit`: stage the binary and the spec to HDFS, submit the application
//! master, and optionally follow the application to its end.

use super::apps::{report_json, state_name};
use super::store_progress::StoreProgress;
use clap::Args;
use spindle_appmaster::cmdline::AppMasterCommand;
use spindle_appmaster::commit::{self, CommitError, Inputs};
use spindle_appmaster::prepare::{checked_columns, PrepareError};
use spindle_appmaster::progress::Summary;
use spindle_appmaster::query::options;
use spindle_appmaster::yarn::cluster::Cluster;
use spindle_appmaster::yarn::launch::{LaunchInfo, Staged, LAUNCH_ENV, SPEC};
use spindle_appmaster::yarn::staging::Staging;
use spindle_appmaster::yarn::APPLICATION_TYPE;
use spindle_hadoop::config::SITE_FILES;
use spindle_hadoop::yarn::{
    ApplicationClient, ApplicationId, ApplicationReport, ApplicationState, ApplicationSubmission,
    FinalStatus, NodeState, Resource,
};
use spindle_io::net::new_secret;
use spindle_job::{JobSpec, OutputSpec, QuerySpec, Spec, WorkerSpec};
use spindle_query::QueryWorkers;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Submit a job to YARN (the cluster from HADOOP_CONF_DIR)
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle submit job.yaml --wait\n  \
    spindle submit job.yaml --queue etl --name nightly-clicks\n\n\
    The spindle binary and the Hadoop site files are staged once per content hash to\n\
    /user/<user>/.spindle/bin/ and .../conf/ on the default filesystem; the spec and the\n\
    application's secret go to /user/<user>/.spindle/<application id>/ (readable by you\n\
    only).\n\
    Input and output should be hdfs:// or s3:// URLs: paths are read on the cluster.\n\n\
    Without --json, the application id is alone on the last line of stdout.")]
pub struct SubmitArgs {
    /// The spec (YAML): a job (`input`, `stages`, `output`), a query job (`inputs`,
    /// `query`, `output`) or an application of services (`services:`, Skein's format)
    pub(super) spec: PathBuf,
    /// Follow the application until it ends; exit 0 only if it succeeded
    #[arg(long)]
    pub(super) wait: bool,
    /// YARN queue (default: the spec's `queue`)
    #[arg(long)]
    pub(super) queue: Option<String>,
    /// Application name (default: the spec's `name`)
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Worker containers (default: the spec's workers.instances, else 2; 1 to 10000)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    workers: Option<u32>,
    /// Memory of the application master's container, in MiB (default: 512; 1024 for a
    /// query job, whose final stage runs there; or an application's `master.resources`)
    #[arg(long)]
    pub(super) am_memory_mb: Option<i64>,
    /// Virtual cores of the application master's container (default: 1, or an
    /// application's `master.resources`)
    #[arg(long)]
    pub(super) am_vcores: Option<i32>,
    /// Attempts YARN makes at the application master (default: 1, or an application's
    /// `max_attempts`)
    #[arg(long)]
    pub(super) max_attempts: Option<i32>,
    /// Application tags (repeatable)
    #[arg(long = "tag", value_name = "TAG")]
    pub(super) tags: Vec<String>,
    /// Submit on USER's behalf (a proxy user, as spark-submit --proxy-user; a services
    /// spec's `user` says the same): the application, its staging directory under
    /// /user/USER and its tokens are USER's. The cluster allows it as its
    /// hadoop.proxyuser.<you>.hosts and .groups or .users say
    #[arg(long, value_name = "USER")]
    pub(super) proxy_user: Option<String>,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(super) json: bool,
    /// With --wait: write the final summary as JSON to this file, the same document
    /// `spindle run --summary-json` writes
    #[arg(long, value_name = "PATH", requires = "wait")]
    pub(super) summary_json: Option<PathBuf>,
}

pub async fn submit(args: SubmitArgs) -> ExitCode {
    crate::init_logging("error,spindle_hadoop=warn");
    let spec_text = match std::fs::read(&args.spec) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", args.spec.display());
            return ExitCode::from(2);
        }
    };
    let spec = match Spec::from_file(&args.spec.display().to_string()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let submitted = match &spec {
        Spec::Job(job) => submit_spec(&args, &Job::of_stages(job), spec_text).await,
        Spec::App(app) => super::submit_app::submit_app(&args, app, spec_text).await,
        Spec::Query(query) => {
            // The query is planned here first: an error in it costs no application.
            let workers = args.workers.or(query.workers.instances).unwrap_or(2) as usize;
            let opts = options(
                query,
                QueryWorkers::InProcess(workers),
                query.workers.memory.bytes(),
            );
            if let Err(e) = spindle_query::plan(query, &opts).await {
                eprintln!("error: {}: {e}", args.spec.display());
                return ExitCode::from(2);
            }
            submit_spec(&args, &Job::of_query(query), spec_text).await
        }
    };
    match submitted {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `submit` needs of a job, in either form (`input` + `stages`, `inputs` + `query`).
struct Job<'a> {
    name: &'a str,
    queue: &'a str,
    workers: &'a WorkerSpec,
    inputs: Vec<String>,
    output: &'a OutputSpec,
    /// The master's memory unless `--am-memory-mb` says: a query's coordinator runs
    /// its final stage there, so it gets more.
    am_memory_mb: i64,
    /// A stage job's spec, whose stages are checked against its input's columns.
    stage_job: Option<&'a JobSpec>,
}

impl<'a> Job<'a> {
    fn of_stages(spec: &'a JobSpec) -> Job<'a> {
        Job {
            name: &spec.name,
            queue: &spec.queue,
            workers: &spec.workers,
            inputs: vec![spec.input.path.clone()],
            output: &spec.output,
            am_memory_mb: 512,
            stage_job: Some(spec),
        }
    }

    fn of_query(spec: &'a QuerySpec) -> Job<'a> {
        Job {
            name: &spec.name,
            queue: &spec.queue,
            workers: &spec.workers,
            inputs: spec.input_paths(),
            output: &spec.output,
            am_memory_mb: 1024,
            stage_job: None,
        }
    }
}

async fn submit_spec(args: &SubmitArgs, spec: &Job<'_>, text: Vec<u8>) -> Result<ExitCode, String> {
    let started = Instant::now();
    let inputs = spec.inputs.iter().map(|path| ("input", path));
    for (what, path) in inputs.chain([("output", &spec.output.path)]) {
        if !path.contains("://") || path.starts_with("file://") {
            eprintln!(
                "warning: {what} path {path} is local: it is read on the cluster's nodes, not on this machine (use hdfs:// or s3://)"
            );
        }
    }
    let cluster = super::proxy::cluster_acting_as(args.proxy_user.as_deref(), None)?;
    if let Some(code) = refuse_unsafe_output(args, spec, &cluster).await {
        return Ok(code);
    }
    let rm = cluster.resource_manager().await?;
    let app = rm
        .get_new_application()
        .await
        .map_err(|e| super::proxy::refusal_hint(&cluster, format!("getNewApplication: {e}")))?;
    let worker = Resource {
        memory_mb: spec.workers.memory.bytes().div_ceil(1 << 20) as i64,
        vcores: spec.workers.vcores as i32,
        gpus: 0,
    };
    fits("workers", worker, app.max_capability)?;

    // Whatever fails before the ResourceManager has the application takes its directory.
    let submitting = async {
        let (mut launch, am_files, secret) = stage(&cluster, &app.id.to_string(), text).await?;
        launch.nodes = running_nodes(&rm).await?;
        launch.tokens = cluster.delegation_tokens(&[]).await?.into();
        let am_memory_mb = args.am_memory_mb.unwrap_or(spec.am_memory_mb);
        launch.am_memory_mb = Some(am_memory_mb);
        let workers = args.workers.or(spec.workers.instances).unwrap_or(2);
        let am_args = AppMasterCommand::args_for(workers);
        let keytab = super::keytab_for_master(&cluster, &mut launch)?;
        let mut context = launch.context(
            &am_args,
            "appmaster",
            &am_files,
            &[(LAUNCH_ENV, launch.encode())],
            &secret,
        );
        super::give_master_keytab(&mut context, keytab);
        super::clean::hold_staged(&cluster, &launch, &am_files).await?;
        let mut sub =
            ApplicationSubmission::new(app.id, args.name.as_deref().unwrap_or(spec.name), context);
        sub.queue = args.queue.clone().unwrap_or_else(|| spec.queue.to_string());
        sub.application_type = APPLICATION_TYPE.into();
        sub.am_resource = Resource {
            memory_mb: am_memory_mb,
            vcores: args.am_vcores.unwrap_or(1),
            gpus: 0,
        };
        sub.max_app_attempts = args.max_attempts.unwrap_or(1);
        sub.tags = args.tags.clone();
        rm.submit_application(&sub)
            .await
            .map_err(|e| format!("submitApplication: {e}"))?;
        Ok(sub.queue)
    };
    let queue = super::clean::unless_submitted(&cluster, &rm, app.id, submitting).await?;
    let report = rm
        .get_application_report(app.id)
        .await
        .map_err(|e| format!("getApplicationReport: {e}"))?;
    eprintln!(
        "submitted {} to queue {} in {:.1} s; tracking URL: {}",
        app.id,
        queue,
        started.elapsed().as_secs_f64(),
        report.tracking_url
    );
    if !args.wait {
        if args.json {
            println!("{}", report_json(&report));
        } else {
            println!("{}", app.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = follow(&rm, app.id, !args.json, true).await?;
    let summary: Option<Summary> =
        super::read_app_file(&cluster, &report.user, &app.id.to_string(), "summary.json")
            .await
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok());
    let value = serde_json::to_value(&summary).expect("summary serializes");
    write_summary(args, &value);
    Ok(finish(
        args.json,
        &report,
        value,
        summary.map(|s| s.render()),
    ))
}

/// Writes `--summary-json`, if asked for and if the application master left a summary.
pub(super) fn write_summary(args: &SubmitArgs, summary: &serde_json::Value) {
    let Some(path) = &args.summary_json else {
        return;
    };
    if summary.is_null() {
        eprintln!(
            "warning: the application master left no summary; {} not written",
            path.display()
        );
        return;
    }
    let text = serde_json::to_string_pretty(summary).expect("summary serializes");
    crate::ui::write_summary_json(path, &text);
}

/// The refusals the application master would make, made here first: an unsafe output,
/// or a stage that does not fit the input's columns, costs no application and exits 2
/// like any spec error. Input errors are left to the application master, which reports
/// them in full.
async fn refuse_unsafe_output(
    args: &SubmitArgs,
    spec: &Job<'_>,
    cluster: &Cluster,
) -> Option<ExitCode> {
    let mut listed = Vec::new();
    for pattern in &spec.inputs {
        listed.push(spindle_io::Location::expand(pattern).await.ok()?);
    }
    let refused = |why: String| {
        eprintln!("error: {}: {why}", args.spec.display());
        Some(ExitCode::from(2))
    };
    if let (Some(job), [files]) = (spec.stage_job, listed.as_slice()) {
        if let Err(PrepareError::Refused(why)) = checked_columns(job, files).await {
            return refused(why);
        }
    }
    let urls: Vec<String> = listed.into_iter().flatten().map(|f| f.url).collect();
    let inputs = Inputs {
        patterns: &spec.inputs,
        files: &urls,
    };
    let mut protected = crate::run::protected_places();
    protected.hdfs_home = Some(format!("/user/{}", cluster.identity.user));
    match commit::check(spec.output, &inputs, &protected).await {
        Err(CommitError::Refused(why)) => refused(format!("key `output.path`: {why}")),
        _ => None,
    }
}

/// Refuses containers larger than the cluster's largest: YARN would never grant them.
pub(super) fn fits(what: &str, asked: Resource, max: Resource) -> Result<(), String> {
    if asked.memory_mb > max.memory_mb || asked.vcores > max.vcores {
        return Err(format!(
            "{what} ask for {} MiB and {} vcores, but this cluster's largest container is {} MiB and {} vcores (yarn.scheduler.maximum-allocation-*)",
            asked.memory_mb, asked.vcores, max.memory_mb, max.vcores
        ));
    }
    // A ResourceManager that does not know yarn.io/gpu would drop it from the ask and
    // grant a container without GPUs.
    if asked.gpus > max.gpus {
        let why = if max.gpus == 0 {
            "this cluster offers no GPUs (no yarn.io/gpu resource type, or no NodeManager with one)"
                .to_string()
        } else {
            format!(
                "this cluster's largest container has {} (yarn.io/gpu)",
                max.gpus
            )
        };
        let plural = if asked.gpus == 1 { "" } else { "s" };
        return Err(format!(
            "{what} ask for {} GPU{plural}, but {why}",
            asked.gpus
        ));
    }
    Ok(())
}

/// The running NodeManagers' hosts and their racks; on big clusters, none (ask anywhere).
pub(super) async fn running_nodes(
    rm: &ApplicationClient,
) -> Result<BTreeMap<String, String>, String> {
    const MAX_NAMED_NODES: usize = 200;
    let nodes = rm
        .get_cluster_nodes(&[NodeState::Running])
        .await
        .map_err(|e| format!("getClusterNodes: {e}"))?;
    if nodes.len() > MAX_NAMED_NODES {
        return Ok(Default::default());
    }
    Ok(nodes
        .into_iter()
        .filter(|n| !n.id.host.is_empty())
        .map(|n| (n.id.host, n.rack))
        .collect())
}

/// Uploads what the containers need; returns the launch description, the AM's own extra
/// files and the application's secret.
pub(super) async fn stage(
    cluster: &Cluster,
    app: &str,
    spec_text: Vec<u8>,
) -> Result<(LaunchInfo, Vec<Staged>, String), String> {
    let default_fs = cluster
        .conf
        .get("fs.defaultFS")
        .filter(|fs| fs.starts_with("hdfs://") || fs.starts_with("viewfs://"))
        .ok_or("fs.defaultFS in HADOOP_CONF_DIR is not an hdfs:// filesystem; spindle submit stages its files there")?;
    let url =
        url::Url::parse(&default_fs).map_err(|e| format!("fs.defaultFS {default_fs}: {e}"))?;
    let conf_dir = cluster.conf_dirs[0].clone();
    let staging = Staging::connect(&default_fs, &conf_dir, &cluster.identity)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let t = Instant::now();
    let dir = staging.app_dir(app).await?;
    let secret = new_secret();
    // Closing an HDFS file waits for the NameNode to confirm its block (hundreds of ms),
    // so every file is written at once.
    let site_files = SITE_FILES.iter().filter_map(|name| {
        let data = std::fs::read(conf_dir.join(name)).ok()?;
        Some(staging.site_file(name, data))
    });
    let (binary, site, spec, _) = tokio::try_join!(
        staging.binary(&exe),
        futures::future::try_join_all(site_files),
        staging.file(&dir, SPEC, spec_text),
        staging.file(&dir, "secret", secret.clone().into_bytes()),
    )?;
    let (binary, uploaded) = binary;
    eprintln!(
        "{} {} ({:.1} MB); staged in {:.1} s",
        if uploaded { "uploaded" } else { "reusing" },
        binary.path,
        binary.size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let launch = LaunchInfo {
        fs_scheme: url.scheme().to_string(),
        fs_host: url.host_str().unwrap_or_default().to_string(),
        fs_port: url.port().map_or(-1, i32::from),
        common: [vec![binary], site].concat(),
        app_dir: dir,
        nodes: Default::default(),
        spec: None,
        service_files: Default::default(),
        tokens: Default::default(),
        keytab_principal: None,
        am_memory_mb: None,
        acls: None,
        file_systems: vec![],
        simple_user: (!cluster.conf.is_kerberos()).then(|| cluster.identity.user.clone()),
    };
    Ok((launch, vec![spec], secret))
}

/// How often the progress line may change while only the master's words for it do.
const STORE_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Polls the application until it ends, with a progress line on stderr: its state and
/// YARN's percentage as they change, and with `store_progress`, what its master says of
/// its progress in the key-value store, every few seconds.
pub(super) async fn follow(
    rm: &ApplicationClient,
    id: ApplicationId,
    show: bool,
    store_progress: bool,
) -> Result<ApplicationReport, String> {
    let mut store = StoreProgress::new(id.to_string());
    let (mut last_state, mut last_line) = (String::new(), String::new());
    let mut last_shown = tokio::time::Instant::now();
    loop {
        let report = rm
            .get_application_report(id)
            .await
            .map_err(|e| format!("getApplicationReport: {e}"))?;
        let state = format!(
            "{id}: {} {:.0}%",
            state_name(report.state),
            report.progress * 100.0
        );
        if show && (state != last_state || last_shown.elapsed() >= STORE_PROGRESS_EVERY) {
            let running = report.state == Some(ApplicationState::Running);
            let said = match store_progress && running {
                true => store.latest().await,
                false => None,
            };
            let line = match said {
                Some(words) => format!("{state}, {words}"),
                None => state.clone(),
            };
            if line != last_line {
                eprintln!("{line}");
                last_line = line;
            }
            last_state = state;
            last_shown = tokio::time::Instant::now();
        }
        if report.state.is_some_and(ApplicationState::is_terminal) {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Prints how the application ended and returns the exit code (0 SUCCEEDED, 130 KILLED,
/// else 1): with `json`, the report with `summary` in it; else `rendered` (the job's
/// summary), YARN's diagnostics if it did not succeed, and the application id.
pub(super) fn finish(
    json: bool,
    report: &ApplicationReport,
    summary: serde_json::Value,
    rendered: Option<String>,
) -> ExitCode {
    let succeeded = report.state == Some(ApplicationState::Finished)
        && report.final_status == Some(FinalStatus::Succeeded);
    if json {
        let mut value = report_json(report);
        value["summary"] = summary;
        println!("{value}");
    } else {
        if let Some(text) = rendered {
            eprint!("{text}");
        }
        if !succeeded {
            eprintln!(
                "error: {} ended {}: {}",
                report.id,
                state_name(report.state),
                report.diagnostics.trim()
            );
        }
        println!("{}", report.id);
    }
    match report.state {
        _ if succeeded => ExitCode::SUCCESS,
        Some(ApplicationState::Killed) => ExitCode::from(130),
        _ => ExitCode::FAILURE,
    }
}
