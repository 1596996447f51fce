//! What one million jobs cost on AWS, from measured figures and list prices.
//!
//! The requests per job are the counts `tests/tests/calls.rs` guards; DynamoDB capacity units
//! follow from those requests, the item sizes and the table's indexes (template.yaml); Lambda
//! time and log volume are measured by the `coldstart` bench. Prices are AWS's public list
//! prices for us-east-1 (see [`Prices::US_EAST_1`]); recheck them before relying on a figure.

/// List prices, US dollars, us-east-1.
#[derive(Debug, Clone, Copy)]
pub struct Prices {
    /// HTTP API, per million requests (first 300 million a month).
    pub api_per_million: f64,
    /// Lambda, per million requests.
    pub lambda_requests_per_million: f64,
    /// Lambda duration per GB-second, x86_64 and arm64 (first pricing tier).
    pub lambda_gb_second_x86: f64,
    pub lambda_gb_second_arm: f64,
    /// DynamoDB on-demand, per million write and read request units.
    pub dynamodb_wru_per_million: f64,
    pub dynamodb_rru_per_million: f64,
    /// SQS standard queue, per million requests (64 KiB each).
    pub sqs_per_million: f64,
    /// EventBridge custom events, per million (64 KiB each).
    pub eventbridge_per_million: f64,
    /// CloudWatch Logs ingestion (standard class), per GB.
    pub logs_per_gb: f64,
    /// X-Ray, per million traces recorded.
    pub xray_per_million_traces: f64,
    /// DynamoDB storage (standard table class), per GB-month.
    pub dynamodb_gb_month: f64,
}

impl Prices {
    /// From aws.amazon.com/{api-gateway,lambda,dynamodb,sqs,eventbridge,cloudwatch}/pricing,
    /// as listed since DynamoDB's on-demand price cut of 1 November 2024. Written down on
    /// 2026-11-30 without network access to re-read the pages: check them.
    pub const US_EAST_1: Self = Self {
        api_per_million: 1.00,
        lambda_requests_per_million: 0.20,
        lambda_gb_second_x86: 0.000_016_666_7,
        lambda_gb_second_arm: 0.000_013_333_4,
        dynamodb_wru_per_million: 0.625,
        dynamodb_rru_per_million: 0.125,
        sqs_per_million: 0.40,
        eventbridge_per_million: 1.00,
        logs_per_gb: 0.50,
        xray_per_million_traces: 5.00,
        dynamodb_gb_month: 0.25,
    };
}

/// Lambda's own START, END and REPORT lines per invocation, in bytes (about 90, 60 and 200),
/// logged only with `SystemLogLevel=INFO`; the template's default, `WARN`, leaves them out.
pub const PLATFORM_LOG_BYTES: f64 = 350.0;

/// One Lambda function's share of a job.
#[derive(Debug, Clone, Copy)]
pub struct FunctionUse {
    pub name: &'static str,
    /// Invocations per job (a batch of ten jobs is 0.1 each).
    pub invocations: f64,
    /// Billed duration of one invocation, ms (Lambda rounds up to the millisecond).
    pub billed_ms: f64,
    pub memory_mb: f64,
    /// The function's own log bytes for one job (not per invocation: a batch's lines are
    /// mostly per job).
    pub log_bytes_per_job: f64,
}

/// A function's measured figures: its warm billed duration per invocation, and what it
/// logs for one job.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub name: &'static str,
    pub billed_ms: f64,
    pub log_bytes_per_job: f64,
}

/// Everything one job uses.
#[derive(Debug, Clone)]
pub struct Workload {
    /// API requests: the submit and the client's status reads.
    pub api_requests: f64,
    pub functions: Vec<FunctionUse>,
    /// Lambda's own log bytes per invocation: 0 with `SystemLogLevel=WARN`.
    pub platform_log_bytes: f64,
    pub wru: f64,
    pub rru: f64,
    pub sqs_requests: f64,
    pub events: f64,
    /// X-Ray traces recorded per job.
    pub traces: f64,
    /// DynamoDB GB-months per job: what its items and index entries occupy while retained.
    pub stored_gb_months: f64,
}

