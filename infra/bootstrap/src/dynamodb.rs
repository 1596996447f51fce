//! Tables of the template on the emulator.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_yaml::{Mapping, Value};

use crate::template::Physical;
use crate::{aws_error, unsupported, BootstrapError};

/// Properties with no effect on an emulator's behaviour (encryption, retention, tags).
const IGNORED: [&str; 4] = [
    "TableName",
    "SSESpecification",
    "Tags",
    "DeletionProtectionEnabled",
];

/// What DynamoDB answers an operation it does not implement (DynamoDB Local, for backups).
const UNKNOWN_OPERATION: &str = "UnknownOperationException";

pub(crate) async fn create_table(
    client: &Client,
    id: &str,
    name: &str,
    props: &Mapping,
) -> Result<Physical, BootstrapError> {
    let known = [
        "BillingMode",
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "TimeToLiveSpecification",
        "PointInTimeRecoverySpecification",
        "StreamSpecification",
    ];
    for key in props.keys().filter_map(Value::as_str) {
        if !known.contains(&key) && !IGNORED.contains(&key) {
            return Err(unsupported(
                id,
                format!("table property {key} is not supported"),
            ));
        }
    }
    let text = |v: &Value, what: &str| -> Result<String, BootstrapError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| unsupported(id, format!("{what} must be a literal string")))
    };
    let billing = props
        .get("BillingMode")
        .map(|v| text(v, "BillingMode"))
        .transpose()?
        .unwrap_or_else(|| "PROVISIONED".into());
    if billing != "PAY_PER_REQUEST" {
        return Err(unsupported(
            id,
            "only BillingMode PAY_PER_REQUEST is supported",
        ));
    }

    let mut definitions = Vec::new();
    for def in sequence(props.get("AttributeDefinitions")) {
        definitions.push(
            AttributeDefinition::builder()
                .attribute_name(text(&def["AttributeName"], "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(
                    text(&def["AttributeType"], "AttributeType")?.as_str(),
                ))
                .build()
                .map_err(|e| unsupported(id, e.to_string()))?,
        );
    }
    let key_schema = |v: Option<&Value>| -> Result<Vec<KeySchemaElement>, BootstrapError> {
        sequence(v)
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(text(&k["AttributeName"], "AttributeName")?)
                    .key_type(KeyType::from(text(&k["KeyType"], "KeyType")?.as_str()))
                    .build()
                    .map_err(|e| unsupported(id, e.to_string()))
            })
            .collect()
    };
    let mut indexes = Vec::new();
    for gsi in sequence(props.get("GlobalSecondaryIndexes")) {
        let projection = gsi
            .get("Projection")
            .and_then(|p| p.get("ProjectionType"))
            .map(|p| text(p, "ProjectionType"))
            .transpose()?
            .unwrap_or_else(|| "ALL".into());
        if projection != "ALL" && projection != "KEYS_ONLY" {
            return Err(unsupported(
                id,
                "only ALL and KEYS_ONLY projections are supported",
            ));
        }
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(text(&gsi["IndexName"], "IndexName")?)
                .set_key_schema(Some(key_schema(gsi.get("KeySchema"))?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(projection.as_str()))
                        .build(),
                )
                .build()
                .map_err(|e| unsupported(id, e.to_string()))?,
        );
    }

    let stream = props
        .get("StreamSpecification")
        .map(|spec| -> Result<StreamSpecification, BootstrapError> {
            let view = text(&spec["StreamViewType"], "StreamViewType")?;
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()
                .map_err(|e| unsupported(id, e.to_string()))
        })
        .transpose()?;
    let created = client
        .create_table()
        .set_stream_specification(stream)
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema(props.get("KeySchema"))?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await;
    let description = match created {
        Ok(out) => out.table_description,
        Err(e) if e.code() == Some("ResourceInUseException") => {
            client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| aws_error(id, DisplayErrorContext(e)))?
                .table
        }
        Err(e) => return Err(aws_error(id, DisplayErrorContext(e))),
    };
    let arn = description.as_ref().and_then(|d| d.table_arn.clone());
    let stream_arn = description.and_then(|d| d.latest_stream_arn);

    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        if ttl.get("Enabled").and_then(Value::as_bool) == Some(true) {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(text(&ttl["AttributeName"], "TTL AttributeName")?)
                .enabled(true)
                .build()
                .map_err(|e| unsupported(id, e.to_string()))?;
            let applied = client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(spec)
                .send()
                .await;
            // A second run finds TTL already enabled; that is the state we want.
            if let Err(e) = applied {
                if e.code() != Some("ValidationException") {
                    return Err(aws_error(id, DisplayErrorContext(e)));
                }
            }
        }
    }
    let pitr = props
        .get("PointInTimeRecoverySpecification")
        .and_then(|p| p.get("PointInTimeRecoveryEnabled"))
        .and_then(Value::as_bool);
    if pitr == Some(true) {
        let applied = client
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(|e| unsupported(id, e.to_string()))?,
            )
            .send()
            .await;
        // Backups change nothing a test can observe, and DynamoDB Local has no such operation.
        if let Err(e) = applied {
            if e.code() != Some(UNKNOWN_OPERATION) {
                return Err(aws_error(id, DisplayErrorContext(e)));
            }
        }
    }

    let mut attributes = BTreeMap::from([("Arn".to_owned(), arn.unwrap_or_default())]);
    if let Some(stream_arn) = stream_arn {
        attributes.insert("StreamArn".to_owned(), stream_arn);
    }
    Ok(Physical {
        reference: name.to_owned(),
        attributes,
    })
}

fn sequence(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_sequence).cloned().unwrap_or_default()
}
