//! How the CLI proves who it is: nothing (the local server), a bearer token (AuthMode Jwt), or
//! an AWS Signature Version 4 over the whole request (AuthMode Iam).

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use hyper::header::{HeaderName, HeaderValue};
use hyper::Method;
use url::Url;

use super::ClientError;

/// API Gateway's signing name.
const SERVICE: &str = "execute-api";

pub enum Auth {
    None,
    /// Sent as `Authorization: Bearer …`; never printed.
    Bearer(String),
    SigV4 {
        credentials: SharedCredentialsProvider,
        region: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(redacted)"),
            Auth::SigV4 { region, .. } => write!(f, "SigV4({region})"),
        }
    }
}

impl Auth {
    /// SigV4 with the standard AWS configuration chain (environment, profile, SSO, …).
    pub async fn sigv4_from_environment() -> Result<Self, ClientError> {
        let sdk = accepted_aws::load_config().await;
        let credentials = sdk.credentials_provider().ok_or_else(|| {
            ClientError::Credentials("--iam: no AWS credentials are configured".to_owned())
        })?;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            ClientError::Credentials("--iam: set AWS_REGION to the stack's region".to_owned())
        })?;
        Ok(Auth::SigV4 {
            credentials,
            region,
        })
    }

    /// The headers that authorise this request. SigV4 signs the method, URL, the headers
    /// already set and the body, so it must be the last thing added.
    pub async fn headers(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(HeaderName, HeaderValue)],
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ClientError> {
        match self {
            Auth::None => Ok(Vec::new()),
            Auth::Bearer(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        ClientError::Usage("ACCEPTED_TOKEN is not a valid header value".to_owned())
                    })?;
                value.set_sensitive(true);
                Ok(vec![(hyper::header::AUTHORIZATION, value)])
            }
            Auth::SigV4 {
                credentials,
                region,
            } => {
                let credentials = credentials
                    .provide_credentials()
                    .await
                    .map_err(|e| ClientError::Credentials(format!("--iam: {e}")))?;
                sigv4_headers(
                    &credentials.into(),
                    region,
                    SystemTime::now(),
                    method,
                    url,
                    headers,
                    body,
                )
            }
        }
    }
}

/// The signature headers (`authorization`, `x-amz-date`, and `x-amz-security-token` for
/// temporary credentials) of one request.
pub(super) fn sigv4_headers(
    identity: &Identity,
    region: &str,
    time: SystemTime,
    method: &Method,
    url: &Url,
    headers: &[(HeaderName, HeaderValue)],
    body: &[u8],
) -> Result<Vec<(HeaderName, HeaderValue)>, ClientError> {
    let unsigned = |e: &dyn fmt::Display| ClientError::Credentials(format!("--iam: {e}"));
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| unsigned(&e))?
        .into();
    let signed_headers: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
        .collect();
    let request = SignableRequest::new(
        method.as_str(),
        url.as_str(),
        signed_headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| unsigned(&e))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| unsigned(&e))?
        .into_parts();
    let (new_headers, _) = instructions.into_parts();
    new_headers
        .into_iter()
        .map(|header| {
            let name =
                HeaderName::from_bytes(header.name().as_bytes()).map_err(|e| unsigned(&e))?;
            let mut value = HeaderValue::from_str(header.value()).map_err(|e| unsigned(&e))?;
            // Keep the signature and session token out of any debug output.
            value.set_sensitive(
                header.sensitive()
                    || name == hyper::header::AUTHORIZATION
                    || name == "x-amz-security-token",
            );
            Ok((name, value))
        })
        .collect()
}