fn of(measured: &[Measured], name: &str) -> (f64, f64) {
    measured
        .iter()
        .find(|m| m.name == name)
        .map_or((0.0, 0.0), |m| (m.billed_ms, m.log_bytes_per_job))
}

impl Workload {
    /// A keyed `POST /jobs`, one `GET /jobs/{id}`, a batch of `batch` jobs on the worker, no
    /// webhook, as the template deploys by default: `LifecycleEvents=Subscribed` with only
    /// the stack's own rule on the bus, which receives the terminal events of jobs with a
    /// callback, so this job publishes none; `SystemLogLevel=WARN`.
    pub fn happy_path(batch: f64, measured: &[Measured]) -> Self {
        let function = |name: &'static str, invocations: f64, jobs_per_measure: f64| {
            let (billed_ms, log_bytes) = of(measured, name);
            FunctionUse {
                name,
                invocations,
                billed_ms,
                memory_mb: 256.0,
                log_bytes_per_job: log_bytes / jobs_per_measure,
            }
        };
        Self {
            api_requests: 2.0,
            functions: vec![
                function("submit", 1.0, 1.0),
                function("status", 1.0, 1.0),
                // A batch runs its jobs concurrently: one invocation's time is shared.
                function("worker", 1.0 / batch, 1.0),
                // Three stream records (insert, start, finish) in batches of up to 100; the
                // measured invocation handles one job's three.
                function("events", 3.0 / 100.0, 1.0),
                // The job's dispatch check, ten to a batch (one GetItem each, nothing sent).
                function(
                    "reconciler",
                    1.0 / DISPATCH_CHECK_BATCH,
                    DISPATCH_CHECK_BATCH,
                ),
            ],
            platform_log_bytes: 0.0,
            wru: HAPPY_PATH_WRU,
            rru: HAPPY_PATH_RRU + DISPATCH_CHECK_RRU,
            // SendMessage, and the event source mapping's receive and batch delete; the
            // dispatch check's share of a SendMessageBatch, a receive and a batch delete.
            sqs_requests: 1.0 + 2.0 / batch + 3.0 / DISPATCH_CHECK_BATCH,
            events: 0.0,
            // Submit starts a trace, sampled at the default rule's 5 % under load, and the
            // worker continues it; status and the stream's function trace only what their
            // caller sampled (`Tracing: PassThrough`), and a client's poll asks for none.
            traces: XRAY_SAMPLED,
            stored_gb_months: STORED_BYTES_PER_JOB / 1e9 * RETENTION_DAYS / 30.0,
        }
    }

    /// The same job with a `callback_url`: its terminal event is published (the stack's rule
    /// receives it) and the events function logs it, about `event_line` bytes; the rule
    /// sends it to the webhook queue (one SQS request), and the webhooks function delivers
    /// it, in batches.
    pub fn with_webhook(mut self, batch: f64, measured: &[Measured], event_line: f64) -> Self {
        let (billed_ms, log_bytes) = of(measured, "webhooks");
        self.functions.push(FunctionUse {
            name: "webhooks",
            invocations: 1.0 / batch,
            billed_ms,
            memory_mb: 256.0,
            log_bytes_per_job: log_bytes,
        });
        self.sqs_requests += 1.0 + 2.0 / batch;
        self.traces += XRAY_SAMPLED / batch;
        self.publish(1.0, event_line)
    }

    /// `LifecycleEvents=All`, or a rule on the bus for every kind: accepted, started and
    /// completed, each logged by the events function in a line of about `event_line` bytes.
    pub fn with_every_event(self, event_line: f64) -> Self {
        self.publish(3.0, event_line)
    }

    /// At least `events` events per job, each with its line in the events function's log.
    fn publish(mut self, events: f64, event_line: f64) -> Self {
        let added = (events - self.events).max(0.0);
        self.events += added;
        if let Some(function) = self.functions.iter_mut().find(|f| f.name == "events") {
            function.log_bytes_per_job += added * event_line;
        }
        self
    }

    /// `SystemLogLevel=INFO`: Lambda's START, END and REPORT lines at every invocation.
    pub fn with_platform_logs(mut self) -> Self {
        self.platform_log_bytes = PLATFORM_LOG_BYTES;
        self
    }
}

