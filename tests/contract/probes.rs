//! Emulator-fidelity probes: requests that are safe on a real TSB (they read, or are refused,
//! and create nothing), sent to the TSB under test and to a reference `tsb-emulator` of the same
//! version started in this process. The expected answer is exactly what our emulator gives: the
//! HTTP status, `errorCode` and `reason` of an error, and the JSON shape (keys and value types)
//! of the body. Against a real TSB a difference is a contract failure that shows the request and
//! both answers, so it says where the emulator (and the module's assumptions) differ.

use crate::report::{Outcome, Report, Verdict};
use crate::rest::{Answer, Rest};
use crate::target::Target;
use serde_json::Value;
use tsb_emulator::{Emulator, EmulatorConfig};
use tsb_models::{paths, Paging, SortOrder, TaskList, TsbVersion};

/// One probe: a name, the request, and a body builder (called once per server, so a timestamp
/// proof is fresh for each).
struct Probe {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Box<dyn Fn() -> Value>>,
}

/// Run every probe (one case each) against `rest` and a reference emulator at `version`.
pub fn run(t: &Target, rest: &Rest, version: TsbVersion, report: &mut Report) {
    let reference = Emulator::start(EmulatorConfig {
        tsb_version: version,
        test_controls: false,
        log_requests: false,
        ..EmulatorConfig::default()
    })
    .expect("start the reference emulator");
    let reference_rest = Rest::plain(&reference.base_url());
    for p in probes(t) {
        let name = format!("fidelity: {} {} ({})", p.method, p.path, p.name);
        report.case(&name, || probe(&p, rest, &reference_rest));
    }
}

fn probes(t: &Target) -> Vec<Probe> {
    let missing = format!("{}no-such-key", t.prefix);
    let key = t.approver_key.clone();
    let tasks = move |sort: bool, backdate_s: i64| {
        let key = key.clone();
        move || {
            let mut body = if backdate_s == 0 {
                key.timestamp_proof().expect("timestamp proof")
            } else {
                let ts = time_ago(backdate_s);
                key.timestamp_proof_at(&ts).expect("timestamp proof")
            };
            body.detail_level = Some("level3".into());
            body.paging = Some(Paging {
                page_number: 0,
                page_size: 25,
                sort_order: SortOrder::CreationDateAsc,
            });
            let mut v = serde_json::to_value(body).expect("JSON");
            if !sort {
                if let Some(p) = v.get_mut("paging").and_then(Value::as_object_mut) {
                    p.remove("sortOrder");
                }
            }
            v
        }
    };
    let label = missing.clone();
    let label2 = missing.clone();
    vec![
        Probe {
            name: "the version, {\"Version\": string}",
            method: "GET",
            path: paths::VERSION_INFO.into(),
            body: None,
        },
        Probe {
            name: "a key that does not exist",
            method: "POST",
            path: paths::KEY_ATTRIBUTES.into(),
            body: Some(Box::new(move || serde_json::json!({ "label": label }))),
        },
        Probe {
            name: "an unknown property in a body",
            method: "POST",
            path: paths::KEY_ATTRIBUTES.into(),
            body: Some(Box::new(
                move || serde_json::json!({ "label": label2, "contractProbe": true }),
            )),
        },
        Probe {
            name: "a request that does not exist",
            method: "GET",
            path: paths::request("00000000-0000-4000-8000-000000000000"),
            body: None,
        },
        Probe {
            name: "tasks with paging and sortOrder",
            method: "POST",
            path: TaskList::All.path().into(),
            body: Some(Box::new(tasks(true, 0))),
        },
        Probe {
            name: "paging without sortOrder",
            method: "POST",
            path: TaskList::All.path().into(),
            body: Some(Box::new(tasks(false, 0))),
        },
        Probe {
            name: "an approver timestamp an hour old",
            method: "POST",
            path: TaskList::All.path().into(),
            body: Some(Box::new(tasks(true, 3600))),
        },
        Probe {
            name: "16 random bytes",
            method: "GET",
            path: paths::generate_random(16),
            body: None,
        },
    ]
}

