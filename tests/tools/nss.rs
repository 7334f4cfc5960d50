//! NSS: the module added to a fresh NSS database with `modutil -add`, its token's certificates and
//! keys listed by `certutil -L -h` / `-K -h`, and certificate requests made with `certutil -R`
//! from keys in the module, verified by OpenSSL against the TSB's public keys.

use crate::common;
use common::doors::package_version;
use common::interop::World;
use common::tools::{run, tool};
use std::path::PathBuf;

/// A new, empty NSS database (`sql:` format) in the world's dir.
fn nss_db(w: &World) -> String {
    let db = w.path("nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let db = format!("sql:{}", db.display());
    run(w
        .cmd(&certutil())
        .args(["-N", "-d", &db, "--empty-password"]));
    db
}

fn certutil() -> PathBuf {
    tool("certutil", "libnss3-tools")
}

fn modutil() -> PathBuf {
    tool("modutil", "libnss3-tools")
}

#[test]
fn nss_modutil_adds_module_certutil_lists_and_requests() {
    // certutil and modutil have no version option: the package's version.
    package_version("libnss3-tools");
    let w = World::new("nss", false);
    w.keygen("rsa:2048", "nss-rsa", "4e01");
    w.keygen("EC:prime256v1", "nss-ec", "4e02");
    let cert_pem = w.self_sign("nss-rsa", "SHA256_WITH_RSA", false);
    let db = nss_db(&w);

    // -force: modutil otherwise asks to confirm on the terminal.
    let mut c = w.cmd(&modutil());
    c.args(["-dbdir", &db, "-add", "TSB", "-force", "-libfile"])
        .arg(&w.module);
    let out = run(&mut c);
    assert!(out.contains("Module \"TSB\" added to database"), "{out}");
    let list = run(w.cmd(&modutil()).args(["-dbdir", &db, "-list", "TSB"]));
    assert!(
        list.contains("Token Name: interop") || list.contains("token: interop"),
        "{list}"
    );

    // The token's certificate: NSS names it token:label and marks it as a user certificate
    // (u), i.e. it found the private key with the certificate's CKA_ID.
    let certs = run(w.cmd(&certutil()).args(["-L", "-d", &db, "-h", "interop"]));
    let row = certs
        .lines()
        .find(|l| l.starts_with("interop:nss-rsa"))
        .unwrap_or_else(|| panic!("certificate not listed:\n{certs}"));
    assert!(row.trim_end().ends_with("u,u,u"), "{certs}");
    // ... and it is the TSB's certificate.
    let der = w.path("nss-rsa.der");
    run(w
        .cmd(&certutil())
        .args(["-L", "-d", &db, "-n", "interop:nss-rsa", "-r", "-o"])
        .arg(&der));
    let listed = openssl::x509::X509::from_der(&std::fs::read(&der).unwrap()).unwrap();
    let tsb = openssl::x509::X509::from_pem(cert_pem.as_bytes()).unwrap();
    assert_eq!(listed.to_der().unwrap(), tsb.to_der().unwrap());

    let keys = run(w.cmd(&certutil()).args(["-K", "-d", &db, "-h", "interop"]));
    for (kind, id, label) in [("rsa", "4e01", "nss-rsa"), ("ec", "4e02", "nss-ec")] {
        assert!(
            // "< 0> rsa      4e01     nss-rsa"
            keys.lines()
                .filter_map(|l| l.split_once('>'))
                .any(|(_, rest)| {
                    rest.split_whitespace().collect::<Vec<_>>() == [kind, id, label]
                }),
            "{kind} key {label} not listed:\n{keys}"
        );
    }

    // Requests signed by each key, picked by CKA_ID on the token (-h interop -k <hex id>).
    for (id, label) in [("4e01", "nss-rsa"), ("4e02", "nss-ec")] {
        let req = w.path(&format!("{label}.csr"));
        let mut c = w.cmd(&certutil());
        c.args([
            "-R", "-d", &db, "-h", "interop", "-k", id, "-Z", "SHA256", "-a",
        ])
        .args(["-s", &format!("CN={label},O=NSS request")])
        .arg("-o")
        .arg(&req);
        run(&mut c);
        w.assert_csr_of(&req, label);
    }
    assert_eq!(w.sign_counts(), (2, 0));
}
