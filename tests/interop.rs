//! Interop: the built module driven by real tools (pkcs11-tool, OpenSSL 3 with the libp11 engine,
//! osslsigncode, jarsigner) against an in-process emulator, and every result checked by an
//! independent verifier (the `openssl` CLI, `osslsigncode verify`, `jarsigner -verify`).
//!
//! The module is never loaded into this process: each tool is a child process that finds its
//! configuration through `TSB_PKCS11_CONFIG` in its own environment, so the tests can run in
//! parallel threads. A missing tool fails the test with the name of the Debian package that ships
//! it (`scripts/test.sh` installs them all): a skipped interop test would pass without testing.

mod common;

use common::doors::{package_version, report_version};
use common::interop::World;
use common::pe::{minimal_pe, PeKind};
use common::tools::{approve_bin, engine_path, run, text, tool, Bg};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Independent checks
// ---------------------------------------------------------------------------------------------

fn verify_dgst(pubkey: &Path, data: &Path, sig: &Path) {
    let out = common::openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        pubkey.to_str().unwrap(),
        "-signature",
        sig.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert!(out.contains("Verified OK"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// pkcs11-tool
// ---------------------------------------------------------------------------------------------
//
// `--sign` picks its key by `--id` only: pkcs11-tool 0.23 ignores `--label` there and takes the
// first private key (seen with SoftHSM too), so every signing call names the key by id.

#[test]
fn pkcs11_tool_lists_slots_mechanisms_and_objects() {
    // pkcs11-tool has no version option: OpenSC's package version.
    package_version("opensc");
    let w = World::new("p11-list", false);
    let slots = w.pkcs11_tool(&["-L"]);
    assert!(slots.contains("interop"), "token label missing:\n{slots}");
    let mechs = w.pkcs11_tool(&["-M"]);
    for m in [
        "RSA-PKCS-KEY-PAIR-GEN",
        // pkcs11-tool prints CKM_EC_KEY_PAIR_GEN by its older name.
        "ECDSA-KEY-PAIR-GEN",
        "SHA256-RSA-PKCS",
        "RSA-PKCS-PSS",
        "ECDSA-SHA256",
    ] {
        assert!(mechs.contains(m), "{m} not listed:\n{mechs}");
    }
    w.keygen("EC:prime256v1", "listed", "4c49");
    let objs = w.pkcs11_tool(&["-O"]);
    assert!(
        objs.contains("Private Key Object; EC") && objs.contains("Public Key Object; EC"),
        "{objs}"
    );
    assert!(objs.contains("label:      listed"), "{objs}");
    assert!(objs.contains("ID:         4c49"), "{objs}");
}

/// OpenSC's own self-tests, which users run first against a new module: `pkcs11-tool --test`
/// (random, digests, then signatures, verification and decryption with every RSA key) and
/// `--test-fork`. It picks
/// its signature mechanisms by CKF_SIGN | CKF_HW, so without CKF_HW it printed "Signatures: not
/// implemented" and skipped them all.
#[test]
fn pkcs11_tool_self_test_signs_verifies_and_decrypts() {
    let w = World::new("p11-selftest", false);
    w.pkcs11_tool(&[
        "--keypairgen",
        "--key-type",
        "rsa:2048",
        "--label",
        "selftest",
        "--id",
        "01",
        "--usage-sign",
        "--usage-decrypt",
    ]);
    // Exits with the number of errors it found: `run` asserts 0.
    let out = w.pkcs11_tool(&["--test"]);
    assert!(!out.contains("not implemented"), "{out}");
    for line in [
        "Signatures (currently only for RSA)",
        // C_Sign, C_SignUpdate/Final, and their length queries.
        "all 4 signature functions seem to work",
        "SHA256-RSA-PKCS: OK",
        "Verify (currently only for RSA)",
        "Decryption (currently only for RSA)",
        "RSA-PKCS: OK",
        "No errors",
    ] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    // Its fork test: C_Initialize in a forked child of an initialized process must succeed (the
    // child is another application); it answered CKR_CRYPTOKI_ALREADY_INITIALIZED and
    // pkcs11-tool exited with an error.
    let out = w.pkcs11_tool(&["--test-fork"]);
    assert!(
        out.contains("Calling C_Initialize in forked child process"),
        "{out}"
    );
}

#[test]
fn pkcs11_tool_rsa_keygen_sign_pkcs1_and_pss() {
    let w = World::new("p11-rsa", false);
    w.keygen("rsa:2048", "rsa-key", "01");
    let objs = w.pkcs11_tool(&["-O", "--type", "privkey"]);
    assert!(objs.contains("Private Key Object; RSA"), "{objs}");
    let pubkey = w.pubkey_pem("rsa-key");
    let bits = common::openssl(&["pkey", "-pubin", "-in", pubkey.to_str().unwrap(), "-text"]);
    assert!(bits.contains("2048 bit"), "{bits}");

    let data = common::write(&w.dir, "data.txt", b"interop test data\n");
    let sig = w.path("sig.pkcs1");
    w.pkcs11_tool(&[
        "--sign",
        "-m",
        "SHA256-RSA-PKCS",
        "--id",
        "01",
        "-i",
        data.to_str().unwrap(),
        "-o",
        sig.to_str().unwrap(),
    ]);
    verify_dgst(&pubkey, &data, &sig);

    // CKM_RSA_PKCS_PSS signs a digest the caller computed; the TSB's salt is the hash length.
    let digest = w.path("data.sha256");
    std::fs::write(
        &digest,
        openssl::sha::sha256(&std::fs::read(&data).unwrap()),
    )
    .unwrap();
    let sig = w.path("sig.pss");
    w.pkcs11_tool(&[
        "--sign",
        "-m",
        "RSA-PKCS-PSS",
        "--hash-algorithm",
        "SHA256",
        "--mgf",
        "MGF1-SHA256",
        "--id",
        "01",
        "-i",
        digest.to_str().unwrap(),
        "-o",
        sig.to_str().unwrap(),
    ]);
    let out = common::openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pubkey.to_str().unwrap(),
        "-in",
        digest.to_str().unwrap(),
        "-sigfile",
        sig.to_str().unwrap(),
        "-pkeyopt",
        "digest:sha256",
        "-pkeyopt",
        "rsa_padding_mode:pss",
        "-pkeyopt",
        "rsa_pss_saltlen:32",
    ]);
    assert!(out.contains("Signature Verified Successfully"), "{out}");
    // A key without a policy signs synchronously, once per signature.
    assert_eq!(w.sign_counts(), (2, 0));
}

#[test]
fn pkcs11_tool_ec_keygen_sign_p256_and_p384() {
    let w = World::new("p11-ec", false);
    let data = common::write(&w.dir, "data.txt", b"interop EC data\n");
    for (curve, label, id, name) in [
        ("EC:prime256v1", "ec-p256", "0256", "prime256v1"),
        ("EC:secp384r1", "ec-p384", "0384", "secp384r1"),
    ] {
        w.keygen(curve, label, id);
        let pubkey = if curve == "EC:secp384r1" {
            // pkcs11-tool 0.23 (Debian 12) cannot export P-384 public keys ("cannot create
            // EVP_PKEY", SoftHSM too): take the TSB's SPKI instead.
            w.emulator_pubkey_pem(label)
        } else {
            w.pubkey_pem(label)
        };
        let txt = common::openssl(&["pkey", "-pubin", "-in", pubkey.to_str().unwrap(), "-text"]);
        assert!(txt.contains(name), "{curve}: {txt}");
        let sig = w.path(&format!("{label}.sig"));
        w.pkcs11_tool(&[
            "--sign",
            "-m",
            "ECDSA-SHA256",
            "--signature-format",
            "openssl",
            "--id",
            id,
            "-i",
            data.to_str().unwrap(),
            "-o",
            sig.to_str().unwrap(),
        ]);
        verify_dgst(&pubkey, &data, &sig);
    }
    assert_eq!(w.sign_counts(), (2, 0));
}

#[test]
fn pkcs11_tool_certificate_write_read_delete() {
    let w = World::new("p11-cert", false);
    w.keygen("EC:prime256v1", "cert-key", "c0de");
    // Make a certificate over the key with the TSB, then take it off the key so that pkcs11-tool
    // has something real to import.
    let pem = w.self_sign("cert-key", "SHA256_WITH_ECDSA", false);
    let cert_pem = common::write(&w.dir, "cert.pem", pem.as_bytes());
    let cert_der = w.path("cert.der");
    common::openssl(&[
        "x509",
        "-in",
        cert_pem.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        cert_der.to_str().unwrap(),
    ]);
    let r = w
        .http()
        .delete(format!("{}/v1/certificate/cert-key", w.emu.base_url()))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(w.get("/v1/certificate/cert-key").0, 404);

    w.pkcs11_tool(&[
        "--write-object",
        cert_der.to_str().unwrap(),
        "--type",
        "cert",
        "--id",
        "c0de",
        "--label",
        "cert-key",
    ]);
    let (status, stored) = w.get("/v1/certificate/cert-key");
    assert_eq!(status, 200, "certificate not stored with the key: {stored}");

    let objs = w.pkcs11_tool(&["-O", "--type", "cert"]);
    assert!(
        objs.contains("Certificate Object; type = X.509 cert"),
        "{objs}"
    );
    assert!(objs.contains("label:      cert-key"), "{objs}");
    let back = w.path("back.der");
    w.pkcs11_tool(&[
        "--read-object",
        "--type",
        "cert",
        "--id",
        "c0de",
        "-o",
        back.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&cert_der).unwrap(),
        "certificate read back differs"
    );

    w.pkcs11_tool(&["--delete-object", "--type", "cert", "--id", "c0de"]);
    assert_eq!(w.get("/v1/certificate/cert-key").0, 404);
    let objs = w.pkcs11_tool(&["-O"]);
    assert!(!objs.contains("Certificate Object"), "{objs}");
    assert!(
        objs.contains("Private Key Object; EC"),
        "key went too: {objs}"
    );

    w.pkcs11_tool(&["--delete-object", "--type", "privkey", "--id", "c0de"]);
    let objs = w.pkcs11_tool(&["-O"]);
    assert!(!objs.contains("cert-key"), "key still listed: {objs}");
    let r = w
        .http()
        .post(format!("{}/v1/key/attributes", w.emu.base_url()))
        .json(&json!({"label": "cert-key"}))
        .send()
        .unwrap();
    assert!(
        !r.status().is_success(),
        "key still in the TSB: {}",
        r.status()
    );
}

#[test]
fn pkcs11_tool_ska_keygen_and_sign_waits_for_approval() {
    let w = World::new("p11-ska", true);
    w.keygen("EC:prime256v1", "ska-key", "5ca0");
    // The default policy reached the TSB with the key.
    let attrs = w.post("/v1/key/attributes", json!({"label": "ska-key"}));
    let policy = attrs["json"]["policy"].to_string();
    assert!(
        policy.contains("public_key") && policy.contains("quorum"),
        "key has no SKA policy: {attrs}"
    );
    let pubkey = w.pubkey_pem("ska-key");
    let data = common::write(&w.dir, "data.txt", b"release 1.0\n");
    let sig = w.path("sig");

    let watcher = w.watch(1);
    w.pkcs11_tool(&[
        "--sign",
        "-m",
        "ECDSA-SHA256",
        "--signature-format",
        "openssl",
        "--id",
        "5ca0",
        "-i",
        data.to_str().unwrap(),
        "-o",
        sig.to_str().unwrap(),
    ]);
    let out = watcher.finish(Duration::from_secs(10));
    assert!(out.status.success(), "tsb-approve: {}", text(&out));
    assert!(text(&out).contains("approved task"), "{}", text(&out));
    verify_dgst(&pubkey, &data, &sig);
    // One approval request for one C_Sign (pkcs11-tool asks the length first: that must not
    // create a second request), and the synchronous endpoint is never tried.
    assert_eq!(w.sign_counts(), (0, 1));
}

// ---------------------------------------------------------------------------------------------
// OpenSSL 3 with the libp11 engine
// ---------------------------------------------------------------------------------------------

fn engine_uri(label: &str) -> String {
    format!("pkcs11:object={label};type=private")
}

/// CSR, signature and self-signed certificate through the engine, each checked without it.
fn openssl_engine_roundtrip(w: &World, label: &str) {
    report_version(
        "openssl",
        Command::new(tool("openssl", "openssl")).arg("version"),
    );
    package_version("libengine-pkcs11-openssl");
    let uri = engine_uri(label);
    let pubkey = w.pubkey_pem(label);
    let key_args = ["-engine", "pkcs11", "-keyform", "engine", "-key", &uri];

    let csr = w.path(&format!("{label}.csr"));
    let mut args = vec!["req", "-new", "-sha256", "-subj", "/CN=interop"];
    args.extend(key_args);
    args.extend(["-out", csr.to_str().unwrap()]);
    w.openssl_engine(&args);
    let out = common::openssl(&["req", "-verify", "-noout", "-in", csr.to_str().unwrap()]);
    assert!(out.contains("verify OK"), "{out}");
    // The CSR carries the token's key, not some other key the engine made up.
    let csr_pub = common::openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"]);
    assert_eq!(
        csr_pub.trim(),
        std::fs::read_to_string(&pubkey).unwrap().trim()
    );

    let data = common::write(&w.dir, "data.bin", b"signed through the engine");
    let sig = w.path(&format!("{label}.sig"));
    let mut args = vec!["dgst", "-sha256"];
    args.extend(["-engine", "pkcs11", "-keyform", "engine", "-sign", &uri]);
    args.extend(["-out", sig.to_str().unwrap(), data.to_str().unwrap()]);
    w.openssl_engine(&args);
    verify_dgst(&pubkey, &data, &sig);

    let cert = w.path(&format!("{label}.crt"));
    let mut args = vec!["req", "-new", "-x509", "-days", "7", "-sha256"];
    args.extend(["-subj", "/CN=interop self-signed"]);
    args.extend(key_args);
    args.extend(["-out", cert.to_str().unwrap()]);
    w.openssl_engine(&args);
    let c = cert.to_str().unwrap();
    let out = common::openssl(&["verify", "-CAfile", c, c]);
    assert!(out.contains(": OK"), "{out}");
}

#[test]
fn openssl_engine_rsa_csr_sign_selfsigned() {
    let w = World::new("ossl-rsa", false);
    w.keygen("rsa:2048", "engine-rsa", "0e01");
    openssl_engine_roundtrip(&w, "engine-rsa");
    assert_eq!(w.sign_counts(), (3, 0));
}

#[test]
fn openssl_engine_ec_csr_sign_selfsigned() {
    let w = World::new("ossl-ec", false);
    w.keygen("EC:prime256v1", "engine-ec", "0e02");
    openssl_engine_roundtrip(&w, "engine-ec");
    assert_eq!(w.sign_counts(), (3, 0));
}

#[test]
fn openssl_engine_csr_from_ska_key_after_approval() {
    let w = World::new("ossl-ska", true);
    w.keygen("EC:prime256v1", "engine-ska", "0e03");
    let pubkey = w.pubkey_pem("engine-ska");
    let csr = w.path("ska.csr");
    let uri = engine_uri("engine-ska");
    let watcher = w.watch(1);
    w.openssl_engine(&[
        "req",
        "-new",
        "-sha256",
        "-subj",
        "/CN=approved",
        "-engine",
        "pkcs11",
        "-keyform",
        "engine",
        "-key",
        &uri,
        "-out",
        csr.to_str().unwrap(),
    ]);
    let out = watcher.finish(Duration::from_secs(10));
    assert!(out.status.success(), "tsb-approve: {}", text(&out));
    let out = common::openssl(&["req", "-verify", "-noout", "-in", csr.to_str().unwrap()]);
    assert!(out.contains("verify OK"), "{out}");
    let csr_pub = common::openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"]);
    assert_eq!(
        csr_pub.trim(),
        std::fs::read_to_string(&pubkey).unwrap().trim()
    );
    assert_eq!(w.sign_counts(), (0, 1));
}

// ---------------------------------------------------------------------------------------------
// osslsigncode
// ---------------------------------------------------------------------------------------------

#[test]
fn osslsigncode_signs_pe_with_ska_key() {
    let w = World::new("osslsigncode", true);
    let osslsigncode = tool("osslsigncode", "osslsigncode");
    report_version("osslsigncode", Command::new(&osslsigncode).arg("--version"));
    w.keygen("rsa:2048", "code-signing", "c5");
    // The key's certificate, made and stored by the TSB (after approval: the key is SKA).
    let pem = w.self_sign("code-signing", "SHA256_WITH_RSA", true);
    let cert = common::write(&w.dir, "code-signing.pem", pem.as_bytes());
    let (sync_before, async_before) = w.sign_counts();

    let exe = common::write(&w.dir, "hello.exe", &minimal_pe(PeKind::Win32Console));
    let signed = w.path("hello-signed.exe");
    let watcher = w.watch(1);
    let mut c = w.cmd(&osslsigncode);
    c.arg("sign")
        .arg("-pkcs11engine")
        .arg(engine_path())
        .arg("-pkcs11module")
        .arg(&w.module)
        .args(["-key", &engine_uri("code-signing")])
        .arg("-certs")
        .arg(&cert)
        .args(["-h", "sha256", "-n", "interop"])
        .arg("-in")
        .arg(&exe)
        .arg("-out")
        .arg(&signed);
    run(&mut c);
    let out = watcher.finish(Duration::from_secs(10));
    assert!(out.status.success(), "tsb-approve: {}", text(&out));
    assert_eq!(w.sign_counts(), (sync_before, async_before + 1));

    // Self-signed: the certificate is its own trust anchor.
    let mut c = Command::new(&osslsigncode);
    c.args(["verify", "-CAfile"])
        .arg(&cert)
        .arg("-in")
        .arg(&signed);
    let out = run(&mut c);
    assert!(out.contains("Signature verification: ok"), "{out}");
    assert!(out.contains("Succeeded"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// jarsigner (SunPKCS11)
// ---------------------------------------------------------------------------------------------

/// Build `app.jar` and the SunPKCS11 config for the module; returns (jar, config).
fn jar_and_provider_config(w: &World) -> (PathBuf, PathBuf) {
    // jarsigner has no version option: the JDK's.
    report_version(
        "java",
        Command::new(tool("java", "default-jdk-headless")).arg("-version"),
    );
    let jar = tool("jar", "default-jdk-headless");
    let content = w.path("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("hello.txt"), "hello from the interop test\n").unwrap();
    let unsigned = w.path("app.jar");
    let mut c = w.cmd(&jar);
    c.arg("cf").arg(&unsigned).arg("-C").arg(&content).arg(".");
    run(&mut c);
    (unsigned, w.sunpkcs11_config())
}

/// `jarsigner` with the token as its keystore; the alias is the key's CKA_LABEL.
fn jarsign(w: &World, cfg: &Path, unsigned: &Path, signed: &Path, sigalg: &str, alias: &str) {
    let jarsigner = tool("jarsigner", "default-jdk-headless");
    let mut c = w.cmd(&jarsigner);
    c.args(["-keystore", "NONE", "-storetype", "PKCS11"])
        .args(["-providerClass", "sun.security.pkcs11.SunPKCS11"])
        .arg("-providerArg")
        .arg(cfg)
        .args(["-storepass", "x", "-sigalg", sigalg])
        .arg("-signedjar")
        .arg(signed)
        .arg(unsigned)
        .arg(alias);
    let out = run(&mut c);
    assert!(out.contains("jar signed"), "{out}");
}

/// `jarsigner -verify` without the token; the signer must be the certificate of `cn`.
fn jar_verify(w: &World, signed: &Path, cn: &str) {
    let jarsigner = tool("jarsigner", "default-jdk-headless");
    let mut c = w.cmd(&jarsigner);
    c.args(["-verify", "-verbose", "-certs"]).arg(signed);
    let out = run(&mut c);
    assert!(out.contains("jar verified"), "{out}");
    assert!(
        out.contains(&format!("CN={cn}")),
        "signer is not the TSB key's certificate:\n{out}"
    );
}

#[test]
fn jarsigner_signs_jar_with_ska_ec_key() {
    let w = World::new("jarsigner-ska", true);
    w.keygen("EC:prime256v1", "jar-ska", "3c4d");
    w.self_sign("jar-ska", "SHA256_WITH_ECDSA", true);
    let (unsigned, cfg) = jar_and_provider_config(&w);
    let (sync_before, async_before) = w.sign_counts();
    let signed = w.path("app-signed.jar");
    let watcher = w.watch(1);
    jarsign(&w, &cfg, &unsigned, &signed, "SHA256withECDSA", "jar-ska");
    let out = watcher.finish(Duration::from_secs(10));
    assert!(out.status.success(), "tsb-approve: {}", text(&out));
    // Java signs the signature file once: one approval request.
    assert_eq!(w.sign_counts(), (sync_before, async_before + 1));
    jar_verify(&w, &signed, "jar-ska");
}

#[test]
fn jarsigner_signs_and_verifies_jar() {
    let w = World::new("jarsigner", false);
    // Java pairs a private key with its certificate by CKA_ID and names the entry by CKA_LABEL.
    w.keygen("rsa:2048", "jar-signer", "1a2b");
    w.self_sign("jar-signer", "SHA256_WITH_RSA", false);
    let (unsigned, cfg) = jar_and_provider_config(&w);
    let signed = w.path("app-signed.jar");
    jarsign(&w, &cfg, &unsigned, &signed, "SHA256withRSA", "jar-signer");
    assert_eq!(w.sign_counts(), (1, 0));
    jar_verify(&w, &signed, "jar-signer");
}

/// Reject the next task on `label` (waits for it to appear, bounded); returns its task id.
fn reject_next(w: &World, label: &str) -> String {
    let key = w.approver_key.clone().expect("world without SKA");
    let deadline = Instant::now() + Duration::from_secs(20);
    let task = loop {
        let out = run(Command::new(approve_bin())
            .args(["list", "--key-label", label, "--url", &w.emu.base_url()])
            .arg("--key")
            .arg(&key));
        // A header line, then one row per task with the task id first.
        if let Some(row) = out.lines().find(|l| l.contains(label)) {
            break row.split_whitespace().next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no task appeared:\n{out}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = run(Command::new(approve_bin())
        .args(["reject", &task, "--url", &w.emu.base_url()])
        .arg("--key")
        .arg(&key));
    assert!(out.contains("rejected task"), "{out}");
    task
}

#[test]
fn pkcs11_tool_sign_rejected_by_approver_fails() {
    let w = World::new("p11-reject", true);
    w.keygen("EC:prime256v1", "reject-me", "dead");
    let data = common::write(&w.dir, "data.txt", b"not this one\n");
    let sig = w.path("sig");
    let mut c = w.cmd(&tool("pkcs11-tool", "opensc"));
    c.arg("--module")
        .arg(&w.module)
        .args(["--sign", "-m", "ECDSA-SHA256", "--id", "dead", "-i"])
        .arg(&data)
        .arg("-o")
        .arg(&sig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let signer = Bg::new(c.spawn().expect("spawn pkcs11-tool"), "pkcs11-tool --sign");
    // pkcs11-tool 0.23 answers a failed one-shot C_Sign by trying again at once with
    // C_SignInit + C_SignUpdate + C_SignFinal over the same data. The module remembers the
    // rejection for a short while and answers that retry itself, so the approver is asked once.
    reject_next(&w, "reject-me");
    let out = signer.finish(Duration::from_secs(20));
    let log = text(&out);
    assert!(!out.status.success(), "signing succeeded: {log}");
    // CKR_FUNCTION_REJECTED; pkcs11-tool 0.23 has no name for this PKCS#11 3.0 code.
    assert!(
        log.contains("C_SignFinal failed: rv = unknown PKCS11 error (0x200)")
            || log.contains("CKR_FUNCTION_REJECTED"),
        "{log}"
    );
    assert!(log.contains("was rejected by the approvers"), "{log}");
    assert!(!sig.exists() || std::fs::read(&sig).unwrap().is_empty());
    assert_eq!(w.sign_counts(), (0, 1), "the approvers were asked once");
}

// ---------------------------------------------------------------------------------------------
// pkcs11-tool with AES keys (issue 16)
// ---------------------------------------------------------------------------------------------
//
// pkcs11-tool 0.23 encrypts with CKM_AES_ECB, CKM_AES_CBC and CKM_AES_CBC_PAD (not GCM: "Mechanism
// AES-GCM illegal or not supported"), takes the IV from `--iv` (hex) and passes none without it.
// The module honours the caller's IV, all-zero ones included (README, "AES and the IV"); on a
// slot with `"aes_iv": "tsb-when-zero"`, an all-zero IV lets the TSB choose and the module writes
// the IV into the caller's buffer, which pkcs11-tool never prints back: the IV used is read from
// the module's debug log.

/// An AES-256 key `aes-key` with id 0a made by pkcs11-tool in `w`'s TSB, and its bytes in hex
/// (read behind the module's back: a TSB never reveals them).
fn pkcs11_tool_aes_key(w: &World) -> String {
    let out = w.pkcs11_tool(&[
        "--keygen",
        "--key-type",
        "AES:32",
        "--label",
        "aes-key",
        "--id",
        "0a",
    ]);
    assert!(out.contains("Secret Key Object; AES length 32"), "{out}");
    let key = w
        .emu
        .secret_key_bytes("aes-key")
        .expect("AES key on the TSB");
    assert_eq!(key.len(), 32);
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// `openssl enc` with `args` from `input` into a new file, whose bytes are returned.
fn openssl_enc(w: &World, args: &[&str], input: &Path, out: &str) -> Vec<u8> {
    let out = w.path(out);
    let mut all = vec!["enc"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "-in",
        input.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
    ]);
    common::openssl(&all);
    std::fs::read(&out).unwrap()
}

/// pkcs11-tool's `--encrypt`/`--decrypt` (`op`) with key 0a and mechanism `mech` (and `--iv`),
/// from `input` into a new file, whose bytes are returned.
fn pkcs11_tool_aes(w: &World, op: &str, mech: &str, iv: Option<&str>, input: &Path) -> Vec<u8> {
    let out = w.path(&format!(
        "{}.out",
        input.file_name().unwrap().to_str().unwrap()
    ));
    let mut args = vec![op, "-m", mech, "--id", "0a"];
    if let Some(iv) = iv {
        args.extend_from_slice(&["--iv", iv]);
    }
    args.extend_from_slice(&["-i", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    w.pkcs11_tool(&args);
    std::fs::read(&out).unwrap()
}

#[test]
fn pkcs11_tool_aes_keygen_encrypt_decrypt_round_trip() {
    let w = World::new("p11-aes", false);
    let key_hex = pkcs11_tool_aes_key(&w);
    let objs = w.pkcs11_tool(&["-O", "--type", "secrkey"]);
    assert!(objs.contains("label:      aes-key"), "{objs}");
    assert!(objs.contains("sensitive"), "{objs}");

    let plain_bytes = b"sealed with AES-CBC-PAD in the TSB\n";
    let plain = common::write(&w.dir, "plain.txt", plain_bytes);
    // The IV of pkcs11-tool's choice is used, an all-zero one too: OpenSSL decrypts with it.
    for (n, my_iv) in ["000102030405060708090a0b0c0d0e0f", &"0".repeat(32)]
        .into_iter()
        .enumerate()
    {
        let ct_bytes = pkcs11_tool_aes(&w, "--encrypt", "AES-CBC-PAD", Some(my_iv), &plain);
        assert_eq!(ct_bytes.len(), 48);
        let ct = common::write(&w.dir, &format!("ct{n}.bin"), &ct_bytes);
        let args = ["-d", "-aes-256-cbc", "-K", &key_hex, "-iv", my_iv];
        assert_eq!(
            openssl_enc(&w, &args, &ct, &format!("openssl{n}.txt")),
            plain_bytes
        );
        // pkcs11-tool decrypts it, given that IV.
        assert_eq!(
            pkcs11_tool_aes(&w, "--decrypt", "AES-CBC-PAD", Some(my_iv), &ct),
            plain_bytes
        );
        // And what OpenSSL encrypted under it.
        let args = ["-aes-256-cbc", "-K", &key_hex, "-iv", my_iv];
        let theirs = openssl_enc(&w, &args, &plain, &format!("theirs{n}.bin"));
        assert_eq!(theirs, ct_bytes, "the same ciphertext as OpenSSL's");
    }
    // AES-ECB (whole blocks): the TSB's block cipher, as OpenSSL's without padding.
    let blocks = common::write(&w.dir, "blocks.bin", &[0x5a; 32]);
    let ecb = pkcs11_tool_aes(&w, "--encrypt", "AES-ECB", None, &blocks);
    let theirs = openssl_enc(
        &w,
        &["-aes-256-ecb", "-nopad", "-K", &key_hex],
        &blocks,
        "ecb.bin",
    );
    assert_eq!(ecb, theirs);
    let ecb = common::write(&w.dir, "ecb-ct.bin", &ecb);
    assert_eq!(
        pkcs11_tool_aes(&w, "--decrypt", "AES-ECB", None, &ecb),
        vec![0x5a; 32]
    );
}

#[test]
fn pkcs11_tool_aes_with_the_tsbs_iv_on_a_slot_that_opts_in() {
    let w = World::new("p11-aes-tsb-iv", false);
    // The slot lets the TSB choose when the IV is all zeros.
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.config).unwrap()).unwrap();
    config["slots"][0]["aes_iv"] = "tsb-when-zero".into();
    std::fs::write(&w.config, config.to_string()).unwrap();
    let key_hex = pkcs11_tool_aes_key(&w);
    let plain_bytes = b"sealed with AES-CBC-PAD under the TSB's IV\n";
    let plain = common::write(&w.dir, "plain.txt", plain_bytes);
    let ct = w.path("ct.bin");
    let mut c = w.cmd(&tool("pkcs11-tool", "opensc"));
    c.env("TSB_PKCS11_LOG", "debug")
        .arg("--module")
        .arg(&w.module)
        .args(["--encrypt", "-m", "AES-CBC-PAD", "--id", "0a"])
        .args(["--iv", &"0".repeat(32), "-i"])
        .arg(&plain)
        .arg("-o")
        .arg(&ct);
    let log = text(&common::tools::run_output(&mut c));
    let iv = log
        .lines()
        .find_map(|l| {
            l.split_once("(AES): IV ")
                .map(|(_, iv)| iv.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no IV in the module's log:\n{log}"));
    assert_eq!(iv.len(), 32, "{log}");
    assert_ne!(iv, "0".repeat(32));
    assert_eq!(std::fs::metadata(&ct).unwrap().len(), 48);
    // OpenSSL decrypts it with the key and the TSB's IV, and so does pkcs11-tool.
    let args = ["-d", "-aes-256-cbc", "-K", &key_hex, "-iv", &iv];
    assert_eq!(openssl_enc(&w, &args, &ct, "openssl.txt"), plain_bytes);
    assert_eq!(
        pkcs11_tool_aes(&w, "--decrypt", "AES-CBC-PAD", Some(&iv), &ct),
        plain_bytes
    );
}

#[test]
fn pkcs11_tool_hmac_keygen_and_sign_match_openssl() {
    let w = World::new("p11-hmac", false);
    let out = w.pkcs11_tool(&[
        "--keygen",
        "--key-type",
        "GENERIC:32",
        "--label",
        "mac-key",
        "--id",
        "0b",
        "--usage-sign",
    ]);
    assert!(out.contains("Secret Key Object"), "{out}");
    let key = w
        .emu
        .secret_key_bytes("mac-key")
        .expect("HMAC key on the TSB");
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let data = common::write(&w.dir, "data.txt", b"authenticate me\n");
    let mac = w.path("mac.bin");
    w.pkcs11_tool(&[
        "--sign",
        "-m",
        "SHA256-HMAC",
        "--id",
        "0b",
        "-i",
        data.to_str().unwrap(),
        "-o",
        mac.to_str().unwrap(),
    ]);
    let want = common::openssl(&[
        "dgst",
        "-sha256",
        "-mac",
        "HMAC",
        "-macopt",
        &format!("hexkey:{key_hex}"),
        data.to_str().unwrap(),
    ]);
    let got: String = std::fs::read(&mac)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got.len(), 64);
    assert!(
        want.trim_end().ends_with(&got),
        "OpenSSL: {want}, module: {got}"
    );
}
