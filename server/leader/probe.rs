//! One probe of an HTTP, TCP or gRPC health check, as the leader's check runner
//! (`checks.rs`) runs it: connect, ask, classify the answer as passing, warning or critical
//! with a short, stable output line. Nothing here touches Raft or the store; the runner
//! turns outcomes into `CheckResults` commands.
//!
//! HTTP: one request on a fresh connection (no pooling, so a check sees what a new client
//! would): 2xx passing, 429 warning, anything else critical; `https` verifies the server
//! against the webpki roots unless `tls_skip_verify`. TCP: passing when the connect
//! succeeds. gRPC: `grpc.health.v1.Health/Check`, passing when SERVING; with TLS the
//! server's certificate is not verified. Every probe is bounded by the check's timeout.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::store::{CheckKind, CheckStatus};

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The status to record.
    pub status: CheckStatus,
    /// A one-line description, the same for the same answer so an unchanged endpoint
    /// writes nothing to the log.
    pub output: String,
}

impl Outcome {
    fn passing(output: String) -> Self {
        Self {
            status: CheckStatus::Passing,
            output,
        }
    }

    fn critical(output: String) -> Self {
        Self {
            status: CheckStatus::Critical,
            output,
        }
    }
}

/// Runs one probe of `kind` within `timeout`. TTL checks are not probed; asking for one
/// answers critical rather than panicking.
pub async fn probe(kind: &CheckKind, timeout: Duration) -> Outcome {
    let run = async {
        match kind {
            CheckKind::Http {
                url,
                method,
                headers,
                tls_skip_verify,
            } => http(url, method, headers, *tls_skip_verify).await,
            CheckKind::Tcp { address } => match TcpStream::connect(address.as_str()).await {
                Ok(_) => Outcome::passing(format!("TCP connect {address}: Success")),
                Err(e) => Outcome::critical(format!("TCP connect {address}: {e}")),
            },
            CheckKind::Grpc {
                address,
                service,
                use_tls,
            } => grpc(address, service, *use_tls).await,
            CheckKind::Ttl { .. } => Outcome::critical("TTL checks are not probed".to_owned()),
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::critical(format!(
            "{} check timed out after {}",
            kind.type_name(),
            humantime::format_duration(timeout)
        )),
    }
}

async fn http(
    url: &str,
    method: &str,
    headers: &std::collections::BTreeMap<String, String>,
    skip_verify: bool,
) -> Outcome {
    let what = format!("HTTP {method} {url}");
    match http_status(url, method, headers, skip_verify).await {
        Ok(status) => {
            let line = format!(
                "{what}: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            let line = line.trim_end().to_owned();
            if status.is_success() {
                Outcome::passing(line)
            } else if status == http::StatusCode::TOO_MANY_REQUESTS {
                Outcome {
                    status: CheckStatus::Warning,
                    output: line,
                }
            } else {
                Outcome::critical(line)
            }
        }
        Err(e) => Outcome::critical(format!("{what}: {e}")),
    }
}

async fn http_status(
    url: &str,
    method: &str,
    headers: &std::collections::BTreeMap<String, String>,
    skip_verify: bool,
) -> Result<http::StatusCode, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or("URL has no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tcp = TcpStream::connect((bare_host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let mut request = http::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(
            http::header::HOST,
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        )
        .header(http::header::USER_AGENT, "konsul-health-check")
        .header(http::header::CONNECTION, "close");
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(axum::body::Body::empty())
        .map_err(|e| e.to_string())?;
    if https {
        let tls = tls_connect(tcp, &bare_host, skip_verify, Vec::new()).await?;
        send(TokioIo::new(tls), request).await
    } else {
        send(TokioIo::new(tcp), request).await
    }
}

async fn send<T>(
    io: T,
    request: http::Request<axum::body::Body>,
) -> Result<http::StatusCode, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    // The connection task ends when the response is dropped (Connection: close) or the
    // probe's timeout drops this future; either way it does not outlive the probe by much.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status())
}

async fn grpc(address: &str, service: &str, use_tls: bool) -> Outcome {
    let what = format!("gRPC {address}");
    let what = if service.is_empty() {
        what
    } else {
        format!("{what}/{service}")
    };
    match grpc_status(address, service, use_tls).await {
        Ok(ServingStatus::Serving) => Outcome::passing(format!("{what}: SERVING")),
        Ok(other) => Outcome::critical(format!("{what}: {}", other.as_str_name())),
        Err(e) => Outcome::critical(format!("{what}: {e}")),
    }
}

