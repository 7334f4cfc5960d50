//! The TLS check of one https URL: a handshake with the trust the module's HTTP client has (the
//! webpki roots reqwest is built with, plus the slot's `ca_file`; the slot's client certificate
//! for mTLS), made with rustls directly so that the certificate the TSB presents can be shown even
//! when it is refused. Nothing is sent over the connection: it is closed after the handshake.

use super::report::{Report, Verdict};
use super::x509::{self, CertSummary};
use crate::config::SlotConfig;
use crate::error::{Error, Unreachable};
use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A certificate this close to its end is a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// What the verifier saw of the server's certificate.
#[derive(Debug)]
struct Seen {
    end_entity: Vec<u8>,
    /// The whole check (chain to a trusted root, validity, host name), as the module's client
    /// makes it.
    verdict: Result<(), rustls::Error>,
    /// The host name alone.
    name: Result<(), rustls::Error>,
}

/// The module's verification, recording what it was given and what it found.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        let name = rustls::server::ParsedCertificate::try_from(end_entity)
            .and_then(|c| rustls::client::verify_server_name(&c, server_name));
        *self.seen.lock() = Some(Seen {
            end_entity: end_entity.to_vec(),
            verdict: verdict.as_ref().map(|_| ()).map_err(Clone::clone),
            name,
        });
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The roots the module's client trusts: webpki's (reqwest's `rustls-tls` feature) and the
/// slot's `ca_file`. Err: the line to report about `ca_file`.
fn roots(slot: &SlotConfig) -> Result<(RootCertStore, String), String> {
    let mut store = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let Some(ca) = &slot.ca_file else {
        return Ok((store, "the webpki roots".into()));
    };
    let pem = std::fs::read(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
    let mut n = 0;
    for c in CertificateDer::pem_slice_iter(&pem) {
        let c = c.map_err(|e| {
            format!(
                "ca_file {}: not a PEM certificate bundle: {e}",
                ca.display()
            )
        })?;
        store.add(c).map_err(|e| {
            format!(
                "ca_file {}: a certificate rustls cannot use as a root: {e}",
                ca.display()
            )
        })?;
        n += 1;
    }
    if n == 0 {
        return Err(format!(
            "ca_file {}: holds no PEM certificate",
            ca.display()
        ));
    }
    Ok((
        store,
        format!(
            "ca_file {} ({n} certificate{}) and the webpki roots",
            ca.display(),
            if n == 1 { "" } else { "s" }
        ),
    ))
}

/// The slot's client certificate and key for mTLS, when configured.
type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(slot: &SlotConfig) -> Result<Option<Identity>, String> {
    let Some((cert, key)) = &slot.client_identity else {
        return Ok(None);
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("client_cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "client_cert {}: holds no PEM certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("client_key {}: {e}", key.display()))?;
    Ok(Some((chain, key)))
}

/// The TLS checks of `host` at `addr` (reached already by TCP): trust, host name, expiry. True
/// when the module's client would accept the TSB.
pub(super) fn check(
    r: &mut Report,
    at: &str,
    slot: &SlotConfig,
    host: &str,
    addr: SocketAddr,
    timeout: Duration,
) -> bool {
    let (store, trusted_by) = match roots(slot) {
        Ok(x) => x,
        Err(e) => {
            r.check(
                Verdict::Fail,
                &format!("{at}: TLS: {e}"),
                Some("give `ca_file` a PEM file with the CA certificate(s) of the TSB's TLS certificate"),
            );
            return false;
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = match WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
    {
        Ok(v) => v,
        Err(e) => {
            r.check(Verdict::Fail, &format!("{at}: TLS: {e}"), None);
            return false;
        }
    };
    let verifier = Arc::new(Recording {
        inner,
        seen: Mutex::new(None),
    });
    let builder = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            // The module's own verification (Recording calls it and returns its verdict); the
            // wrapper only keeps what it saw.
            .with_custom_certificate_verifier(verifier.clone()),
        Err(e) => {
            r.check(Verdict::Fail, &format!("{at}: TLS: {e}"), None);
            return false;
        }
    };
    let config = match client_identity(slot) {
        Ok(None) => builder.with_no_client_auth(),
        Ok(Some((chain, key))) => match builder.with_client_auth_cert(chain, key) {
            Ok(c) => c,
            Err(e) => {
                r.check(
                    Verdict::Fail,
                    &format!("{at}: TLS: client_cert/client_key: {e}"),
                    Some("give `client_cert` and `client_key` a matching PEM certificate and key"),
                );
                return false;
            }
        },
        Err(e) => {
            r.check(
                Verdict::Fail,
                &format!("{at}: TLS: {e}"),
                Some("give `client_cert` and `client_key` readable PEM files"),
            );
            return false;
        }
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = match ServerName::try_from(bare.to_string()) {
        Ok(n) => n,
        Err(e) => {
            r.check(Verdict::Fail, &format!("{at}: TLS: host {host}: {e}"), None);
            return false;
        }
    };
    let started = Instant::now();
    let result = handshake(Arc::new(config), name, addr, timeout);
    let seen = verifier.seen.lock().take();
    report(r, at, host, &trusted_by, result, seen, started.elapsed())
}

/// Connect and run the handshake, nothing more. Ok: the protocol version.
fn handshake(
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<String, String> {
    let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    // Each read and write waits at most `timeout`, and the whole handshake not much longer: a
    // server that sends a byte at a time cannot hold the doctor.
    let deadline = Instant::now() + timeout;
    sock.set_read_timeout(Some(timeout))
        .and_then(|_| sock.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let mut conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        if Instant::now() > deadline {
            return Err(format!(
                "no complete handshake within {} ms",
                timeout.as_millis()
            ));
        }
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}").replace('_', "."))
        .unwrap_or_else(|| "TLS".into());
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    Ok(version)
}

/// The module's remedy for a TLS failure of this kind.
fn remedy(why: Unreachable) -> Option<String> {
    Error::Unreachable {
        why,
        detail: String::new(),
    }
    .remedy()
}

/// The lines of one handshake. True when the module's client would accept the TSB.
fn report(
    r: &mut Report,
    at: &str,
    host: &str,
    trusted_by: &str,
    result: Result<String, String>,
    seen: Option<Seen>,
    took: Duration,
) -> bool {
    let Some(seen) = seen else {
        // No certificate came: the handshake failed before (protocol, cipher, a closed socket).
        let e = result.err().unwrap_or_else(|| "no certificate".into());
        r.check(
            Verdict::Fail,
            &format!("{at}: TLS handshake failed before any certificate: {e}"),
            remedy(Unreachable::Tls).as_deref(),
        );
        return false;
    };
    let cert = x509::summary(&seen.end_entity);
    let shown = match &cert {
        Some(c) => format!("subject {}, issuer {}", c.subject, c.issuer),
        None => "a certificate that cannot be read".into(),
    };
    let mut usable = true;
    // Trust (chain and validity dates, as webpki checks them).
    match &seen.verdict {
        Ok(()) => r.check(
            Verdict::Ok,
            &format!("{at}: TLS certificate trusted ({trusted_by}): {shown}"),
            None,
        ),
        Err(e) if is_name_error(e) => r.check(
            Verdict::Ok,
            &format!("{at}: TLS certificate chain trusted ({trusted_by}): {shown}"),
            None,
        ),
        Err(e) if is_date_error(e) => {
            // The dates are checked first: the expiry line below says what is wrong.
            usable = false;
            r.check(
                Verdict::Skip,
                &format!("{at}: TLS certificate chain not checked past its dates: {shown}"),
                None,
            );
        }
        Err(e) => {
            usable = false;
            r.check(
                Verdict::Fail,
                &format!("{at}: TLS certificate not trusted ({e}; trusted: {trusted_by}): {shown}"),
                untrusted_remedy(e).as_deref(),
            );
        }
    }
    // The host name, checked on its own so that it is told even for an untrusted certificate.
    let names = cert
        .as_ref()
        .map(|c| c.names.join(", "))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "no subjectAltName".into());
    match &seen.name {
        Ok(()) => r.check(
            Verdict::Ok,
            &format!("{at}: TLS host name {host} matches the certificate ({names})"),
            None,
        ),
        Err(e) => {
            usable = false;
            r.check(
                Verdict::Fail,
                &format!("{at}: TLS host name {host} is not in the certificate ({names}): {e}"),
                remedy(Unreachable::WrongHostName).as_deref(),
            );
        }
    }
    if let Some(c) = &cert {
        expiry(r, at, c);
    }
    match result {
        Ok(version) if usable => {
            r.detail(&format!("{version} handshake in {} ms", took.as_millis()));
            true
        }
        Ok(_) => false,
        Err(e) => {
            if usable {
                // The certificate was fine and the handshake still failed (a client certificate
                // refused, a protocol error after the certificate).
                r.check(
                    Verdict::Fail,
                    &format!("{at}: TLS handshake failed: {e}"),
                    remedy(Unreachable::Tls).as_deref(),
                );
            }
            false
        }
    }
}

/// What to do about a certificate that is not trusted: the module's remedy, unless the error
/// says something more precise.
fn untrusted_remedy(e: &rustls::Error) -> Option<String> {
    if format!("{e:?}").contains("CaUsedAsEndEntity") {
        return Some(
            "the TSB presents a CA certificate (basicConstraints CA:TRUE) as its own, which TLS \
             clients refuse even when it is trusted: give the TSB a server certificate issued by \
             that CA"
                .into(),
        );
    }
    remedy(Unreachable::UntrustedCertificate)
}

fn is_name_error(e: &rustls::Error) -> bool {
    use rustls::CertificateError as C;
    matches!(
        e,
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. })
    )
}

fn is_date_error(e: &rustls::Error) -> bool {
    use rustls::CertificateError as C;
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. }
        )
    )
}

