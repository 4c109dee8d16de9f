//! `konsul tls init`: development certificates for a cluster, so a secure cluster can be
//! started in a few commands. It writes one certificate authority and, per node, a key and a
//! certificate signed by it that serves both ends of mutual TLS (server and client
//! authentication), valid for the node's name, `localhost`, `127.0.0.1`, `::1` and any
//! `--hosts` given. Certificates are generated with rcgen (ECDSA P-256), the crate rustls'
//! own tests use; keys are written readable by their owner only.
//!
//! ```text
//!  <dir>/ca.pem  ca-key.pem          the authority (keep ca-key.pem offline in production)
//!  <dir>/<node>.pem  <node>-key.pem  one pair per node
//! ```
//!
//! These are for development and tests: production clusters should use certificates from
//! the organisation's own authority (docs/security.md, once written, says how).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// The longest validity `--days` takes (ten years).
pub const MAX_DAYS: u32 = 3650;

/// What `konsul tls init` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitRequest {
    /// Node names; each gets a certificate with its name as a DNS name.
    pub nodes: Vec<String>,
    /// Where the files go (created if missing).
    pub dir: PathBuf,
    /// Extra names or IP addresses every node certificate is valid for.
    pub hosts: Vec<String>,
    /// Validity in days, from an hour before now.
    pub days: u32,
    /// Replace files that already exist.
    pub force: bool,
}

/// The files one run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The authority's certificate (what every node trusts).
    pub ca_cert: PathBuf,
    /// Per node: (name, certificate, key).
    pub nodes: Vec<(String, PathBuf, PathBuf)>,
}

fn invalid(field: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(field, why)
}

fn check(req: &InitRequest) -> Result<()> {
    if req.nodes.is_empty() {
        return Err(invalid("--nodes", "name at least one node (e.g. n1,n2,n3)"));
    }
    for (i, n) in req.nodes.iter().enumerate() {
        let ok = !n.is_empty()
            && n.len() <= crate::api::cluster::MAX_NODE_NAME_BYTES
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(invalid(
                "--nodes",
                format!("'{n}' is not a node name (1 to 64 of letters, digits, '.', '_', '-')"),
            ));
        }
        if req.nodes[..i].contains(n) {
            return Err(invalid("--nodes", format!("'{n}' is named twice")));
        }
    }
    if !(1..=MAX_DAYS).contains(&req.days) {
        return Err(invalid(
            "--days",
            format!("{} is out of range: 1 to {MAX_DAYS}", req.days),
        ));
    }
    Ok(())
}

fn rcgen_error(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::Internal(format!("generating {what}: {e}"))
}

/// Validity from an hour before `now` (clocks of other machines may lag) for `days` days.
fn validity(params: &mut CertificateParams, now: SystemTime, days: u32) -> Result<()> {
    let at = |t: SystemTime| {
        let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        time::OffsetDateTime::from_unix_timestamp(secs as i64)
            .map_err(|e| Error::Internal(format!("certificate time: {e}")))
    };
    params.not_before = at(now - Duration::from_secs(3600))?;
    params.not_after = at(now + Duration::from_secs(u64::from(days) * 86_400))?;
    Ok(())
}

/// Writes `text` to `path`, readable by its owner only when `secret`; refuses to replace an
/// existing file unless `force`.
fn write_file(path: &Path, text: &str, secret: bool, force: bool) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::invalid(
                "--dir",
                format!(
                    "{} already exists; pass --force to replace it",
                    path.display()
                ),
            )
        } else {
            Error::Storage(format!("writing {}: {e}", path.display()))
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::Storage(format!("writing {}: {e}", path.display())))
}

/// Generates the authority and one certificate per node, as of `now`, into `req.dir`.
/// Nothing is written unless every name checks out, and no existing file is replaced
/// without `force`.
pub fn init(req: &InitRequest, now: SystemTime) -> Result<Written> {
    check(req)?;
    let files = |name: &str| {
        (
            req.dir.join(format!("{name}.pem")),
            req.dir.join(format!("{name}-key.pem")),
        )
    };
    if !req.force {
        let mut all = vec![req.dir.join("ca.pem"), req.dir.join("ca-key.pem")];
        for n in &req.nodes {
            let (c, k) = files(n);
            all.extend([c, k]);
        }
        if let Some(existing) = all.iter().find(|p| p.exists()) {
            return Err(Error::invalid(
                "--dir",
                format!(
                    "{} already exists; pass --force to replace it",
                    existing.display()
                ),
            ));
        }
    }
    std::fs::create_dir_all(&req.dir)
        .map_err(|e| Error::Storage(format!("creating {}: {e}", req.dir.display())))?;

    let ca_key = KeyPair::generate().map_err(rcgen_error("the CA key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error("the CA"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Konsul");
    dn.push(DnType::CommonName, "Konsul development CA");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca, now, req.days)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(rcgen_error("the CA"))?;
    let issuer = Issuer::new(ca, &ca_key);
    write_file(&req.dir.join("ca.pem"), &ca_cert.pem(), false, req.force)?;
    write_file(
        &req.dir.join("ca-key.pem"),
        &ca_key.serialize_pem(),
        true,
        req.force,
    )?;

    let mut written = Written {
        ca_cert: req.dir.join("ca.pem"),
        nodes: Vec::new(),
    };
    for name in &req.nodes {
        let mut sans = vec![
            name.clone(),
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
        ];
        for h in &req.hosts {
            if !sans.contains(h) {
                sans.push(h.clone());
            }
        }
        let what = format!("the certificate of {name}");
        let mut params = CertificateParams::new(sans)
            .map_err(|e| Error::invalid("--hosts", format!("not a DNS name or IP address: {e}")))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Konsul");
        dn.push(DnType::CommonName, name.as_str());
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, now, req.days)?;
        let key = KeyPair::generate().map_err(rcgen_error(&what))?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(rcgen_error(&what))?;
        let (cert_path, key_path) = files(name);
        write_file(&cert_path, &cert.pem(), false, req.force)?;
        write_file(&key_path, &key.serialize_pem(), true, req.force)?;
        written.nodes.push((name.clone(), cert_path, key_path));
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
