//! Issue 5: the C examples in `c-examples/`, built with the system C compiler (`make`, `cc -Wall
//! -Wextra -Werror`) and run as subprocesses against an in-process `tsb-emulator`, with
//! `tsb_approve::Approver` approving or rejecting in a thread; outcomes are checked with the
//! openssl CLI and, for the imported certificate, through the module itself (cryptoki).
//!
//! Tools: cc (gcc), c++ (g++), make, pkg-config + libp11-kit-dev (pkcs11.h), openssl, valgrind. A
//! missing tool fails the test with the Debian package to install.

mod common;

use common::cexamples::{approve_later, make, source_dir, Fixture};
use common::tools::{run_until, tool, Run};
use common::{module_path, openssl, temp_dir, write};
use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tsb_approve::TaskFilter;

const SUB: &str = "SUB.approver.securosys.com";
const CA: &str = "CA.approver.securosys.com";

/// A request id (UUID) printed after `marker` on some line.
fn id_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let line = text.lines().find(|l| l.contains(marker))?;
    let rest = &line[line.find(marker)? + marker.len()..];
    let id = rest.split_whitespace().next()?;
    Some(id.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
}

/// The lines of `openssl req/x509 -text` after a heading, up to the next extension.
fn extension_block(text: &str, heading: &str) -> Option<(String, String)> {
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim_start().starts_with(heading) {
            let value = lines.next().unwrap_or("").trim().to_string();
            return Some((l.trim().to_string(), value));
        }
    }
    None
}

fn assert_extension(text: &str, heading: &str, critical: bool, value_contains: &str) {
    let (head, value) = extension_block(text, heading)
        .unwrap_or_else(|| panic!("no {heading} extension in:\n{text}"));
    assert_eq!(
        head.ends_with("critical"),
        critical,
        "{heading}: criticality is not {critical}: {head}\n{text}"
    );
    assert!(
        value.contains(value_contains),
        "{heading} is {value:?}, not {value_contains}\n{text}"
    );
}

