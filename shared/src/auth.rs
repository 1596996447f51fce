//! Who is calling: the owner every job and every read is scoped to.
//!
//! The owner comes only from an identity API Gateway (or the local server) has verified: the
//! JWT authorizer's `sub` claim, or the SigV4 caller. Client headers are never trusted for it.
//! The mode says what a deployment requires, so a route that lost its authorizer by mistake
//! refuses requests instead of serving them as `anonymous`.

use std::fmt;
use std::str::FromStr;

#[cfg(feature = "http")]
pub use caller::caller;

/// How callers authenticate; the template's `AuthMode` parameter, `AUTH_MODE` in functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Development: no authorizer, every caller is [`Owner::anonymous`].
    #[default]
    None,
    /// A JWT authorizer (Cognito or any OIDC provider): the owner is the `sub` claim.
    Jwt,
    /// IAM (SigV4): the owner is the calling principal.
    Iam,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Jwt => "jwt",
            Self::Iam => "iam",
        }
    }

    /// The `WWW-Authenticate` challenge a refused request gets.
    pub fn challenge(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Jwt => Some("Bearer"),
            Self::Iam => Some("AWS4-HMAC-SHA256"),
        }
    }
}

impl FromStr for AuthMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "jwt" => Ok(Self::Jwt),
            "iam" => Ok(Self::Iam),
            _ => Err(()),
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "http")]
mod caller {
    use lambda_http::request::RequestContext;
    use lambda_http::{Request, RequestExt};

    use super::AuthMode;
    use crate::ids::Owner;
    use crate::problem::ApiError;

