//! Creates the DynamoDB tables (with their streams), SQS queues, S3 buckets, EventBridge
//! buses and rules (queue targets), and Secrets Manager secrets of `template.yaml` on an AWS
//! emulator (moto
//! server, LocalStack), from the template itself, so local resources cannot drift from what
//! `sam deploy` creates: same keys, indexes, TTL, queue attributes and redrive policy.
//!
//! Every resource is named `<prefix>-<LogicalId>`; tests use a fresh prefix each, which gives
//! each test its own table and queues on one emulator. A property the bootstrap does not
//! know is an error, not silently skipped.

mod dynamodb;
mod eventbridge;
mod s3;
mod secrets;
mod sqs;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

use template::Resolved;
pub use template::Template;

#[derive(Debug, Error)]
pub enum BootstrapError {
    #[error("template: {0}")]
    Template(String),
    #[error("{resource}: {message}")]
    Unsupported { resource: String, message: String },
    #[error("{resource}: AWS call failed: {message}")]
    Aws { resource: String, message: String },
}

/// What the bootstrap created.
#[derive(Debug, Clone)]
pub struct Stack {
    pub prefix: String,
    /// Logical id → table name.
    pub tables: BTreeMap<String, String>,
    /// Logical id → queue URL.
    pub queues: BTreeMap<String, String>,
    /// Logical id → event bus name.
    pub buses: BTreeMap<String, String>,
    /// Logical id → bucket name.
    pub buckets: BTreeMap<String, String>,
    /// The template's `Outputs` that resolve locally (`JobsQueueUrl`, ...).
    pub outputs: BTreeMap<String, String>,
    /// The environment the template gives its functions, pointing at these resources (with
    /// `AUTH_MODE=none`: off AWS no authorizer identifies callers).
    pub env: BTreeMap<String, String>,
}

impl Stack {
    pub fn output(&self, name: &str) -> Result<&str, BootstrapError> {
        self.outputs
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| BootstrapError::Template(format!("output {name} did not resolve")))
    }
}

/// SDK configuration for an emulator at `endpoint`: fixed fake credentials and region, so the
/// credential chain never reaches for a real profile or the instance metadata service.
pub async fn emulator_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    emulator_defaults().endpoint_url(endpoint).load().await
}

/// SDK configuration for the emulators the environment names ([`emulator_endpoints`]): the
/// endpoints are left to the SDK's own resolution, so a per-service one
/// (`AWS_ENDPOINT_URL_SQS`) overrides `AWS_ENDPOINT_URL` for its service and any mix of
/// emulators works. Fixed fake credentials and region, as [`emulator_sdk_config`].
pub async fn emulator_sdk_config_from_env() -> Result<aws_config::SdkConfig, String> {
    let vars = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    emulator_endpoints(vars)?;
    Ok(emulator_defaults().load().await)
}

fn emulator_defaults() -> aws_config::ConfigLoader {
    let credentials = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "emulator");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
}

/// The endpoint variables among `vars`: `AWS_ENDPOINT_URL` and every `AWS_ENDPOINT_URL_<SERVICE>`.
/// Refused unless there is at least one and every one is on loopback, so these tools never
/// reach a real account, whatever the rest of the environment says.
pub fn emulator_endpoints(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, String> {
    let endpoints: BTreeMap<String, String> = vars
        .into_iter()
        .filter(|(name, value)| {
            (name == "AWS_ENDPOINT_URL" || name.starts_with("AWS_ENDPOINT_URL_"))
                && !value.is_empty()
        })
        .collect();
    if endpoints.is_empty() {
        return Err("no emulator: set AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE> for any service elsewhere)".into());
    }
    for (name, value) in &endpoints {
        let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
            .iter()
            .any(|p| value.starts_with(p));
        if !local {
            return Err(format!("{name}={value:?} is not an emulator on loopback"));
        }
    }
    Ok(endpoints)
}

/// `template.yaml` at the workspace root.
pub fn default_template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

pub async fn bootstrap(
    template: &Template,
    prefix: &str,
    sdk: &aws_config::SdkConfig,
) -> Result<Stack, BootstrapError> {
    let mut resolved = Resolved::new();
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);

    let mut tables = BTreeMap::new();
    for (id, props) in template.resources_of_type("AWS::DynamoDB::Table") {
        let name = format!("{prefix}-{id}");
        let physical = dynamodb::create_table(&dynamo, &id, &name, &props).await?;
        tables.insert(id.clone(), name);
        resolved.insert(id, physical);
    }

    let events = aws_sdk_eventbridge::Client::new(sdk);
    let mut buses = BTreeMap::new();
    for (id, props) in template.resources_of_type("AWS::Events::EventBus") {
        let name = format!("{prefix}-{id}");
        let physical = eventbridge::create_event_bus(&events, &id, &name, &props).await?;
        buses.insert(id.clone(), name);
        resolved.insert(id, physical);
    }

    // Bucket names are lowercase only.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    let mut buckets = BTreeMap::new();
    for (id, props) in template.resources_of_type("AWS::S3::Bucket") {
        let name = format!("{prefix}-{id}").to_lowercase();
        let physical = s3::create_bucket(&s3, &id, &name, &props).await?;
        buckets.insert(id.clone(), name);
        resolved.insert(id, physical);
    }

    // Queues first without their redrive policy, which names another queue's ARN.
    let queues_props = template.resources_of_type("AWS::SQS::Queue");
    let mut queues = BTreeMap::new();
    for (id, props) in &queues_props {
        let name = format!("{prefix}-{id}");
        let physical = sqs::create_queue(&sqs, template, id, &name, props, prefix).await?;
        queues.insert(id.clone(), physical.reference.clone());
        resolved.insert(id.clone(), physical);
    }
    for (id, props) in &queues_props {
        if let Some(redrive) = props.get("RedrivePolicy") {
            let url = &queues[id];
            sqs::set_redrive_policy(&sqs, template, id, url, redrive, &resolved, prefix).await?;
        }
    }

    let secrets_client = aws_sdk_secretsmanager::Client::new(sdk);
    for (id, props) in template.resources_of_type("AWS::SecretsManager::Secret") {
        let name = format!("{prefix}-{id}");
        let physical = secrets::create_secret(&secrets_client, &id, &name, &props).await?;
        resolved.insert(id, physical);
    }

    // Rules last: they name buses and target queues.
    for (id, props) in template.resources_of_type("AWS::Events::Rule") {
        let name = format!("{prefix}-{id}");
        let mut bus = None;
        let mut pattern = None;
        let mut targets = Vec::new();
        for (key, value) in &props {
            match key.as_str() {
                Some("Description") => {}
                Some("EventBusName") => bus = Some(template.resolve(value, &resolved, prefix)?),
                Some("EventPattern") => pattern = Some(value.clone()),
                Some("Targets") => {
                    for target in value.as_sequence().into_iter().flatten() {
                        let field = |f: &str| {
                            target
                                .get(f)
                                .ok_or_else(|| unsupported(&id, format!("a target needs {f}")))
                        };
                        let target_id = template.resolve(field("Id")?, &resolved, prefix)?;
                        let arn = template.resolve(field("Arn")?, &resolved, prefix)?;
                        if target.as_mapping().is_some_and(|m| m.len() > 2) {
                            return Err(unsupported(&id, "targets take only Id and Arn"));
                        }
                        targets.push((target_id, arn));
                    }
                }
                other => {
                    return Err(unsupported(
                        &id,
                        format!("rule property {other:?} is not supported"),
                    ))
                }
            }
        }
        let bus = bus.ok_or_else(|| unsupported(&id, "a rule needs EventBusName"))?;
        let pattern = pattern.ok_or_else(|| unsupported(&id, "a rule needs EventPattern"))?;
        let physical =
            eventbridge::create_rule(&events, &id, &name, &bus, &pattern, &targets).await?;
        resolved.insert(id, physical);
    }

    Ok(Stack {
        prefix: prefix.to_owned(),
        tables,
        queues,
        buses,
        buckets,
        outputs: template.outputs(&resolved, prefix),
        env: local_environment(template.function_environment(&resolved, prefix)),
    })
}