isolated!(
    /// The seed's flow through example 1 (SKA key, CSR, approval), then example 2 (CA key with a
    /// self-signed CA certificate, certificate for the CSR, import onto the key) and example 3
    /// (C_Sign on the SKA key, approved), each checked with openssl and through the module.
    fn seed_flow_csr_certificate_and_signature_through_the_c_examples() {
        let fx = Fixture::new("cex-seed");
        let policy = fx.seed_policy_file();

        // (1) CSR with the SKA key: exactly one approval, given by the approver in a thread.
        let filter = TaskFilter {
            key_label: Some(SUB.into()),
            ..Default::default()
        };
        let bg = approve_later(&fx.approver, filter.clone());
        let r = run_until(
            fx.example(
                "csr_ska",
                &[
                    "-p",
                    policy.to_str().unwrap(),
                    "-o",
                    &fx.path("sub.csr.pem"),
                ],
            ),
            Duration::from_secs(90),
        );
        r.assert_ok("csr_ska");
        bg.join().expect("approver thread");
        let out = &r.stdout;
        assert!(
            out.contains("through C_GetInterface(\"Vendor tsb-pkcs11\")"),
            "{}",
            r.all()
        );
        assert!(
            out.contains("with an SKA policy (CKA_TSB_POLICY)")
                && out.contains("CKA_TSB_APPROVAL_REQUIRED: yes"),
            "{}",
            r.all()
        );
        assert!(
            out.contains("length query: at most 16384 bytes (no request sent)"),
            "{}",
            r.all()
        );
        let waiting = id_after(out, "waiting for approval of TSB request")
            .unwrap_or_else(|| panic!("the request id was not shown while waiting:\n{}", r.all()));
        let last = id_after(out, "TSB_GetLastRequestId:")
            .unwrap_or_else(|| panic!("no TSB_GetLastRequestId line:\n{}", r.all()));
        assert_eq!(waiting, last);
        assert_eq!(last.len(), 36, "not a UUID: {last}");
        assert!(
            out.contains(&format!("request {last}: EXECUTED, 1 approval(s) given")),
            "{}",
            r.all()
        );
        assert!(
            out.contains("TSB_GetRequestStatus result: ") && out.contains(", the same CSR"),
            "{}",
            r.all()
        );
        // Never twice, the length query included; never the synchronous endpoint.
        assert_eq!(fx.count("POST", "/v1/certificate/request"), 1);
        assert_eq!(fx.count("POST", "/v1/certificate/synchronous/request"), 0);

        let csr = fx.path("sub.csr.pem");
        let verify = openssl(&["req", "-in", &csr, "-verify", "-noout"]);
        assert!(
            verify.contains("verify OK")
                || verify.contains("Certificate request self-signature verify OK"),
            "{verify}"
        );
        let text = openssl(&["req", "-in", &csr, "-noout", "-text"]);
        assert!(
            text.contains("Subject: CN = Approver-Intermediate-SUB")
                || text.contains("Subject: CN=Approver-Intermediate-SUB"),
            "{text}"
        );
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        assert!(text.contains("sha256WithRSAEncryption"), "{text}");
        assert_extension(&text, "X509v3 Key Usage", true, "Digital Signature");
        assert_extension(&text, "X509v3 Extended Key Usage", true, "Code Signing");
        let (_, ski) = extension_block(&text, "X509v3 Subject Key Identifier")
            .unwrap_or_else(|| panic!("no SKI in the CSR:\n{text}"));
        assert_eq!(ski.split(':').count(), 20, "SKI {ski}");

        // (2) CA key + self-signed CA certificate, certificate for the CSR, import onto SUB.
        let r = run_until(
            fx.example(
                "issue_cert",
                &[
                    "-i",
                    &csr,
                    "-o",
                    &fx.path("sub.cert.pem"),
                    "-A",
                    &fx.path("ca.cert.pem"),
                ],
            ),
            Duration::from_secs(60),
        );
        r.assert_ok("issue_cert");
        assert!(
            r.stdout
                .contains(&format!("generated RSA-2048 key pair \"{CA}\""))
                && r.stdout
                    .contains("TSB_SelfSignCertificate: CA certificate object")
                && r.stdout
                    .contains("C_CreateObject: imported the certificate onto")
                && r.stdout
                    .contains("CKA_VALUE matches the issued certificate"),
            "{}",
            r.all()
        );
        let verified = openssl(&[
            "verify",
            "-CAfile",
            &fx.path("ca.cert.pem"),
            &fx.path("sub.cert.pem"),
        ]);
        assert!(verified.contains("sub.cert.pem: OK"), "{verified}");
        let ca_text = openssl(&["x509", "-in", &fx.path("ca.cert.pem"), "-noout", "-text"]);
        assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
        assert_extension(&ca_text, "X509v3 Key Usage", true, "Certificate Sign");
        let sub_text = openssl(&["x509", "-in", &fx.path("sub.cert.pem"), "-noout", "-text"]);
        assert!(sub_text.contains("Approver-Intermediate-SUB"), "{sub_text}");
        assert!(sub_text.contains("Issuer: CN = Approver-CA"), "{sub_text}");
        assert_extension(
            &sub_text,
            "X509v3 Extended Key Usage",
            false,
            "Code Signing",
        );
        let sub_der = std::fs::read(fx.dir.join("sub.cert.pem")).unwrap();
        let sub_x509 = openssl::x509::X509::from_pem(&sub_der).unwrap();

        // Through the module (cryptoki): the certificate is found by the key's CKA_ID, with the
        // key's label and the certificate's fields.
        {
            // This isolated child's only other threads are the emulator's, which never read the
            // environment (see tests/common).
            std::env::set_var("TSB_PKCS11_CONFIG", &fx.config);
            let p11 = Pkcs11::new(module_path()).expect("load module");
            p11.initialize(CInitializeArgs::OsThreads).unwrap();
            let slot = p11.get_slots_with_token().unwrap()[0];
            let s = p11.open_rw_session(slot).unwrap();
            let key = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Label(SUB.into()),
                ])
                .unwrap();
            assert_eq!(key.len(), 1);
            let id = match s
                .get_attributes(key[0], &[AttributeType::Id])
                .unwrap()
                .pop()
            {
                Some(Attribute::Id(id)) => id,
                other => panic!("CKA_ID {other:?}"),
            };
            assert_eq!(id.len(), 8, "the example sets an 8-byte random CKA_ID");
            let certs = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::CERTIFICATE),
                    Attribute::Id(id.clone()),
                ])
                .unwrap();
            assert_eq!(
                certs.len(),
                1,
                "the certificate is found by the key's CKA_ID"
            );
            let attrs = s
                .get_attributes(
                    certs[0],
                    &[
                        AttributeType::CertificateType,
                        AttributeType::Value,
                        AttributeType::Label,
                        AttributeType::Subject,
                        AttributeType::Issuer,
                        AttributeType::SerialNumber,
                    ],
                )
                .unwrap();
            let serial_der = sub_x509.serial_number().to_bn().unwrap().to_vec();
            for a in attrs {
                match a {
                    Attribute::CertificateType(t) => assert_eq!(t, CertificateType::X_509),
                    Attribute::Value(v) => assert_eq!(v, sub_x509.to_der().unwrap()),
                    Attribute::Label(l) => assert_eq!(l, SUB.as_bytes()),
                    Attribute::Subject(v) => {
                        assert_eq!(v, sub_x509.subject_name().to_der().unwrap())
                    }
                    Attribute::Issuer(v) => {
                        assert_eq!(v, sub_x509.issuer_name().to_der().unwrap())
                    }
                    Attribute::SerialNumber(v) => assert!(
                        v.ends_with(&serial_der),
                        "CKA_SERIAL_NUMBER {v:02x?} vs {serial_der:02x?}"
                    ),
                    other => panic!("unexpected {other:?}"),
                }
            }
            drop(s);
            p11.finalize();
        }

        // (3) C_Sign on the SKA key: one approval, one request, a signature openssl verifies
        // with the issued certificate's public key.
        let data = write(&fx.dir, "release.bin", b"the release artefact\n");
        let bg = approve_later(&fx.approver, filter);
        let r = run_until(
            fx.example(
                "sign_file",
                &["-i", data.to_str().unwrap(), "-o", &fx.path("release.sig")],
            ),
            Duration::from_secs(90),
        );
        r.assert_ok("sign_file");
        bg.join().expect("approver thread");
        assert!(
            r.stdout
                .contains("C_Sign length query: 256 bytes (no request sent)"),
            "{}",
            r.all()
        );
        assert!(
            id_after(&r.stdout, "C_Sign: TSB request id").is_some(),
            "{}",
            r.all()
        );
        assert_eq!(fx.count("POST", "/v1/sign"), 1);
        assert_eq!(fx.count("POST", "/v1/synchronousSign"), 0);
        let pubkey = openssl(&["x509", "-in", &fx.path("sub.cert.pem"), "-pubkey", "-noout"]);
        let pubkey = write(&fx.dir, "sub.pub.pem", pubkey.as_bytes());
        let v = openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            pubkey.to_str().unwrap(),
            "-signature",
            &fx.path("release.sig"),
            data.to_str().unwrap(),
        ]);
        assert!(v.contains("Verified OK"), "{v}");
    }
);

