//! Buckets of the template on the emulator.

use std::collections::BTreeMap;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::Client;
use serde_yaml::{Mapping, Value};

use crate::template::Physical;
use crate::{aws_error, unsupported, BootstrapError};

/// Properties with no effect on an emulator's behaviour: encryption, public access,
/// ownership, and lifecycle expiry (no emulator runs lifecycle rules).
const IGNORED: [&str; 5] = [
    "BucketEncryption",
    "PublicAccessBlockConfiguration",
    "OwnershipControls",
    "LifecycleConfiguration",
    "Tags",
];

pub(crate) async fn create_bucket(
    client: &Client,
    id: &str,
    name: &str,
    props: &Mapping,
) -> Result<Physical, BootstrapError> {
    for key in props.keys().filter_map(Value::as_str) {
        if !IGNORED.contains(&key) {
            return Err(unsupported(
                id,
                format!("bucket property {key} is not supported"),
            ));
        }
    }
    match client.create_bucket().bucket(name).send().await {
        Ok(_) => {}
        Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => {}
        Err(e) => return Err(aws_error(id, DisplayErrorContext(e))),
    }
    Ok(Physical {
        reference: name.to_owned(),
        attributes: BTreeMap::from([
            ("Arn".to_owned(), format!("arn:aws:s3:::{name}")),
            ("DomainName".to_owned(), format!("{name}.s3.amazonaws.com")),
        ]),
    })
}
