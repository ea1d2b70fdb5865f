//! `spindle kv`: read and write a running application's key-value store from the edge
//! node or from inside one of its containers. From the edge node, the application master
//! is found through the ResourceManager's report, and the application's secret in the
//! user's private staging directory; inside a container, through its environment and
//! credentials.

use clap::{Args, Subcommand};
use spindle_appmaster::kv::client::KvClient;
use spindle_appmaster::kv::store::{Entry, Event, KeyRange};
use spindle_appmaster::yarn::app::{APPLICATION_ID_ENV, KV_ENV};
use spindle_appmaster::yarn::launch::{read_credentials, secret_from};
use spindle_hadoop::yarn::{ApplicationId, ApplicationState};
use spindle_job::Timeout;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Read and write a running application's key-value store
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle kv put svc/db 10.0.0.5:5432 --app application_1700000000000_0001\n  \
    spindle kv wait svc/db --timeout 5m --app ...     # prints the value once it is there\n  \
    spindle kv ls svc/ --json --app ...\n  \
    spindle kv watch svc/ --prefix --app ...          # one line per put or delete")]
pub struct KvArgs {
    #[command(subcommand)]
    op: KvOp,
    /// The application (default: $SPINDLE_APPLICATION_ID)
    #[arg(long, global = true, env = "SPINDLE_APPLICATION_ID")]
    app: Option<String>,
    /// Print JSON (one object per line for ls and watch)
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum KvOp {
    /// Print a key's value, alone and as stored
    Get { key: String },
    /// Set a key; the value comes from stdin when not given
    Put {
        key: String,
        value: Option<String>,
        /// The container that owns the key: it is deleted when that container ends
        #[arg(long, value_name = "CONTAINER_ID")]
        owner: Option<String>,
    },
    /// Delete a key, or with --prefix every key starting with it; prints how many went
    Del {
        key: String,
        #[arg(long)]
        prefix: bool,
    },
    /// List the keys starting with PREFIX (every key without it)
    Ls { prefix: Option<String> },
    /// Wait until a key exists, then print its value
    Wait {
        key: String,
        /// Give up after this long (30s, 10m, 2h; at most 1d)
        #[arg(long, default_value = "10m", value_parser = Timeout::parse)]
        timeout: Timeout,
    },
    /// Print each put and delete on a key (or with --prefix, on every key starting with
    /// it) as it happens, until interrupted
    Watch {
        key: String,
        #[arg(long)]
        prefix: bool,
    },
}

pub async fn kv(args: KvArgs) -> ExitCode {
    crate::init_logging("error");
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: KvArgs) -> Result<ExitCode, String> {
    let app = args
        .app
        .ok_or("no application: give --app APP (or set SPINDLE_APPLICATION_ID)")?;
    let json = args.json;
    // wait and watch ride out a restart of the application master
    match args.op {
        KvOp::Wait { key, timeout } => return wait(&app, &key, timeout, json).await,
        KvOp::Watch { key, prefix } => return watch(&app, range(key, prefix), json).await,
        _ => {}
    }
    let mut c = connect(&app).await.map_err(Unreached::text)?;
    match args.op {
        KvOp::Get { key } => {
            let Some((_, entry)) = c.get(KeyRange::Key(key.clone())).await?.pop() else {
                return Err(format!("no key `{key}`"));
            };
            print_entry(&key, &entry, json);
        }
        KvOp::Put { key, value, owner } => {
            let value = match value {
                Some(v) => v.into_bytes(),
                None => {
                    let mut v = vec![];
                    std::io::stdin()
                        .read_to_end(&mut v)
                        .map_err(|e| format!("reading the value from stdin: {e}"))?;
                    v
                }
            };
            let revision = c.put(&key, value, owner).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "key": key, "revision": revision })
                );
            }
        }
        KvOp::Del { key, prefix } => {
            let n = c.delete(range(key, prefix)).await?;
            println!(
                "{}",
                if json {
                    serde_json::json!({ "deleted": n }).to_string()
                } else {
                    n.to_string()
                }
            );
        }
        KvOp::Ls { prefix } => {
            for key in c.list(KeyRange::Prefix(prefix.unwrap_or_default())).await? {
                if json {
                    println!("{}", serde_json::json!({ "key": key }));
                } else {
                    println!("{key}");
                }
            }
        }
        KvOp::Wait { .. } | KvOp::Watch { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Why the store could not be reached: for good (the application has ended, the id is
/// wrong) or for now (its master is restarting).
enum Unreached {
    Final(String),
    ForNow(String),
}

impl Unreached {
    fn text(self) -> String {
        match self {
            Unreached::Final(e) | Unreached::ForNow(e) => e,
        }
    }
}

/// The wait between attempts to reach a master that is restarting.
const RECONNECT: Duration = Duration::from_secs(1);
/// A watcher's wait doubles up to this while the master stays out of reach (its attempts
/// end with the application).
const RECONNECT_AT_MOST: Duration = Duration::from_secs(8);

async fn wait(app: &str, key: &str, timeout: Timeout, json: bool) -> Result<ExitCode, String> {
    let limit = timeout.duration().min(Duration::from_secs(86_400));
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let waited = match connect(app).await {
            Ok(mut c) => c.wait(key, left).await.map_err(Unreached::ForNow),
            Err(e) => Err(e),
        };
        match waited {
            Ok(Some(entry)) => {
                print_entry(key, &entry, json);
                return Ok(ExitCode::SUCCESS);
            }
            Ok(None) => break,
            Err(Unreached::Final(e)) => return Err(e),
            Err(Unreached::ForNow(e)) if Instant::now() + RECONNECT < deadline => {
                eprintln!("lost the key-value store ({e}); reconnecting");
                tokio::time::sleep(RECONNECT).await;
            }
            Err(Unreached::ForNow(_)) => break,
        }
    }
    Err(format!("`{key}` did not appear within {timeout}"))
}

/// Prints events until interrupted; after losing the master it reconnects and goes on
/// from the last revision printed, so nothing is missed or repeated.
async fn watch(app: &str, range: KeyRange, json: bool) -> Result<ExitCode, String> {
    let mut after = 0;
    let mut pause = RECONNECT;
    loop {
        let watched = async {
            let c = connect(app).await?;
            let mut w = c
                .watch(range.clone(), after)
                .await
                .map_err(Unreached::ForNow)?;
            pause = RECONNECT;
            loop {
                let events = w
                    .events(Duration::from_secs(24 * 3600))
                    .await
                    .map_err(Unreached::ForNow)?;
                for e in events {
                    print_event(&e, json);
                    after = e.revision;
                }
            }
        };
        match watched.await {
            Err(Unreached::Final(e)) => return Err(e),
            Err(Unreached::ForNow(e)) => {
                eprintln!(
                    "lost the key-value store ({e}); reconnecting in {} s",
                    pause.as_secs()
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RECONNECT_AT_MOST);
            }
            Ok(()) => {}
        }
    }
}

fn range(key: String, prefix: bool) -> KeyRange {
    if prefix {
        KeyRange::Prefix(key)
    } else {
        KeyRange::Key(key)
    }
}

fn print_entry(key: &str, e: &Entry, json: bool) {
    if json {
        let v = serde_json::json!({
            "key": key,
            "value": String::from_utf8_lossy(&e.value),
            "create_revision": e.create_revision,
            "mod_revision": e.mod_revision,
            "owner": e.owner,
        });
        println!("{v}");
    } else {
        let mut out = std::io::stdout();
        let _ = out.write_all(&e.value);
        let _ = out.flush();
    }
}

fn print_event(e: &Event, json: bool) {
    let value = e
        .put
        .as_ref()
        .map(|(v, _)| String::from_utf8_lossy(v).into_owned());
    if json {
        let kind = if e.put.is_some() { "put" } else { "delete" };
        let v = serde_json::json!({ "revision": e.revision, "event": kind, "key": e.key, "value": value });
        println!("{v}");
    } else {
        match value {
            Some(v) => println!("{} put {} {v}", e.revision, e.key),
            None => println!("{} del {}", e.revision, e.key),
        }
    }
}

/// A client of `app`'s store, for other commands (benchmarks).
pub async fn client(app: &str) -> Result<KvClient, String> {
    connect(app).await.map_err(Unreached::text)
}

/// Finds the application master through the ResourceManager and proves the secret from
/// the application's staging directory.
async fn connect(app: &str) -> Result<KvClient, Unreached> {
    if let Some(inside) = in_container(app) {
        return inside.await.map_err(Unreached::ForNow);
    }
    let (address, secret) = look_up_apart(app).await?;
    KvClient::connect(&address, &secret)
        .await
        .map_err(Unreached::ForNow)
}

/// [`look_up`] on a runtime of its own, dropped when done: the ResourceManager and HDFS
/// clients' connections and background tasks end with it instead of lingering, idle, on
/// the store client's runtime for the life of a long `watch` or `wait`.
async fn look_up_apart(app: &str) -> Result<(String, String), Unreached> {
    let app = app.to_string();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Unreached::Final(format!("cannot start a runtime: {e}")))?;
        rt.block_on(look_up(&app))
    })
    .await
    .map_err(|e| Unreached::Final(format!("the lookup of the master failed: {e}")))?
}