isolated!(
    /// Example 2 with an approval-gated CA key (-p): the self-signed CA certificate and the issued
    /// certificate each wait for one approval, each asked once.
    fn ska_ca_key_self_sign_and_issue_wait_for_approvals() {
        let fx = Fixture::new("cex-ska-ca");
        let policy = fx.seed_policy_file();
        let r = run_until(
            fx.example(
                "csr_ska",
                &[
                    "-l",
                    "leaf",
                    "-n",
                    "leaf.example",
                    "-o",
                    &fx.path("leaf.csr.pem"),
                ],
            ),
            Duration::from_secs(60),
        );
        r.assert_ok("csr_ska without a policy");
        assert!(
            r.stdout.contains("CKA_TSB_APPROVAL_REQUIRED: no"),
            "{}",
            r.all()
        );
        assert_eq!(fx.count("POST", "/v1/certificate/synchronous/request"), 1);
        assert_eq!(fx.count("POST", "/v1/certificate/request"), 0);

        let filter = TaskFilter {
            key_label: Some("ska-ca".into()),
            ..Default::default()
        };
        let approver = fx.approver.clone();
        let bg = std::thread::spawn(move || {
            approve_later(&approver, filter.clone()).join().unwrap();
            approve_later(&approver, filter).join().unwrap();
        });
        let r = run_until(
            fx.example(
                "issue_cert",
                &[
                    "-a",
                    "ska-ca",
                    "-p",
                    policy.to_str().unwrap(),
                    "-s",
                    "leaf",
                    "-i",
                    &fx.path("leaf.csr.pem"),
                    "-o",
                    &fx.path("leaf.cert.pem"),
                    "-A",
                    &fx.path("ska-ca.cert.pem"),
                ],
            ),
            Duration::from_secs(90),
        );
        r.assert_ok("issue_cert with an SKA CA key");
        bg.join().expect("approver thread");
        let self_signed = id_after(&r.stdout, "TSB_SelfSignCertificate: TSB request id")
            .unwrap_or_else(|| panic!("{}", r.all()));
        let issued = id_after(&r.stdout, "TSB_IssueCertificate: TSB request id")
            .unwrap_or_else(|| panic!("{}", r.all()));
        assert_ne!(self_signed, issued);
        // Each wait shows its own request, never the previous one.
        let waits: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| l.starts_with("waiting for approval of TSB request"))
            .collect();
        assert_eq!(
            waits,
            vec![
                format!("waiting for approval of TSB request {self_signed} (TSB_GetLastRequestId)"),
                format!("waiting for approval of TSB request {issued} (TSB_GetLastRequestId)"),
            ],
            "{}",
            r.all()
        );
        assert_eq!(fx.count("POST", "/v1/certificate/selfsign"), 1);
        assert_eq!(fx.count("POST", "/v1/certificate/sign"), 1);
        assert_eq!(fx.count("POST", "/v1/certificate/synchronous/selfsign"), 0);
        assert_eq!(fx.count("POST", "/v1/certificate/synchronous/sign"), 0);
        let v = openssl(&[
            "verify",
            "-CAfile",
            &fx.path("ska-ca.cert.pem"),
            &fx.path("leaf.cert.pem"),
        ]);
        assert!(v.contains("leaf.cert.pem: OK"), "{v}");
        assert!(
            r.stdout
                .contains("CKA_VALUE matches the issued certificate"),
            "{}",
            r.all()
        );
    }
);

