//! The `UpdateItem` expressions of each transition: the DynamoDB spelling of
//! [`Job::apply`](accepted_core::job::Job::apply).
//! Every condition names the state the transition expects, so a stale or duplicate actor's
//! write is refused and changes nothing.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::item;
use accepted_core::job::{JobStatus, Transition};

/// The expressions of one transition.
pub(super) struct Update {
    pub expression: String,
    pub condition: &'static str,
    pub names: Vec<(&'static str, &'static str)>,
    pub values: Vec<(&'static str, AttributeValue)>,
}

impl Update {
    pub fn for_transition(t: &Transition) -> Self {
        let status = |s: JobStatus| item::s(s.as_str());
        // Every finishing transition leaves the sparse `open_jobs` index.
        const FINISH: &str = "finished_at = :now, updated_at = :now \
                              REMOVE lease_until, open_owner, retry_at";
        match t {
            Transition::Start { now, lease_until } => Self {
                expression: "SET #status = :running, attempts = attempts + :one, \
                             lease_until = :lease, started_at = if_not_exists(started_at, :now), \
                             updated_at = :now REMOVE retry_at"
                    .into(),
                condition:
                    "attribute_exists(pk) AND attribute_not_exists(cancel_requested_at) \
                            AND (#status = :pending OR (#status = :running AND lease_until < :now))",
                names: vec![],
                values: vec![
                    (":running", status(JobStatus::Running)),
                    (":pending", status(JobStatus::Pending)),
                    (":one", item::n(1)),
                    (":lease", item::ms(*lease_until)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Heartbeat {
                attempt,
                now,
                lease_until,
            } => Self {
                expression: "SET lease_until = :lease, updated_at = :now".into(),
                condition: "#status = :running AND attempts = :attempt",
                names: vec![],
                values: vec![
                    (":running", status(JobStatus::Running)),
                    (":lease", item::ms(*lease_until)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Progress {
                attempt,
                now,
                progress,
            } => Self {
                expression: "SET #progress = :progress, updated_at = :now".into(),
                condition: "#status = :running AND attempts = :attempt",
                names: vec![("#progress", item::PROGRESS)],
                values: vec![
                    (":running", status(JobStatus::Running)),
                    (":progress", item::progress_map(progress)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Complete {
                attempt,
                now,
                result,
            } => Self {
                expression: format!(
                    "SET #status = :completed, #result = :result, {FINISH}, #error"
                ),
                condition: "#status = :running AND attempts = :attempt \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#result", item::RESULT), ("#error", item::ERROR)],
                values: vec![
                    (":completed", status(JobStatus::Completed)),
                    (":running", status(JobStatus::Running)),
                    (":result", item::json(result)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::CompleteStored {
                attempt,
                now,
                result_ref,
            } => Self {
                expression: format!(
                    "SET #status = :completed, result_ref = :result_ref, {FINISH}, #error, #result"
                ),
                condition: "#status = :running AND attempts = :attempt \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#result", item::RESULT), ("#error", item::ERROR)],
                values: vec![
                    (":completed", status(JobStatus::Completed)),
                    (":running", status(JobStatus::Running)),
                    (":result_ref", item::result_ref_map(result_ref)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Fail {
                attempt,
                now,
                error,
            } => Self {
                expression: format!("SET #status = :failed, #error = :error, {FINISH}"),
                condition: "#status = :running AND attempts = :attempt \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#error", item::ERROR)],
                values: vec![
                    (":failed", status(JobStatus::Failed)),
                    (":running", status(JobStatus::Running)),
                    (":error", item::error_map(error)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Abandon { now, error } => Self {
                expression: format!("SET #status = :failed, #error = :error, {FINISH}"),
                condition: "#status IN (:pending, :running) \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#error", item::ERROR)],
                values: vec![
                    (":failed", status(JobStatus::Failed)),
                    (":pending", status(JobStatus::Pending)),
                    (":running", status(JobStatus::Running)),
                    (":error", item::error_map(error)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Release {
                attempt,
                now,
                error,
                retry_at,
            } => Self {
                expression: "SET #status = :pending, #error = :error, retry_at = :retry_at, \
                             updated_at = :now REMOVE lease_until"
                    .into(),
                condition: "#status = :running AND attempts = :attempt \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#error", item::ERROR)],
                values: vec![
                    (":pending", status(JobStatus::Pending)),
                    (":running", status(JobStatus::Running)),
                    (":error", item::error_map(error)),
                    (":retry_at", item::ms(*retry_at)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::CancelPending { now } => Self {
                expression: format!("SET #status = :cancelled, {FINISH}"),
                condition: "#status = :pending",
                names: vec![],
                values: vec![
                    (":cancelled", status(JobStatus::Cancelled)),
                    (":pending", status(JobStatus::Pending)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::RequestCancel { now } => Self {
                expression: "SET cancel_requested_at = :now, updated_at = :now".into(),
                condition: "#status = :running AND attribute_not_exists(cancel_requested_at)",
                names: vec![],
                values: vec![
                    (":running", status(JobStatus::Running)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::ConcludeCancel { now } => Self {
                expression: format!("SET #status = :cancelled, {FINISH}"),
                condition: "#status = :running AND attribute_exists(cancel_requested_at)",
                names: vec![],
                values: vec![
                    (":cancelled", status(JobStatus::Cancelled)),
                    (":running", status(JobStatus::Running)),
                    (":now", item::ms(*now)),
                ],
            },
        }
    }
}
