//! Lifecycle events: one CloudEvents 1.0 document per state change of a job.
//!
//! What counts as a state change is decided here, from the job before and after a write, so
//! every publisher (the DynamoDB stream consumer on AWS, the outbox of the embedded store)
//! emits the same events. Heartbeats and progress writes are not state changes.
//!
//! An event's `id` is derived from the job's state — `<job id>.<attempt>.<kind>` — and each
//! kind happens at most once per attempt, so a republished event carries the same id and
//! subscribers deduplicate on it. Publication is at-least-once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::job::{Job, JobStatus};
use crate::time::Timestamp;
use crate::view::JobView;

pub const SPEC_VERSION: &str = "1.0";
/// Version of the `data` member's shape; a breaking change gets a new number.
pub const DATA_VERSION: &str = "1";
/// The CloudEvents `source`, also the EventBridge `Source` rules match on.
pub const DEFAULT_SOURCE: &str = "accepted.jobs";

/// Which lifecycle events a deployment publishes (`EVENT_KINDS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKinds {
    /// The kinds that something on the bus receives, read from the bus (`subscribed`).
    Subscribed,
    /// These kinds, whoever listens (`all`, `terminal`, or names separated by commas).
    Listed(Vec<JobEventKind>),
}

impl EventKinds {
    /// `subscribed`, or a list that [`JobEventKind::parse_list`] reads.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "subscribed" => Some(Self::Subscribed),
            list => JobEventKind::parse_list(list).map(Self::Listed),
        }
    }
}

/// Which state change an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobEventKind {
    Created,
    Started,
    /// A retryable failure: the job is `pending` again until its `retry_at`.
    RetryScheduled,
    CancelRequested,
    Completed,
    Failed,
    Cancelled,
}

