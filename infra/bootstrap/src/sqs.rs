//! Queues of the template on the emulator.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use serde_yaml::{Mapping, Value};

use crate::template::{Physical, Resolved, Template};
use crate::{aws_error, unsupported, BootstrapError};

/// CloudFormation properties that are SQS attributes of the same name and value.
const PLAIN_ATTRIBUTES: [&str; 7] = [
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
];
/// Properties with no meaning on an emulator, or applied separately.
const NOT_ATTRIBUTES: [&str; 3] = ["QueueName", "Tags", "RedrivePolicy"];

/// Creates the queue `id` as `name`; its attributes may use parameters and mappings
/// (`!Ref`, `!FindInMap`), not other resources.
pub(crate) async fn create_queue(
    client: &Client,
    template: &Template,
    id: &str,
    name: &str,
    props: &Mapping,
    prefix: &str,
) -> Result<Physical, BootstrapError> {
    let mut attributes = HashMap::new();
    for (key, value) in props {
        let key = key.as_str().unwrap_or_default();
        if NOT_ATTRIBUTES.contains(&key) {
            continue;
        }
        if !PLAIN_ATTRIBUTES.contains(&key) {
            return Err(unsupported(
                id,
                format!("queue property {key} is not supported"),
            ));
        }
        let value = template
            .resolve(value, &Resolved::new(), prefix)
            .map_err(|e| unsupported(id, format!("{key}: {e}")))?;
        attributes.insert(QueueAttributeName::from(key), value);
    }
    let created = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await;
    let url = match created {
        Ok(out) => out.queue_url.unwrap_or_default(),
        // Created by an earlier run (with its redrive policy since): reuse it.
        Err(e) if e.code() == Some("QueueAlreadyExists") => client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| aws_error(id, DisplayErrorContext(e)))?
            .queue_url
            .unwrap_or_default(),
        Err(e) => return Err(aws_error(id, DisplayErrorContext(e))),
    };
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_error(id, DisplayErrorContext(e)))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| aws_error(id, "queue has no ARN"))?;
    Ok(Physical {
        reference: url,
        attributes: BTreeMap::from([
            ("Arn".to_owned(), arn),
            ("QueueName".to_owned(), name.to_owned()),
        ]),
    })
}

pub(crate) async fn set_redrive_policy(
    client: &Client,
    template: &Template,
    id: &str,
    url: &str,
    redrive: &Value,
    resolved: &Resolved,
    prefix: &str,
) -> Result<(), BootstrapError> {
    let field = |name: &str| -> Result<String, BootstrapError> {
        let value = redrive
            .get(name)
            .ok_or_else(|| unsupported(id, format!("RedrivePolicy needs {name}")))?;
        template.resolve(value, resolved, prefix)
    };
    let max_receive_count: u32 = field("maxReceiveCount")?
        .parse()
        .map_err(|_| unsupported(id, "maxReceiveCount must be a number"))?;
    let policy = serde_json::json!({
        "deadLetterTargetArn": field("deadLetterTargetArn")?,
        "maxReceiveCount": max_receive_count,
    });
    client
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .map_err(|e| aws_error(id, DisplayErrorContext(e)))?;
    Ok(())
}
