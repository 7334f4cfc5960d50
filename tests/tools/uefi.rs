//! UEFI Secure Boot and kernel modules: `sbsign --engine pkcs11` signing an EFI application,
//! checked by `sbverify --cert`; and the kernel's `scripts/sign-file` signature (a detached CMS
//! SignedData without certificates or signed attributes, appended to the module with its
//! trailer) made by `openssl cms -sign` with a `pkcs11:` key through the engine, checked by
//! `openssl cms -verify`.

use crate::common;
use common::doors::{package_version, report_version};
use common::interop::World;
use common::pe::{minimal_pe, PeKind};
use common::tools::{run, text, tool};
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY_URI: &str = "pkcs11:object=boot-signer;type=private";

/// A world with an RSA key `boot-signer` and its self-signed certificate from the TSB (Secure
/// Boot and the kernel's module signing both use RSA keys); returns the certificate's path.
fn boot_signer(tag: &str) -> (World, PathBuf) {
    let w = World::new(tag, false);
    w.keygen("rsa:2048", "boot-signer", "b007");
    let pem = w.self_sign("boot-signer", "SHA256_WITH_RSA", false);
    let cert = common::write(&w.dir, "boot-signer.pem", pem.as_bytes());
    (w, cert)
}

/// Another self-signed certificate (a key outside the TSB), for the checks that must fail.
fn stranger_cert(w: &World) -> PathBuf {
    let cert = w.path("stranger.pem");
    common::openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=stranger",
        "-keyout",
        w.path("stranger.key").to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    cert
}

fn sbverify(cert: &Path, image: &Path) -> std::process::Output {
    Command::new(tool("sbverify", "sbsigntool"))
        .arg("--cert")
        .arg(cert)
        .arg(image)
        .output()
        .expect("run sbverify")
}

#[test]
fn sbsign_signs_an_efi_image_checked_by_sbverify() {
    // sbsign --version prints "sbsign 0.9.4".
    report_version(
        "sbsign",
        Command::new(tool("sbsign", "sbsigntool")).arg("--version"),
    );
    let (w, cert) = boot_signer("sbsign");
    let image = common::write(&w.dir, "boot.efi", &minimal_pe(PeKind::EfiApplication));
    let signed = w.path("boot-signed.efi");
    // sbsign loads the engine by id; the openssl.cnf of the world points it at the module.
    let mut c = w.cmd(&tool("sbsign", "sbsigntool"));
    c.env("OPENSSL_CONF", w.openssl_conf())
        .args(["--engine", "pkcs11", "--key", KEY_URI, "--cert"])
        .arg(&cert)
        .arg("--output")
        .arg(&signed)
        .arg(&image);
    run(&mut c);
    assert_eq!(w.sign_counts(), (1, 0));

    let out = sbverify(&cert, &signed);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Signature verification OK"),
        "{}",
        text(&out)
    );
    let listed = run(Command::new(tool("sbverify", "sbsigntool"))
        .arg("--list")
        .arg(&signed));
    assert!(listed.contains("subject: /CN=boot-signer"), "{listed}");
    // The checks can fail: the unsigned image, and the signed one against another certificate.
    let out = sbverify(&cert, &image);
    assert!(
        !out.status.success(),
        "unsigned image verified: {}",
        text(&out)
    );
    let out = sbverify(&stranger_cert(&w), &signed);
    assert!(
        !out.status.success(),
        "verified with another certificate: {}",
        text(&out)
    );
}

/// The kernel's module signature trailer (include/linux/module_signature.h): algo, hash,
/// id_type (2 = PKEY_ID_PKCS7), signer_len, key_id_len, 3 pad bytes, the signature's length
/// big-endian, then the magic string.
const MODULE_SIG_MAGIC: &[u8] = b"~Module signature appended~\n";

fn append_module_signature(module: &[u8], cms: &[u8]) -> Vec<u8> {
    let mut out = module.to_vec();
    out.extend_from_slice(cms);
    out.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&(cms.len() as u32).to_be_bytes());
    out.extend_from_slice(MODULE_SIG_MAGIC);
    out
}

