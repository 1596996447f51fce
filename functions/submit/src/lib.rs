//! `POST /jobs`: validate, store the job with its idempotency key, enqueue, answer `202`.
//! Beside it, `GET /job-types` lists what this function validates against.
//!
//! The handler is a plain async function over the ports, so the Lambda entry point, the local
//! server and the tests all run exactly this code.

mod job_types;
mod lambda;

use std::sync::Arc;
use std::time::Duration;

use accepted_core::auth::caller;
use accepted_core::catalog::Catalog;
use accepted_core::http::{
    correlation_of, header_str, json_response, problem_response, request_id_of, set_header,
    IDEMPOTENCY_HEADER, REPLAYED_HEADER,
};
use accepted_core::idempotency_header::{parse_key_header, KeyHeaderError};
use accepted_core::metrics::{name, Metrics, Sample};
use accepted_core::request::parse_submit;
use accepted_core::view::{job_path, JobView};
use accepted_core::webhook::DestinationPolicy;
use accepted_core::JobRegistry;
use accepted_core::{
    fingerprint::fingerprint, ApiError, AuthMode, Config, CorrelationId, CreateAndEnqueue,
    CreateOutcome, FieldError, IdempotencyKey, Job, JobMessage, JobQueue, JobStatus, JobStore,
    NewJob, Owner, StoreError, Timestamp,
};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use tracing::{error, info, info_span, warn, Instrument};

pub use lambda::{run, with_declared};

/// What a client should wait before retrying after the store or queue failed.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;
/// What a client at its cap on unfinished jobs should wait before submitting again.
const CAP_RETRY_AFTER_SECS: u64 = 5;
/// When to retry a request whose key another request is still writing: that write takes
/// milliseconds, so the retry replays its job.
const KEY_IN_PROGRESS_RETRY_AFTER_SECS: u64 = 1;

/// The submit handler's dependencies, built once per cold start.
pub struct Submit {
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    /// Where the backend can, the job and its message in one transaction (see
    /// [`Submit::with_create_and_enqueue`]).
    pub create_and_enqueue: Option<Arc<dyn CreateAndEnqueue>>,
    pub registry: JobRegistry,
    /// `registry` as `GET /job-types` shows it, rendered once.
    pub catalog: Catalog,
    pub max_body_bytes: usize,
    pub job_retention: Duration,
    pub reenqueue_after: Duration,
    pub retry_after: Duration,
    pub destinations: DestinationPolicy,
    /// What identifies callers.
    pub auth: AuthMode,
    /// Unfinished jobs one owner may have.
    pub max_unfinished_per_owner: Option<u32>,
    pub metrics: Metrics,
}

impl Submit {
    pub fn new(
        store: Arc<dyn JobStore>,
        queue: Arc<dyn JobQueue>,
        registry: JobRegistry,
        config: &Config,
    ) -> Self {
        Self {
            store,
            queue,
            create_and_enqueue: None,
            catalog: Catalog::render(&registry, &config.retry),
            registry,
            max_body_bytes: config.max_body_bytes,
            job_retention: config.job_retention,
            reenqueue_after: config.reenqueue_after,
            retry_after: config.status_retry_after,
            destinations: config.destinations,
            auth: config.auth,
            max_unfinished_per_owner: config.max_unfinished_per_owner,
            metrics: Metrics::stdout(&config.metrics_namespace),
        }
    }

    /// Stores each new job and queues its message in one transaction of `both` instead of
    /// two calls, where the backend offers it: then a crash between the two cannot leave a
    /// job that waits for a replay or the reconciler.
    pub fn with_create_and_enqueue(mut self, both: Arc<dyn CreateAndEnqueue>) -> Self {
        self.create_and_enqueue = Some(both);
        self
    }
}

/// A job the request created, or the job an earlier identical request created.
struct Accepted {
    job: Job,
    replayed: bool,
}