/// The master's store address and the application's secret, from the ResourceManager's
/// report and the staging directory.
async fn look_up(app: &str) -> Result<(String, String), Unreached> {
    let id = app
        .parse::<ApplicationId>()
        .map_err(|e| Unreached::Final(e.to_string()))?;
    let cluster = crate::yarn::cluster_from_env().map_err(Unreached::Final)?;
    let rm = cluster.resource_manager().await.map_err(Unreached::Final)?;
    let report = rm
        .get_application_report(id)
        .await
        .map_err(|e| Unreached::Final(format!("getApplicationReport: {e}")))?;
    if report.state.is_some_and(ApplicationState::is_terminal) {
        return Err(Unreached::Final(format!(
            "{app} has ended ({})",
            crate::yarn::apps::state_name(report.state)
        )));
    }
    if report.rpc_port <= 0 || report.host.is_empty() || report.host == "N/A" {
        return Err(Unreached::ForNow(format!(
            "{app} has no running application master (state {})",
            crate::yarn::apps::state_name(report.state)
        )));
    }
    let secret = crate::yarn::read_app_file(&cluster, &report.user, app, "secret")
        .await
        .map_err(|e| Unreached::ForNow(format!("cannot read the application's secret: {e}")))?;
    let secret = String::from_utf8(secret)
        .map_err(|_| Unreached::Final(format!("{app}'s secret is not text")))?;
    Ok((format!("{}:{}", report.host, report.rpc_port), secret))
}

/// Inside one of `app`'s own containers, the store's address is in `SPINDLE_KV` and the
/// secret in the container's credentials: no ResourceManager or HDFS round trip.
fn in_container(app: &str) -> Option<impl std::future::Future<Output = Result<KvClient, String>>> {
    let ours = std::env::var(APPLICATION_ID_ENV).ok()? == app;
    let address = std::env::var(KV_ENV).ok().filter(|_| ours)?;
    let credentials = crate::yarn::credentials_file().ok()?;
    Some(async move {
        let secret = secret_from(&read_credentials(&credentials)?)?;
        KvClient::connect(&address, &secret).await
    })
}
