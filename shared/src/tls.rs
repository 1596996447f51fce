//! The TLS client configuration of every outbound HTTPS connection a process makes: the AWS
//! SDK's clients (`accepted-aws`) and the webhook sender's.
//!
//! Its trust anchors are compiled in (Mozilla's root program, from `webpki-roots`), already
//! in the form rustls checks against. So building it reads no file and parses no
//! certificate, where loading the system's store parses every root again for each client
//! built: milliseconds of each cold start (BENCHMARKS.md). It is built once per process and
//! shared. The trade-off: roots added to the system's store (a corporate proxy's) are not
//! trusted; a new release of `webpki-roots` brings Mozilla's changes.

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, RootCertStore};

/// The process's TLS client configuration: TLS 1.2 and 1.3 with aws-lc-rs, the compiled-in
/// roots, no client certificate.
pub fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| Arc::new(build(trust_anchors()))))
}

/// The compiled-in roots.
pub fn trust_anchors() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A configuration trusting `roots` only; [`client_config`] with the compiled-in ones.
pub fn build(roots: RootCertStore) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // aws-lc-rs supports every safe default version.
        .unwrap_or_else(|_| unreachable!("aws-lc-rs supports TLS 1.2 and 1.3"))
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_mozillas_and_built_once() {
        assert!(trust_anchors().len() > 100, "{}", trust_anchors().len());
        assert!(Arc::ptr_eq(&client_config(), &client_config()));
    }
}