impl JobEventKind {
    pub const ALL: [JobEventKind; 7] = [
        Self::Created,
        Self::Started,
        Self::RetryScheduled,
        Self::CancelRequested,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The kinds a job's last state change makes: what webhooks and most subscribers need.
    pub const TERMINAL: [JobEventKind; 3] = [Self::Completed, Self::Failed, Self::Cancelled];

    /// The kind [`Self::name`] names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// A list of kinds: `all`, `terminal`, or names separated by commas
    /// (`completed,failed`); `None` for an empty list or an unknown name.
    pub fn parse_list(list: &str) -> Option<Vec<Self>> {
        match list.trim() {
            "all" => return Some(Self::ALL.to_vec()),
            "terminal" => return Some(Self::TERMINAL.to_vec()),
            _ => {}
        }
        let kinds = list
            .split(',')
            .map(|name| Self::parse(name.trim()))
            .collect::<Option<Vec<_>>>()?;
        (!kinds.is_empty()).then_some(kinds)
    }

    /// The part after `accepted.job.` in the event type, and in the id.
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Started => "started",
            Self::RetryScheduled => "retry_scheduled",
            Self::CancelRequested => "cancel_requested",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The CloudEvents `type`, e.g. `accepted.job.completed`.
    pub fn event_type(self) -> String {
        format!("accepted.job.{}", self.name())
    }

    /// The state change from `before` (none: the job was just created) to `after`, if any.
    pub fn of_change(before: Option<&Job>, after: &Job) -> Option<Self> {
        let Some(before) = before else {
            return (after.status == JobStatus::Pending).then_some(Self::Created);
        };
        match (before.status, after.status) {
            (from, to) if from == to && to != JobStatus::Running => None,
            (_, JobStatus::Running) if after.attempts > before.attempts => Some(Self::Started),
            (JobStatus::Running, JobStatus::Running) => (before.cancel_requested_at.is_none()
                && after.cancel_requested_at.is_some())
            .then_some(Self::CancelRequested),
            (JobStatus::Running, JobStatus::Pending) => Some(Self::RetryScheduled),
            (_, JobStatus::Completed) => Some(Self::Completed),
            (_, JobStatus::Failed) => Some(Self::Failed),
            (_, JobStatus::Cancelled) => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// A CloudEvents 1.0 JSON event (structured mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The job id.
    pub subject: String,
    pub time: Timestamp,
    pub datacontenttype: String,
    /// Extension attribute: the job's correlation id, to follow it across services.
    pub correlationid: String,
    /// Extension attribute: the version of `data`'s shape.
    pub dataversion: String,
    /// Extension attribute: the job's owner, for subscribers that act per tenant (webhook
    /// delivery signs with the owner's key). Absent from events of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The job as `GET /jobs/{id}` lists it (no input, no result: follow `links.result`).
    pub data: Value,
}

impl CloudEvent {
    /// The event reporting `kind` for `job` as it is after the change.
    pub fn for_job(kind: JobEventKind, job: &Job, source: &str) -> Self {
        Self {
            specversion: SPEC_VERSION.to_owned(),
            id: format!("{}.{}.{}", job.id, job.attempts, kind.name()),
            source: source.to_owned(),
            event_type: kind.event_type(),
            subject: job.id.to_string(),
            time: job.updated_at,
            datacontenttype: "application/json".to_owned(),
            correlationid: job.correlation_id.to_string(),
            dataversion: DATA_VERSION.to_owned(),
            owner: Some(job.owner.as_str().to_owned()),
            data: serde_json::to_value(JobView::summary(job)).unwrap_or(Value::Null),
        }
    }

    /// The event for the change from `before` to `after`, if it is a state change.
    pub fn for_change(before: Option<&Job>, after: &Job, source: &str) -> Option<Self> {
        JobEventKind::of_change(before, after).map(|kind| Self::for_job(kind, after, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CorrelationId, Owner};
    use crate::job::{JobError, NewJob, Progress, Transition};
    use serde_json::json;
    use std::collections::HashSet;
    use std::time::Duration;

    #[test]
    fn kinds_lists_name_every_kind_once_and_refuse_the_unknown() {
        assert_eq!(
            JobEventKind::parse_list("all").unwrap(),
            JobEventKind::ALL.to_vec()
        );
        assert_eq!(
            JobEventKind::parse_list("terminal").unwrap(),
            JobEventKind::TERMINAL.to_vec()
        );
        assert_eq!(
            JobEventKind::parse_list("created, completed").unwrap(),
            vec![JobEventKind::Created, JobEventKind::Completed]
        );
        for kind in JobEventKind::ALL {
            assert_eq!(JobEventKind::parse(kind.name()), Some(kind));
        }
        for bad in ["", "completed,", "finished", "Completed"] {
            assert_eq!(JobEventKind::parse_list(bad), None, "{bad:?}");
        }
        assert_eq!(
            EventKinds::parse(" subscribed"),
            Some(EventKinds::Subscribed)
        );
        assert_eq!(
            EventKinds::parse("failed"),
            Some(EventKinds::Listed(vec![JobEventKind::Failed]))
        );
        assert_eq!(EventKinds::parse("subscribed,failed"), None);
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + ms)
    }

    fn created() -> Job {
        let new = NewJob {
            owner: Owner::anonymous(),
            job_type: "demo.sleep".into(),
            input: json!({"duration_ms": 1}),
            callback_url: None,
            correlation_id: CorrelationId::parse("corr-1").unwrap(),
            idempotency_key: None,
            fingerprint: "f".into(),
        };
        Job::create(new, at(0), Duration::from_secs(3600))
    }

    fn start(job: &Job, now: i64) -> Job {
        job.apply(&Transition::Start {
            now: at(now),
            lease_until: at(now + 100),
        })
        .unwrap()
    }

    /// Walks a job through a retry, a lease take-over, progress, a cancel request and its
    /// conclusion, collecting the events.
    #[test]
    fn each_state_change_is_one_event_and_nothing_else_is() {
        let mut events = Vec::new();
        let mut record = |before: Option<&Job>, after: &Job| {
            if let Some(e) = CloudEvent::for_change(before, after, DEFAULT_SOURCE) {
                events.push(e);
            }
        };
        let job = created();
        record(None, &job);
        let first = start(&job, 10);
        record(Some(&job), &first);
        let beat = first
            .apply(&Transition::Heartbeat {
                attempt: 1,
                now: at(20),
                lease_until: at(200),
            })
            .unwrap();
        record(Some(&first), &beat);
        let released = beat
            .apply(&Transition::Release {
                attempt: 1,
                now: at(30),
                error: JobError::new("flaky", "x", true),
                retry_at: at(40),
            })
            .unwrap();
        record(Some(&beat), &released);
        let second = start(&released, 50);
        record(Some(&released), &second);
        let taken_over = start(&second, 500);
        record(Some(&second), &taken_over);
        let progressed = taken_over
            .apply(&Transition::Progress {
                attempt: 3,
                now: at(510),
                progress: Progress {
                    percent: 50,
                    message: None,
                },
            })
            .unwrap();
        record(Some(&taken_over), &progressed);
        let requested = progressed
            .apply(&Transition::RequestCancel { now: at(520) })
            .unwrap();
        record(Some(&progressed), &requested);
        let cancelled = requested
            .apply(&Transition::ConcludeCancel { now: at(530) })
            .unwrap();
        record(Some(&requested), &cancelled);
        record(Some(&cancelled), &cancelled);

        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "accepted.job.created",
                "accepted.job.started",
                "accepted.job.retry_scheduled",
                "accepted.job.started",
                "accepted.job.started",
                "accepted.job.cancel_requested",
                "accepted.job.cancelled",
            ]
        );
        let ids: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), events.len(), "ids are unique per transition");
        assert!(events.iter().all(|e| e.subject == job.id.as_str()
            && e.correlationid == "corr-1"
            && e.specversion == "1.0"));
        assert_eq!(events[2].time, at(30));
        assert_eq!(events[2].data["status"], "pending");
        assert_eq!(events[2].data["retry_at"], json!(at(40)));
    }

    #[test]
    fn the_same_change_always_gets_the_same_id() {
        let job = created();
        let running = start(&job, 10);
        let done = running
            .apply(&Transition::Complete {
                attempt: 1,
                now: at(20),
                result: json!({"big": "x".repeat(10)}),
            })
            .unwrap();
        let once = CloudEvent::for_change(Some(&running), &done, DEFAULT_SOURCE).unwrap();
        let again = CloudEvent::for_change(Some(&running), &done, DEFAULT_SOURCE).unwrap();
        assert_eq!(once, again);
        assert_eq!(once.id, format!("{}.1.completed", job.id));
        assert!(once.data.get("result").is_none() && once.data.get("input").is_none());
        assert_eq!(
            once.data["links"]["result"],
            format!("/jobs/{}/result", job.id)
        );
        let round: CloudEvent =
            serde_json::from_value(serde_json::to_value(&once).unwrap()).unwrap();
        assert_eq!(round, once);
    }

    #[test]
    fn every_kind_has_a_distinct_type() {
        let types: HashSet<String> = JobEventKind::ALL.iter().map(|k| k.event_type()).collect();
        assert_eq!(types.len(), JobEventKind::ALL.len());
    }
}
