//! A Lambda Runtime API emulator, enough to run a bootstrap as Lambda does: the runtime
//! long-polls `next`, gets one event, and posts its response or error.
//!
//! Each function gets its own emulator, so the first `next` poll marks the end of the
//! bootstrap's init, which is what Lambda reports as Init Duration.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, oneshot, Notify};

const API: &str = "/2018-06-01/runtime";

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    /// The function reported an error: its JSON error document.
    Error(Bytes),
}

struct Invocation {
    id: String,
    event: Bytes,
    deadline: Duration,
}

#[derive(Default)]
struct Pending(Mutex<HashMap<String, oneshot::Sender<Outcome>>>);

impl Pending {
    fn insert(&self, id: String, done: oneshot::Sender<Outcome>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, done);
    }

    fn finish(&self, id: &str, outcome: Outcome) -> StatusCode {
        let done = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        match done {
            Some(done) => {
                let _ = done.send(outcome);
                StatusCode::ACCEPTED
            }
            None => StatusCode::BAD_REQUEST,
        }
    }
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    pending: Pending,
    first_poll: OnceLock<Instant>,
    polled: Notify,
    init_error: OnceLock<Bytes>,
}

/// One function's Runtime API, on a free port of 127.0.0.1.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<Invocation>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(receiver),
            pending: Pending::default(),
            first_poll: OnceLock::new(),
            polled: Notify::new(),
            init_error: OnceLock::new(),
        });
        let app = Router::new()
            .route(&format!("{API}/invocation/next"), get(next))
            .route(&format!("{API}/invocation/{{id}}/response"), post(response))
            .route(&format!("{API}/invocation/{{id}}/error"), post(error))
            .route(&format!("{API}/init/error"), post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            events,
            server,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the bootstrap.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Waits until the runtime first asks for an event (its init is over), at most `limit`.
    /// Returns when that was, or the init error the function reported.
    pub async fn initialized(&self, limit: Duration) -> Result<Instant, String> {
        let wait = async {
            loop {
                let polled = self.shared.polled.notified();
                if let Some(at) = self.shared.first_poll.get() {
                    return Ok(*at);
                }
                if let Some(err) = self.shared.init_error.get() {
                    return Err(String::from_utf8_lossy(err).into_owned());
                }
                polled.await;
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .unwrap_or_else(|_| Err(format!("no poll for an event within {limit:?}")))
    }

    /// Hands `event` to the runtime and waits for its answer: the outcome, and the time from
    /// handing it over to the answer arriving.
    pub async fn invoke(
        &self,
        event: impl Into<Bytes>,
        limit: Duration,
    ) -> Result<(Outcome, Duration), String> {
        let id = uuid::Uuid::new_v4().to_string();
        let (done, answer) = oneshot::channel();
        self.shared.pending.insert(id.clone(), done);
        let started = Instant::now();
        self.events
            .send(Invocation {
                id,
                event: event.into(),
                deadline: limit,
            })
            .map_err(|_| "the emulator stopped".to_owned())?;
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(outcome)) => Ok((outcome, started.elapsed())),
            Ok(Err(_)) => Err("the invocation was dropped".to_owned()),
            Err(_) => Err(format!("no answer within {limit:?}")),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> (StatusCode, HeaderMap, Bytes) {
    if shared.first_poll.set(Instant::now()).is_ok() {
        shared.polled.notify_waiters();
    }
    let Some(invocation) = shared.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), Bytes::new());
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(invocation.deadline)
        .as_millis();
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("lambda-runtime-aws-request-id", invocation.id);
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
    );
    put(
        "lambda-runtime-trace-id",
        // As Lambda sends it, recursion-loop lineage included.
        "Root=1-6740f1a2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=1:a87bd80c:0"
            .to_owned(),
    );
    (StatusCode::OK, headers, invocation.event)
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    shared.pending.finish(&id, Outcome::Response(body))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    shared.pending.finish(&id, Outcome::Error(body))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let _ = shared.init_error.set(body);
    shared.polled.notify_waiters();
    StatusCode::ACCEPTED
}
