//! The HTTPS client for media hosts.
//!
//! Which certificates it trusts, as Node does for `https`: Mozilla's roots (the set Node
//! bundles, from `webpki-roots`), plus the platform's (`rustls-native-certs`: the system
//! store, `SSL_CERT_FILE`/`SSL_CERT_DIR`), plus every certificate in the PEM file that
//! `NODE_EXTRA_CA_CERTS` names (users behind TLS-inspecting proxies rely on it), plus the
//! app's own (`TrustConfig::extra_ca_pem`, the socket's `mediaCaCerts`). TLS is rustls with
//! ring; HTTP/1.1 (the media hosts' protocol; one file per request).

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::MediaError;

/// Which certificates the media client trusts beyond the built-in roots.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    /// PEM text (one or more `CERTIFICATE` blocks each) trusted in addition.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Read the file named by `NODE_EXTRA_CA_CERTS`, as Node does (default: yes).
    pub node_extra_ca_certs: bool,
    /// Trust the platform's store too (default: yes).
    pub platform_roots: bool,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            extra_ca_pem: Vec::new(),
            node_extra_ca_certs: true,
            platform_roots: true,
            connect_timeout: Duration::from_secs(20),
        }
    }
}

/// Parses every `CERTIFICATE` block of `pem`; an input with none is an error.
pub fn parse_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, MediaError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| MediaError::Tls(format!("unreadable PEM: {e}")))?;
    if certs.is_empty() {
        return Err(MediaError::Tls(
            "no CERTIFICATE block in the PEM text".into(),
        ));
    }
    Ok(certs)
}

/// The roots a client built from `trust` uses.
pub fn root_store(trust: &TrustConfig) -> Result<RootCertStore, MediaError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if trust.platform_roots {
        // A platform store that cannot be read (a minimal container) leaves Mozilla's roots.
        let native = rustls_native_certs::load_native_certs();
        let _ = roots.add_parsable_certificates(native.certs);
    }
    if trust.node_extra_ca_certs
        && let Some(path) = std::env::var_os("NODE_EXTRA_CA_CERTS")
        && !path.is_empty()
    {
        // Node warns and goes on when the file is unreadable; so do we.
        match std::fs::read(&path) {
            Ok(pem) => match parse_pem_certs(&pem) {
                Ok(certs) => {
                    let _ = roots.add_parsable_certificates(certs);
                }
                Err(e) => tracing::warn!("NODE_EXTRA_CA_CERTS: {e}"),
            },
            Err(e) => tracing::warn!("NODE_EXTRA_CA_CERTS could not be read: {e}"),
        }
    }
    for pem in &trust.extra_ca_pem {
        for cert in parse_pem_certs(pem)? {
            roots
                .add(cert)
                .map_err(|e| MediaError::Tls(format!("unusable CA certificate: {e}")))?;
        }
    }
    Ok(roots)
}

/// A media HTTPS client. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct HttpClient {
    pub(crate) inner: reqwest::Client,
}

impl HttpClient {
    /// A client trusting what `trust` says.
    pub fn new(trust: &TrustConfig) -> Result<Self, MediaError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| MediaError::Tls(e.to_string()))?
            .with_root_certificates(root_store(trust)?)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let inner = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(trust.connect_timeout)
            .http1_only()
            .no_proxy()
            .build()
            .map_err(|e| MediaError::Tls(e.to_string()))?;
        Ok(Self { inner })
    }

    /// A client with the default trust (built-in roots and `NODE_EXTRA_CA_CERTS`), shared by
    /// the whole process.
    pub fn shared_default() -> Result<Self, MediaError> {
        static DEFAULT: std::sync::OnceLock<Result<HttpClient, MediaError>> =
            std::sync::OnceLock::new();
        DEFAULT
            .get_or_init(|| HttpClient::new(&TrustConfig::default()))
            .clone()
    }
}

/// Turns a transfer failure into our error, keeping the reason but no URL query (it carries
/// the upload auth).
pub(crate) fn net_err(e: reqwest::Error) -> MediaError {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    if timeout {
        msg.insert_str(0, "timed out: ");
    }
    MediaError::Network(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_is_refused() {
        assert!(matches!(
            parse_pem_certs(b"not a pem"),
            Err(MediaError::Tls(_))
        ));
    }

    #[test]
    fn roots_include_mozillas_without_platform() {
        let trust = TrustConfig {
            platform_roots: false,
            node_extra_ca_certs: false,
            ..TrustConfig::default()
        };
        let roots = root_store(&trust).unwrap();
        assert!(roots.len() >= webpki_roots::TLS_SERVER_ROOTS.len());
    }
}
