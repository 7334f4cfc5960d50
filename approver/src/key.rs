//! The approver's key: loading, generating, and the two signatures of the protocol (the
//! timestamp proof and the approval).

use std::fmt;
use std::path::Path;

use crate::{ApprovalSubmission, ApproveError, FilteredTasksRequest, Task};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use tsb_models::algorithms::{ApproverDigest, Digest};

/// Key type to generate with [`ApproverKey::generate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048, signatures RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa2048,
    /// ECDSA on P-256 (prime256v1), DER signatures with SHA-256.
    EcP256,
    /// Ed25519, raw 64-byte signatures (`EdDSA`).
    Ed25519,
}

impl KeyKind {
    /// Parse the command line spelling: `rsa`, `ec` or `ed25519` (any case; `rsa2048`, `p256`,
    /// `ec-p256` and `ed` are accepted too).
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa2048" | "rsa-2048" => Some(KeyKind::Rsa2048),
            "ec" | "ecdsa" | "p256" | "p-256" | "ec-p256" | "prime256v1" => Some(KeyKind::EcP256),
            "ed25519" | "ed" | "eddsa" => Some(KeyKind::Ed25519),
            _ => None,
        }
    }
}

/// The signature scheme of a loaded key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Rsa,
    Ec,
    Ed25519,
}

/// An approver's private key: RSA, EC (P-256; P-384 and P-521 are accepted too) or Ed25519.
///
/// `Debug` shows only the key type and the public key, never the private key.
#[derive(Clone)]
pub struct ApproverKey {
    pkey: PKey<Private>,
    scheme: Scheme,
    /// Cached: it is sent with every request and must be byte-identical each time.
    public_b64: String,
}

impl fmt::Debug for ApproverKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproverKey")
            .field("type", &self.key_type())
            .field("public_key", &self.public_b64)
            .finish_non_exhaustive()
    }
}

