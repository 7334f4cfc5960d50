//! Java's keytool through SunPKCS11 (beside jarsigner in tests/interop.rs): `keytool -list` shows
//! the token's key with its certificate, `keytool -certreq` makes a CSR with it; checked against
//! the TSB's certificate and public key by OpenSSL.

use crate::common;
use common::doors::report_version;
use common::interop::World;
use common::tools::{run, tool};
use std::path::PathBuf;
use std::process::Command;

fn keytool() -> PathBuf {
    tool("keytool", "default-jdk-headless")
}

/// keytool with the token as its keystore (`-storepass` is required; the token needs no PIN).
fn keytool_pkcs11(w: &World) -> Command {
    let mut c = w.cmd(&keytool());
    c.args(["-keystore", "NONE", "-storetype", "PKCS11"])
        .args(["-providerClass", "sun.security.pkcs11.SunPKCS11"])
        .arg("-providerArg")
        .arg(w.sunpkcs11_config())
        .args(["-storepass", "x"]);
    c
}

#[test]
fn keytool_lists_the_token_and_makes_a_csr() {
    // keytool has no version option; `java -version` prints e.g. openjdk version "17.0.15".
    report_version(
        "java",
        Command::new(tool("java", "default-jdk-headless")).arg("-version"),
    );
    let w = World::new("keytool", false);
    w.keygen("EC:prime256v1", "kt-ec", "7a01");
    w.keygen("rsa:2048", "kt-rsa", "7a02");
    let ec_cert = w.self_sign("kt-ec", "SHA256_WITH_ECDSA", false);
    let rsa_cert = w.self_sign("kt-rsa", "SHA256_WITH_RSA", false);

    let list = run(keytool_pkcs11(&w).arg("-list"));
    assert!(list.contains("Your keystore contains 2 entries"), "{list}");
    for (label, pem) in [("kt-ec", &ec_cert), ("kt-rsa", &rsa_cert)] {
        // "<alias>, PrivateKeyEntry," then the certificate's SHA-256 fingerprint.
        let at = list
            .find(&format!("{label}, PrivateKeyEntry,"))
            .unwrap_or_else(|| panic!("{label} not listed:\n{list}"));
        let fp_line = list[at..]
            .lines()
            .find(|l| l.starts_with("Certificate fingerprint (SHA-256): "))
            .expect("fingerprint");
        let pem_path = common::write(&w.dir, &format!("{label}.crt"), pem.as_bytes());
        let expected = common::openssl(&[
            "x509",
            "-in",
            pem_path.to_str().unwrap(),
            "-noout",
            "-fingerprint",
            "-sha256",
        ]);
        let expected = expected.trim().trim_start_matches("sha256 Fingerprint=");
        assert_eq!(
            fp_line.trim_start_matches("Certificate fingerprint (SHA-256): "),
            expected,
            "{label}: keytool shows another certificate"
        );
    }

    for (label, sigalg) in [("kt-ec", "SHA256withECDSA"), ("kt-rsa", "SHA256withRSA")] {
        let req = w.path(&format!("{label}.csr"));
        let mut c = keytool_pkcs11(&w);
        c.args(["-certreq", "-alias", label, "-sigalg", sigalg, "-file"])
            .arg(&req);
        run(&mut c);
        w.assert_csr_of(&req, label);
        // keytool takes the subject from the key's certificate.
        let subject = common::openssl(&["req", "-in", req.to_str().unwrap(), "-noout", "-subject"]);
        assert!(subject.contains(&format!("CN = {label}")), "{subject}");
    }
    assert_eq!(w.sign_counts(), (2, 0));
}