async fn grpc_status(address: &str, service: &str, use_tls: bool) -> Result<ServingStatus, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?;
    let channel = if use_tls {
        let host = address
            .rsplit_once(':')
            .map_or(address, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let target = address.to_owned();
        let connector = tower::service_fn(move |_: http::Uri| {
            let (host, target) = (host.clone(), target.clone());
            async move {
                let tcp = TcpStream::connect(target.as_str()).await?;
                let tls = tls_connect(tcp, &host, true, vec![b"h2".to_vec()])
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        });
        endpoint.connect_with_connector(connector).await
    } else {
        endpoint.connect().await
    }
    .map_err(|e| format!("connect: {e}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
    Ok(ServingStatus::try_from(response.into_inner().status).unwrap_or(ServingStatus::Unknown))
}

async fn tls_connect(
    tcp: TcpStream,
    host: &str,
    skip_verify: bool,
    alpn: Vec<Vec<u8>>,
) -> Result<TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = alpn;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("bad TLS server name {host:?}: {e}"))?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

/// Accepts any server certificate (`tls_skip_verify`, gRPC checks with TLS) while still
/// checking the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot HTTP server answering every request with `status_line`.
    async fn http_server(status_line: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..4 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status_line}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://{addr}/health")
    }

    fn http_kind(url: String) -> CheckKind {
        CheckKind::Http {
            url,
            method: "GET".to_owned(),
            headers: Default::default(),
            tls_skip_verify: false,
        }
    }

    #[tokio::test]
    async fn http_statuses_map_to_check_statuses() {
        for (line, want) in [
            ("200 OK", CheckStatus::Passing),
            ("204 No Content", CheckStatus::Passing),
            ("429 Too Many Requests", CheckStatus::Warning),
            ("503 Service Unavailable", CheckStatus::Critical),
        ] {
            let url = http_server(line).await;
            let out = probe(&http_kind(url.clone()), Duration::from_secs(10)).await;
            assert_eq!(out.status, want, "{line}: {}", out.output);
            assert_eq!(out.output, format!("HTTP GET {url}: {line}"));
        }
    }

    #[tokio::test]
    async fn refused_connections_and_silent_servers_are_critical() {
        // A port nobody listens on: bind, note it, close.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let tcp = probe(
            &CheckKind::Tcp {
                address: addr.to_string(),
            },
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(tcp.status, CheckStatus::Critical, "{}", tcp.output);
        let http = probe(
            &http_kind(format!("http://{addr}/")),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(http.status, CheckStatus::Critical, "{}", http.output);
        // A server that accepts and never answers: the timeout decides.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let out = probe(&http_kind(url), Duration::from_millis(200)).await;
        assert_eq!(out.status, CheckStatus::Critical);
        assert!(
            out.output.contains("timed out after 200ms"),
            "{}",
            out.output
        );
        drop(silent);
    }

    #[tokio::test]
    async fn grpc_checks_follow_the_servers_health_service() {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("pkg.Up", tonic_health::ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("pkg.Down", tonic_health::ServingStatus::NotServing)
            .await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let grpc = |service: &str| CheckKind::Grpc {
            address: address.clone(),
            service: service.to_owned(),
            use_tls: false,
        };
        let up = probe(&grpc("pkg.Up"), Duration::from_secs(10)).await;
        assert_eq!(
            up,
            Outcome::passing(format!("gRPC {address}/pkg.Up: SERVING"))
        );
        let down = probe(&grpc("pkg.Down"), Duration::from_secs(10)).await;
        assert_eq!(down.status, CheckStatus::Critical);
        assert_eq!(down.output, format!("gRPC {address}/pkg.Down: NOT_SERVING"));
        let unknown = probe(&grpc("pkg.Unknown"), Duration::from_secs(10)).await;
        assert_eq!(unknown.status, CheckStatus::Critical, "{}", unknown.output);
        assert!(unknown.output.contains("NotFound"), "{}", unknown.output);
    }

    /// An HTTPS server with a self-signed certificate for `localhost`, answering 200.
    async fn https_server() -> String {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for _ in 0..4 {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = s.shutdown().await;
                });
            }
        });
        format!("https://localhost:{port}/health")
    }

    #[tokio::test]
    async fn https_checks_verify_the_server_unless_told_not_to() {
        let url = https_server().await;
        let mut kind = http_kind(url.clone());
        let verified = probe(&kind, Duration::from_secs(10)).await;
        assert_eq!(
            verified.status,
            CheckStatus::Critical,
            "{}",
            verified.output
        );
        assert!(verified.output.contains("TLS"), "{}", verified.output);
        if let CheckKind::Http {
            tls_skip_verify, ..
        } = &mut kind
        {
            *tls_skip_verify = true;
        }
        let skipped = probe(&kind, Duration::from_secs(10)).await;
        assert_eq!(skipped, Outcome::passing(format!("HTTP GET {url}: 200 OK")));
    }

    #[tokio::test]
    async fn a_listening_port_passes_a_tcp_check() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let out = probe(
            &CheckKind::Tcp {
                address: address.clone(),
            },
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(
            out,
            Outcome::passing(format!("TCP connect {address}: Success"))
        );
    }
}
