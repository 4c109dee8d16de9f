//! The certificates `init` writes are usable as they are: every node certificate verifies
//! against the CA for its own name as a server and as a client (mutual TLS), not for
//! another name, and bad requests write nothing.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;

use super::*;

fn request(dir: &Path, nodes: &[&str]) -> InitRequest {
    InitRequest {
        nodes: nodes.iter().map(|n| n.to_string()).collect(),
        dir: dir.to_path_buf(),
        hosts: vec!["10.0.0.7".into(), "konsul.internal".into()],
        days: 30,
        force: false,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[test]
fn node_certificates_verify_against_the_ca_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let written = init(&request(dir.path(), &["n1", "n2"]), now).unwrap();
    assert_eq!(written.nodes.len(), 2);

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&written.ca_cert).unwrap())
        .unwrap();
    let roots = Arc::new(roots);
    let servers = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .unwrap();
    let clients = WebPkiClientVerifier::builder_with_provider(roots, provider())
        .build()
        .unwrap();
    let at = UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000 + 60));
    for (name, cert, key) in &written.nodes {
        let cert = CertificateDer::from_pem_file(cert).unwrap();
        PrivateKeyDer::from_pem_file(key).expect("a PEM private key");
        for host in [
            name.as_str(),
            "localhost",
            "127.0.0.1",
            "10.0.0.7",
            "konsul.internal",
        ] {
            let server = ServerName::try_from(host.to_owned()).unwrap();
            servers
                .verify_server_cert(&cert, &[], &server, &[], at)
                .unwrap_or_else(|e| panic!("{name} as {host}: {e}"));
        }
        let other = ServerName::try_from("n9").unwrap();
        assert!(
            servers
                .verify_server_cert(&cert, &[], &other, &[], at)
                .is_err()
        );
        clients
            .verify_client_cert(&cert, &[], at)
            .unwrap_or_else(|e| panic!("{name} as a client: {e}"));
        let expired = UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000 + 31 * 86_400));
        assert!(clients.verify_client_cert(&cert, &[], expired).is_err());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("n1-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "keys are for their owner only: {mode:o}");
    }
}

#[test]
fn bad_requests_and_existing_files_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let cases = [
        (request(dir.path(), &[]), "--nodes"),
        (request(dir.path(), &["n 1"]), "--nodes"),
        (request(dir.path(), &["n1", "n1"]), "named twice"),
        (
            InitRequest {
                days: 0,
                ..request(dir.path(), &["n1"])
            },
            "--days",
        ),
        (
            InitRequest {
                days: MAX_DAYS + 1,
                ..request(dir.path(), &["n1"])
            },
            "--days",
        ),
    ];
    for (req, needle) in cases {
        let e = init(&req, now).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{e}");
    }
    init(&request(dir.path(), &["n1"]), now).unwrap();
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let e = init(&request(dir.path(), &["n1"]), now)
        .unwrap_err()
        .to_string();
    assert!(e.contains("already exists") && e.contains("--force"), "{e}");
    assert_eq!(
        std::fs::read(dir.path().join("ca.pem")).unwrap(),
        ca,
        "nothing replaced"
    );
    let forced = InitRequest {
        force: true,
        ..request(dir.path(), &["n1"])
    };
    init(&forced, now).unwrap();
    assert_ne!(
        std::fs::read(dir.path().join("ca.pem")).unwrap(),
        ca,
        "replaced with --force"
    );
}
