//! The media host over HTTPS on `127.0.0.1`: uploads (`POST /mms/{kind}/{token}?auth=&token=`)
//! and downloads (`GET <direct_path>`, with `Range`), served by hyper over tokio-rustls with a
//! certificate made for each server (a fresh CA, and a leaf for `127.0.0.1` and `localhost`
//! signed by it). Clients trust the CA's PEM ([`MediaTls::ca_pem`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::error::{Result, TestServerError};
use crate::media::{Lookup, MediaStore, UploadRefusal};

/// A TLS handshake that has not finished by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn tls_error(e: impl std::fmt::Display) -> TestServerError {
    TestServerError::Io(format!("media host certificate: {e}"))
}

/// The media host's TLS identity: a CA made for this server and a leaf it signed.
pub struct MediaTls {
    ca_pem: String,
    acceptor: TlsAcceptor,
}

impl MediaTls {
    /// A fresh CA (its key never leaves this process) and a leaf certificate for `127.0.0.1`
    /// and `localhost`.
    pub fn generate() -> Result<Self> {
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wa-testserver media CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().map_err(tls_error)?;
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(tls_error)?;

        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(tls_error)?;
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = rcgen::KeyPair::generate().map_err(tls_error)?;
        let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(tls_error)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), CertificateDer::from(ca.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .map_err(tls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The CA certificate (PEM) a client must trust to talk to this host.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// Serves the media host on `listener` until `shutdown` turns true; open connections end with
/// it.
pub async fn serve(
    listener: TcpListener,
    tls: MediaTls,
    store: MediaStore,
    host: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let host: Arc<str> = host.into();
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let acceptor = tls.acceptor.clone();
        let store = store.clone();
        let host = host.clone();
        conns.spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let store = store.clone();
                let host = host.clone();
                async move { Ok::<_, Infallible>(handle(req, &store, &host).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "media host connection ended");
            }
        });
    }
    conns.shutdown().await;
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn status_of(refusal: UploadRefusal) -> StatusCode {
    StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn handle(req: Request<Incoming>, store: &MediaStore, host: &str) -> Reply {
    let path = req.uri().path().to_owned();
    match *req.method() {
        Method::POST => upload(req, &path, store, host).await,
        Method::GET | Method::HEAD => download(&req, &path, store),
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, ""),
    }
}

fn error_json(status: StatusCode, text: &str) -> Reply {
    let body = serde_json::json!({ "error": { "code": status.as_u16(), "text": text } });
    let mut r = reply(status, body.to_string());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn upload(req: Request<Incoming>, path: &str, store: &MediaStore, host: &str) -> Reply {
    if MediaStore::upload_route(path).is_none() {
        return error_json(StatusCode::NOT_FOUND, "not found");
    }
    let mut auth = None;
    let mut token = None;
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "auth" => auth = Some(v.into_owned()),
            "token" => token = Some(v.into_owned()),
            _ => {}
        }
    }
    let now = now_ms();
    let max = store.max_bytes();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refused without keeping the body. It is still read (and dropped) so that a client that
    // writes it all before reading the answer sees the status, not a broken pipe.
    if !auth.as_deref().is_some_and(|a| store.auth_valid(a, now)) {
        drain(req.into_body()).await;
        return error_json(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    if declared.is_some_and(|n| n > max) {
        drain(req.into_body()).await;
        return error_json(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
    }
    let Some(body) = read_body(req.into_body(), max).await else {
        return error_json(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
    };
    match store.upload(path, auth.as_deref(), token.as_deref(), body, now) {
        Ok(up) => {
            let json = serde_json::json!({
                "url": format!("https://{host}{}", up.direct_path),
                "direct_path": up.direct_path,
                "handle": up.handle,
                "object_id": up.object_id,
                "ts": up.ts,
            });
            let mut r = reply(StatusCode::OK, json.to_string());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(refusal) => error_json(status_of(refusal), &format!("{refusal:?}")),
    }
}

/// Most bytes read and dropped from a refused upload before the connection is just closed.
const DRAIN_CAP: u64 = 256 * 1024 * 1024;

/// Reads a refused request's body and drops it (up to [`DRAIN_CAP`]).
async fn drain(mut body: Incoming) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len() as u64);
        if seen > DRAIN_CAP {
            return;
        }
    }
}

/// The body if it is at most `max` bytes; `None` (the rest drained) if it is larger. A body
/// that breaks off is kept as far as it came: its hash will not match the token.
async fn read_body(mut body: Incoming, max: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(d) = frame.data_ref() {
            if out.len() as u64 + d.len() as u64 > max {
                drain(body).await;
                return None;
            }
            out.extend_from_slice(d);
        }
    }
    Some(out)
}

/// A single `bytes=` range of a `len`-byte file: `Some(Ok((first, last)))` to serve,
/// `Some(Err(()))` when it cannot be satisfied, `None` to ignore the header (not one range we
/// read; the whole file is served then, as RFC 9110 allows).
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.trim().split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // The last `b` bytes.
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let first: u64 = a.parse().ok()?;
        let last: u64 = if b.is_empty() {
            u64::MAX
        } else {
            b.parse().ok()?
        };
        if last < first {
            return None;
        }
        if first >= len {
            return Some(Err(()));
        }
        (first, last.min(len - 1))
    };
    Some(Ok(range))
}

fn download(req: &Request<Incoming>, path: &str, store: &MediaStore) -> Reply {
    let bytes = match store.lookup(path) {
        Lookup::Found(b) => b,
        Lookup::NotFound => return reply(StatusCode::NOT_FOUND, ""),
        Lookup::Gone => return reply(StatusCode::GONE, ""),
    };
    let len = bytes.len() as u64;
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, len));
    // A HEAD answer carries the same body: hyper sends its length and drops the bytes.
    let mut r = match range {
        None => reply(StatusCode::OK, Bytes::from(bytes.as_ref().clone())),
        Some(Err(())) => {
            let mut r = reply(StatusCode::RANGE_NOT_SATISFIABLE, "");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Some(Ok((first, last))) => {
            // first <= last < len, both fit the in-memory file.
            let part = bytes[first as usize..=last as usize].to_vec();
            let mut r = reply(StatusCode::PARTIAL_CONTENT, Bytes::from(part));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
    };
    let headers = r.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if r.status() != StatusCode::RANGE_NOT_SATISFIABLE {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=16-", 100), Some(Ok((16, 99))));
        assert_eq!(parse_range("bytes=90-200", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,4-5", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=x-1", 100), None);
    }
}