/// The validity line: FAIL outside its dates, WARN within [`EXPIRY_WARNING_DAYS`] of its end.
fn expiry(r: &mut Report, at: &str, c: &CertSummary) {
    let now = i64::try_from(crate::tsb::journal::unix_now()).unwrap_or(i64::MAX);
    let days = (c.not_after - now).div_euclid(86_400);
    let span = format!(
        "valid from {} to {}",
        x509::date(c.not_before),
        x509::date(c.not_after)
    );
    let renew = "have the TSB's TLS certificate renewed by whoever runs the TSB";
    if now < c.not_before {
        r.check(
            Verdict::Fail,
            &format!(
                "{at}: TLS certificate not valid yet ({span}); or this machine's clock is wrong"
            ),
            Some("check this machine's clock (timedatectl), then the TSB's certificate"),
        );
    } else if now > c.not_after {
        r.check(
            Verdict::Fail,
            &format!("{at}: TLS certificate expired ({span})"),
            Some(renew),
        );
    } else if days < EXPIRY_WARNING_DAYS {
        r.check(
            Verdict::Warn,
            &format!("{at}: TLS certificate expires in {days} days ({span})"),
            Some(renew),
        );
    } else {
        r.check(
            Verdict::Ok,
            &format!("{at}: TLS certificate {span} ({days} days left)"),
            None,
        );
    }
}
