//! Secrets Manager secrets of the template on the emulator, with their value generated as
//! `GenerateSecretString` would: letters, digits (and punctuation unless excluded).

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_secretsmanager::Client;
use serde_yaml::{Mapping, Value};

use crate::template::{scalar_to_string, Physical};
use crate::{aws_error, unsupported, BootstrapError};

const LETTERS_AND_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

pub(crate) async fn create_secret(
    client: &Client,
    id: &str,
    name: &str,
    props: &Mapping,
) -> Result<Physical, BootstrapError> {
    let mut generate = None;
    for (key, value) in props {
        match key.as_str() {
            Some("Description") | Some("Tags") => {}
            Some("GenerateSecretString") => generate = Some(generated(id, value)?),
            other => {
                return Err(unsupported(
                    id,
                    format!("secret property {other:?} is not supported"),
                ))
            }
        }
    }
    let value = generate.ok_or_else(|| unsupported(id, "only generated secrets are supported"))?;
    let arn = match client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
    {
        Ok(out) => out.arn.unwrap_or_default(),
        Err(e) if e.code() == Some("ResourceExistsException") => client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| aws_error(id, DisplayErrorContext(e)))?
            .arn
            .unwrap_or_default(),
        Err(e) => return Err(aws_error(id, DisplayErrorContext(e))),
    };
    Ok(Physical {
        // `Ref` of a secret is its ARN.
        reference: arn.clone(),
        attributes: BTreeMap::from([("Id".to_owned(), arn)]),
    })
}

fn generated(id: &str, spec: &Value) -> Result<String, BootstrapError> {
    let mut length = 32usize;
    let mut alphabet: String = format!("{LETTERS_AND_DIGITS}{PUNCTUATION}");
    for (key, value) in spec.as_mapping().into_iter().flatten() {
        let value = scalar_to_string(value).unwrap_or_default();
        match key.as_str() {
            Some("PasswordLength") => {
                length = value
                    .parse()
                    .map_err(|_| unsupported(id, "PasswordLength must be a number"))?
            }
            Some("ExcludePunctuation") if value == "true" => {
                alphabet = LETTERS_AND_DIGITS.to_owned()
            }
            Some("ExcludePunctuation") => {}
            other => {
                return Err(unsupported(
                    id,
                    format!("GenerateSecretString property {other:?} is not supported"),
                ))
            }
        }
    }
    // Emulator stacks only: a test secret needs no cryptographic generator.
    let chars: Vec<char> = alphabet.chars().collect();
    Ok((0..length)
        .map(|_| chars[fastrand::usize(..chars.len())])
        .collect())
}
