//! The workers a query's stages run on, behind datafusion-distributed's two seams: a
//! `WorkerResolver` (who the workers are) and a `ChannelResolver` (how to reach one).
//!
//! These workers live in the process that plans the query, one `Worker` (its own task
//! cache and sessions) per worker slot, reached by direct calls: for planning alone
//! (`spindle explain`) and tests of planning. Queries that run use worker processes
//! behind the same seams (`crate::remote`).

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, DistributedCodec, DistributedExt, ExecuteTaskRequest,
    GetWorkerInfoRequest, GetWorkerInfoResponse, MaybeEncoded, SetPlanRequest, Worker,
    WorkerChannel, WorkerQueryContext, WorkerResolver, WorkerToCoordinatorMsg,
};
use datafusion_proto::bytes::physical_plan_to_bytes_with_proto_converter;
use datafusion_proto::physical_plan::DeduplicatingProtoConverter;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::sync::{Arc, OnceLock, Weak};
use url::Url;

type Slots = Vec<(Url, Worker)>;

/// Workers in this process, each with its own URL (`spindle-local://worker-N`).
#[derive(Clone)]
pub struct LocalWorkers {
    slots: Arc<Slots>,
}

impl LocalWorkers {
    /// `count` workers sharing `runtime` (its object stores and memory pool).
    pub fn start(count: usize, runtime: Arc<RuntimeEnv>) -> LocalWorkers {
        // A worker reading another stage's output calls the other workers, so each one's
        // sessions resolve channels through the pool; held weakly, as the pool holds them.
        let pool: Arc<OnceLock<Weak<Slots>>> = Arc::new(OnceLock::new());
        let slots = (0..count.max(1))
            .map(|i| {
                let url =
                    Url::parse(&format!("spindle-local://worker-{i}")).expect("a valid worker URL");
                let pool = pool.clone();
                let sessions = move |ctx: WorkerQueryContext| {
                    let pool = pool.clone();
                    async move {
                        let slots = pool.get().and_then(Weak::upgrade).ok_or_else(|| {
                            DataFusionError::Internal("the query's workers are gone".into())
                        })?;
                        Ok(ctx
                            .builder
                            .with_distributed_channel_resolver(LocalWorkers { slots })
                            .build())
                    }
                };
                let worker = Worker::from_session_builder(sessions)
                    .with_runtime_env(runtime.clone())
                    .with_version(env!("CARGO_PKG_VERSION"));
                (url, worker)
            })
            .collect();
        let slots = Arc::new(slots);
        let _ = pool.set(Arc::downgrade(&slots));
        LocalWorkers { slots }
    }
}

impl WorkerResolver for LocalWorkers {
    fn get_urls(&self) -> Result<Vec<Url>> {
        let urls: Vec<Url> = self.slots.iter().map(|(url, _)| url.clone()).collect();
        Ok(crate::remote::urls_for_planning(&urls, 0))
    }
}

#[async_trait]
impl ChannelResolver for LocalWorkers {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let worker = self
            .slots
            .iter()
            .find(|(u, _)| u == url)
            .map(|(_, w)| w.clone())
            .ok_or_else(|| DataFusionError::Execution(format!("no worker at {url}")))?;
        Ok(Box::new(DirectChannel(worker)))
    }
}

/// A channel to a worker in this process: plans and batches pass as they are.
struct DirectChannel(Worker);

#[async_trait]
impl WorkerChannel for DirectChannel {
    async fn coordinator_channel(
        &mut self,
        headers: http::HeaderMap,
        mut set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        _metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        // The coordinator hands every task of a stage the same plan; decoded as it is,
        // the tasks would share its operators' state (exchange readers, join builds,
        // dynamic filters). Encoded, each task decodes its own, as over a network.
        if let MaybeEncoded::Decoded(plan) = &set_plan_request.plan {
            let codec = DistributedCodec::new_combined_with_user(task_ctx.session_config());
            let converter = DeduplicatingProtoConverter::default();
            let bytes =
                physical_plan_to_bytes_with_proto_converter(plan.clone(), &codec, &converter)?;
            set_plan_request.plan = MaybeEncoded::Encoded(bytes.to_vec());
        }
        self.0
            .coordinator_channel(headers, set_plan_request, c2w_stream.map(Ok).boxed())
            .await
    }

    async fn execute_task(
        &mut self,
        _headers: http::HeaderMap,
        request: ExecuteTaskRequest,
        _metrics: ExecutionPlanMetricsSet,
        _task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        let (streams, _) = self.0.execute_task(request).await?;
        Ok(streams.into_iter().map(|s| s.boxed()).collect())
    }

    async fn get_worker_info(
        &mut self,
        _request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        Ok(GetWorkerInfoResponse {
            version: self.0.version().to_string(),
        })
    }
}
