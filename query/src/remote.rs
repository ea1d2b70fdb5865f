//! Workers in other processes (or containers), reached over spindle's authenticated
//! connections: datafusion-distributed's worker protocol (gRPC, stage results as lz4
//! Arrow Flight streams) runs inside a connection only a holder of the application's
//! secret can open, and whose server proved it holds the secret too.

use crate::kept::KeptResults;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion_distributed::grpc::{create_worker_client, BoxCloneSyncChannel};
use datafusion_distributed::{
    ChannelResolver, DistributedExt, Worker, WorkerChannel, WorkerQueryContext, WorkerResolver,
};
use hyper_util::rt::TokioIo;
use spindle_io::channel::{Channel, Wire};
use spindle_io::net::{connect_channel, serve_authenticated, Role};
use spindle_io::IoError;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use url::Url;

/// The scheme of a query worker's URL: `spindle://host:port`.
pub const SCHEME: &str = "spindle";
/// Reaching a worker (TCP connect, then the handshake) may take this long.
const CONNECT: Duration = Duration::from_secs(10);
/// A connection idle this long is pinged; one that does not answer a ping within
/// [`PING_ANSWER`] is dead, and every stream on it fails instead of waiting forever.
const PING_EVERY: Duration = Duration::from_secs(10);
const PING_ANSWER: Duration = Duration::from_secs(20);
/// Authenticated connections waiting for the gRPC server to take them.
const ACCEPTED_BACKLOG: usize = 64;

/// A worker for a query's tasks: its sessions reach the other workers over
/// authenticated connections, with `secret`.
pub fn worker(runtime: Arc<RuntimeEnv>, secret: Arc<str>) -> Worker {
    // One set of connections to the other workers, shared by every query's sessions.
    let peers = RemoteWorkers::new(Vec::new(), secret);
    // Leaf stages' results, kept for a query run again after another worker is lost.
    let kept = KeptResults::new(&runtime.memory_pool);
    let sessions = move |ctx: WorkerQueryContext| {
        let peers = peers.clone();
        let keeper = kept.keeper();
        async move {
            Ok(ctx
                .builder
                .with_distributed_channel_resolver(peers)
                .with_distributed_worker_plan_rewrite_handler(keeper)
                .build())
        }
    };
    Worker::from_session_builder(sessions)
        .with_runtime_env(runtime)
        .with_version(env!("CARGO_PKG_VERSION"))
}

/// Serves `worker` on `listener` until the process ends. Only connections that complete
/// spindle's handshake for [`Role::Query`] reach the worker.
pub async fn serve(
    listener: TcpListener,
    secret: Arc<str>,
    wire: Wire,
    worker: Worker,
) -> Result<(), String> {
    let (accepted, mut incoming) = mpsc::channel::<Link>(ACCEPTED_BACKLOG);
    let handshakes = serve_authenticated(
        listener,
        secret,
        Role::Query,
        wire,
        "query worker connection failed",
        move |channel| {
            let accepted = accepted.clone();
            async move {
                accepted
                    .send(Link(channel))
                    .await
                    .map_err(|_| IoError::Protocol("the worker is stopping".into()))
            }
        },
    );
    let incoming = futures::stream::poll_fn(move |cx| {
        incoming
            .poll_recv(cx)
            .map(|link| link.map(Ok::<_, std::io::Error>))
    });
    let grpc = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(PING_EVERY))
        .http2_keepalive_timeout(Some(PING_ANSWER))
        .serve_with_incoming(worker.into_worker_server(), incoming);
    tokio::select! {
        () = handshakes => Err("the query worker stopped accepting connections".into()),
        served = grpc => served.map_err(|e| format!("the query worker failed: {e}")),
    }
}

/// Query workers at known URLs, reached with the application's secret; each worker's
/// connection is opened once and shared by every task that calls it.
#[derive(Clone)]
pub struct RemoteWorkers {
    urls: Arc<Vec<Url>>,
    /// How many workers the planner is told of, at least ([`urls_for_planning`]).
    named: usize,
    secret: Arc<str>,
    channels: Arc<Mutex<HashMap<Url, BoxCloneSyncChannel>>>,
}

impl RemoteWorkers {
    /// The workers' addresses, in order.
    pub fn urls(&self) -> Vec<Url> {
        self.urls.as_ref().clone()
    }