/// The functions' environment off AWS: no API Gateway authorizer identifies callers there, so
/// the functions run with `AUTH_MODE=none` (callers that test authentication set their own).
fn local_environment(mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.insert("AUTH_MODE".to_owned(), "none".to_owned());
    env
}

fn aws_error(resource: &str, err: impl std::fmt::Display) -> BootstrapError {
    BootstrapError::Aws {
        resource: resource.to_owned(),
        message: err.to_string(),
    }
}

fn unsupported(resource: &str, message: impl Into<String>) -> BootstrapError {
    BootstrapError::Unsupported {
        resource: resource.to_owned(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The LocalStack service of each resource type the bootstrap creates.
    const SERVICES: [(&str, &[&str]); 6] = [
        ("AWS::DynamoDB::Table", &["dynamodb", "dynamodbstreams"]),
        ("AWS::Events::EventBus", &["events"]),
        ("AWS::Events::Rule", &["events"]),
        ("AWS::S3::Bucket", &["s3"]),
        ("AWS::SQS::Queue", &["sqs"]),
        ("AWS::SecretsManager::Secret", &["secretsmanager"]),
    ];

    #[test]
    fn localstack_enables_every_service_the_stack_uses() {
        let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("../localstack/compose.yaml");
        let compose: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(compose).expect("compose.yaml"))
                .expect("yaml");
        let enabled = compose["services"]["localstack"]["environment"]["SERVICES"]
            .as_str()
            .expect("SERVICES");
        let enabled: Vec<&str> = enabled.split(',').map(str::trim).collect();
        let template = Template::load(&default_template_path()).expect("template.yaml");
        for (resource_type, services) in SERVICES {
            if template.resources_of_type(resource_type).is_empty() {
                continue;
            }
            for service in services {
                assert!(
                    enabled.contains(service),
                    "{resource_type} needs {service} in SERVICES"
                );
            }
        }
        // Every type the bootstrap creates has its row above.
        let source = include_str!("lib.rs");
        for created in source.split("resources_of_type(\"").skip(1) {
            let resource_type = created.split('"').next().unwrap_or_default();
            assert!(
                SERVICES.iter().any(|(t, _)| *t == resource_type),
                "{resource_type} has no LocalStack service listed"
            );
        }
    }

    #[test]
    fn every_endpoint_must_be_an_emulator_on_loopback() {
        let mixed = vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5151"),
            ("AWS_ENDPOINT_URL_SQS", "http://localhost:4566"),
            ("AWS_REGION", "us-east-1"),
        ]);
        assert_eq!(
            emulator_endpoints(mixed).map(|e| e.len()),
            Ok(2),
            "one service elsewhere is fine"
        );
        let only_dynamodb = vars(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://[::1]:8000")]);
        assert!(emulator_endpoints(only_dynamodb).is_ok());
        assert!(emulator_endpoints(vars(&[("AWS_REGION", "us-east-1")])).is_err());
        let real = vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5151"),
            ("AWS_ENDPOINT_URL_S3", "https://s3.amazonaws.com"),
        ]);
        let refused = emulator_endpoints(real).expect_err("not loopback");
        assert!(refused.contains("AWS_ENDPOINT_URL_S3"), "{refused}");
    }
}
