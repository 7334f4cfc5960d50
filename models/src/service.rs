//! Service endpoints: version and licence. Sources: S2 `tsb/Quickstart/cloud-quickstart.md`
//! (`{"Version": ...}`), S3 `dto/tsb/response/LicenseInformationDto.java`.

use serde::{Deserialize, Serialize};

/// `GET /v1/versionInfo` response (note the capital `V`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Server version.
    #[serde(rename = "Version")]
    pub version: String,
}

/// `GET /v1/licenseInfo` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseInfo {
    /// Licensed features, e.g. `TSB_ENGINE`.
    #[serde(default)]
    pub client_flags: Vec<String>,
}

/// A TSB software version (`major.minor.patch`), ordered, with the behaviour Securosys' release
/// notes document per version (S2 `tsb/Download/release_notes.md`, `tsb/Download/downloads.md`).
/// `GET /v1/versionInfo` answers e.g. `{"Version":"2.1.0"}` or
/// `{"Version":"1.17.1.20231211T114600"}` (S2 `tsb/Quickstart/cloud-quickstart.md`): [`TsbVersion::parse`]
/// reads both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TsbVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// Patch version.
    pub patch: u16,
}

impl TsbVersion {
    /// 1.18.0 (March 2024), the last of the 1.x branch.
    pub const V1_18_0: TsbVersion = TsbVersion::new(1, 18, 0);
    /// 2.0.0 (April 2024): API keys (`X-API-KEY`).
    pub const V2_0_0: TsbVersion = TsbVersion::new(2, 0, 0);
    /// 2.0.1 (July 2024): `filteredAllApprovalTask`, `filteredRequests`, API-key rollover.
    pub const V2_0_1: TsbVersion = TsbVersion::new(2, 0, 1);
    /// 2.1.0 (August 2024): fetch-once results, `organizationIdentifier`.
    pub const V2_1_0: TsbVersion = TsbVersion::new(2, 1, 0);
    /// 2.1.1 (September 2024): pre-hashed RSA algorithms on SKA keys.
    pub const V2_1_1: TsbVersion = TsbVersion::new(2, 1, 1);
    /// 2.2.0 (December 2024, the latest release in S2 `downloads.md`): `RSA_PADDING_PKCS`,
    /// request-signature whitelisting, final PQC names, Schnorr.
    pub const V2_2_0: TsbVersion = TsbVersion::new(2, 2, 0);
    /// **Not a released version** ("S6 DTO shapes, unconfirmed"): the newest DTO copies
    /// Securosys published (S6 `keycloak-securosys-simple-sign-provider`, 2025: issue-certificate
    /// with optional `commonName` and a `validity`, `EDDSA` for certificates, `rawCertificate`)
    /// on top of 2.2.0. No release notes say when (or whether) a TSB took these shapes; the
    /// number is an assumption of this project, and S3
    /// `dto/tsb/request/SignCertificateRequestDto.java` (2026 commit) still has the 2.2.0 shape.
    pub const V2_3_0: TsbVersion = TsbVersion::new(2, 3, 0);
    /// The newest real release (S2 `tsb/Download/downloads.md`): the emulator's default.
    pub const LATEST_RELEASE: TsbVersion = TsbVersion::V2_2_0;
    /// The newest behaviour this project knows, the unconfirmed [`TsbVersion::V2_3_0`] included
    /// (every name any version has: what the emulator's crypto understands).
    pub const NEWEST: TsbVersion = TsbVersion::V2_3_0;
    /// The versions the emulator offers as profiles, oldest first: every release with a
    /// documented change, and the unconfirmed [`TsbVersion::V2_3_0`].
    pub const PROFILES: [TsbVersion; 7] = [
        TsbVersion::V1_18_0,
        TsbVersion::V2_0_0,
        TsbVersion::V2_0_1,
        TsbVersion::V2_1_0,
        TsbVersion::V2_1_1,
        TsbVersion::V2_2_0,
        TsbVersion::V2_3_0,
    ];

