//! Stand-ins for what AWS runs around the `events` function, on the emulator: the DynamoDB stream
//! event source mapping (read the table's stream, hand its records over as a Lambda event)
//! and a subscriber (an EventBridge rule on the bus with an SQS queue as its target).

use std::time::Duration;

use accepted_core::events::CloudEvent;
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{json, Value};

use crate::TestStack;

/// Reads a table's stream from the start, as Lambda's event source mapping would.
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
}

impl StreamReader {
    pub async fn new(t: &TestStack) -> Self {
        let table = t
            .dynamo
            .describe_table()
            .table_name(&t.config.table_name)
            .send()
            .await
            .expect("describe table")
            .table
            .expect("the table");
        Self {
            client: aws_sdk_dynamodbstreams::Client::new(&t.sdk),
            stream_arn: table
                .latest_stream_arn
                .expect("the template enables the table's stream"),
        }
    }

    /// Every record on the stream so far, oldest first, as one Lambda event.
    pub async fn all(&self) -> Event {
        let records: Vec<Value> = self.records().await.iter().map(lambda_record).collect();
        serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
    }

    /// Every record on the stream so far, oldest first, as the stream API returns them.
    pub async fn records(&self) -> Vec<Record> {
        let stream = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .expect("describe stream")
            .stream_description
            .expect("a stream");
        let mut records = Vec::new();
        for shard in stream.shards() {
            let mut iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(shard.shard_id().unwrap_or_default())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("shard iterator")
                .shard_iterator;
            while let Some(current) = iterator {
                let out = self
                    .client
                    .get_records()
                    .shard_iterator(current)
                    .send()
                    .await
                    .expect("records");
                if out.records().is_empty() {
                    break;
                }
                records.extend_from_slice(out.records());
                iterator = out.next_shard_iterator;
            }
        }
        records
    }
}

/// The `events` function once over everything on the table's stream, as deployed: events to
/// the stack's bus, each new job's dispatch check to the stack's dispatch-check queue.
pub async fn run_events_function(t: &TestStack) {
    let checks_url = t
        .config
        .dispatch_check_queue_url
        .as_deref()
        .expect("the template sets DISPATCH_CHECK_QUEUE_URL");
    let bus = t.config.require_event_bus().expect("EVENT_BUS_NAME");
    let publisher = accepted_events::Publisher {
        publisher: std::sync::Arc::new(accepted_aws::EventBridgePublisher::from_sdk_config(
            &t.sdk, bus,
        )),
        source: t.config.event_source.clone(),
        dispatch_checks: Some(std::sync::Arc::new(
            accepted_aws::SqsDispatchChecks::from_sdk_config(
                &t.sdk,
                checks_url,
                t.config.dispatch_check_delay,
            ),
        )),
        kinds: accepted_events::Kinds::configured(&t.config.event_kinds, || {
            accepted_aws::BusSubscriptions::from_sdk_config(&t.sdk, bus)
        }),
    };
    let stream = StreamReader::new(t).await.all().await;
    let response = accepted_events::handle_records(&publisher, stream).await;
    assert!(response.batch_item_failures.is_empty());
}

/// A stream record as Lambda delivers it (the same document, in JSON).
fn lambda_record(record: &Record) -> Value {
    let change = record.dynamodb().expect("a change");
    let image = |item: Option<&std::collections::HashMap<String, _>>| -> Value {
        match item {
            Some(item) => {
                let item: serde_dynamo::Item = item.clone().into();
                serde_json::to_value(item).expect("an item")
            }
            None => json!({}),
        }
    };
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": change.approximate_creation_date_time()
                .map(|t| t.secs()).unwrap_or_default(),
            "Keys": image(change.keys()),
            "NewImage": image(change.new_image()),
            "OldImage": image(change.old_image()),
            "SequenceNumber": change.sequence_number(),
            "SizeBytes": change.size_bytes(),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    })
}

/// An SQS client for the emulator that holds the event bus. The subscriber's queue is the
/// test's probe, not part of the stack, and an emulator delivers only to its own queues: with
/// SQS on another emulator (`AWS_ENDPOINT_URL_SQS`, infra/emulators.sh --fauxqs) the probe
/// stays beside EventBridge.
fn sqs_beside_the_bus(t: &TestStack) -> aws_sdk_sqs::Client {
    match crate::service_endpoint("EVENTBRIDGE") {
        Some(url) => aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&t.sdk)
                .endpoint_url(url)
                .build(),
        ),
        None => t.sqs.clone(),
    }
}

/// How long [`Subscriber::received`] waits for a delivery that may still be on its way.
pub const DELIVERY_QUIET: Duration = Duration::from_millis(500);

/// A subscriber to the job events bus: a rule matching the events' source, targeting a queue.
pub struct Subscriber {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Subscriber {
    pub async fn new(t: &TestStack, source: &str) -> Self {
        let bus = t
            .config
            .require_event_bus()
            .expect("EVENT_BUS_NAME from the template");
        let name = format!("{}-subscriber", t.stack.prefix);
        let sqs = sqs_beside_the_bus(t);
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("subscriber queue")
            .queue_url
            .expect("a url");
        // The emulator's own account id (moto's and LocalStack's differ).
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("the subscriber queue's attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("a queue ARN");
        let events = aws_sdk_eventbridge::Client::new(&t.sdk);
        events
            .put_rule()
            .name(&name)
            .event_bus_name(bus)
            .event_pattern(json!({ "source": [source] }).to_string())
            .send()
            .await
            .expect("rule");
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("target");
        Self { sqs, queue_url }
    }

    /// The CloudEvents delivered so far (each an EventBridge event's `detail`). EventBridge
    /// delivers after `PutEvents` returns (LocalStack 50–85 ms later), so this reads until
    /// nothing has arrived for [`DELIVERY_QUIET`].
    pub async fn received(&self) -> Vec<CloudEvent> {
        let mut events = Vec::new();
        let mut last_arrival = std::time::Instant::now();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                if last_arrival.elapsed() >= DELIVERY_QUIET {
                    return events;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            last_arrival = std::time::Instant::now();
            for message in messages {
                let envelope: Value =
                    serde_json::from_str(message.body().unwrap_or_default()).expect("JSON");
                crate::contract::check_message("JobEvent", &envelope["detail"]);
                events.push(
                    serde_json::from_value(envelope["detail"].clone()).expect("a CloudEvent"),
                );
                let handle = message.receipt_handle().unwrap_or_default();
                let _ = self
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }
}
