//! (9) Listing every key (issue 15): a class-only find that reads CKA_LABEL, CKA_ID and
//! CKA_KEY_TYPE of each key, and `pkcs11-tool -O`, each in a fresh process (cold cache), among
//! 10,000 keys with 10 ms and 0 ms of latency per request and 100,000 keys with 0 ms. The
//! emulator counts the requests and the most it handled at once.

use crate::util::{ctx, http_client, Res};
use crate::{bulk_create_range, on_path, Bench, Verdict};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tsb_emulator::{Emulator, EmulatorConfig};

/// One key in this many gets a self-signed certificate, so `pkcs11-tool -O` lists certificates
/// too and a listing's certificate requests find some.
const CERT_EVERY: usize = 100;

/// The targets of issue 15 for 10,000 keys at 10 ms per request.
const TARGET_SECS: f64 = 15.0;
const DEFAULT_BOUND: u64 = 16;

/// What the emulator saw during one listing.
struct Seen {
    total: u64,
    attributes: u64,
    certificates: u64,
    most_in_flight: u64,
}

impl Seen {
    fn of(emu: &Emulator) -> Seen {
        let counts = emu.request_counts();
        let sum = |prefix: &str| -> u64 {
            counts
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(_, v)| *v)
                .sum()
        };
        Seen {
            total: counts.values().sum(),
            attributes: sum("POST /v1/key/attributes"),
            certificates: sum("GET /v1/certificate/"),
            most_in_flight: emu.max_in_flight(),
        }
    }

    fn text(&self, n: usize) -> String {
        format!(
            "{} requests = **{:.2} per key** ({} attributes, {} certificates, 1 list); at most \
             **{} in flight**",
            self.total,
            self.total.saturating_sub(1) as f64 / n as f64,
            self.attributes,
            self.certificates,
            self.most_in_flight
        )
    }

    /// At most two requests per key (and the list), within the default bound.
    fn within(&self, n: usize) -> bool {
        self.total <= 2 * n as u64 + 1 && self.most_in_flight <= DEFAULT_BOUND
    }
}

impl Bench {
    pub(crate) fn listing(&mut self) -> Res<()> {
        // A separate emulator, so the other measurements do not run against these keys.
        let emu = ctx(
            Emulator::start(EmulatorConfig {
                test_controls: true,
                ..Default::default()
            }),
            "start listing emulator",
        )?;
        let url = emu.base_url();
        let cfg = self.config("listing", &url, json!({}))?;
        let mut have = 0usize;
        let mut created = Vec::new();
        for (n, latency_ms) in self.plan.list_cases.clone() {
            if n > have {
                let t = Instant::now();
                bulk_create_range(&url, have, n)?;
                certify(&url, have, n)?;
                created.push(format!(
                    "{} keys in {:.1} s",
                    n - have,
                    t.elapsed().as_secs_f64()
                ));
                have = n;
            }
            emu.set_latency(Duration::from_millis(latency_ms));
            let goal = n == self.plan.list_cases[0].0 && latency_ms == 10;
            let target = if goal {
                format!("≤ {TARGET_SECS} s, ≤ 2 requests/key, ≤ {DEFAULT_BOUND} in flight")
            } else {
                String::new()
            };
            // The class-only find.
            emu.reset_counts();
            let r = self.child("list", json!({"module": self.module}), Some(&cfg), &[]);
            let seen = Seen::of(&emu);
            let r = r?;
            let secs = r["ms"].as_f64().unwrap_or(f64::NAN) / 1e3;
            if r["found"].as_u64() != Some(n as u64) {
                return Err(format!("class-only find: {} of {n} keys", r["found"]));
            }
            let find_verdict = verdict(goal, secs, &seen, n);
            self.row(
                "9",
                &format!(
                    "class-only find + CKA_LABEL/CKA_ID/CKA_KEY_TYPE of each, {n} keys, \
                     +{latency_ms} ms/request"
                ),
                format!(
                    "**{secs:.2} s** (the find {:.2} s); {}",
                    r["find_ms"].as_f64().unwrap_or(f64::NAN) / 1e3,
                    seen.text(n)
                ),
                &target,
                find_verdict,
            );
            // pkcs11-tool -O, twice for the first case: a second process has no cache (below).
            if !on_path("pkcs11-tool") {
                self.row(
                    "9",
                    "pkcs11-tool -O",
                    "not installed".into(),
                    "",
                    Verdict::Skipped,
                );
                continue;
            }
            let runs = if goal { 2 } else { 1 };
            for run in 1..=runs {
                emu.reset_counts();
                let (secs, objects) = pkcs11_tool_list(&self.module, &cfg)?;
                let seen = Seen::of(&emu);
                let expect = 2 * n + n.div_ceil(CERT_EVERY);
                if objects != expect {
                    return Err(format!(
                        "pkcs11-tool -O listed {objects} objects, not {expect}"
                    ));
                }
                let which = if run == 1 { "" } else { " (a second process)" };
                self.row(
                    "9",
                    &format!("pkcs11-tool -O{which}, {n} keys, +{latency_ms} ms/request"),
                    format!("**{secs:.2} s** for {objects} objects; {}", seen.text(n)),
                    &target,
                    verdict(goal, secs, &seen, n),
                );
            }
        }
        emu.shutdown();
        self.commands.push(
            "`TSB_PKCS11_CONFIG=<config> pkcs11-tool --module target/release/libtsb_pkcs11.so -O` \
             (listing, measurement 9)"
                .into(),
        );
        self.notes.push(format!(
            "(9) Keys: EC P-256 created with POST /v1/key from 8 threads ({}), one in {CERT_EVERY} \
             with a self-signed certificate. Each listing runs in a fresh process with the \
             default configuration (`listing_concurrency` 16, `cache_ttl_s` 30): the class-only \
             find is C_FindObjects for CKO_PRIVATE_KEY, then C_GetAttributeValue of CKA_LABEL, \
             CKA_ID and CKA_KEY_TYPE of each key, timed from C_FindObjectsInit; `pkcs11-tool -O` \
             is timed as a whole process (it lists private keys, public keys and certificates and \
             reads many attributes of each). The latency is added by the emulator to every \
             request (`Emulator::set_latency`), on each connection's own thread, so concurrent \
             requests overlap as across a network; \"in flight\" is the emulator's high-water mark \
             of requests handled at once. The TSB's key list gives labels only and a key's \
             attributes do not carry its certificate, so a listing that can match certificates \
             costs two requests per key; the class-only find needs one. A second process asks \
             again: the module keeps no cache on disk (README, Limitations).",
            created.join(", then ")
        ));
        Ok(())
    }
}