impl ApproverKey {
    /// Load a PEM private key file: PKCS#8 (`BEGIN PRIVATE KEY`) or traditional
    /// (`BEGIN RSA PRIVATE KEY`, `BEGIN EC PRIVATE KEY`). Encrypted keys are refused (a headless
    /// approver has no one to type a passphrase).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<ApproverKey, ApproveError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| ApproveError::Io {
            path: path.to_path_buf(),
            message: format!("cannot read approver key: {e}"),
        })?;
        ApproverKey::from_pem(&pem).map_err(|e| match e {
            ApproveError::Key(m) => ApproveError::Key(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parse a PEM private key (see [`ApproverKey::from_pem_file`]).
    pub fn from_pem(pem: &[u8]) -> Result<ApproverKey, ApproveError> {
        let text = String::from_utf8_lossy(pem);
        if text.contains("ENCRYPTED") {
            return Err(ApproveError::Key(
                "the PEM key is encrypted; give an unencrypted key (e.g. `openssl pkey -in k.pem -out plain.pem`)"
                    .into(),
            ));
        }
        if !text.contains("-----BEGIN") {
            return Err(ApproveError::Key(
                "not a PEM private key (no -----BEGIN line)".into(),
            ));
        }
        // The callback answers any passphrase prompt with an empty passphrase: without it OpenSSL
        // would ask on the terminal, which would hang a CI job.
        let pkey = PKey::private_key_from_pem_callback(pem, |_buf| Ok(0)).map_err(|e| {
            ApproveError::Key(format!(
                "cannot parse the PEM private key: {}",
                first_error(&e)
            ))
        })?;
        ApproverKey::from_pkey(pkey)
    }

    /// Wrap an OpenSSL private key, checking that its type can sign approvals.
    pub fn from_pkey(pkey: PKey<Private>) -> Result<ApproverKey, ApproveError> {
        let scheme = match pkey.id() {
            Id::RSA => {
                if pkey.bits() < 2048 {
                    return Err(ApproveError::Key(format!(
                        "RSA key of {} bits is too small (2048 or more)",
                        pkey.bits()
                    )));
                }
                Scheme::Rsa
            }
            Id::EC => {
                let ec = pkey
                    .ec_key()
                    .map_err(|e| ApproveError::Key(format!("bad EC key: {}", first_error(&e))))?;
                match ec.group().curve_name() {
                    Some(Nid::X9_62_PRIME256V1) | Some(Nid::SECP384R1) | Some(Nid::SECP521R1) => {
                        Scheme::Ec
                    }
                    other => {
                        return Err(ApproveError::Key(format!(
                            "unsupported EC curve {}: use P-256",
                            other
                                .and_then(|n| n.short_name().ok())
                                .unwrap_or("(unnamed)")
                        )))
                    }
                }
            }
            Id::ED25519 => Scheme::Ed25519,
            _ => {
                return Err(ApproveError::Key(
                    "unsupported key type: use RSA, EC P-256 or Ed25519".into(),
                ))
            }
        };
        let der = pkey.public_key_to_der().map_err(|e| {
            ApproveError::Key(format!("cannot encode the public key: {}", first_error(&e)))
        })?;
        Ok(ApproverKey {
            pkey,
            scheme,
            public_b64: B64.encode(der),
        })
    }

    /// Generate a fresh key. Panics only if OpenSSL itself cannot generate a key (out of memory,
    /// broken library), which no input can cause; see [`ApproverKey::try_generate`].
    pub fn generate(kind: KeyKind) -> ApproverKey {
        match ApproverKey::try_generate(kind) {
            Ok(k) => k,
            Err(e) => panic!("OpenSSL key generation failed: {e}"),
        }
    }

    /// Generate a fresh key, reporting an OpenSSL failure as an error.
    pub fn try_generate(kind: KeyKind) -> Result<ApproverKey, ApproveError> {
        let ossl = |e: openssl::error::ErrorStack| ApproveError::Crypto(first_error(&e));
        let pkey = match kind {
            KeyKind::Rsa2048 => PKey::from_rsa(Rsa::generate(2048).map_err(ossl)?).map_err(ossl)?,
            KeyKind::EcP256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(ossl)?;
                PKey::from_ec_key(EcKey::generate(&group).map_err(ossl)?).map_err(ossl)?
            }
            KeyKind::Ed25519 => PKey::generate_ed25519().map_err(ossl)?,
        };
        ApproverKey::from_pkey(pkey)
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). Handle with care.
    pub fn to_pem(&self) -> String {
        // Serialising a key OpenSSL already holds cannot fail short of memory exhaustion; an empty
        // string is returned then rather than panicking.
        self.pkey
            .private_key_to_pem_pkcs8()
            .ok()
            .and_then(|v| String::from_utf8(v).ok())
            .unwrap_or_default()
    }

    /// Base64 (standard alphabet, padded, no newlines) DER SubjectPublicKeyInfo: exactly the
    /// string that goes into the `value` of a `public_key` approval in an SKA policy, and into
    /// `approverPublicKey`.
    pub fn public_key_b64(&self) -> String {
        self.public_b64.clone()
    }

    /// A policy approval entry (`{"type":"public_key","name":..,"value":..}`) naming this key.
    pub fn policy_approval(&self, name: &str) -> tsb_models::Approval {
        tsb_models::Approval {
            kind: tsb_models::approval_type::PUBLIC_KEY.into(),
            name: Some(name.into()),
            value: Some(self.public_key_b64()),
        }
    }

    /// `timestampDigestAlgorithm` / `approvalDigestAlgorithm`: `SHA-256` for RSA and EC, `EdDSA`
    /// for Ed25519.
    pub fn digest_algorithm(&self) -> &'static str {
        match self.scheme {
            Scheme::Rsa | Scheme::Ec => ApproverDigest::Digest(Digest::Sha256).name(),
            Scheme::Ed25519 => ApproverDigest::EdDsa.name(),
        }
    }

    /// `RSA`, `EC` or `Ed25519`.
    pub fn key_type(&self) -> &'static str {
        match self.scheme {
            Scheme::Rsa => "RSA",
            Scheme::Ec => "EC",
            Scheme::Ed25519 => "Ed25519",
        }
    }

    /// Sign `data`: RSA PKCS#1 v1.5 with SHA-256, DER ECDSA with SHA-256 (what the JCA's
    /// `SHA256withECDSA` produces and verifies), or a raw 64-byte Ed25519 signature.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, ApproveError> {
        let ossl = |e: openssl::error::ErrorStack| ApproveError::Crypto(first_error(&e));
        match self.scheme {
            Scheme::Rsa | Scheme::Ec => {
                // For RSA keys the Signer's default padding is PKCS#1 v1.5.
                let mut s = Signer::new(MessageDigest::sha256(), &self.pkey).map_err(ossl)?;
                s.update(data).map_err(ossl)?;
                s.sign_to_vec().map_err(ossl)
            }
            Scheme::Ed25519 => {
                let mut s = Signer::new_without_digest(&self.pkey).map_err(ossl)?;
                s.sign_oneshot_to_vec(data).map_err(ossl)
            }
        }
    }

    /// A fresh timestamp proof: the UTC time [`TIMESTAMP_BACKDATE`] ago in RFC 3339 with seconds
    /// and `Z` (`2026-11-29T06:30:00Z`), its signature, the digest algorithm and our public key.
    pub fn timestamp_proof(&self) -> Result<FilteredTasksRequest, ApproveError> {
        self.timestamp_proof_at(&timestamp(chrono::Utc::now() - TIMESTAMP_BACKDATE))
    }

    /// A timestamp proof for a given timestamp string (signed exactly as given). Useful to test
    /// that a server refuses stale proofs.
    pub fn timestamp_proof_at(
        &self,
        timestamp: &str,
    ) -> Result<FilteredTasksRequest, ApproveError> {
        let sig = self.sign(timestamp.as_bytes())?;
        Ok(FilteredTasksRequest {
            timestamp: timestamp.to_owned(),
            timestamp_signature: B64.encode(sig),
            timestamp_digest_algorithm: self.digest_algorithm().to_owned(),
            approver_public_key: Some(self.public_key_b64()),
            ..FilteredTasksRequest::default()
        })
    }

    /// The `POST /v1/approval` body for a task: `approvalToBeSigned` exactly as received and the
    /// signature over its base64-decoded bytes.
    pub fn approval_for(&self, task: &Task) -> Result<ApprovalSubmission, ApproveError> {
        let data = decode_b64(&task.approval_to_be_signed).ok_or_else(|| {
            ApproveError::Refused(format!(
                "task {}: approvalToBeSigned is not valid base64",
                task.id
            ))
        })?;
        let sig = self.sign(&data)?;
        Ok(ApprovalSubmission {
            id: task.id.clone(),
            approval_to_be_signed: task.approval_to_be_signed.clone(),
            signature: B64.encode(sig),
            approval_digest_algorithm: self.digest_algorithm().to_owned(),
            approver_public_key: Some(self.public_key_b64()),
            approver_certificate: None,
        })
    }
}

