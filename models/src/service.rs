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
