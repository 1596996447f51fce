//! Event buses of the template on the emulator.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_eventbridge::Client;
use serde_yaml::{Mapping, Value};

use crate::template::Physical;
use crate::{aws_error, unsupported, BootstrapError};

pub(crate) async fn create_event_bus(
    client: &Client,
    id: &str,
    name: &str,
    props: &Mapping,
) -> Result<Physical, BootstrapError> {
    for key in props.keys().filter_map(Value::as_str) {
        // `Name` is replaced by the prefixed name; tags change no behaviour.
        if !["Name", "Tags"].contains(&key) {
            return Err(unsupported(
                id,
                format!("event bus property {key} is not supported"),
            ));
        }
    }
    let arn = match client.create_event_bus().name(name).send().await {
        Ok(out) => out.event_bus_arn,
        Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {
            client
                .describe_event_bus()
                .name(name)
                .send()
                .await
                .map_err(|e| aws_error(id, DisplayErrorContext(e)))?
                .arn
        }
        Err(e) => return Err(aws_error(id, DisplayErrorContext(e))),
    };
    Ok(Physical {
        reference: name.to_owned(),
        attributes: BTreeMap::from([
            ("Arn".to_owned(), arn.unwrap_or_default()),
            ("Name".to_owned(), name.to_owned()),
        ]),
    })
}

/// An event rule with queue targets. Returns the rule's physical resource.
pub(crate) async fn create_rule(
    client: &Client,
    id: &str,
    name: &str,
    bus: &str,
    pattern: &Value,
    target_arns: &[(String, String)],
) -> Result<Physical, BootstrapError> {
    let pattern = serde_json::to_string(pattern)
        .map_err(|e| unsupported(id, format!("event pattern: {e}")))?;
    let arn = client
        .put_rule()
        .name(name)
        .event_bus_name(bus)
        .event_pattern(pattern)
        .send()
        .await
        .map_err(|e| aws_error(id, DisplayErrorContext(e)))?
        .rule_arn
        .unwrap_or_default();
    let targets = target_arns
        .iter()
        .map(|(target_id, arn)| {
            aws_sdk_eventbridge::types::Target::builder()
                .id(target_id)
                .arn(arn)
                .build()
                .map_err(|e| unsupported(id, e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    client
        .put_targets()
        .rule(name)
        .event_bus_name(bus)
        .set_targets(Some(targets))
        .send()
        .await
        .map_err(|e| aws_error(id, DisplayErrorContext(e)))?;
    Ok(Physical {
        reference: name.to_owned(),
        attributes: BTreeMap::from([("Arn".to_owned(), arn)]),
    })
}
