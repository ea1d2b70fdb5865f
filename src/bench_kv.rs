//! `spindle bench kv`: the key-value store of a running application, from where this runs
//! (the edge node, or a container): put and get latency, sequential and concurrent put
//! throughput, how soon a waiter wakes after a put, and journal replay time.

use clap::Args;
use spindle_appmaster::kv::client::KvClient;
use spindle_appmaster::kv::journal::{encode, replay, snapshot_of, Record};
use spindle_appmaster::kv::store::{KeyRange, Op, Store, Txn};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Key-value store latency and throughput against a running application
#[derive(Args)]
pub struct KvBench {
    /// The application whose store to measure (it should be idle otherwise)
    #[arg(long)]
    app: String,
    /// Operations per measurement
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    ops: u64,
    /// Concurrent clients for the concurrent-put measurement
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// Puts each concurrent client keeps on the wire in the pipelined measurement
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    window: u64,
    /// Untimed puts and gets first (as many of each), so the store and the DataNode
    /// behind its journal are warm, as `kv_skein.py` warms Skein's
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    warmup: u64,
    /// Keys in the journal whose replay is timed (offline, in memory)
    #[arg(long, default_value_t = 100_000)]
    replay_keys: u64,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

pub async fn kv(args: KvBench) -> ExitCode {
    crate::init_logging("error");
    match measure(&args).await {
        Ok(report) => {
            if args.json {
                println!("{report}");
            } else {
                for (k, v) in report.as_object().expect("an object") {
                    println!("{k:28} {v}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn measure(args: &KvBench) -> Result<serde_json::Value, String> {
    let mut c = crate::kv::client(&args.app).await?;
    let value = vec![b'x'; 16];
    for i in 0..args.warmup {
        c.put(&format!("bench/warm/{i:07}"), value.clone(), None)
            .await?;
    }
    for i in 0..args.warmup {
        c.get(KeyRange::Key(format!("bench/warm/{i:07}"))).await?;
    }
    let mut puts = vec![];
    let started = Instant::now();
    for i in 0..args.ops {
        let t = Instant::now();
        c.put(&format!("bench/seq/{i:07}"), value.clone(), None)
            .await?;
        puts.push(t.elapsed());
    }
    let sequential = args.ops as f64 / started.elapsed().as_secs_f64();
    let mut gets = vec![];
    for i in 0..args.ops {
        let t = Instant::now();
        c.get(KeyRange::Key(format!("bench/seq/{i:07}"))).await?;
        gets.push(t.elapsed());
    }
    let per_client = (args.ops / args.clients).max(1);
    // Connected before the clock starts: this measures the store, not the lookups.
    let clients = connect_all(args).await?;
    let mut tasks = vec![];
    let started = Instant::now();
    for (k, mut client) in clients.into_iter().enumerate() {
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                client
                    .put(&format!("bench/con/{k}/{i:07}"), value.clone(), None)
                    .await?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let concurrent = (per_client * args.clients) as f64 / started.elapsed().as_secs_f64();
    let pipelined = pipelined_puts(args, per_client * 4, &value).await?;
    let wake = wake_ups(&args.app, 20).await?;
    c.delete(KeyRange::Prefix("bench/".into())).await?;
    Ok(serde_json::json!({
        "put_ms_median": ms(percentile(&mut puts, 50)),
        "put_ms_p99": ms(percentile(&mut puts, 99)),
        "get_ms_median": ms(percentile(&mut gets, 50)),
        "get_ms_p99": ms(percentile(&mut gets, 99)),
        "sequential_puts_per_s": sequential.round(),
        "concurrent_puts_per_s": concurrent.round(),
        "concurrent_clients": args.clients,
        "pipelined_puts_per_s": pipelined.round(),
        "pipeline_window": args.window,
        "wait_wakeup_ms_median": ms(wake),
        "replay_s": replay_time(args.replay_keys).as_secs_f64(),
        "replay_keys": args.replay_keys,
    }))
}

/// Puts per second from `args.clients` clients that each keep `args.window` puts on the
/// wire (as a program that puts many keys does, with [`KvClient::put_all`]).
///
async fn pipelined_puts(args: &KvBench, per_client: u64, value: &[u8]) -> Result<f64, String> {
    let clients = connect_all(args).await?;
    let mut tasks = vec![];
    let started = Instant::now();
    for (k, mut client) in clients.into_iter().enumerate() {
        let items = (0..per_client)
            .map(|i| (format!("bench/pipe/{k}/{i:07}"), value.to_vec()))
            .collect();
        let window = args.window as usize;
        tasks.push(tokio::spawn(
            async move { client.put_all(items, window).await },
        ));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok((per_client * args.clients) as f64 / started.elapsed().as_secs_f64())
}

/// `args.clients` connected clients.
async fn connect_all(args: &KvBench) -> Result<Vec<KvClient>, String> {
    let mut clients = vec![];
    for _ in 0..args.clients {
        clients.push(crate::kv::client(&args.app).await?);
    }
    Ok(clients)
}

/// Median time from the start of a put to the return of a waiter on its key (a waiter
/// learns of the put only once it is durable).
async fn wake_ups(app: &str, n: usize) -> Result<Duration, String> {
    let mut samples = vec![];
    let mut putter = crate::kv::client(app).await?;
    for i in 0..n {
        let key = format!("bench/wake/{i}");
        let mut waiter = crate::kv::client(app).await?;
        let k = key.clone();
        let waiting = tokio::spawn(async move {
            waiter.wait(&k, Duration::from_secs(30)).await?;
            Ok::<Instant, String>(Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let put_at = Instant::now();
        putter.put(&key, vec![1], None).await?;
        let woke = waiting.await.map_err(|e| e.to_string())??;
        samples.push(woke.saturating_duration_since(put_at));
    }
    Ok(percentile(&mut samples, 50))
}

/// How long replaying a journal of `keys` puts takes.
fn replay_time(keys: u64) -> Duration {
    let mut store = Store::new(1000);
    let mut journal = snapshot_of(&store);
    for i in 0..keys {
        let op = Op::Put {
            key: format!("key/{i:09}"),
            value: vec![b'v'; 32],
            owner: None,
            previous: false,
        };
        if let Some(c) = store.apply(&Txn::ops(vec![op])).1 {
            journal.extend(encode(&Record::Change(c)));
        }
    }
    let started = Instant::now();
    let replayed = replay(&journal, 1000).expect("a journal just written replays");
    let took = started.elapsed();
    assert_eq!(replayed.store.len() as u64, keys);
    took
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}
