//! The rustls server configuration of an endpoint: its certificate chain and key (PEM), and
//! optionally the CA that signs the client certificates it accepts.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::WebPkiClientVerifier;

use crate::serve::config::TlsConfig;

/// Reads the files and builds the configuration. `require_client_certificate`: refuse a
/// handshake without a client certificate (when no token could authenticate instead).
pub fn server_config(
    tls: &TlsConfig,
    require_client_certificate: bool,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {}: {e}", tls.cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", tls.cert_file.display()));
    }
    // The key's own error may quote the file: only its name is said.
    let key = PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|_| {
        format!(
            "cannot read a private key (PEM) from {}",
            tls.key_file.display()
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &tls.client_ca_file {
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(ca_file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read {}: {e}", ca_file.display()))?;
            for certificate in certificates {
                roots.add(certificate).map_err(|e| {
                    format!("{}: not a usable CA certificate: {e}", ca_file.display())
                })?;
            }
            if roots.is_empty() {
                return Err(format!("{} holds no certificate", ca_file.display()));
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = if require_client_certificate {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", tls.cert_file.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
