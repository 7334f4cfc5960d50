//! The test families that are not part of contract mode, each with the emulator control it needs
//! (or why running it against another TSB would add nothing). Printed as `SKIP` lines by every
//! contract run and listed in README ("Contract mode"); a unit test below makes sure that every
//! test file of the repository is either here or run by contract mode.

/// A test family left out of contract mode.
pub struct Family {
    /// The file or directory, from the repository root.
    pub path: &'static str,
    /// Why it needs the emulator.
    pub reason: &'static str,
}

/// Every family that needs the emulator.
pub const NOT_IN_CONTRACT_MODE: &[Family] = &[
    Family {
        path: "tests/abi.rs",
        reason:
            "request counters (no HTTP call from C_Initialize, slot and session functions) and \
                 fault injection (a failing TSB behind the C ABI)",
    },
    Family {
        path: "tests/keys.rs",
        reason: "request counters: asserts which calls reach the TSB and how often (cache, find \
                 by label without listing); key generation itself runs in contract mode",
    },
    Family {
        path: "tests/signing.rs",
        reason: "request counters (keys refused before any request), and a forked child and 16 \
                 parallel waits on one emulator; every mechanism checked by OpenSSL runs in \
                 contract mode",
    },
    Family {
        path: "tests/certificates.rs",
        reason: "request counters (a refused import sends nothing); certificate objects and \
                 import run in contract mode",
    },
    Family {
        path: "tests/extension.rs",
        reason: "request counters and CA certificates from the configuration; CSR, self-signed \
                 certificate and import run in contract mode",
    },
    Family {
        path: "tests/c_examples.rs",
        reason: "the clock (an approval request that expires) and request counters",
    },
    Family {
        path: "tests/pqc.rs",
        reason: "request counters (a signature with a context goes to /v1/sign only, never to \
                 the synchronous endpoint); contract mode generates no post-quantum keys yet",
    },
    Family {
        path: "tests/hostile_abi.rs",
        reason: "keys created behind the module's back on the emulator; about the C ABI, which \
                 is the same against any TSB",
    },
    Family {
        path: "tests/hostile_server.rs",
        reason: "fault injection: redirects, floods, blackholes, answers lost after the request \
                 was handled",
    },
    Family {
        path: "tests/interop.rs",
        reason: "request counters (sync vs async signatures, approvers asked once) on an \
                 in-process emulator per tool",
    },
    Family {
        path: "tests/odd_labels.rs",
        reason: "fault injection (keys whose attributes or certificate fail to fetch) and labels \
                 the module cannot create",
    },
    Family {
        path: "tests/pkcs11_semantics.rs",
        reason: "keys created behind the module's back and request counters; about PKCS#11 \
                 state, which is the same against any TSB",
    },
    Family {
        path: "tests/profiles.rs",
        reason: "the emulator's TSB version profiles (one process, every version); a real TSB \
                 has one version",
    },
    Family {
        path: "tests/verify_results.rs",
        reason: "fault injection: canned wrong signatures and plaintexts that a correct TSB never \
                 returns",
    },
    Family {
        path: "tests/failure_lines.rs",
        reason: "fault injection (a TSB that is down, refuses credentials or answers an error \
                 code) and the module's stderr in a child process per case",
    },
    Family {
        path: "tests/error_order.rs",
        reason: "about the C ABI's error order with NULL arguments; no request reaches the TSB",
    },
    Family {
        path: "tests/message_encryption.rs",
        reason: "request counters (a length query and a retry after CKR_BUFFER_TOO_SMALL send \
                 nothing); C_EncryptMessage with GCM test case 4 runs in contract mode",
    },
    Family {
        path: "tests/session_keys.rs",
        reason: "crashed and live processes sharing one emulator's key list; the cleanup it \
                 checks deletes keys, which contract mode does for its own prefix only",
    },
    Family {
        path: "tests/doctor.rs",
        reason: "fault injection (a wrong token, an untrusted certificate, a TSB that never \
                 answers) on emulators the test starts; the doctor's own run needs no test",
    },
    Family {
        path: "tests/aes_mac.rs",
        reason: "request counters (a length query and a short buffer send nothing, one request \
                 per block); the MACs against RFC 4493 and OpenSSL run in contract mode",
    },
    Family {
        path: "tests/kbkdf.rs",
        reason: "request counters (a refused parameter sends nothing) and the flows of the \
                 cryptoki suite; the NIST CAVP vectors (AES-CMAC PRF) run in contract mode",
    },
    Family {
        path: "tests/tools/",
        reason: "each tool test builds its own in-process emulator world and counts requests; \
                 the module calls they make run in contract mode",
    },
    Family {
        path: "src/token/tests/",
        reason: "the clock (expiry, our timeout), the scheduler, and fault injection (lost \
                 answers, kept outputs) on in-process emulators",
    },
    Family {
        path: "emulator/tests/",
        reason: "tests of the emulator itself (test controls, profiles, state file)",
    },
    Family {
        path: "approver/tests/",
        reason: "tests of tsb-approve against the emulator (clock skew, faults); its approvals \
                 and rejections run in contract mode",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// Every integration test file is either left out here, with a reason, or is contract mode
    /// itself; a new test family must say whether it can run against a real TSB.
    #[test]
    fn every_test_family_is_accounted_for() {
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(root().join("tests")).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if entry.file_type().unwrap().is_dir() {
                format!("tests/{name}/")
            } else if name.ends_with(".rs") {
                format!("tests/{name}")
            } else {
                continue;
            };
            if matches!(
                path.as_str(),
                "tests/contract/" | "tests/common/" | "tests/fixtures/"
            ) {
                continue;
            }
            if !NOT_IN_CONTRACT_MODE.iter().any(|f| f.path == path) {
                missing.push(path);
            }
        }
        assert!(
            missing.is_empty(),
            "test families neither in contract mode nor in NOT_IN_CONTRACT_MODE: {missing:?}"
        );
        for f in NOT_IN_CONTRACT_MODE {
            assert!(root().join(f.path).exists(), "{} does not exist", f.path);
        }
    }

    /// README's "Contract mode" names every family left out.
    #[test]
    fn readme_lists_every_family_left_out() {
        let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
        let section = readme
            .split("### Contract mode")
            .nth(1)
            .expect("README has a \"Contract mode\" section");
        for f in NOT_IN_CONTRACT_MODE {
            assert!(
                section.contains(&format!("`{}`", f.path)),
                "README's Contract mode does not list `{}`",
                f.path
            );
        }
    }
}