pub async fn handle(submit: &Submit, req: Request) -> Response<Body> {
    if job_types::is_job_types(&req) {
        return job_types::handle(submit, &req);
    }
    let correlation_id = correlation_of(&req);
    let span = info_span!(
        "submit",
        correlation_id = %correlation_id,
        request_id = request_id_of(&req).unwrap_or_default(),
        job_id = tracing::field::Empty,
    );
    async {
        let result = if req.method() == Method::POST {
            accept(submit, &req, &correlation_id).await
        } else {
            Err(ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                allow: "GET, POST",
            })
        };
        match result {
            Ok(accepted) => {
                let metric = if accepted.replayed {
                    name::REPLAYED
                } else {
                    name::ACCEPTED
                };
                let job_type = [("JobType", accepted.job.job_type.as_str())];
                submit.metrics.record(&job_type, &[Sample::count(metric)]);
                respond(submit, &accepted, &correlation_id)
            }
            Err(err) => {
                let reason = [("Reason", err.slug())];
                submit
                    .metrics
                    .record(&reason, &[Sample::count(name::REJECTED)]);
                let status = err.status();
                if status >= 500 {
                    error!(status, error = %err, "submit failed");
                } else {
                    info!(status, error = %err, "submit rejected");
                }
                problem_response(&err, "/jobs", &correlation_id)
            }
        }
    }
    .instrument(span)
    .await
}

/// The request's key, if it sent one: a structured-field string (`"abc"`) or a bare key
/// (`abc`), the same key either way ([`parse_key_header`]). A key that is not text (`clé`
/// is sent as bytes no header may carry as text), malformed, or sent twice is refused, never
/// ignored: a key the server did not read would make a retry a second job.
fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = req.headers().get_all(IDEMPOTENCY_HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidHeader {
            header: "Idempotency-Key",
            reason: "must be sent once",
        });
    }
    let refused = |error: KeyHeaderError| ApiError::InvalidHeader {
        header: "Idempotency-Key",
        reason: error.reason(),
    };
    let text = first
        .to_str()
        .map_err(|_| refused(KeyHeaderError::Alphabet))?;
    parse_key_header(text).map(Some).map_err(refused)
}

async fn accept(
    submit: &Submit,
    req: &Request,
    correlation_id: &CorrelationId,
) -> Result<Accepted, ApiError> {
    let owner: Owner = caller(req, submit.auth)?;
    let idempotency_key = idempotency_key(req)?;
    let content_type = header_str(req, header::CONTENT_TYPE.as_str());
    let request = parse_submit(
        content_type,
        req.body().as_ref(),
        submit.max_body_bytes,
        &submit.registry,
        submit.destinations,
    )?;
    if let Some(url) = &request.callback_url {
        // The syntax passed; now the addresses the name resolves to.
        submit
            .destinations
            .check_url_resolved(url)
            .await
            .map_err(|refused| {
                ApiError::Validation(vec![FieldError::new("/callback_url", refused.to_string())])
            })?;
    }

    let fingerprint = fingerprint(
        &request.job_type,
        &request.input,
        request.callback_url.as_deref(),
    );
    check_cap(submit, &owner, idempotency_key.as_ref()).await?;
    let now = Timestamp::now();
    let job = Job::create(
        NewJob {
            owner,
            job_type: request.job_type,
            input: request.input,
            callback_url: request.callback_url,
            correlation_id: correlation_id.clone(),
            idempotency_key,
            fingerprint,
        },
        now,
        submit.job_retention,
    );

    match create_and_enqueue(submit, &job).await? {
        CreateOutcome::Created(job) => {
            tracing::Span::current().record("job_id", job.id.as_str());
            info!(job_type = %job.job_type, "job accepted");
            Ok(Accepted {
                job,
                replayed: false,
            })
        }
        CreateOutcome::Replayed(job) => {
            tracing::Span::current().record("job_id", job.id.as_str());
            // The first request may have died between storing and enqueuing: a replay of a
            // job that never started, old enough that its message should have been consumed,
            // enqueues it again. A duplicate message is harmless: workers start a job only
            // from `pending`, by a conditional write.
            let stalled = job.status == JobStatus::Pending
                && job.attempts == 0
                && now.since(job.created_at) >= submit.reenqueue_after;
            if stalled {
                warn!("replayed job never started; enqueuing it again");
                enqueue(submit, &job).await?;
            }
            info!("idempotent replay");
            Ok(Accepted {
                job,
                replayed: true,
            })
        }
    }
}

