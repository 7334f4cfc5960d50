//! Limits per kind of call: how much of an answer is read, and how long a call that creates a
//! request for approvers may take.
//!
//! A TSB (or anything in between) that sends an endless body must cost a few hundred KiB of
//! memory, not gigabytes: every body is read through one of these limits, a `Content-Length`
//! above it is refused before reading, and a chunked body is cut off at it.

use reqwest::Method;
use std::time::Duration;
use tsb_models::paths;

/// Whether `method path` asks the TSB to create a request for approvers (one of
/// [`paths::CREATES_REQUEST`]: the asynchronous endpoints, which answer a request id).
/// Such a call is sent once, with [`create_timeout`], and a lost answer to it is remembered (see
/// [`super::requests`]), because repeating it would ask the approvers twice.
pub(crate) fn creates_request(method: &Method, path: &str) -> bool {
    *method == Method::POST && paths::CREATES_REQUEST.contains(&path)
}

/// The timeout of a creating call: three times the slot's request timeout, single attempt. A
/// creating call that times out has an unknown outcome, which costs the user a manual check, so
/// it is given more time than a read, which is simply retried.
pub(crate) fn create_timeout(request_timeout: Duration) -> Duration {
    request_timeout.saturating_mul(3)
}

/// Signatures, decryptions, random bytes, request ids and request status: a signature of the
/// largest RSA key is 1 KiB in base64, a request status with its result (a PEM certificate at
/// most) and approver lists a few KiB.
pub(crate) const SMALL: u64 = 256 * 1024;

/// Certificates, CSRs and key attributes (whose policy may list many approver certificates).
pub(crate) const DOCUMENT: u64 = 4 * 1024 * 1024;

/// The most of the answer to `method path` that is read. `max_list` is the slot's
/// `max_list_bytes`, for the key listing.
pub(crate) fn body_limit(method: &Method, path: &str, max_list: u64) -> u64 {
    let p = path.split('?').next().unwrap_or(path);
    if *method == Method::GET && p == paths::KEY {
        max_list
    } else if p.starts_with(paths::CERTIFICATE) || p.starts_with(paths::KEY) {
        DOCUMENT
    } else {
        SMALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_calls() {
        for p in [
            "/v1/sign",
            "/v1/decrypt",
            "/v1/certificate/request",
            "/v1/certificate/selfsign",
        ] {
            assert!(creates_request(&Method::POST, p), "{p}");
        }
        for p in [
            "/v1/synchronousSign",
            "/v1/key",
            "/v1/request/x",
            "/v1/certificate/synchronous/request",
        ] {
            assert!(!creates_request(&Method::POST, p), "{p}");
        }
        assert!(!creates_request(&Method::GET, "/v1/sign"));
        assert_eq!(
            create_timeout(Duration::from_secs(60)),
            Duration::from_secs(180)
        );
        assert_eq!(create_timeout(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn limits_per_kind() {
        assert_eq!(body_limit(&Method::GET, "/v1/key", 77), 77);
        assert_eq!(body_limit(&Method::POST, "/v1/key", 77), DOCUMENT);
        assert_eq!(
            body_limit(&Method::POST, "/v1/key/attributes", 77),
            DOCUMENT
        );
        assert_eq!(body_limit(&Method::GET, "/v1/certificate/k", 77), DOCUMENT);
        assert_eq!(
            body_limit(&Method::POST, "/v1/certificate/synchronous/request", 77),
            DOCUMENT
        );
        for p in [
            "/v1/synchronousSign",
            "/v1/sign",
            "/v1/synchronousDecrypt",
            "/v1/request/abc",
            "/v1/generateRandom/32",
        ] {
            assert_eq!(body_limit(&Method::POST, p, u64::MAX), SMALL, "{p}");
        }
    }
}