/// Split a signed module into (content, CMS signature) as the kernel does.
fn split_module_signature(signed: &[u8]) -> (&[u8], &[u8]) {
    let body = signed
        .strip_suffix(MODULE_SIG_MAGIC)
        .expect("no module signature magic");
    let (rest, info) = body.split_at(body.len() - 12);
    assert_eq!(info[2], 2, "id_type is not PKEY_ID_PKCS7");
    let sig_len = u32::from_be_bytes(info[8..12].try_into().unwrap()) as usize;
    rest.split_at(rest.len() - sig_len)
}

fn cms_verify(w: &World, content: &Path, sig: &Path, cert: &Path) -> std::process::Output {
    // The signature carries no certificate (sign-file's CMS_NOCERTS): it is given here, and
    // trusted as its own anchor; -purpose any: a code-signing certificate, not an S/MIME one.
    w.cmd(&tool("openssl", "openssl"))
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-in")
        .arg(sig)
        .arg("-content")
        .arg(content)
        .arg("-certfile")
        .arg(cert)
        .arg("-CAfile")
        .arg(cert)
        .args(["-out", "/dev/null"])
        .output()
        .expect("openssl cms -verify")
}

#[test]
fn kernel_module_signature_with_openssl_cms_and_the_engine() {
    report_version(
        "openssl",
        Command::new(tool("openssl", "openssl")).arg("version"),
    );
    package_version("libengine-pkcs11-openssl");
    let (w, cert) = boot_signer("sign-file");
    let module: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let ko = common::write(&w.dir, "hello.ko", &module);
    let p7s = w.path("hello.ko.p7s");
    // What scripts/sign-file does with a pkcs11: key: CMS_sign with CMS_NOCERTS |
    // CMS_BINARY | CMS_DETACHED and a signer without signed attributes or S/MIME
    // capabilities, SHA-256, DER.
    w.openssl_engine(&[
        "cms",
        "-sign",
        "-engine",
        "pkcs11",
        "-keyform",
        "engine",
        "-inkey",
        KEY_URI,
        "-signer",
        cert.to_str().unwrap(),
        "-in",
        ko.to_str().unwrap(),
        "-binary",
        "-noattr",
        "-nocerts",
        "-nosmimecap",
        "-md",
        "sha256",
        "-outform",
        "DER",
        "-out",
        p7s.to_str().unwrap(),
    ]);
    assert_eq!(w.sign_counts(), (1, 0));
    let signed = append_module_signature(&module, &std::fs::read(&p7s).unwrap());
    let signed_ko = common::write(&w.dir, "hello-signed.ko", &signed);

    // Check the module as the kernel would read it: split off the trailer, verify the CMS.
    let signed = std::fs::read(&signed_ko).unwrap();
    let (content, sig) = split_module_signature(&signed);
    assert_eq!(content, &module[..]);
    let content_path = common::write(&w.dir, "content.bin", content);
    let sig_path = common::write(&w.dir, "sig.p7s", sig);
    let out = cms_verify(&w, &content_path, &sig_path, &cert);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Verification successful"),
        "{}",
        text(&out)
    );
    // No certificate inside and no signed attributes, as sign-file makes them.
    let dump = common::openssl(&[
        "cms",
        "-cmsout",
        "-print",
        "-inform",
        "DER",
        "-in",
        sig_path.to_str().unwrap(),
    ]);
    assert!(dump.contains("certificates:\n      <ABSENT>"), "{dump}");
    assert!(dump.contains("signedAttrs:\n          <ABSENT>"), "{dump}");
    // The check can fail: a changed module, and another certificate.
    let mut changed = content.to_vec();
    changed[100] ^= 1;
    let changed = common::write(&w.dir, "changed.bin", &changed);
    let out = cms_verify(&w, &changed, &sig_path, &cert);
    assert!(
        !out.status.success(),
        "changed module verified: {}",
        text(&out)
    );
    let out = cms_verify(&w, &content_path, &sig_path, &stranger_cert(&w));
    assert!(
        !out.status.success(),
        "verified with another certificate: {}",
        text(&out)
    );
}