    /// Workers at `urls` (empty for a worker's own sessions: the plans they run name
    /// the workers to call).
    pub fn new(urls: Vec<Url>, secret: Arc<str>) -> RemoteWorkers {
        RemoteWorkers {
            urls: Arc::new(urls),
            named: 0,
            secret,
            channels: Arc::default(),
        }
    }

    /// The same workers, named to the planner at least `n` times: a query run again on
    /// fewer workers is then cut into as many tasks as before, so a survivor's scan tasks
    /// are the same and replay what it kept ([`crate::kept`]).
    pub fn named_at_least(mut self, n: usize) -> RemoteWorkers {
        self.named = n;
        self
    }

    /// Whether every worker is reached at a loopback address, so on this machine: as
    /// `spindle run`'s workers are (and a one-host test cluster's). Stages' data then
    /// moves between processes through memory, where compressing it costs CPU on both
    /// ends and saves nothing.
    pub fn on_this_machine(&self) -> bool {
        !self.urls.is_empty() && self.urls.iter().all(is_loopback)
    }

    /// How many workers the planner is told of.
    pub fn named(&self) -> usize {
        urls_for_planning(&self.urls, self.named).len()
    }

    async fn channel(&self, url: &Url) -> Result<BoxCloneSyncChannel> {
        let known = self.lock().get(url).cloned();
        if let Some(channel) = known {
            return Ok(channel);
        }
        let addr = address(url)?;
        let unreachable = |e: String| {
            DataFusionError::Execution(format!("cannot reach the worker at {url}: {e}"))
        };
        let secret = self.secret.clone();
        let dial = tower::service_fn(move |_: http::Uri| {
            let (addr, secret) = (addr.clone(), secret.clone());
            async move {
                let channel = connect_channel(&addr, &secret, Role::Query, CONNECT)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(TokioIo::new(Link(channel)))
            }
        });
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{}", url_authority(url)))
                .map_err(|e| unreachable(e.to_string()))?
                .connect_timeout(CONNECT)
                .http2_keep_alive_interval(PING_EVERY)
                .keep_alive_timeout(PING_ANSWER)
                .keep_alive_while_idle(true)
                .connect_with_connector(dial)
                .await
                .map_err(|e| unreachable(error_chain(&e)))?;
        let channel = BoxCloneSyncChannel::new(channel);
        self.lock().insert(url.clone(), channel.clone());
        Ok(channel)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Url, BoxCloneSyncChannel>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WorkerResolver for RemoteWorkers {
    fn get_urls(&self) -> Result<Vec<Url>> {
        Ok(urls_for_planning(&self.urls, self.named))
    }
}

/// Whether `url` names a loopback address. Its scheme is not one the URL standard knows,
/// so an address in it is kept as text.
fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let address = host.trim_start_matches('[').trim_end_matches(']');
    match address.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The workers as the planner is told of them: each once, round the list again up to
/// `at_least` names, and a single worker at least twice. datafusion-distributed cuts a
/// plan into stages of as many tasks as it is told of workers, and runs a stage of one
/// task feeding one task where the coordinator is. With one worker the whole query would
/// run in the coordinator (on YARN, the application master's container) while the
/// worker idled; named twice, each stage runs as two tasks on that worker.
pub(crate) fn urls_for_planning(urls: &[Url], at_least: usize) -> Vec<Url> {
    let names = match urls.len() {
        1 => at_least.max(2),
        n => at_least.max(n),
    };
    urls.iter().cycle().take(names).cloned().collect()
}

#[async_trait::async_trait]
impl ChannelResolver for RemoteWorkers {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        Ok(create_worker_client(self.channel(url).await?))
    }
}

/// A worker's URL for its address (`host:port`).
pub fn worker_url(addr: &str) -> Result<Url, String> {
    let url = Url::parse(&format!("{SCHEME}://{addr}")).map_err(|e| format!("{addr}: {e}"))?;
    address(&url).map_err(|e| e.to_string())?;
    Ok(url)
}

fn address(url: &Url) -> Result<String> {
    match (url.scheme(), url.host_str(), url.port()) {
        (SCHEME, Some(host), Some(port)) => Ok(format!("{host}:{port}")),
        _ => Err(DataFusionError::Execution(format!(
            "{url} is not a query worker's address ({SCHEME}://host:port)"
        ))),
    }
}

fn url_authority(url: &Url) -> &str {
    &url[url::Position::BeforeHost..url::Position::AfterPort]
}

/// An error with its causes: tonic's own message alone says only "transport error".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// An authenticated connection, as the gRPC server and client take connections.
struct Link(Channel);

impl tonic::transport::server::Connected for Link {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Link {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Link {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use datafusion_distributed::GetWorkerInfoRequest;
    use std::time::Instant;

