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
