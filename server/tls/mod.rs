//! TLS for Konsul's two ports. Today this holds the development certificates of
//! `konsul tls init` (`init.rs`); rustls on the peer and client listeners, certificate
//! reloading and the peer allowlist come next (issue 11).

pub mod init;