/// Example 1 (`csr_ska`, the seed's policy, `extra` arguments) run to its failure with `rv` (as
/// it names it): exit 1, the reason on stderr, the request id it reported, its output file not
/// written, and one request for the approvers. Returns the run and that id.
fn csr_ska_fails(fx: &Fixture, extra: &[&str], rv: &str, timeout_s: u64) -> (Run, String) {
    let policy = fx.seed_policy_file();
    let out_file = fx.dir.join("failed.csr.pem");
    let mut args = vec!["-p", policy.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend(["-o", out_file.to_str().unwrap()]);
    let r = run_until(fx.example("csr_ska", &args), Duration::from_secs(timeout_s));
    assert_eq!(r.status.code(), Some(1), "{}", r.all());
    assert!(
        r.stderr.contains(&format!("TSB_CreateCSR failed: {rv}")),
        "{}",
        r.all()
    );
    let id = id_after(&r.stdout, "TSB_GetLastRequestId:")
        .unwrap_or_else(|| panic!("no request id after {rv}:\n{}", r.all()))
        .to_string();
    assert!(!out_file.exists(), "a failed CSR must not be written");
    assert_eq!(fx.count("POST", "/v1/certificate/request"), 1);
    (r, id)
}

isolated!(
    /// A rejected CSR: example 1 ends with CKR_FUNCTION_REJECTED (exit 1), shows the request id,
    /// and writes nothing.
    fn rejected_csr_returns_function_rejected() {
        let fx = Fixture::new("cex-reject");
        let approver = fx.approver.clone();
        let rejecter = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(60);
            loop {
                let tasks = approver
                    .pending(&TaskFilter::default())
                    .expect("list tasks");
                if let Some(t) = tasks.first() {
                    approver.reject(&t.task.id).expect("reject");
                    return t.task.id.clone();
                }
                assert!(Instant::now() < end, "no task to reject appeared");
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let (r, id) = csr_ska_fails(&fx, &[], "CKR_FUNCTION_REJECTED (0x00000200)", 90);
        rejecter.join().expect("rejecter");
        assert!(
            r.stdout.contains(&format!("request {id}: REJECTED")),
            "{}",
            r.all()
        );
        assert_eq!(fx.count("POST", "/v1/certificate/request"), 1);
    }
);

isolated!(
    /// A request that expires on the TSB (the policy's 600 s pass on the emulator's clock) ends
    /// example 1 with the vendor code CKR_TSB_APPROVAL_EXPIRED, named.
    fn expired_csr_returns_the_vendor_code_by_name() {
        let fx = Fixture::new("cex-expire");
        let (r, id) = std::thread::scope(|scope| {
            scope.spawn(|| {
                let end = Instant::now() + Duration::from_secs(60);
                while fx
                    .approver
                    .pending(&TaskFilter::default())
                    .expect("list tasks")
                    .is_empty()
                {
                    assert!(Instant::now() < end, "no request appeared");
                    std::thread::sleep(Duration::from_millis(100));
                }
                std::thread::sleep(Duration::from_millis(500));
                fx.emu.advance_clock(Duration::from_secs(601));
            });
            csr_ska_fails(&fx, &[], "CKR_TSB_APPROVAL_EXPIRED (0xd4530001)", 60)
        });
        assert!(
            r.stdout.contains(&format!("request {id}: EXPIRED")),
            "{}",
            r.all()
        );
    }
);

isolated!(
    /// Example 1 with -C: the watcher thread cancels the still-pending request with
    /// TSB_CancelRequest, and TSB_CreateCSR returns CKR_FUNCTION_CANCELED.
    fn cancelled_csr_returns_function_canceled() {
        let fx = Fixture::new("cex-cancel");
        let (r, id) = csr_ska_fails(
            &fx,
            &["-C", "500"],
            "CKR_FUNCTION_CANCELED (0x00000050)",
            60,
        );
        assert!(
            r.stdout
                .contains(&format!("cancelling request {id} (TSB_CancelRequest)"))
                && r.stdout.contains(&format!("request {id}: CANCELLED")),
            "{}",
            r.all()
        );
        assert_eq!(fx.count("DELETE", &format!("/v1/request/{id}")), 1);
        assert_eq!(fx.count("POST", "/v1/certificate/request"), 1);
    }
);

isolated!(
    /// tsb_pkcs11.h next to p11-kit's pkcs11.h compiles with -Wall -Wextra -Werror (header_check.c
    /// and every example include both).
    fn vendor_header_compiles_with_wall_wextra_werror() {
        let dir = temp_dir("cex-header");
        make(&dir, "check-header");
        assert!(dir.join("header_check.o").exists());
        // And a minimal program outside the Makefile, as C99, C11, GNU C17 and C++11 (the header's
        // extern "C" block).
        let src = b"#include <string.h>\n#include <pkcs11.h>\n#include \"tsb_pkcs11.h\"\n\
              int main(void) {\n\
                  TSB_CSR_PARAMS p;\n\
                  CK_ULONG n = TSB_OUTPUT_ESTIMATE;\n\
                  CK_RV (*f)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, const TSB_CSR_PARAMS *,\n\
                             CK_BYTE *, CK_ULONG *) = TSB_CreateCSR;\n\
                  memset(&p, 0, sizeof p);\n\
                  p.commonName = \"x\";\n\
                  return p.commonName[0] == 'x' && n > 0 && f != NULL && CKA_TSB_POLICY != 0 ? 0 : 1;\n\
              }\n";
        let c_src = write(&dir, "min.c", src);
        // The TSB_CreateCSR example of c-examples/README.md, as written there.
        let readme = std::fs::read_to_string(source_dir().join("README.md")).unwrap();
        let snippet = readme
            .split("```c\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a C block in c-examples/README.md");
        assert!(snippet.contains("TSB_CreateCSR"), "{snippet}");
        let readme_src = write(
            &dir,
            "readme.c",
            format!("#include <stdio.h>\n#include <stdlib.h>\n{snippet}").as_bytes(),
        );
        let cpp_src = write(&dir, "min.cpp", src);
        let inc = String::from_utf8(
            Command::new("pkg-config")
                .args(["--variable=includedir", "p11-kit-1"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        tool("c++", "g++");
        for (compiler, std, file) in [
            ("cc", "-std=c99", &c_src),
            ("cc", "-std=c11", &c_src),
            ("cc", "-std=gnu17", &c_src),
            ("c++", "-std=c++11", &cpp_src),
            ("cc", "-std=c11", &readme_src),
        ] {
            let o = Command::new(compiler)
                .args([std, "-Wall", "-Wextra", "-Werror", "-c", "-o"])
                .arg(dir.join("min.o"))
                .arg(format!("-I{}/p11-kit-1/p11-kit", inc.trim()))
                .arg(format!(
                    "-I{}",
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("include")
                        .display()
                ))
                .arg(file)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{compiler} {std}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
);

isolated!(
    /// The examples, with keys that need no approval, under valgrind: no errors, no definite leaks.
    fn examples_under_valgrind_have_no_errors_or_definite_leaks() {
        tool("valgrind", "valgrind");
        let fx = Fixture::new("cex-valgrind");
        let vg = |args: &[&str]| {
            let mut c = Command::new("valgrind");
            fx.env(&mut c);
            c.args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--quiet",
            ])
            .arg(fx.bin.join(args[0]))
            .args(&args[1..]);
            c
        };
        let label = "valgrind-plain";
        let data = write(&fx.dir, "data.bin", b"data to sign\n");
        let runs: Vec<Vec<String>> = vec![
            vec![
                "csr_ska",
                "-l",
                label,
                "-f",
                "der",
                "-n",
                "Valgrind Plain",
                "-O",
                "Acme AG",
                "-U",
                "Release Engineering",
                "-c",
                "CH",
                "-E",
                "release@example.com",
                "-S",
                "ST=Zug",
                "-S",
                "L=Baar",
                "-S",
                "title=Signer",
                "-S",
                "SN=Muster",
                "-S",
                "GN=Hans",
                "-S",
                "initials=HM",
                "-S",
                "pseudonym=hm",
                "-S",
                "generationQualifier=Jr",
                "-S",
                "organizationIdentifier=VATCH-123",
                "-o",
                &fx.path("plain.csr.der"),
            ],
            vec![
                "issue_cert",
                "-a",
                "valgrind-ca",
                "-s",
                label,
                "-i",
                &fx.path("plain.csr.der"),
                "-o",
                &fx.path("plain.cert.pem"),
                "-A",
                &fx.path("plain-ca.cert.pem"),
            ],
            vec!["sign_file", "-l", label, "-i", data.to_str().unwrap()],
        ]
        .into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect();
        for args in &runs {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let started = Instant::now();
            let r = run_until(vg(&args), Duration::from_secs(120));
            assert!(
                r.status.success(),
                "valgrind {}: errors or definite leaks (exit 99) or failure:\n{}",
                args[0],
                r.all()
            );
            assert!(
                !r.stderr.contains("definitely lost")
                    || r.stderr.contains("definitely lost: 0 bytes"),
                "{}",
                r.all()
            );
            eprintln!("valgrind {}: clean in {:?}", args[0], started.elapsed());
        }
        // The DER CSR with the subject fields given on the command line.
        let text = openssl(&[
            "req",
            "-inform",
            "DER",
            "-in",
            &fx.path("plain.csr.der"),
            "-verify",
            "-noout",
            "-text",
        ]);
        assert!(text.contains("verify OK"), "{text}");
        // Every subject field of TSB_CSR_PARAMS.
        let subject = openssl(&[
            "req",
            "-inform",
            "DER",
            "-in",
            &fx.path("plain.csr.der"),
            "-noout",
            "-subject",
            "-nameopt",
            "multiline",
        ]);
        let fields: Vec<(String, String)> = subject
            .lines()
            .filter_map(|l| l.split_once(" = "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        for (k, v) in [
            ("commonName", "Valgrind Plain"),
            ("organizationName", "Acme AG"),
            ("organizationalUnitName", "Release Engineering"),
            ("countryName", "CH"),
            ("emailAddress", "release@example.com"),
            ("stateOrProvinceName", "Zug"),
            ("localityName", "Baar"),
            ("title", "Signer"),
            ("surname", "Muster"),
            ("givenName", "Hans"),
            ("initials", "HM"),
            ("pseudonym", "hm"),
            ("generationQualifier", "Jr"),
            ("organizationIdentifier", "VATCH-123"),
        ] {
            assert!(
                fields.contains(&(k.to_string(), v.to_string())),
                "{k} = {v} missing in\n{subject}"
            );
        }
        assert_eq!(fields.len(), 14, "{subject}");
        let v = openssl(&[
            "verify",
            "-CAfile",
            &fx.path("plain-ca.cert.pem"),
            &fx.path("plain.cert.pem"),
        ]);
        assert!(v.contains("OK"), "{v}");
        assert!(fx.dir.join("data.bin.sig").exists());
    }
);

isolated!(
    /// A usage error is exit 2; a module that cannot be loaded is exit 1 with the reason.
    fn examples_report_usage_and_load_errors() {
        let fx = Fixture::new("cex-errors");
        let r = run_until(fx.example("sign_file", &[]), Duration::from_secs(10));
        assert_eq!(r.status.code(), Some(2), "{}", r.all());
        let mut c = fx.example("csr_ska", &["-m", "/nonexistent/libnothing.so"]);
        c.env_remove("TSB_PKCS11_MODULE");
        let r = run_until(c, Duration::from_secs(10));
        assert_eq!(r.status.code(), Some(1), "{}", r.all());
        assert!(
            r.stderr.contains("dlopen(/nonexistent/libnothing.so)"),
            "{}",
            r.all()
        );
        let mut c = fx.example("csr_ska", &[]);
        c.env_remove("TSB_PKCS11_MODULE");
        let r = run_until(c, Duration::from_secs(10));
        assert_eq!(r.status.code(), Some(1), "{}", r.all());
        assert!(r.stderr.contains("TSB_PKCS11_MODULE"), "{}", r.all());
        // A key that does not exist: the failure names the label.
        let r = run_until(
            fx.example("sign_file", &["-l", "no-such-key", "-i", "/etc/hostname"]),
            Duration::from_secs(30),
        );
        assert_eq!(r.status.code(), Some(1), "{}", r.all());
        assert!(
            r.stderr.contains("no private key labelled \"no-such-key\""),
            "{}",
            r.all()
        );
    }
);
