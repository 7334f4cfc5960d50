//! The request-signing key of a slot (`request_signing_key`, `request_signing_cert`): TSB 2.2.0
//! can require every request to carry a `requestSignature` by the key of a whitelisted
//! certificate (`allowedRequestCertificates`). Loaded and checked when the configuration is
//! read, so a key that cannot sign, or that does not belong to the certificate, is a config error
//! naming the file and the field, not a failure at the first signature.
//!
//! What is signed, and how: securosys-com/tsb-client-go `tsb_client.go`
//! `GenerateRequestSignature` and `SignData` (S1): the inner request's JSON text with the
//! whitespace between tokens removed, SHA-256 with RSA PKCS#1 v1.5, `digestAlgorithm`
//! `"SHA-256"`, `publicKey` the application's public key (base64). EC keys (P-256 with SHA-256,
//! P-384 with SHA-384, the signature DER-encoded as the JDK's `Signature.sign()` returns it) are
//! this project's extension: S3 `dto/tsb/request/SignatureDto.java` allows the digests, no source
//! shows an EC request key.

use crate::der;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer};
use std::path::Path;
use zeroize::Zeroizing;

enum Key {
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// A loaded request-signing key with the public key sent in every `requestSignature`.
pub(crate) struct RequestSigner {
    key: Key,
    /// Base64 DER SubjectPublicKeyInfo: the certificate's when one is configured (what the TSB
    /// whitelists), else the key's own.
    public_key: String,
}

impl std::fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSigner")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// One signature: (base64 signature, digest name, base64 public key).
pub(crate) struct Signature {
    /// Base64 signature bytes.
    pub(crate) signature: String,
    /// `SHA-256` or `SHA-384`.
    pub(crate) digest_algorithm: &'static str,
    /// Base64 DER SubjectPublicKeyInfo.
    pub(crate) public_key: String,
}

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

impl RequestSigner {
    /// Load the private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC) and, when given, the
    /// certificate (PEM or DER), which must carry the key's public key. The error is the reason,
    /// for a config error naming the field (`Err((field, reason))`).
    pub(super) fn load(
        key_path: &Path,
        cert_path: Option<&Path>,
    ) -> Result<RequestSigner, (&'static str, String)> {
        let field = "request_signing_key";
        let pem = Zeroizing::new(
            std::fs::read_to_string(key_path)
                .map_err(|e| (field, format!("cannot read {}: {e}", key_path.display())))?,
        );
        let not_a_key = || {
            (
                field,
                format!(
                    "{} is not a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC; RSA, P-256 or P-384)",
                    key_path.display()
                ),
            )
        };
        let (key, own_spki) = if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(&pem))
        {
            let spki = k
                .to_public_key()
                .to_public_key_der()
                .map_err(|_| not_a_key())?;
            (
                Key::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(k))),
                spki.as_bytes().to_vec(),
            )
        } else if let Ok(k) =
            p256::SecretKey::from_pkcs8_pem(&pem).or_else(|_| p256::SecretKey::from_sec1_pem(&pem))
        {
            let spki = k
                .public_key()
                .to_public_key_der()
                .map_err(|_| not_a_key())?;
            (Key::P256(k.into()), spki.as_bytes().to_vec())
        } else if let Ok(k) =
            p384::SecretKey::from_pkcs8_pem(&pem).or_else(|_| p384::SecretKey::from_sec1_pem(&pem))
        {
            let spki = k
                .public_key()
                .to_public_key_der()
                .map_err(|_| not_a_key())?;
            (Key::P384(k.into()), spki.as_bytes().to_vec())
        } else {
            return Err(not_a_key());
        };
        let public_key = match cert_path {
            None => b64(&own_spki),
            Some(p) => {
                let field = "request_signing_cert";
                let bytes = std::fs::read(p)
                    .map_err(|e| (field, format!("cannot read {}: {e}", p.display())))?;
                let der_bytes = std::str::from_utf8(&bytes)
                    .ok()
                    .filter(|t| t.contains("-----BEGIN"))
                    .and_then(der::pem_decode)
                    .unwrap_or(bytes);
                let cert = der::parse_certificate(&der_bytes).ok_or_else(|| {
                    (
                        field,
                        format!("{} is not an X.509 certificate (PEM or DER)", p.display()),
                    )
                })?;
                if !same_public_key(&key, &cert.spki) {
                    return Err((
                        field,
                        format!(
                            "the certificate in {} is not the certificate of request_signing_key {}",
                            p.display(),
                            key_path.display()
                        ),
                    ));
                }
                b64(&cert.spki)
            }
        };
        Ok(RequestSigner { key, public_key })
    }

    /// Sign `data` (the compact JSON of an inner request).
    pub(crate) fn sign(&self, data: &[u8]) -> Signature {
        let (signature, digest_algorithm) = match &self.key {
            Key::Rsa(k) => (k.sign(data).to_vec(), "SHA-256"),
            Key::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(data);
                (s.to_der().as_bytes().to_vec(), "SHA-256")
            }
            Key::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign(data);
                (s.to_der().as_bytes().to_vec(), "SHA-384")
            }
        };
        Signature {
            signature: b64(&signature),
            digest_algorithm,
            public_key: self.public_key.clone(),
        }
    }
}

/// Whether the DER SubjectPublicKeyInfo `spki` is the public key of `key` (compared as keys,
/// not as bytes: encoders differ in details).
fn same_public_key(key: &Key, spki: &[u8]) -> bool {
    match key {
        Key::Rsa(k) => rsa::RsaPublicKey::from_public_key_der(spki)
            .is_ok_and(|p| p == AsRef::<rsa::RsaPrivateKey>::as_ref(k.as_ref()).to_public_key()),
        Key::P256(k) => {
            p256::PublicKey::from_public_key_der(spki).is_ok_and(|p| p == k.verifying_key().into())
        }
        Key::P384(k) => {
            p384::PublicKey::from_public_key_der(spki).is_ok_and(|p| p == k.verifying_key().into())
        }
    }
}