/// The per-owner cap on unfinished jobs. A replay of a job already created is never refused:
/// it adds nothing. The count runs on an index that lags writes by a moment, and concurrent
/// submits are not serialized, so a burst may overshoot the cap by what is in flight.
async fn check_cap(
    submit: &Submit,
    owner: &Owner,
    idempotency_key: Option<&IdempotencyKey>,
) -> Result<(), ApiError> {
    let Some(limit) = submit.max_unfinished_per_owner else {
        return Ok(());
    };
    let open = submit
        .store
        .count_unfinished(owner, limit)
        .await
        .map_err(store_error)?;
    if open < limit {
        return Ok(());
    }
    if let Some(key) = idempotency_key {
        let earlier = submit
            .store
            .find_by_idempotency_key(owner, key)
            .await
            .map_err(store_error)?;
        if earlier.is_some() {
            return Ok(());
        }
    }
    info!(limit, "owner at the cap on unfinished jobs");
    Err(ApiError::TooManyUnfinishedJobs {
        limit,
        retry_after_secs: CAP_RETRY_AFTER_SECS,
    })
}

/// Stores `job` and, if it is new, queues its message: in one transaction where the backend
/// offers one, else as two calls.
async fn create_and_enqueue(submit: &Submit, job: &Job) -> Result<CreateOutcome, ApiError> {
    if let Some(both) = &submit.create_and_enqueue {
        let message = JobMessage::new(job.id.clone(), job.correlation_id.clone());
        return both
            .create_and_enqueue(job, &message)
            .await
            .map_err(store_error);
    }
    let outcome = submit.store.create(job).await.map_err(store_error)?;
    if let CreateOutcome::Created(job) = &outcome {
        enqueue(submit, job).await?;
    }
    Ok(outcome)
}

async fn enqueue(submit: &Submit, job: &Job) -> Result<(), ApiError> {
    let message = JobMessage::new(job.id.clone(), job.correlation_id.clone());
    submit
        .queue
        .send(&message, &job.owner)
        .await
        .map_err(|err| {
            // The job is stored but not queued. A replay of this request (same key) after
            // `REENQUEUE_AFTER_SECONDS` enqueues it again.
            error!(error = %err, "job stored but not enqueued");
            ApiError::Unavailable {
                retry_after_secs: UNAVAILABLE_RETRY_AFTER_SECS,
            }
        })
}

fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::KeyReused => ApiError::IdempotencyKeyReused,
        StoreError::KeyInProgress => ApiError::IdempotencyKeyInProgress {
            retry_after_secs: KEY_IN_PROGRESS_RETRY_AFTER_SECS,
        },
        StoreError::Unavailable(detail) => {
            error!(error = %detail, "job store unavailable");
            ApiError::Unavailable {
                retry_after_secs: UNAVAILABLE_RETRY_AFTER_SECS,
            }
        }
        StoreError::Corrupt(detail) => {
            error!(error = %detail, "job store returned a corrupt item");
            ApiError::Internal
        }
    }
}

fn respond(submit: &Submit, accepted: &Accepted, correlation_id: &CorrelationId) -> Response<Body> {
    let job = &accepted.job;
    let mut res = json_response(StatusCode::ACCEPTED, &JobView::from(job), correlation_id);
    set_header(
        &mut res,
        header::LOCATION.as_str(),
        &job_path(job.id.as_str()),
    );
    if !job.status.is_terminal() {
        let secs = submit.retry_after.as_secs().max(1).to_string();
        set_header(&mut res, header::RETRY_AFTER.as_str(), &secs);
    }
    if accepted.replayed {
        set_header(&mut res, REPLAYED_HEADER, "true");
    }
    res
}