    /// A verified identity, before it is checked as an owner.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Identity {
        Jwt { sub: Option<String> },
        Iam { principal: Option<String> },
    }

    /// The owner of the request. With an authorizer's identity, it must be usable as an owner
    /// (`403` otherwise, never a fallback to another owner); without one, `mode` decides between
    /// [`Owner::anonymous`] and `401`.
    pub fn caller(req: &Request, mode: AuthMode) -> Result<Owner, ApiError> {
        let invalid = |reason| ApiError::InvalidIdentity { reason };
        match identity(req) {
            Some(Identity::Jwt { sub: Some(sub) }) => {
                Owner::parse(&sub).ok_or(invalid("the token's sub claim is not a valid owner id"))
            }
            Some(Identity::Jwt { sub: None }) => Err(invalid("the token has no sub claim")),
            Some(Identity::Iam {
                principal: Some(arn),
            }) => Owner::parse(principal_of(&arn)).ok_or(invalid("the caller's ARN is not usable")),
            Some(Identity::Iam { principal: None }) => Err(invalid("the caller has no ARN")),
            None if mode == AuthMode::None => Ok(Owner::anonymous()),
            None => Err(ApiError::Unauthenticated { mode }),
        }
    }

    fn identity(req: &Request) -> Option<Identity> {
        let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
            return None;
        };
        let auth = ctx.authorizer.as_ref()?;
        if let Some(jwt) = &auth.jwt {
            return Some(Identity::Jwt {
                sub: jwt.claims.get("sub").cloned(),
            });
        }
        auth.iam.as_ref().map(|iam| Identity::Iam {
            principal: iam.user_arn.clone(),
        })
    }

    /// The principal behind an IAM caller ARN. Sessions of one assumed role share the role's
    /// jobs: `arn:aws:sts::1:assumed-role/Worker/i-0abc` is `arn:aws:sts::1:assumed-role/Worker`,
    /// so a Lambda or an instance sees its jobs from every one of its sessions.
    fn principal_of(arn: &str) -> &str {
        match arn.split_once(":assumed-role/") {
            Some((_, rest)) => match rest.find('/') {
                Some(slash) => &arn[..arn.len() - rest.len() + slash],
                None => arn,
            },
            None => arn,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use lambda_http::aws_lambda_events::apigw::{
            ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
            ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
        };
        use lambda_http::Body;

        fn with_authorizer(auth: ApiGatewayRequestAuthorizer) -> Request {
            let mut ctx = ApiGatewayV2httpRequestContext::default();
            ctx.authorizer = Some(auth);
            Request::default().with_request_context(RequestContext::ApiGatewayV2(ctx))
        }

        fn jwt(claims: &[(&str, &str)]) -> Request {
            let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
            for (k, v) in claims {
                jwt.claims.insert((*k).into(), (*v).into());
            }
            let mut auth = ApiGatewayRequestAuthorizer::default();
            auth.jwt = Some(jwt);
            with_authorizer(auth)
        }

        fn iam(arn: Option<&str>) -> Request {
            let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
            iam.user_arn = arn.map(str::to_owned);
            let mut auth = ApiGatewayRequestAuthorizer::default();
            auth.iam = Some(iam);
            with_authorizer(auth)
        }

        fn status(result: Result<Owner, ApiError>) -> u16 {
            result.map_or_else(|e| e.status(), |_| 200)
        }

        #[test]
        fn owner_comes_from_the_jwt_subject_or_the_iam_principal() {
            let owner = caller(&jwt(&[("sub", "user-123")]), AuthMode::Jwt).unwrap();
            assert_eq!(owner.as_str(), "user-123");
            let owner = caller(
                &iam(Some("arn:aws:iam::123456789012:user/alice")),
                AuthMode::Iam,
            )
            .unwrap();
            assert_eq!(owner.as_str(), "arn:aws:iam::123456789012:user/alice");
        }

        #[test]
        fn sessions_of_one_role_are_one_owner() {
            for session in ["i-0abc", "botocore-session-17"] {
                let arn = format!("arn:aws:sts::123456789012:assumed-role/Worker/{session}");
                let owner = caller(&iam(Some(&arn)), AuthMode::Iam).unwrap();
                assert_eq!(
                    owner.as_str(),
                    "arn:aws:sts::123456789012:assumed-role/Worker"
                );
            }
            assert_eq!(
                principal_of("arn:aws:sts::1:assumed-role/Role"),
                "arn:aws:sts::1:assumed-role/Role"
            );
        }

        #[test]
        fn an_identity_that_is_no_owner_is_refused_not_replaced() {
            assert_eq!(status(caller(&jwt(&[("sub", "a#b")]), AuthMode::Jwt)), 403);
            assert_eq!(status(caller(&jwt(&[("sub", "")]), AuthMode::Jwt)), 403);
            let long = "x".repeat(Owner::MAX_LEN + 1);
            assert_eq!(status(caller(&jwt(&[("sub", &long)]), AuthMode::Jwt)), 403);
            assert_eq!(
                status(caller(&jwt(&[("email", "a@b")]), AuthMode::Jwt)),
                403
            );
            assert_eq!(status(caller(&iam(None), AuthMode::Iam)), 403);
            // Even in development mode: an identity is never silently swapped for another.
            assert_eq!(
                status(caller(&jwt(&[("sub", "a\nb")]), AuthMode::None)),
                403
            );
        }

        #[test]
        fn without_an_identity_the_mode_decides() {
            let req = lambda_http::http::Request::builder()
                .header("x-owner", "mallory")
                .body(Body::Empty)
                .unwrap();
            assert_eq!(caller(&req, AuthMode::None).unwrap(), Owner::anonymous());
            assert_eq!(status(caller(&req, AuthMode::Jwt)), 401);
            assert_eq!(status(caller(&req, AuthMode::Iam)), 401);
            let empty = with_authorizer(ApiGatewayRequestAuthorizer::default());
            assert_eq!(caller(&empty, AuthMode::None).unwrap(), Owner::anonymous());
            assert_eq!(status(caller(&empty, AuthMode::Jwt)), 401);
        }

        #[test]
        fn modes_parse_from_their_names() {
            for mode in [AuthMode::None, AuthMode::Jwt, AuthMode::Iam] {
                assert_eq!(mode.as_str().parse(), Ok(mode));
            }
            assert_eq!(" JWT ".parse(), Ok(AuthMode::Jwt));
            assert!("cognito".parse::<AuthMode>().is_err());
        }
    }
}