    /// `major.minor.patch`.
    pub const fn new(major: u16, minor: u16, patch: u16) -> TsbVersion {
        TsbVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parse `2.1`, `2.1.0`, `v2.1.0` or `1.17.1.20231211T114600` (anything after the third
    /// number is ignored). A missing patch is 0.
    pub fn parse(s: &str) -> Option<TsbVersion> {
        let s = s.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let mut parts = s.split('.');
        let num = |p: Option<&str>| -> Option<u16> {
            let p = p?;
            let digits: &str = &p[..p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len())];
            if digits.is_empty() || digits.len() != p.len() {
                return None;
            }
            digits.parse().ok()
        };
        let major = num(parts.next())?;
        let minor = num(parts.next())?;
        let patch = match parts.next() {
            None => 0,
            Some(p) => num(Some(p))?,
        };
        Some(TsbVersion::new(major, minor, patch))
    }

    /// `/v1/filteredAllApprovalTask` exists (2.0.1: "Fetch All Tasks"); before, only the
    /// per-type `filtered<X>ApprovalTask` lists.
    pub fn has_filtered_all_approval_task(self) -> bool {
        self >= TsbVersion::V2_0_1
    }

    /// `/v1/filteredRequests` exists (2.0.1: "Fetch Requests by Status").
    pub fn has_filtered_requests(self) -> bool {
        self >= TsbVersion::V2_0_1
    }

    /// `ruleModify`, `ruleBlock` and `ruleUnblock` that can never be fulfilled are accepted (2.0.1).
    pub fn allows_never_fulfillable_management_rules(self) -> bool {
        self >= TsbVersion::V2_0_1
    }

    /// A request whose policy is empty or always fulfilled executes when it is created (2.0.1:
    /// "previously one had to wait for the cronjob").
    pub fn executes_fulfilled_requests_at_once(self) -> bool {
        self >= TsbVersion::V2_0_1
    }

    /// `HMACSHA256` keys and `POST /v1/synchronousHmac` exist (2.0.1: "HMAC Support: Added
    /// support for `HMACSHA256`, use the new synchronous HMAC endpoint").
    pub fn has_hmac(self) -> bool {
        self >= TsbVersion::V2_0_1
    }

    /// The final FIPS 204/205 keys (`ML-DSA-44`, `SLH-DSA-SHA2-128s`, ...) and signature names
    /// (`ML_DSA`, `SLH_DSA`, ...) exist (2.2.0: "FIPS203, 204, 205 PQC Algorithm Support"; S2
    /// `pqc-release-overview.md`: "Rest-API Version v2.2+").
    pub fn has_fips_pqc(self) -> bool {
        self >= TsbVersion::V2_2_0
    }

    /// `X-API-KEY` authentication exists (2.0.0).
    pub fn has_api_keys(self) -> bool {
        self >= TsbVersion::V2_0_0
    }

    /// Several API keys per role, for rollover (2.0.1, "Enabling API Authentication Key Rollover").
    pub fn has_api_key_rollover(self) -> bool {
        self >= TsbVersion::V2_0_1
    }

    /// The server parameter that lets a request's result be fetched only once exists (2.1.0).
    pub fn has_fetch_result_once(self) -> bool {
        self >= TsbVersion::V2_1_0
    }

    /// `organizationIdentifier` (2.5.4.97) in CSR subjects (2.1.0, "Extended CSR Requests").
    pub fn has_organization_identifier(self) -> bool {
        self >= TsbVersion::V2_1_0
    }

    /// Pre-hashed RSA signature algorithms (`NONESHA256_WITH_RSA`, ...) work on SKA keys (2.1.1:
    /// "Added compatibility with pre-hashed algorithms on RSA in conjunction with SKA-Keys").
    pub fn prehashed_rsa_on_ska_keys(self) -> bool {
        self >= TsbVersion::V2_1_1
    }

    /// `cipherAlgorithm` `RSA_PADDING_PKCS` exists (2.2.0, "PKCS1.5 Cipher Algorithm").
    pub fn has_rsa_padding_pkcs(self) -> bool {
        self >= TsbVersion::V2_2_0
    }

    /// Request signatures can be restricted to whitelisted certificates (2.2.0,
    /// `allowedRequestCertificates`).
    pub fn has_request_certificate_whitelist(self) -> bool {
        self >= TsbVersion::V2_2_0
    }

    /// The certificate endpoints take the newer DTO shapes of S6 (see [`TsbVersion::V2_3_0`]):
    /// issue-certificate with optional `commonName` and a `validity`, `EDDSA` among the
    /// certificate signature algorithms, and `GET /v1/certificate/{label}` also answering
    /// `rawCertificate`. Before: S3's shapes (`commonName` required, no `validity`, RSA and
    /// ECDSA only).
    pub fn has_newer_certificate_dtos(self) -> bool {
        self >= TsbVersion::V2_3_0
    }
}

impl Default for TsbVersion {
    /// The newest real release.
    fn default() -> Self {
        TsbVersion::LATEST_RELEASE
    }
}

impl std::fmt::Display for TsbVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(TsbVersion::parse("2.1"), Some(TsbVersion::V2_1_0));
        assert_eq!(TsbVersion::parse("v2.0.1"), Some(TsbVersion::V2_0_1));
        assert_eq!(
            TsbVersion::parse("1.17.1.20231211T114600"),
            Some(TsbVersion::new(1, 17, 1))
        );
        for bad in ["", "2", "x.1", "2.1.x", "2..1", "-1.0"] {
            assert_eq!(TsbVersion::parse(bad), None, "{bad}");
        }
        assert!(TsbVersion::V1_18_0 < TsbVersion::V2_0_0);
        assert!(TsbVersion::new(2, 10, 0) > TsbVersion::V2_2_0);
        assert_eq!(TsbVersion::V2_1_1.to_string(), "2.1.1");
        for v in TsbVersion::PROFILES {
            assert_eq!(TsbVersion::parse(&v.to_string()), Some(v));
        }
        assert!(TsbVersion::PROFILES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(TsbVersion::default(), TsbVersion::LATEST_RELEASE);
        assert_eq!(TsbVersion::LATEST_RELEASE, TsbVersion::V2_2_0);
        assert!(!TsbVersion::LATEST_RELEASE.has_newer_certificate_dtos());
    }

    #[test]
    fn release_note_gates() {
        let v = TsbVersion::V2_0_0;
        assert!(
            v.has_api_keys() && !v.has_api_key_rollover() && !v.has_filtered_all_approval_task()
        );
        let v = TsbVersion::V2_1_0;
        assert!(v.has_fetch_result_once() && !v.prehashed_rsa_on_ska_keys());
        assert!(TsbVersion::V2_1_1.prehashed_rsa_on_ska_keys());
        assert!(!TsbVersion::V2_1_1.has_rsa_padding_pkcs());
        assert!(TsbVersion::V2_2_0.has_rsa_padding_pkcs());
        assert!(!TsbVersion::V2_2_0.has_newer_certificate_dtos());
        assert!(!TsbVersion::V1_18_0.has_api_keys());
        assert!(!TsbVersion::V2_0_0.has_hmac() && TsbVersion::V2_0_1.has_hmac());
        assert!(!TsbVersion::V2_1_1.has_fips_pqc() && TsbVersion::V2_2_0.has_fips_pqc());
    }
}
