//! Contract mode (issue 11): the integration tests that need no emulator control, run against
//! ANY TSB given by the environment (`TSB_CONTRACT_URL`, credentials, an approver key; see
//! `target.rs` and README, "Contract mode"), or, without `TSB_CONTRACT_URL`, against an
//! in-process `tsb-emulator` started without test controls. `scripts/contract.sh` is the command
//! (it starts a `tsb-emulator` binary when no TSB is given); CI runs it against the emulator.
//!
//! One test, `contract`, runs the cases in order (later cases use the keys earlier ones made)
//! and prints one line per case; a failing case never stops the others. Every label starts with
//! a run prefix (`tsbp11-contract-<time>-<random>-`, the module's `label_prefix`), and at the
//! end a sweep deletes every key under it over REST and checks that none is left, whatever
//! failed before. Google's kmsp11 has the model: the same tests against the fake and the real
//! service.

#[path = "../common/mod.rs"]
mod common;

mod cases;
mod known_answers;
mod mechanisms;
mod probes;
mod report;
mod rest;
mod skipped;
mod target;

use report::{Report, Verdict};
use std::time::Instant;
use target::Target;
use tsb_models::{paths, TsbVersion};

#[test]
fn contract() {
    let start = Instant::now();
    let t = match Target::new() {
        Ok(t) => t,
        Err(errors) => panic!(
            "contract mode: the environment is not usable:\n  {}",
            errors.join("\n  ")
        ),
    };
    let rest = rest::Rest::for_target(&t);
    let mut report = Report::default();

    // Only a sweep (scripts/contract.sh --sweep-leftovers, or after an interrupted run).
    if let Ok(prefix) = std::env::var("TSB_CONTRACT_SWEEP_ONLY") {
        if prefix != target::PREFIX_ROOT {
            if let Err(e) = target::check_prefix(&prefix) {
                panic!("TSB_CONTRACT_SWEEP_ONLY={prefix}: {e}");
            }
        }
        report.line(&format!("contract: sweep of {prefix}* on {}", t.describe()));
        report.case(&format!("cleanup: delete every key under {prefix}"), || {
            sweep(&rest, &prefix)
        });
        report.line(&report.summary(start.elapsed().as_secs_f64()));
        assert!(report.failed.is_empty(), "{}", report.summary(0.0));
        return;
    }

    report.line(&format!("contract: target {}", t.describe()));
    let (version, how) = tsb_version(&t, &rest);
    report.line(&format!("contract: TSB version {version} ({how})"));
    report.line(&format!("contract: run prefix {}", t.prefix));
    report.line(&format!("contract: approver key {}", t.approver_source));
    for f in skipped::NOT_IN_CONTRACT_MODE {
        report.skip(f.path, &format!("needs the emulator: {}", f.reason));
    }

    probes::run(&t, &rest, version, &mut report);
    let mut world = None;
    report.case("module: load, C_Initialize, C_OpenSession", || {
        world = Some(cases::World::new(&t, &rest, version));
        Ok(Verdict::Pass(common::module_path().display().to_string()))
    });
    if let Some(mut w) = world {
        cases::run(&mut w, &mut report);
        // C_CloseSession and C_Finalize (cryptoki's Drop) before the sweep.
        drop(w);
    }
    // Whatever failed above: nothing of this run stays on the TSB.
    report.case("cleanup: sweep of the run prefix", || {
        sweep(&rest, &t.prefix)
    });

    let summary = report.summary(start.elapsed().as_secs_f64());
    report.line(&summary);
    assert!(report.failed.is_empty(), "{summary}");
}

/// The version to expect: `TSB_CONTRACT_TSB_VERSION`, else what `GET /v1/versionInfo` says, else
/// the newest the emulator knows.
fn tsb_version(t: &Target, rest: &rest::Rest) -> (TsbVersion, String) {
    if let Some(v) = t.spec.tsb_version {
        return (v, "from TSB_CONTRACT_TSB_VERSION".into());
    }
    match rest.send("GET", paths::VERSION_INFO, None) {
        Ok(a) if a.status == 200 => {
            let said = a
                .json
                .as_ref()
                .and_then(|j| j.get("Version"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            match TsbVersion::parse(&said) {
                Some(v) => (v, format!("GET /v1/versionInfo says {said:?}")),
                None => (
                    TsbVersion::NEWEST,
                    format!("GET /v1/versionInfo says {:?}: assumed the newest", a.text),
                ),
            }
        }
        Ok(a) => (
            TsbVersion::NEWEST,
            format!(
                "GET /v1/versionInfo answered HTTP {}: assumed the newest; set \
                 TSB_CONTRACT_TSB_VERSION",
                a.status
            ),
        ),
        Err(e) => (
            TsbVersion::NEWEST,
            format!("GET /v1/versionInfo failed ({e}): assumed the newest"),
        ),
    }
}

fn sweep(rest: &rest::Rest, prefix: &str) -> report::Outcome {
    let (deleted, problems) = rest::sweep(rest, prefix);
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    Ok(Verdict::Pass(if deleted.is_empty() {
        "nothing was left; GET /v1/key lists no key under the prefix".into()
    } else {
        format!(
            "deleted {} key(s) left behind ({}); none left",
            deleted.len(),
            deleted.join(", ")
        )
    }))
}
