//! OpenSSL 3 with pkcs11-provider (the provider that replaces the libp11 engine): signatures,
//! a CSR and a self-signed certificate made with `pkcs11:` URIs through the provider, each
//! checked by plain OpenSSL without it; and one approval per signature on an approval-gated key.
//!
//! pkcs11-provider is not in Debian 12 (`scripts/test.sh` installs it from bookworm-backports).
//! Where it is absent these tests say so and pass without testing, unless
//! `TSB_TOOLS_REQUIRE_ALL=1` (scripts/test.sh and CI set it), which makes them fail instead.

use crate::common;
use common::doors::{package_version, provider_path, report_version, require_all};
use common::interop::World;
use common::tools::{run, text, tool};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The provider, or None (with a notice on the real stderr) when the test is to be skipped.
fn provider(test: &str) -> Option<PathBuf> {
    match provider_path() {
        Some(p) => {
            package_version("pkcs11-provider");
            report_version(
                "openssl",
                Command::new(tool("openssl", "openssl")).arg("version"),
            );
            Some(p)
        }
        None if require_all() => panic!(
            "pkcs11-provider is not installed and TSB_TOOLS_REQUIRE_ALL=1: install the Debian \
             package pkcs11-provider (Debian 12: from bookworm-backports; scripts/test.sh does)"
        ),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: pkcs11-provider is not installed (Debian package \
                 pkcs11-provider; scripts/test.sh installs it)"
            );
            None
        }
    }
}

/// `openssl` with the provider configured.
fn openssl_provider(w: &World, provider: &Path, args: &[&str]) -> String {
    let mut c = w.cmd(&tool("openssl", "openssl"));
    c.env("OPENSSL_CONF", w.provider_conf(provider)).args(args);
    run(&mut c)
}

/// `openssl req -new` (with `-x509`: a self-signed certificate) with the key `label` through the
/// provider; returns the PEM file.
fn provider_req(w: &World, provider: &Path, label: &str, x509: bool, out: &str) -> PathBuf {
    let path = w.path(out);
    let mut args = vec!["req", "-new", "-sha256", "-subj"];
    args.push(if x509 {
        "/CN=provider self-signed"
    } else {
        "/CN=provider"
    });
    if x509 {
        args.extend(["-x509", "-days", "7"]);
    }
    let key = uri(label);
    args.extend(["-key", &key, "-out", path.to_str().unwrap()]);
    openssl_provider(w, provider, &args);
    path
}

fn uri(label: &str) -> String {
    format!("pkcs11:object={label};type=private")
}

#[test]
fn openssl_provider_signs_and_makes_csr_and_certificate() {
    let Some(provider) = provider("openssl_provider_signs_and_makes_csr_and_certificate") else {
        return;
    };
    let w = World::new("provider", false);
    w.keygen("EC:prime256v1", "prov-ec", "0b01");
    w.keygen("rsa:2048", "prov-rsa", "0b02");
    let listed = openssl_provider(&w, &provider, &["list", "-providers"]);
    assert!(
        listed.contains("pkcs11") && listed.contains("status: active"),
        "{listed}"
    );

    // pkeyutl over a digest: ECDSA, and RSA PKCS#1 v1.5 with the digest named.
    let data = common::write(&w.dir, "data.bin", b"signed through pkcs11-provider\n");
    let digest = common::write(
        &w.dir,
        "data.sha256",
        &openssl::sha::sha256(&std::fs::read(&data).unwrap()),
    );
    for label in ["prov-ec", "prov-rsa"] {
        let sig = w.path(&format!("{label}.sig"));
        openssl_provider(
            &w,
            &provider,
            &[
                "pkeyutl",
                "-sign",
                "-inkey",
                &uri(label),
                "-pkeyopt",
                "digest:sha256",
                "-in",
                digest.to_str().unwrap(),
                "-out",
                sig.to_str().unwrap(),
            ],
        );
        let pubkey = w.emulator_pubkey_pem(label);
        let out = common::openssl(&[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            pubkey.to_str().unwrap(),
            "-pkeyopt",
            "digest:sha256",
            "-in",
            digest.to_str().unwrap(),
            "-sigfile",
            sig.to_str().unwrap(),
        ]);
        assert!(
            out.contains("Signature Verified Successfully"),
            "{label}: {out}"
        );
        // The check can fail: the signature does not verify another digest.
        let other = common::write(&w.dir, "other.sha256", &[0x55; 32]);
        let out = Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(&pubkey)
            .args(["-pkeyopt", "digest:sha256", "-in"])
            .arg(&other)
            .arg("-sigfile")
            .arg(&sig)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{label}: {}", text(&out));
    }

    // A CSR with the RSA key, a self-signed certificate with the EC key.
    let csr = provider_req(&w, &provider, "prov-rsa", false, "prov.csr");
    w.assert_csr_of(&csr, "prov-rsa");

    let crt = provider_req(&w, &provider, "prov-ec", true, "prov.crt");
    w.assert_self_signed_by(&crt, "prov-ec");
    // Four signatures, one request each.
    assert_eq!(w.sign_counts(), (4, 0));
}

#[test]
fn openssl_provider_csr_from_approval_gated_key() {
    let Some(provider) = provider("openssl_provider_csr_from_approval_gated_key") else {
        return;
    };
    let w = World::new("provider-ska", true);
    w.keygen("EC:prime256v1", "prov-ska", "0b03");
    let watcher = w.watch(1);
    let csr = provider_req(&w, &provider, "prov-ska", false, "ska.csr");
    let out = watcher.finish(Duration::from_secs(10));
    assert!(out.status.success(), "tsb-approve: {}", text(&out));
    w.assert_csr_of(&csr, "prov-ska");
    // One approval for one signature: the provider's length query created no request.
    assert_eq!(w.sign_counts(), (0, 1));
}
