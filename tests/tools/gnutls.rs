//! p11-kit and GnuTLS: the module found through its p11-kit module file (`p11-kit
//! list-modules`, `p11tool`), the module file's `enable-in` keeping it out of other programs, and
//! `certtool` making a CSR and a self-signed certificate with `pkcs11:` URLs, verified by OpenSSL
//! with the TSB's public key.

use crate::common;
use common::doors::{package_version, report_version, P11Kit};
use common::interop::World;
use common::tools::{run, run_output, tool};
use std::path::PathBuf;
use std::process::Command;

fn p11tool() -> PathBuf {
    tool("p11tool", "gnutls-bin")
}

fn certtool() -> PathBuf {
    tool("certtool", "gnutls-bin")
}

fn report_gnutls_versions() {
    report_version("p11tool", Command::new(p11tool()).arg("--version"));
    report_version("certtool", Command::new(certtool()).arg("--version"));
    // p11-kit has no version option.
    package_version("p11-kit");
}

/// The token's URL prefix: every object URL p11tool prints for this world starts with it.
const TOKEN: &str = "token=interop";

#[test]
fn p11kit_module_file_makes_the_token_visible_to_gnutls_tools() {
    report_gnutls_versions();
    let w = World::new("p11kit", false);
    w.keygen("EC:prime256v1", "gnutls-ec", "9e01");
    let p11 = w.p11kit();
    println!("p11-kit module file: {}", p11.module_file.display());

    let modules = run(p11.cmd(&w, &tool("p11-kit", "p11-kit")).arg("list-modules"));
    // The module's block: its header line and the indented lines below it.
    let at = modules
        .find("tsb-pkcs11: ")
        .unwrap_or_else(|| panic!("p11-kit does not list tsb-pkcs11:\n{modules}"));
    let ours: Vec<&str> = modules[at..]
        .lines()
        .enumerate()
        .take_while(|(i, l)| *i == 0 || l.starts_with(char::is_whitespace))
        .map(|(_, l)| l)
        .collect();
    let ours = ours.join("\n");
    assert!(ours.contains("token: interop"), "{modules}");

    let tokens = run(p11.cmd(&w, &p11tool()).args(["--list-tokens"]));
    assert!(tokens.contains("Label: interop"), "{tokens}");

    let objects = run(p11
        .cmd(&w, &p11tool())
        .args(["--list-all", &format!("pkcs11:{TOKEN}")]));
    // GnuTLS writes the id's percent-escapes in upper case.
    for kind in ["private", "public"] {
        assert!(
            objects.contains(&format!("{TOKEN};id=%9E%01;object=gnutls-ec;type={kind}")),
            "{objects}"
        );
    }
    // The public key p11tool exports is the TSB's.
    let exported = p11
        .cmd(&w, &p11tool())
        .args([
            "--export-pubkey",
            &format!("pkcs11:{TOKEN};object=gnutls-ec;type=public"),
        ])
        .output()
        .unwrap();
    assert!(exported.status.success());
    let tsb = std::fs::read_to_string(w.emulator_pubkey_pem("gnutls-ec")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&exported.stdout).trim(),
        tsb.trim(),
        "p11tool exported another key"
    );

    // The module file's enable-in: the same GnuTLS tool under another name does not load it.
    let other = w.path("gnutls-other-program");
    std::fs::copy(p11tool(), &other).unwrap();
    let tokens = run(p11.cmd(&w, &other).args(["--list-tokens"]));
    assert!(
        !tokens.contains("Label: interop"),
        "a program not named in enable-in loaded the module:\n{tokens}"
    );
    assert!(tokens.contains("Label: System Trust"), "{tokens}");
}

/// A certtool template file.
fn template(w: &World, name: &str, lines: &str) -> PathBuf {
    common::write(&w.dir, name, lines.as_bytes())
}

/// Run certtool with this p11-kit setup; its PEM output comes on stdout (the tools may run as
/// `nobody`, who cannot write into the world's dir).
fn certtool_pem(w: &World, p11: &P11Kit, args: &[&str], out_name: &str) -> PathBuf {
    let out = run_output(p11.cmd(w, &certtool()).args(args));
    let pem = String::from_utf8(out.stdout).unwrap();
    let start = pem
        .find("-----BEGIN")
        .unwrap_or_else(|| panic!("certtool printed no PEM:\n{pem}"));
    common::write(&w.dir, out_name, &pem.as_bytes()[start..])
}

fn url(label: &str) -> String {
    format!("pkcs11:{TOKEN};object={label};type=private")
}

#[test]
fn certtool_request_and_self_signed_certificate_with_pkcs11_urls() {
    report_gnutls_versions();
    let w = World::new("certtool", false);
    w.keygen("EC:prime256v1", "certtool-ec", "9e02");
    w.keygen("rsa:2048", "certtool-rsa", "9e03");
    let p11 = w.p11kit();

    // A PKCS#10 request signed with the EC key.
    let tmpl = template(&w, "req.tmpl", "cn = \"certtool request\"\nsigning_key\n");
    let req = certtool_pem(
        &w,
        &p11,
        &[
            "--generate-request",
            "--load-privkey",
            &url("certtool-ec"),
            "--template",
            tmpl.to_str().unwrap(),
        ],
        "certtool.csr",
    );
    w.assert_csr_of(&req, "certtool-ec");

    // A self-signed CA certificate with the RSA key.
    let tmpl = template(
        &w,
        "cert.tmpl",
        "cn = \"certtool self-signed\"\nca\ncert_signing_key\nsigning_key\nexpiration_days = 7\n",
    );
    let cert = certtool_pem(
        &w,
        &p11,
        &[
            "--generate-self-signed",
            "--load-privkey",
            &url("certtool-rsa"),
            "--template",
            tmpl.to_str().unwrap(),
        ],
        "certtool.crt",
    );
    w.assert_self_signed_by(&cert, "certtool-rsa");
    // The check can fail: the certificate is not signed by the other key.
    let x509 = openssl::x509::X509::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    assert!(!x509.verify(&w.tsb_pkey("certtool-ec")).unwrap_or(false));
    assert_eq!(w.sign_counts(), (2, 0));
}