/// The default sampling rule: one request a second, then 5 % (the 5 % dominates at volume).
pub const XRAY_SAMPLED: f64 = 0.05;
/// A finished job's item (about 1 KB with its input and result) and its `owner_jobs` entry
/// (keys only, about 0.2 KB), each with DynamoDB's 100 bytes of overhead.
pub const STORED_BYTES_PER_JOB: f64 = 1_400.0;
/// `JobRetentionHours`' default: 168.
pub const RETENTION_DAYS: f64 = 7.0;

/// Write request units of one keyed job (items under 1 KB), as `tests/tests/write_units.rs`
/// counts them: accept is one put of the job (its id is derived from its key) plus its two
/// keys-only index entries (3); the start writes the item alone (1); the finish writes the
/// item and leaves the sparse `open_jobs` (2).
pub const HAPPY_PATH_WRU: f64 = 3.0 + 1.0 + 2.0;
/// Dispatch checks per `SendMessageBatch` and per reconciler invocation.
pub const DISPATCH_CHECK_BATCH: f64 = 10.0;
/// The check reads its job with one strongly consistent `GetItem` (items under 4 KB).
pub const DISPATCH_CHECK_RRU: f64 = 1.0;
/// The cap's count on a keys-only index (0.5, eventually consistent) and one strongly
/// consistent `GetItem` (1).
pub const HAPPY_PATH_RRU: f64 = 1.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

/// Dollars per million jobs, by line.
#[derive(Debug, Clone)]
pub struct Bill {
    pub lines: Vec<(&'static str, f64)>,
}

impl Bill {
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|(_, dollars)| dollars).sum()
    }
}

