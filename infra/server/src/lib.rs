//! The `accepted` binary's library: the whole service in one process — the HTTP API on the
//! real `submit` and `status` handlers, and the real `worker` fed by a local stand-in for
//! Lambda's SQS event source mapping — on the embedded backend or on AWS.

pub mod auth;
pub mod backend;
pub mod cli;
pub mod client;
pub mod commands;
pub mod connections;
pub mod console;
mod deploy_parameters;
mod entry;
pub mod http;
pub mod operations;
mod parse_error_problems;
pub mod poller;
pub mod prometheus;
pub mod targets;
mod types_command;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use accepted_core::webhook::route::{FanOut, WebhookRoute};
use accepted_core::EventPublisher;
use accepted_core::JobRegistry;
use accepted_status::Status;
use accepted_submit::Submit;
use accepted_worker::Worker;
use tokio::sync::watch;
use tracing::info;

use crate::cli::ServeArgs;
pub use crate::entry::run;

/// How often the local server sweeps for stalled jobs (the template's schedule: 5 minutes).
const RECONCILE_EVERY: Duration = Duration::from_secs(60);
/// How often the embedded outbox is relayed to the events file.
const RELAY_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Backend(#[from] backend::BackendError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("--auth jwt needs {0}")]
    AuthIncomplete(&'static str),
    #[error(transparent)]
    AuthKeys(#[from] auth::KeyError),
    #[error("--job-types {0}")]
    JobTypes(#[from] accepted_core::declared::DeclarationError),
    #[error("job type {job_type:?} may run {limit_secs} s per attempt, longer than --worker-timeout-secs {timeout_secs}: raise the timeout or lower the type's limit")]
    TimeLimit {
        job_type: String,
        limit_secs: u64,
        timeout_secs: u64,
    },
}

/// Every type's time limit must fit the worker's timeout, or its attempts would be cut short
/// without anyone having said so.
fn check_time_limits(registry: &JobRegistry, timeout_secs: u64) -> Result<(), ServeError> {
    for registered in registry.iter() {
        let handler = registered.handler();
        if let Some(limit) = handler.time_limit() {
            if limit > Duration::from_secs(timeout_secs) {
                return Err(ServeError::TimeLimit {
                    job_type: handler.job_type().to_owned(),
                    limit_secs: limit.as_secs(),
                    timeout_secs,
                });
            }
        }
    }
    Ok(())
}

/// The JWT verifier `--auth jwt` asks for, from the issuer, audience and keys given.
fn authorizer(args: &ServeArgs) -> Result<Option<auth::JwtVerifier>, ServeError> {
    if args.auth == cli::LocalAuth::None {
        return Ok(None);
    }
    let issuer = args
        .jwt_issuer
        .as_deref()
        .ok_or(ServeError::AuthIncomplete("--jwt-issuer"))?;
    let audience = args
        .jwt_audience
        .as_deref()
        .ok_or(ServeError::AuthIncomplete("--jwt-audience"))?;
    let verifier = match (&args.jwt_keys, &args.jwt_secret) {
        (Some(path), _) => auth::JwtVerifier::from_file(path, issuer, audience)?,
        (None, Some(secret)) => auth::JwtVerifier::from_secret(&secret.0, issuer, audience)?,
        (None, None) => return Err(ServeError::AuthIncomplete("--jwt-keys or --jwt-secret")),
    };
    Ok(Some(verifier))
}

/// The status function with what the backend offers: stored results, webhook keys.
fn status(backend: &backend::Backend) -> Status {
    let mut status = Status::new(Arc::clone(&backend.store), &backend.config);
    if let Some(results) = &backend.results {
        status = status.with_results(Arc::clone(results));
    }
    if let Some(webhooks) = &backend.webhooks {
        let secret = accepted_core::webhook::secrets::LiteralSecret(webhooks.master.clone());
        status = status.with_webhook_secrets(Arc::new(secret));
    }
    status
}

/// Serves `registry`'s job types (the API and the worker share it) until `shutdown`
/// resolves, then stops taking requests and batches, and finishes what is in flight: an
/// accepted job is either processed or still queued for the next start.
pub async fn serve(
    args: ServeArgs,
    registry: JobRegistry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let authorizer = authorizer(&args)?;
    let registry = match &args.job_types {
        Some(file) => {
            let registry = targets::with_declared(registry, file)?;
            info!(file = %file.display(), types = ?registry, "job types declared");
            registry
        }
        None => registry,
    };
    check_time_limits(&registry, args.worker_timeout_secs)?;
    let mut backend = backend::build(
        args.backend,
        &args.data_dir,
        Duration::from_secs(args.visibility_timeout_secs),
        args.insecure_callbacks,
    )
    .await?;
    if backend.config.destinations.insecure {
        tracing::warn!("insecure callbacks: http and private addresses allowed (development only)");
    }
    if authorizer.is_some() {
        backend.config.auth = accepted_core::AuthMode::Jwt;
        info!(
            mode = "jwt",
            "callers are identified by their bearer tokens"
        );
    }
    // The functions' metrics: EMF lines on stdout as on Lambda, and summed for /metrics.
    let prometheus = Arc::new(prometheus::PrometheusSink::new(Arc::new(
        accepted_core::metrics::Stdout,
    )));
    let metrics = accepted_core::metrics::Metrics::new(
        &backend.config.metrics_namespace,
        Arc::clone(&prometheus) as Arc<dyn accepted_core::metrics::MetricSink>,
    );
    let mut submit = Submit::new(
        Arc::clone(&backend.store),
        Arc::clone(&backend.queue),
        registry.clone(),
        &backend.config,
    );
    if let Some(both) = &backend.create_and_enqueue {
        submit = submit.with_create_and_enqueue(Arc::clone(both));
    }
    submit.metrics = metrics.clone();
    let api = Arc::new(http::Api {
        authorizer,
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        submit,
        status: status(&backend),
        store: Arc::clone(&backend.store),
        metrics: prometheus,
        database: backend.database.clone(),
    });
    let mut worker = Worker::new(Arc::clone(&backend.store), registry, &backend.config)
        .with_queue(Arc::clone(&backend.consumer));
    if let Some(dead_letters) = &backend.dead_letters {
        worker = worker.with_dead_letter_queue(Arc::clone(dead_letters));
    }
    if let Some(results) = &backend.results {
        worker = worker.with_results(Arc::clone(results));
    }
    worker.metrics = metrics.clone();
    let worker = Arc::new(worker);

    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr()?;
    info!(backend = %backend.description, "backend ready");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut pollers = vec![tokio::spawn(poller::run(
        Arc::clone(&backend.consumer),
        Arc::new(worker),
        poller::PollerSettings {
            batch_size: args.batch_size,
            batch_window: Duration::from_millis(args.batch_window_ms),
            max_concurrency: args.max_concurrency as usize,
            function_timeout: Duration::from_secs(args.worker_timeout_secs),
            queue_arn: backend.queue_arn.clone(),
        },
        stop_rx.clone(),
    ))];
    if let (Some(consumer), Some(arn)) = (&backend.dead_letter_consumer, &backend.dead_letter_arn) {
        let mut dead_letters =
            accepted_dlq::DeadLetters::new(Arc::clone(&backend.store), &backend.config);
        dead_letters.metrics = metrics.clone();
        pollers.push(tokio::spawn(poller::run(
            Arc::clone(consumer),
            Arc::new(dead_letters),
            poller::PollerSettings {
                batch_size: 10,
                batch_window: Duration::ZERO,
                max_concurrency: 1,
                function_timeout: Duration::from_secs(args.worker_timeout_secs),
                queue_arn: arn.clone(),
            },
            stop_rx,
        )));
    }

    // The reconciler, as its schedule would run it.
    let reconciler = accepted_reconciler::Reconciler::new(
        Arc::clone(&backend.store),
        Arc::clone(&backend.queue),
        &backend.config,
    );
    let mut sweep_stop = stop_tx.subscribe();
    pollers.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(RECONCILE_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    if let Err(e) = accepted_reconciler::sweep(&reconciler, accepted_core::Timestamp::now()).await {
                        tracing::warn!(error = %e, "reconciliation sweep failed");
                    }
                }
                _ = sweep_stop.changed() => break,
            }
        }
    }));

    // Webhooks: the real delivery function on the embedded webhook queue.
    let mut route: Option<Arc<dyn EventPublisher>> = None;
    if let Some(webhooks) = &backend.webhooks {
        let deliverer = webhooks
            .deliverer(backend.config.destinations)
            .map_err(backend::BackendError::from)?;
        route = Some(Arc::new(WebhookRoute::new(webhooks.queue.clone())));
        pollers.push(tokio::spawn(poller::run(
            webhooks.queue.clone(),
            Arc::new(Arc::new(deliverer)),
            poller::PollerSettings {
                batch_size: 10,
                batch_window: Duration::ZERO,
                max_concurrency: 1,
                function_timeout: Duration::from_secs(args.worker_timeout_secs),
                queue_arn: format!("arn:accepted:embedded:local:{}", webhooks::WEBHOOK_QUEUE),
            },
            stop_tx.subscribe(),
        )));
    }

    // Lifecycle events: the embedded store's outbox relayed to a JSON-lines file (and to the
    // webhook queue).
    if let Some((outbox, sink)) = backend.events.clone() {
        info!(path = %sink.path().display(), "lifecycle events relayed to a JSON-lines file");
        let sink: Arc<dyn EventPublisher> = Arc::new(sink);
        let sink = FanOut(vec![sink].into_iter().chain(route).collect());
        let mut relay_stop = stop_tx.subscribe();
        pollers.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(RELAY_EVERY);
            loop {
                let stopping = tokio::select! {
                    _ = every.tick() => false,
                    _ = relay_stop.changed() => true,
                };
                // Drain what is waiting (on stop too); what a batch still finishing writes
                // after that stays in the outbox and is relayed at the next start.
                loop {
                    match outbox.relay(&sink, 100).await {
                        Ok(100) => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "event relay failed; retrying");
                            break;
                        }
                    }
                }
                if stopping {
                    break;
                }
            }
        }));
    }

    // The address line is what scripts and tests wait for.
    info!(address = %format!("http://{local}"), "listening");
    let limits = connections::ConnectionLimits {
        max_connections: args.max_connections,
        header_timeout: Duration::from_secs(args.header_timeout_secs),
    };
    let server = connections::serve(listener, http::router(api), limits, stop_tx.subscribe());
    tokio::spawn(async move {
        shutdown.await;
        info!("shutdown requested: no new requests or batches; finishing work in flight");
        let _ = stop_tx.send(true);
    });
    server.await?;
    for poller in pollers {
        let _ = poller.await;
    }
    info!("stopped cleanly");
    Ok(())
}