fn verdict(goal: bool, secs: f64, seen: &Seen, n: usize) -> Verdict {
    match goal {
        false => Verdict::Info,
        true if secs <= TARGET_SECS && seen.within(n) => Verdict::Met,
        true => Verdict::Missed,
    }
}

/// A self-signed certificate for every key `bulk-{i}` with `i` in `from..to` that is a
/// multiple of [`CERT_EVERY`].
fn certify(url: &str, from: usize, to: usize) -> Res<()> {
    let http = http_client()?;
    for i in (from..to).filter(|i| i % CERT_EVERY == 0) {
        let r = ctx(
            http.post(format!("{url}/v1/certificate/synchronous/selfsign"))
                .json(
                    &json!({"signKeyName": format!("bulk-{i:05}"), "validity": 30,
                    "signatureAlgorithm": "SHA256_WITH_ECDSA", "commonName": "bench",
                    "certificateAuthority": false, "keyUsage": ["DIGITAL_SIGNATURE"],
                    "extendedKeyUsage": []}),
                )
                .send(),
            "POST selfsign",
        )?;
        if !r.status().is_success() {
            return Err(format!("self-sign bulk-{i:05}: HTTP {}", r.status()));
        }
    }
    Ok(())
}

/// Run `pkcs11-tool -O` against the module: its wall time and the objects it listed.
fn pkcs11_tool_list(module: &str, cfg: &Path) -> Res<(f64, usize)> {
    let t = Instant::now();
    let o = ctx(
        Command::new("pkcs11-tool")
            .args(["--module", module, "-O"])
            .env("TSB_PKCS11_CONFIG", cfg)
            .env_remove("TSB_PKCS11_URL")
            .env_remove("TSB_PKCS11_LOG")
            .stdin(Stdio::null())
            .output(),
        "run pkcs11-tool -O",
    )?;
    let secs = t.elapsed().as_secs_f64();
    if !o.status.success() {
        return Err(format!(
            "pkcs11-tool -O failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for l in text.lines() {
        for k in [
            "Private Key Object",
            "Public Key Object",
            "Certificate Object",
        ] {
            if l.starts_with(k) {
                *kinds.entry(k).or_default() += 1;
            }
        }
    }
    Ok((secs, kinds.values().sum()))
}