pub fn per_million_jobs(work: &Workload, prices: &Prices, arch: Architecture) -> Bill {
    let gb_second = match arch {
        Architecture::X86_64 => prices.lambda_gb_second_x86,
        Architecture::Arm64 => prices.lambda_gb_second_arm,
    };
    let million = 1_000_000.0;
    let invocations: f64 = work.functions.iter().map(|f| f.invocations).sum();
    let gb_seconds: f64 = work
        .functions
        .iter()
        .map(|f| f.invocations * (f.memory_mb / 1024.0) * (f.billed_ms.ceil() / 1000.0))
        .sum();
    let log_bytes: f64 = work
        .functions
        .iter()
        .map(|f| f.log_bytes_per_job + f.invocations * work.platform_log_bytes)
        .sum();
    Bill {
        lines: vec![
            (
                "API Gateway (HTTP API)",
                work.api_requests * prices.api_per_million,
            ),
            (
                "Lambda requests",
                invocations * prices.lambda_requests_per_million,
            ),
            ("Lambda duration", gb_seconds * million * gb_second),
            (
                "DynamoDB writes",
                work.wru * prices.dynamodb_wru_per_million,
            ),
            ("DynamoDB reads", work.rru * prices.dynamodb_rru_per_million),
            ("SQS", work.sqs_requests * prices.sqs_per_million),
            ("EventBridge", work.events * prices.eventbridge_per_million),
            (
                "CloudWatch Logs",
                log_bytes * million / 1e9 * prices.logs_per_gb,
            ),
            ("X-Ray", work.traces * prices.xray_per_million_traces),
            (
                "DynamoDB storage",
                work.stored_gb_months * million * prices.dynamodb_gb_month,
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(name: &'static str, billed_ms: f64, log_bytes_per_job: f64) -> Measured {
        Measured {
            name,
            billed_ms,
            log_bytes_per_job,
        }
    }

    #[test]
    fn a_webhook_adds_its_delivery_and_nothing_else() {
        let measured = [
            measured("submit", 10.0, 600.0),
            measured("webhooks", 12.0, 1000.0),
        ];
        let plain = Workload::happy_path(10.0, &measured);
        let hooked = plain.clone().with_webhook(10.0, &measured, 500.0);
        assert!((hooked.sqs_requests - plain.sqs_requests - 1.2).abs() < 1e-9);
        assert_eq!(hooked.functions.len(), plain.functions.len() + 1);
        assert_eq!(hooked.wru, plain.wru);
        assert_eq!(
            (plain.events, hooked.events),
            (0.0, 1.0),
            "its terminal event"
        );
        let p = Prices::US_EAST_1;
        let extra = per_million_jobs(&hooked, &p, Architecture::X86_64).total()
            - per_million_jobs(&plain, &p, Architecture::X86_64).total();
        // Its event and the events function's line about it, its SQS requests, a tenth of an
        // invocation of 12 ms at 256 MB, its log lines and its share of sampled traces.
        let expected = p.eventbridge_per_million
            + 500.0 * 1e6 / 1e9 * p.logs_per_gb
            + 1.2 * p.sqs_per_million
            + 0.1 * p.lambda_requests_per_million
            + 0.1 * 0.25 * 0.012 * 1e6 * p.lambda_gb_second_x86
            + 1000.0 * 1e6 / 1e9 * p.logs_per_gb
            + XRAY_SAMPLED / 10.0 * p.xray_per_million_traces;
        assert!(
            (extra - expected).abs() < 1e-9,
            "{extra} against {expected}"
        );
    }

    #[test]
    fn the_defaults_publish_no_event_and_leave_out_lambdas_own_lines() {
        let measured = [
            measured("events", 6.0, 900.0),
            measured("reconciler", 3.0, 400.0),
        ];
        let plain = Workload::happy_path(10.0, &measured);
        assert_eq!(plain.events, 0.0);
        let log = |w: &Workload| w.functions.iter().map(|f| f.log_bytes_per_job).sum::<f64>();
        // The events function's measure is one job's; the reconciler's, ten checks'.
        assert!((log(&plain) - 940.0).abs() < 1e-9);
        let every = plain.clone().with_every_event(500.0);
        assert_eq!(every.events, 3.0);
        assert!((log(&every) - 2440.0).abs() < 1e-9);
        let hooked_every = every.clone().with_webhook(10.0, &measured, 500.0);
        assert_eq!(
            hooked_every.events, 3.0,
            "the terminal event is one of the three"
        );
        assert!((log(&hooked_every) - log(&every)).abs() < 1e-9);
        let p = Prices::US_EAST_1;
        let bill = |w: &Workload| per_million_jobs(w, &p, Architecture::X86_64).total();
        let platform = plain.clone().with_platform_logs();
        let invocations: f64 = plain.functions.iter().map(|f| f.invocations).sum();
        let expected = invocations * PLATFORM_LOG_BYTES * 1e6 / 1e9 * p.logs_per_gb;
        assert!((bill(&platform) - bill(&plain) - expected).abs() < 1e-9);
    }

    #[test]
    fn each_line_is_its_units_times_its_price() {
        let work = Workload {
            api_requests: 2.0,
            functions: vec![FunctionUse {
                name: "f",
                invocations: 1.0,
                billed_ms: 9.2, // billed as 10 ms
                memory_mb: 1024.0,
                log_bytes_per_job: 650.0,
            }],
            platform_log_bytes: PLATFORM_LOG_BYTES,
            wru: 15.0,
            rru: 1.5,
            sqs_requests: 1.2,
            events: 3.0,
            traces: 0.1,
            stored_gb_months: 1e-6,
        };
        let p = Prices::US_EAST_1;
        let bill = per_million_jobs(&work, &p, Architecture::X86_64);
        let line = |name: &str| bill.lines.iter().find(|(n, _)| *n == name).unwrap().1;
        assert!((line("API Gateway (HTTP API)") - 2.0).abs() < 1e-9);
        assert!((line("Lambda requests") - 0.2).abs() < 1e-9);
        // 1 GB × 0.010 s × 1e6 = 10,000 GB-s.
        assert!((line("Lambda duration") - 10_000.0 * p.lambda_gb_second_x86).abs() < 1e-9);
        assert!((line("DynamoDB writes") - 15.0 * 0.625).abs() < 1e-9);
        assert!((line("SQS") - 0.48).abs() < 1e-9);
        // (650 + 350) bytes × 1e6 = 1 GB.
        assert!((line("CloudWatch Logs") - 0.5).abs() < 1e-9);
        assert!((line("X-Ray") - 0.5).abs() < 1e-9);
        // 1e-6 GB-months × 1e6 jobs = 1 GB-month.
        assert!((line("DynamoDB storage") - 0.25).abs() < 1e-9);
        let arm = per_million_jobs(&work, &p, Architecture::Arm64);
        assert!(arm.total() < bill.total());
    }
}