/// RFC 3339 (seconds, `Z`) for `secs` ago.
fn time_ago(secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let t = now - secs;
    let days = t.div_euclid(86_400);
    let sod = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant, "chrono-Compatible Low-Level Date
/// Algorithms").
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn probe(p: &Probe, tsb: &Rest, reference: &Rest) -> Outcome {
    let body_tsb = p.body.as_ref().map(|b| b());
    let body_ref = p.body.as_ref().map(|b| b());
    let actual = tsb.send(p.method, &p.path, body_tsb.as_ref())?;
    let expected = reference
        .send(p.method, &p.path, body_ref.as_ref())
        .map_err(|e| format!("the reference emulator: {e}"))?;
    let diffs = differences(&expected, &actual);
    if diffs.is_empty() {
        return Ok(Verdict::Pass(format!("HTTP {}", actual.status)));
    }
    let mut s = format!(
        "request:  {} {}{}\n",
        p.method,
        p.path,
        body_tsb
            .map(|b| format!(" {}", clip(&b.to_string())))
            .unwrap_or_default()
    );
    s += &format!(
        "emulator: HTTP {} {}\n",
        expected.status,
        clip(&expected.text)
    );
    s += &format!("TSB:      HTTP {} {}\n", actual.status, clip(&actual.text));
    for d in diffs {
        s += &format!("differs:  {d}\n");
    }
    Err(s)
}

fn clip(s: &str) -> String {
    const MAX: usize = 600;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// Where `actual` differs from `expected`: the status; for error bodies `errorCode` and `reason`;
/// and the JSON shape (keys and value types; the elements of arrays only when both have some).
pub fn differences(expected: &Answer, actual: &Answer) -> Vec<String> {
    let mut d = Vec::new();
    if expected.status != actual.status {
        d.push(format!(
            "HTTP status: emulator {}, TSB {}",
            expected.status, actual.status
        ));
    }
    match (&expected.json, &actual.json) {
        (Some(e), Some(a)) => {
            for ptr in ["/errorCode", "/reason"] {
                let (ev, av) = (e.pointer(ptr), a.pointer(ptr));
                if ev != av {
                    d.push(format!(
                        "{}: emulator {}, TSB {}",
                        &ptr[1..],
                        show(ev),
                        show(av)
                    ));
                }
            }
            shape_differences("", e, a, &mut d);
        }
        (Some(_), None) => d.push("the TSB's body is not JSON".into()),
        (None, Some(_)) => d.push("the emulator's body is not JSON, the TSB's is".into()),
        (None, None) => {}
    }
    d
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "(absent)".into(), Value::to_string)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shape_differences(at: &str, e: &Value, a: &Value, d: &mut Vec<String>) {
    let here = if at.is_empty() { "the body" } else { at };
    match (e, a) {
        (Value::Object(eo), Value::Object(ao)) => {
            for (k, ev) in eo {
                let path = format!("{at}/{k}");
                match ao.get(k) {
                    Some(av) => shape_differences(&path, ev, av, d),
                    None => d.push(format!("{path}: the emulator has it, the TSB does not")),
                }
            }
            for k in ao.keys().filter(|k| !eo.contains_key(*k)) {
                d.push(format!("{at}/{k}: the TSB has it, the emulator does not"));
            }
        }
        (Value::Array(ea), Value::Array(aa)) => {
            if let (Some(ev), Some(av)) = (ea.first(), aa.first()) {
                shape_differences(&format!("{at}/0"), ev, av, d);
            }
        }
        _ if kind(e) != kind(a) => d.push(format!("{here}: emulator {}, TSB {}", kind(e), kind(a))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            text: body.into(),
            json: serde_json::from_str(body).ok(),
        }
    }

    #[test]
    fn the_same_answer_up_to_values_has_no_differences() {
        let e = answer(200, r#"{"Version":"2.2.0"}"#);
        let a = answer(200, r#"{"Version":"2.1.1.20240901T000000"}"#);
        assert!(differences(&e, &a).is_empty());
        let e = answer(
            404,
            r#"{"errorCode":650,"reason":"res.error.key.not.existent","message":"key x does not exist"}"#,
        );
        let a = answer(
            404,
            r#"{"errorCode":650,"reason":"res.error.key.not.existent","message":"Key not found"}"#,
        );
        assert!(differences(&e, &a).is_empty());
    }

    #[test]
    fn status_codes_reasons_and_shapes_are_compared() {
        let e = answer(
            400,
            r#"{"errorCode":600,"reason":"res.error.input.validation.failed","message":"m"}"#,
        );
        let a = answer(
            500,
            r#"{"errorCode":701,"reason":"res.error.in.hsm","message":"m","details":[]}"#,
        );
        let d = differences(&e, &a);
        assert_eq!(
            d,
            vec![
                "HTTP status: emulator 400, TSB 500".to_string(),
                "errorCode: emulator 600, TSB 701".to_string(),
                "reason: emulator \"res.error.input.validation.failed\", TSB \"res.error.in.hsm\""
                    .to_string(),
                "/details: the TSB has it, the emulator does not".to_string(),
            ]
        );
        let e = answer(200, r#"{"tasks":[{"id":"a","n":1}]}"#);
        let a = answer(200, r#"{"tasks":[{"id":"b","n":"1"}],"total":1}"#);
        assert_eq!(
            differences(&e, &a),
            vec![
                "/tasks/0/n: emulator number, TSB string".to_string(),
                "/total: the TSB has it, the emulator does not".to_string(),
            ]
        );
        let e = answer(200, r#"{"tasks":[]}"#);
        let a = answer(200, "<html>oops</html>");
        assert_eq!(
            differences(&e, &a),
            vec!["the TSB's body is not JSON".to_string()]
        );
    }

    #[test]
    fn timestamps_of_the_past() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        let ts = time_ago(3600);
        assert_eq!(ts.len(), 20, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    }
}
