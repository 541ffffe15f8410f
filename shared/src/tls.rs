//! The roots every TLS connection of the process trusts, read once. Left to themselves, the SDK
//! and `reqwest` each read the system's roots, and each reads the bundle file *and* the
//! directory beside it, which on common systems holds the same roots again, a file each: four
//! reads of one store, most of a function's init (docs/operations.md, "Cold starts").

use std::path::PathBuf;
use std::sync::LazyLock;

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The system's roots, from one bundle file.
pub struct Roots {
    /// Each root certificate, as DER.
    pub certificates: Vec<CertificateDer<'static>>,
    /// The same certificates as one PEM text, the form the SDK's trust store takes.
    pem: Vec<u8>,
}

static ROOTS: LazyLock<Option<Roots>> = LazyLock::new(|| {
    let bundle = bundle_file()?;
    match std::fs::read(&bundle) {
        Ok(text) => Some(Roots::from_pem(&text)),
        Err(err) => {
            tracing::warn!(error = %err, "the system's root bundle cannot be read; each client finds its own roots");
            None
        }
    }
});

/// The process's roots; `None` when the system has no bundle file, and each client falls back
/// to finding the roots itself.
pub fn roots() -> Option<&'static Roots> {
    ROOTS.as_ref()
}

/// `SSL_CERT_FILE`, else the bundle OpenSSL itself would use (on Lambda's Amazon Linux,
/// `/etc/pki/tls/certs/ca-bundle.crt`).
fn bundle_file() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .or_else(|| openssl_probe::probe().cert_file)
}

impl Roots {
    /// Keeps the certificates that are usable as roots, as the clients' own loading does: the
    /// SDK's trust store refuses a whole bundle for one certificate it cannot parse.
    pub fn from_pem(text: &[u8]) -> Self {
        let mut usable = rustls::RootCertStore::empty();
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(text)
            .filter_map(Result::ok)
            .filter(|certificate| usable.add(certificate.clone()).is_ok())
            .collect();
        let mut pem = Vec::new();
        for certificate in &certificates {
            let encoded = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            for line in encoded.as_bytes().chunks(64) {
                pem.extend_from_slice(line);
                pem.push(b'\n');
            }
            pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        Self { certificates, pem }
    }
}

/// The one HTTP client of every SDK client in the process, trusting [`roots`]. Its connector
/// (and with it the parsed trust store) is made once, at the first request, and serves every
/// client: left to itself, the SDK's client also makes one, to throw away, for each client built.
pub fn sdk_http_client() -> SharedHttpClient {
    let trust = match roots() {
        Some(roots) => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(roots.pem.clone()),
        None => TrustStore::empty().with_native_roots(true),
    };
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    let inner = match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Only a PEM the store cannot parse fails here, and `Roots` keeps none such.
        Err(_) => builder.build_https(),
    };
    SharedHttpClient::new(ConnectOnFirstUse(inner))
}

/// Passes every request to the SDK's client, which keeps one connector per timeout settings (the
/// same for all our clients), but skips its check at client construction, which only makes a
/// connector and drops it.
#[derive(Debug)]
struct ConnectOnFirstUse(SharedHttpClient);

impl HttpClient for ConnectOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_system_bundle_is_read_into_usable_roots_and_the_same_roots_as_pem() {
        let roots = roots().expect("this machine has a root bundle");
        assert!(
            roots.certificates.len() > 50,
            "{} roots",
            roots.certificates.len()
        );
        let again = Roots::from_pem(&roots.pem);
        assert_eq!(again.certificates, roots.certificates);
    }

    #[test]
    fn a_certificate_that_is_not_a_usable_root_is_left_out_and_the_rest_kept() {
        let roots = roots().expect("this machine has a root bundle");
        let mut text = roots.pem.clone();
        text.extend_from_slice(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let kept = Roots::from_pem(&text);
        assert_eq!(kept.certificates, roots.certificates);
    }

    #[tokio::test]
    async fn sdk_clients_make_their_https_connector_from_the_roots_on_first_use() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                aws_sdk_dynamodb::config::Credentials::for_tests(),
            ))
            .http_client(sdk_http_client())
            // Nothing listens there: the connector is made (trust store and all), then refused.
            .endpoint_url("https://127.0.0.1:9")
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        for _ in 0..2 {
            let err = aws_sdk_dynamodb::Client::new(&sdk)
                .list_tables()
                .send()
                .await
                .expect_err("nothing listens on port 9");
            assert!(
                matches!(err, aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)),
                "{err:?}"
            );
        }
    }
}