/// How far in the past [`ApproverKey::timestamp_proof`] stamps its proof. The TSB refuses a
/// timestamp from the future unless configured otherwise and accepts one up to 600 s old
/// (`maxFutureTimestampDiffApprovalClient: 0`, `maxTimestampDiffApprovalClient: 600`: S2
/// `securosys-com/dev-securosys-docs` `tsb/Download/release_notes.md`, 1.18.0), so an approver
/// whose clock runs a little ahead of the TSB's would be refused with a current stamp.
pub const TIMESTAMP_BACKDATE: std::time::Duration = std::time::Duration::from_secs(5);

/// The current UTC time as the TSB expects it in a timestamp proof: `2026-11-29T06:30:00Z`.
pub fn now_timestamp() -> String {
    timestamp(chrono::Utc::now())
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Decode base64, tolerating whitespace/newlines (some servers wrap long values) and a missing
/// padding.
pub(crate) fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(&compact).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(compact.trim_end_matches('='))
            .ok()
    })
}

fn first_error(e: &openssl::error::ErrorStack) -> String {
    match e.errors().first() {
        Some(err) => err.reason().unwrap_or("OpenSSL error").to_owned(),
        None => "OpenSSL error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::pkey::Public;
    use openssl::sign::Verifier;

    fn spki(key: &ApproverKey) -> PKey<Public> {
        let der = B64.decode(key.public_key_b64()).unwrap();
        PKey::public_key_from_der(&der).unwrap()
    }

    fn verify(key: &ApproverKey, data: &[u8], sig: &[u8]) -> bool {
        let pk = spki(key);
        if pk.id() == Id::ED25519 {
            let mut v = Verifier::new_without_digest(&pk).unwrap();
            v.verify_oneshot(sig, data).unwrap()
        } else {
            let mut v = Verifier::new(MessageDigest::sha256(), &pk).unwrap();
            v.update(data).unwrap();
            v.verify(sig).unwrap()
        }
    }

    const KINDS: [KeyKind; 3] = [KeyKind::Rsa2048, KeyKind::EcP256, KeyKind::Ed25519];

    #[test]
    fn generate_each_type_and_spki_parses() {
        for kind in KINDS {
            let k = ApproverKey::generate(kind);
            let b64 = k.public_key_b64();
            assert!(!b64.contains('\n') && !b64.contains(' '));
            let pk = spki(&k);
            let expect = match kind {
                KeyKind::Rsa2048 => Id::RSA,
                KeyKind::EcP256 => Id::EC,
                KeyKind::Ed25519 => Id::ED25519,
            };
            assert_eq!(pk.id(), expect);
            if kind == KeyKind::EcP256 {
                assert_eq!(
                    pk.ec_key().unwrap().group().curve_name(),
                    Some(Nid::X9_62_PRIME256V1)
                );
            }
            if kind == KeyKind::Rsa2048 {
                assert_eq!(pk.bits(), 2048);
            }
            let expect_alg = if kind == KeyKind::Ed25519 {
                "EdDSA"
            } else {
                "SHA-256"
            };
            assert_eq!(k.digest_algorithm(), expect_alg);
        }
    }

    #[test]
    fn pem_round_trip_each_type() {
        for kind in KINDS {
            let k = ApproverKey::generate(kind);
            let pem = k.to_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let back = ApproverKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(back.public_key_b64(), k.public_key_b64());
        }
    }

    #[test]
    fn traditional_pem_forms_load() {
        let rsa = Rsa::generate(2048).unwrap();
        let pem = rsa.private_key_to_pem().unwrap();
        assert!(String::from_utf8_lossy(&pem).contains("BEGIN RSA PRIVATE KEY"));
        assert_eq!(ApproverKey::from_pem(&pem).unwrap().key_type(), "RSA");

        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let ec = EcKey::generate(&group).unwrap();
        let pem = ec.private_key_to_pem().unwrap();
        assert!(String::from_utf8_lossy(&pem).contains("BEGIN EC PRIVATE KEY"));
        assert_eq!(ApproverKey::from_pem(&pem).unwrap().key_type(), "EC");
    }

    #[test]
    fn bad_keys_are_errors_not_panics() {
        assert!(matches!(
            ApproverKey::from_pem(b"garbage"),
            Err(ApproveError::Key(_))
        ));
        assert!(matches!(
            ApproverKey::from_pem(
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(ApproveError::Key(_))
        ));
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(ApproverKey::from_pkey(small).is_err());
        let k1 = EcGroup::from_curve_name(Nid::SECP256K1).unwrap();
        let pk = PKey::from_ec_key(EcKey::generate(&k1).unwrap()).unwrap();
        assert!(ApproverKey::from_pkey(pk).is_err());
        let enc = Rsa::generate(2048)
            .unwrap()
            .private_key_to_pem_passphrase(openssl::symm::Cipher::aes_128_cbc(), b"pw")
            .unwrap();
        let e = ApproverKey::from_pem(&enc).unwrap_err();
        assert!(e.to_string().contains("encrypted"), "{e}");
        let e = ApproverKey::from_pem_file("/nonexistent/key.pem").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/key.pem"), "{e}");
    }

    /// The TSB refuses stamps in the future by default (S2 `tsb/Download/release_notes.md` 1.18.0:
    /// `maxFutureTimestampDiffApprovalClient` default 0 s) and accepts them up to 600 s old, so
    /// the proof is stamped a few seconds in the past to absorb clock skew (audit divergence #2).
    #[test]
    fn timestamp_proof_is_stamped_a_few_seconds_in_the_past() {
        let k = ApproverKey::generate(KeyKind::EcP256);
        let before = chrono::Utc::now();
        let proof = k.timestamp_proof().unwrap();
        let after = chrono::Utc::now();
        let ts = chrono::DateTime::parse_from_rfc3339(&proof.timestamp).unwrap();
        // Whole seconds, so the stamp is 5 s before the signing time, rounded down.
        assert!(
            before.signed_duration_since(ts).num_seconds() >= 4,
            "{ts} vs {before}"
        );
        assert!(
            after.signed_duration_since(ts).num_seconds() <= 6,
            "{ts} vs {after}"
        );
    }

    #[test]
    fn timestamp_proof_verifies_each_type() {
        for kind in KINDS {
            let k = ApproverKey::generate(kind);
            let proof = k.timestamp_proof().unwrap();
            // 2026-11-29T06:30:00Z
            let ts = &proof.timestamp;
            assert_eq!(ts.len(), 20, "{ts}");
            assert!(ts.ends_with('Z') && &ts[10..11] == "T");
            assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok());
            let sig = B64.decode(&proof.timestamp_signature).unwrap();
            assert!(verify(&k, ts.as_bytes(), &sig), "{kind:?}");
            assert!(!verify(&k, b"2000-01-01T00:00:00Z", &sig));
            assert_eq!(proof.timestamp_digest_algorithm, k.digest_algorithm());
            assert_eq!(
                proof.approver_public_key.as_deref(),
                Some(&*k.public_key_b64())
            );
            if kind == KeyKind::Ed25519 {
                assert_eq!(sig.len(), 64);
            }
            if kind == KeyKind::EcP256 {
                // DER SEQUENCE, as JCA's SHA256withECDSA expects.
                assert_eq!(sig[0], 0x30);
                assert!(openssl::ecdsa::EcdsaSig::from_der(&sig).is_ok());
            }
        }
    }

    #[test]
    fn approval_signs_decoded_bytes_each_type() {
        let raw: Vec<u8> = (0u8..=200).collect();
        for kind in KINDS {
            let k = ApproverKey::generate(kind);
            let task = Task {
                id: "t-1".into(),
                approval_to_be_signed: B64.encode(&raw),
                ..Task::default()
            };
            let sub = k.approval_for(&task).unwrap();
            assert_eq!(sub.id, "t-1");
            assert_eq!(sub.approval_to_be_signed, task.approval_to_be_signed);
            assert_eq!(sub.approval_digest_algorithm, k.digest_algorithm());
            let sig = B64.decode(&sub.signature).unwrap();
            assert!(verify(&k, &raw, &sig), "{kind:?}");
            // Not over the base64 text.
            assert!(!verify(&k, task.approval_to_be_signed.as_bytes(), &sig));
            let json = serde_json::to_value(&sub).unwrap();
            for f in [
                "id",
                "approvalToBeSigned",
                "signature",
                "approvalDigestAlgorithm",
                "approverPublicKey",
            ] {
                assert!(json.get(f).is_some(), "{f}");
            }
        }
        let bad = Task {
            id: "x".into(),
            approval_to_be_signed: "%%%".into(),
            ..Task::default()
        };
        assert!(ApproverKey::generate(KeyKind::EcP256)
            .approval_for(&bad)
            .is_err());
    }
}