    #[test]
    fn the_planner_is_told_of_each_worker_a_lone_one_twice_and_as_many_as_asked() {
        let urls: Vec<Url> = ["a", "b"]
            .iter()
            .map(|h| Url::parse(&format!("spindle://{h}:1")).unwrap())
            .collect();
        let named = |urls: &[Url], at_least| -> Vec<String> {
            urls_for_planning(urls, at_least)
                .iter()
                .map(|u| u.host_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(named(&urls, 0), ["a", "b"]);
        assert_eq!(named(&urls[..1], 0), ["a", "a"]);
        // Three workers planned the first run; one is lost, two are left.
        assert_eq!(named(&urls, 3), ["a", "b", "a"]);
        assert_eq!(named(&urls[..1], 3), ["a", "a", "a"]);
        assert!(named(&[], 3).is_empty());
    }

    #[test]
    fn workers_are_on_this_machine_only_when_every_one_is_at_a_loopback_address() {
        let workers = |hosts: &[&str]| {
            let urls = hosts
                .iter()
                .map(|h| Url::parse(&format!("spindle://{h}")).unwrap())
                .collect();
            RemoteWorkers::new(urls, "s".into())
        };
        assert!(workers(&["127.0.0.1:1", "127.0.0.1:2"]).on_this_machine());
        assert!(workers(&["127.0.0.2:1", "localhost:2", "[::1]:3"]).on_this_machine());
        assert!(!workers(&["127.0.0.1:1", "10.0.0.2:1"]).on_this_machine());
        assert!(!workers(&["node1:1"]).on_this_machine());
        assert!(!workers(&[]).on_this_machine());
    }

    /// A worker served on a free loopback port with `secret`, its connections as
    /// `wire` says.
    pub(crate) async fn served(secret: &str, wire: Wire) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = worker_url(&listener.local_addr().unwrap().to_string()).unwrap();
        let secret: Arc<str> = secret.into();
        let runtime = crate::runtime(64 << 20).unwrap();
        let worker = worker(runtime, secret.clone());
        tokio::spawn(serve(listener, secret, wire, worker));
        url
    }

    #[tokio::test]
    async fn only_a_holder_of_the_secret_reaches_a_worker() {
        let url = served("the-secret", Wire::Authenticated).await;
        let started = Instant::now();
        let strangers = RemoteWorkers::new(vec![url.clone()], "another-secret".into());
        let refused = strangers.get_worker_client_for_url(&url).await.err();
        let refused = refused.expect("a wrong secret is refused").to_string();
        assert!(refused.contains("application secret"), "{refused}");
        assert!(started.elapsed() < Duration::from_secs(5));

        let friends = RemoteWorkers::new(vec![url.clone()], "the-secret".into());
        let mut client = friends.get_worker_client_for_url(&url).await.unwrap();
        let info = client
            .get_worker_info(GetWorkerInfoRequest {})
            .await
            .unwrap();
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    }

    #[tokio::test]
    async fn a_worker_that_is_not_there_fails_within_the_connect_deadline() {
        // Bound, then closed: nobody listens on the port.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = worker_url(&format!("127.0.0.1:{port}")).unwrap();
        let started = Instant::now();
        let workers = RemoteWorkers::new(vec![url.clone()], "s".into());
        let e = workers.get_worker_client_for_url(&url).await.err().unwrap();
        assert!(
            e.to_string()
                .contains(&format!("cannot reach the worker at {url}")),
            "{e}"
        );
        assert!(started.elapsed() < CONNECT + Duration::from_secs(2));
    }

    #[test]
    fn a_worker_url_is_spindle_host_port() {
        assert_eq!(
            worker_url("127.0.0.1:4000").unwrap().as_str(),
            "spindle://127.0.0.1:4000"
        );
        let e = address(&Url::parse("http://h:1").unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("not a query worker's address"),
            "{e}"
        );
    }
}
