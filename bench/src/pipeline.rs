//! (10) A signing pipeline (issue 15): `osslsigncode` signing a batch of PE files one process per
//! file, as a release job does, through the libp11 engine with a plain EC P-256 key; the whole
//! pipeline's wall time against the module and against SoftHSMv2. Each key gets a certificate
//! with its public key issued by a throwaway CA made here (osslsigncode only checks that the
//! certificate's public key is the key's), and one signed file of each side is verified.

use crate::util::{ctx, http_client, Res};
use crate::{on_path, Bench, Verdict, PIN, SOFTHSM};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use openssl::x509::{X509Name, X509};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "../../tests/common/pe.rs"]
#[allow(dead_code)]
mod pe;

/// Where Debian puts the libp11 engine (package libengine-pkcs11-openssl).
const ENGINE: &str = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so";
/// The key, by PKCS#11 URI: the same label on both tokens.
const KEY_URI: &str = "pkcs11:token=bench;object=bench-ec;type=private";

impl Bench {
    pub(crate) fn pipeline(&mut self) -> Res<()> {
        let Some(conf) = self.softhsm_conf.clone() else {
            self.row(
                "10",
                "osslsigncode pipeline",
                "SoftHSMv2 not installed".into(),
                "",
                Verdict::Skipped,
            );
            return Ok(());
        };
        if !on_path("osslsigncode") || !on_path("pkcs11-tool") || !Path::new(ENGINE).exists() {
            self.row(
                "10",
                "osslsigncode pipeline",
                "osslsigncode, pkcs11-tool or the libp11 engine not installed".into(),
                "",
                Verdict::Skipped,
            );
            return Ok(());
        }
        let n = self.plan.pipeline_files;
        let dir = self.work.join("pipeline");
        ctx(std::fs::create_dir_all(&dir), "pipeline dir")?;
        let image = pe::minimal_pe(pe::PeKind::Win32Console);
        let inputs: Vec<PathBuf> = (0..n)
            .map(|i| dir.join(format!("app-{i:03}.exe")))
            .collect();
        for p in &inputs {
            ctx(std::fs::write(p, &image), "write PE")?;
        }
        let (ca_key, ca) = make_ca()?;
        let ca_pem = dir.join("ca.pem");
        ctx(
            std::fs::write(&ca_pem, ctx(ca.to_pem(), "CA PEM")?),
            "write CA",
        )?;
        // The module's key: its public key from the TSB's attributes.
        let ours_pub = tsb_public_key(&self.url, "bench-ec")?;
        let ours_cert = dir.join("tsb.pem");
        ctx(
            std::fs::write(&ours_cert, issue(&ca_key, &ca, &ours_pub)?),
            "write cert",
        )?;
        // SoftHSMv2's key: its public key read from the token.
        let soft_pub_der = dir.join("softhsm-pub.der");
        let o = ctx(
            Command::new("pkcs11-tool")
                .args([
                    "--module",
                    SOFTHSM,
                    "--token-label",
                    "bench",
                    "--read-object",
                    "--type",
                ])
                .args(["pubkey", "--label", "bench-ec", "-o"])
                .arg(&soft_pub_der)
                .env("SOFTHSM2_CONF", &conf)
                .output(),
            "pkcs11-tool --read-object",
        )?;
        if !o.status.success() {
            return Err(format!(
                "read SoftHSMv2 public key: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let soft_pub = ctx(
            PKey::public_key_from_der(&ctx(std::fs::read(&soft_pub_der), "read public key")?),
            "SoftHSMv2 public key",
        )?;
        let soft_cert = dir.join("softhsm.pem");
        ctx(
            std::fs::write(&soft_cert, issue(&ca_key, &ca, &soft_pub)?),
            "write cert",
        )?;
        let cfg = self.config("pipeline", &self.url, serde_json::json!({}))?;
        // One untimed file each first (page cache, the emulator's accept path).
        let warm = [inputs[0].clone()];
        let sides = [
            (
                "tsb-pkcs11",
                self.module.clone(),
                ours_cert,
                ("TSB_PKCS11_CONFIG", cfg),
            ),
            (
                "SoftHSMv2",
                SOFTHSM.to_string(),
                soft_cert,
                ("SOFTHSM2_CONF", conf),
            ),
        ];
        let mut secs = Vec::new();
        for (name, module, cert, env) in &sides {
            let side = Side {
                module,
                cert,
                env: (env.0, env.1.as_path()),
                dir: &dir,
            };
            side.sign_all(&warm, "warm")?;
            let t = Instant::now();
            side.sign_all(&inputs, name)?;
            secs.push(t.elapsed().as_secs_f64());
            verify(&dir.join(format!("{name}-app-000.exe")), &ca_pem)?;
        }
        let (ours, soft) = (secs[0], secs[1]);
        self.row(
            "10",
            &format!("osslsigncode signing {n} PE files (a process each), plain EC key"),
            format!(
                "tsb-pkcs11 **{ours:.2} s** ({:.0} ms/file), SoftHSMv2 {soft:.2} s ({:.0} ms/file), \
                 ratio **{:.2}**",
                ours * 1e3 / n as f64,
                soft * 1e3 / n as f64,
                ours / soft
            ),
            "",
            Verdict::Info,
        );
        self.notes.push(format!(
            "(10) `osslsigncode sign -pkcs11engine {ENGINE} -pkcs11module <module> -key \
             \"{KEY_URI}\" -certs <cert> -h sha256 -in app-NNN.exe -out <signed>` for {n} minimal \
             PE32 files in a row, one process each (start-up, engine and module loading, login, \
             find, one ECDSA signature, writing the file), after one untimed run; SoftHSMv2's \
             URI adds `pin-value`. Each key's certificate carries its public key and is issued by \
             a CA made for the run; `osslsigncode verify -CAfile` checks one signed file of each \
             side."
        ));
        Ok(())
    }
}

/// One side of the pipeline: a module, its key's certificate and the variable that configures
/// the module.
struct Side<'a> {
    module: &'a str,
    cert: &'a Path,
    env: (&'a str, &'a Path),
    dir: &'a Path,
}

impl Side<'_> {
    fn sign_all(&self, inputs: &[PathBuf], tag: &str) -> Res<()> {
        let key = if self.module == SOFTHSM {
            format!("{KEY_URI};pin-value={PIN}")
        } else {
            KEY_URI.to_string()
        };
        for input in inputs {
            let name = input
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x.exe");
            let out = self.dir.join(format!("{tag}-{name}"));
            let _ = std::fs::remove_file(&out);
            let o = ctx(
                Command::new("osslsigncode")
                    .args([
                        "sign",
                        "-pkcs11engine",
                        ENGINE,
                        "-pkcs11module",
                        self.module,
                    ])
                    .args(["-key", &key, "-certs"])
                    .arg(self.cert)
                    .args(["-h", "sha256", "-n", "tsb-bench", "-in"])
                    .arg(input)
                    .arg("-out")
                    .arg(&out)
                    .env(self.env.0, self.env.1)
                    .env_remove("TSB_PKCS11_LOG")
                    .stdin(Stdio::null())
                    .output(),
                "run osslsigncode",
            )?;
            if !o.status.success() || !out.exists() {
                return Err(format!(
                    "osslsigncode with {}: {}{}",
                    self.module,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
        }
        Ok(())
    }
}

/// `osslsigncode verify` of a signed file against the run's CA.
fn verify(signed: &Path, ca: &Path) -> Res<()> {
    let o = ctx(
        Command::new("osslsigncode")
            .args(["verify", "-CAfile"])
            .arg(ca)
            .arg("-in")
            .arg(signed)
            .output(),
        "osslsigncode verify",
    )?;
    let text = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() || !text.contains("Signature verification: ok") {
        return Err(format!("osslsigncode verify {}: {text}", signed.display()));
    }
    Ok(())
}

/// A throwaway CA: an EC P-256 key and its self-signed certificate.
fn make_ca() -> Res<(PKey<Private>, X509)> {
    let group = ctx(EcGroup::from_curve_name(Nid::X9_62_PRIME256V1), "curve")?;
    let key = ctx(
        PKey::from_ec_key(ctx(EcKey::generate(&group), "CA key")?),
        "CA key",
    )?;
    let cert = build(
        &key,
        &ctx(key.public_key_to_der(), "CA public key")?,
        "tsb-bench CA",
        None,
    )?;
    Ok((key, cert))
}

/// A certificate for `public`, issued by the CA, as PEM.
fn issue(ca_key: &PKey<Private>, ca: &X509, public: &PKey<Public>) -> Res<Vec<u8>> {
    let der = ctx(public.public_key_to_der(), "public key")?;
    let cert = build(ca_key, &der, "tsb-bench code signing", Some(ca))?;
    ctx(cert.to_pem(), "certificate PEM")
}

/// An X.509 certificate for the SubjectPublicKeyInfo `spki`, valid for a day, signed by `signer`
/// (self-signed when `issuer` is None).
fn build(signer: &PKey<Private>, spki: &[u8], cn: &str, issuer: Option<&X509>) -> Res<X509> {
    let mut name = ctx(X509Name::builder(), "name")?;
    ctx(name.append_entry_by_nid(Nid::COMMONNAME, cn), "CN")?;
    let name = name.build();
    let mut b = ctx(X509::builder(), "certificate")?;
    ctx(b.set_version(2), "version")?;
    let serial = ctx(
        ctx(BigNum::from_u32(rand_serial()), "serial")?.to_asn1_integer(),
        "serial",
    )?;
    ctx(b.set_serial_number(&serial), "serial")?;
    ctx(b.set_subject_name(&name), "subject")?;
    ctx(
        b.set_issuer_name(issuer.map(|c| c.subject_name()).unwrap_or(&name)),
        "issuer",
    )?;
    let (from, to) = (
        ctx(Asn1Time::days_from_now(0), "time")?,
        ctx(Asn1Time::days_from_now(1), "time")?,
    );
    ctx(b.set_not_before(&from), "notBefore")?;
    ctx(b.set_not_after(&to), "notAfter")?;
    let public: PKey<Public> = ctx(PKey::public_key_from_der(spki), "SPKI")?;
    ctx(b.set_pubkey(&public), "public key")?;
    // A CA that chains (CA:TRUE, keyCertSign), and a leaf for code signing.
    let ext = match issuer {
        None => vec![
            ctx(
                BasicConstraints::new().critical().ca().build(),
                "basicConstraints",
            )?,
            ctx(
                KeyUsage::new().critical().key_cert_sign().build(),
                "keyUsage",
            )?,
        ],
        Some(_) => vec![
            ctx(
                KeyUsage::new().critical().digital_signature().build(),
                "keyUsage",
            )?,
            ctx(
                ExtendedKeyUsage::new().code_signing().build(),
                "extendedKeyUsage",
            )?,
        ],
    };
    for e in ext {
        ctx(b.append_extension(e), "extension")?;
    }
    ctx(b.sign(signer, MessageDigest::sha256()), "sign certificate")?;
    Ok(b.build())
}

fn rand_serial() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() | 1)
        .unwrap_or(1)
}

/// The public key of a TSB key, from `POST /v1/key/attributes` (`publicKey`, base64 DER SPKI).
fn tsb_public_key(url: &str, label: &str) -> Res<PKey<Public>> {
    use base64::Engine as _;
    let http = http_client()?;
    let r: serde_json::Value = ctx(
        ctx(
            http.post(format!("{url}/v1/key/attributes"))
                .json(&serde_json::json!({ "label": label }))
                .send(),
            "POST /v1/key/attributes",
        )?
        .json(),
        "attributes JSON",
    )?;
    let b64 = r["json"]["publicKey"]
        .as_str()
        .ok_or("no publicKey in the attributes")?;
    let der = ctx(
        base64::engine::general_purpose::STANDARD.decode(b64),
        "publicKey base64",
    )?;
    ctx(PKey::public_key_from_der(&der), "TSB public key")
}
