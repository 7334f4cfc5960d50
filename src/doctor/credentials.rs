//! The credential checks of one slot: a harmless call per API-key role (each configured key on
//! its own), and from their answers the verdict on the bearer token. The calls go through the
//! module's own HTTP client (`tsb::client`), with its TLS, proxy, redirect and read-limit rules,
//! to the URLs that passed the network checks.
//!
//! The calls, one per role the module uses (the role of each path: `tsb_models::role_for_path`,
//! from Securosys' `tsb/Concepts/authentication/authentication.md`):
//! - `keyManagementToken`: `GET /v1/key`, the key list (also used for the keys step);
//! - `keyOperationToken`: `GET /v1/generateRandom/1`, one random byte;
//! - `serviceToken`: `GET /v1/versionInfo`, the TSB's version;
//! - `approverToken` (used by approvers, not by the module): `POST /v1/filteredSignApprovalTask`
//!   without a signed timestamp. Only an approver's key can sign one, so the list itself cannot
//!   be read here: an answer other than errorCode 631 says the key passed the TSB's API-key check
//!   (the emulator checks the key before the body; no Securosys source documents the order).

use super::report::{Report, Verdict};
use super::Budget;
use crate::config::{Secret, SlotConfig};
use crate::error::Error;
use crate::tsb::api;
use crate::tsb::cancel::CancelToken;
use crate::tsb::client::{Client, ClientSettings, Idempotency};
use std::collections::BTreeMap;
use std::sync::Arc;
use tsb_models::{codes, Role, TaskList, TsbVersion};

/// What the credential checks learned for the steps after them.
#[derive(Default)]
pub(super) struct Learned {
    /// The key list, when `GET /v1/key` was answered with the module's credentials.
    pub(super) labels: Option<Vec<String>>,
    /// The TSB's version as `GET /v1/versionInfo` answered it (with the slot's `serviceToken`
    /// key when it has one, else without any).
    pub(super) version: Option<Result<TsbVersion, Error>>,
    /// Whether the bearer token or every key of a role was refused.
    pub(super) refused: bool,
}

/// A client for `slot` at `urls` with these API keys, bounded by the doctor's time.
pub(super) fn client(
    slot: &SlotConfig,
    urls: &[String],
    api_keys: BTreeMap<String, Vec<Secret>>,
    budget: &Budget,
) -> Client {
    let mut s = ClientSettings::from(slot);
    s.urls = urls.to_vec();
    s.api_keys = api_keys;
    s.connect_timeout = s.connect_timeout.min(super::CONNECT_TIMEOUT);
    s.request_timeout = s.request_timeout.min(super::REQUEST_TIMEOUT);
    // Retries stop, and a call that does not answer is abandoned, when the doctor's time is up.
    Client::new(s).interruptible(Arc::new(CancelToken::default()), budget.deadline())
}

/// What became of a call: `answered HTTP 401, errorCode 631 ...` (the TSB's answer, without
/// repeating the call) or `failed: ...` (no answer).
fn answered(call: &str, e: &Error) -> String {
    let text = e.to_string();
    match text.strip_prefix(&format!("TSB {call} failed: ")) {
        Some(rest) if matches!(e, Error::Tsb { .. }) => format!("answered {rest}"),
        _ => format!("failed: {text}"),
    }
}

/// The answer of one harmless call.
struct Probe {
    /// `METHOD /path`.
    call: String,
    result: Result<(), Error>,
}

/// Whether the TSB refused the bearer token (missing or invalid).
fn token_refused(e: &Error) -> bool {
    matches!(
        e,
        Error::Tsb {
            code: Some(codes::INVALID_ACCESS_TOKEN | codes::MISSING_ACCESS_TOKEN),
            ..
        }
    )
}

/// Whether the TSB refused the API key.
fn key_refused(e: &Error) -> bool {
    matches!(
        e,
        Error::Tsb {
            code: Some(codes::INVALID_API_KEY),
            ..
        }
    )
}

/// The role's harmless call; what it learned goes into `learned`.
fn probe(role: Role, c: &Client, learned: &mut Learned) -> Probe {
    let (call, result) = match role {
        Role::KeyManagement => (
            format!("GET {}", tsb_models::paths::KEY),
            api::list_keys(c).map(|l| {
                if learned.labels.is_none() {
                    learned.labels = Some(l);
                }
            }),
        ),
        Role::KeyOperation => (
            format!("GET {}", tsb_models::paths::generate_random(1)),
            api::generate_random(c, 1).map(|_| ()),
        ),
        Role::Service => {
            let r = api::version_info(c);
            let ok = r.as_ref().map(|_| ()).map_err(Clone::clone);
            if learned.version.as_ref().is_none_or(|v| v.is_err()) {
                learned.version = Some(r);
            }
            (format!("GET {}", tsb_models::paths::VERSION_INFO), ok)
        }
        Role::Approver => {
            let path = TaskList::Sign.path();
            let r = c
                .call_raw(
                    reqwest::Method::POST,
                    path,
                    Some(&serde_json::json!({})),
                    Idempotency::Retry,
                )
                .map(|_| ());
            (format!("POST {path}"), r)
        }
        Role::ApproverKeyManagement => (String::new(), Ok(())),
    };
    Probe { call, result }
}

/// The roles the module itself uses, with the call that checks each.
const MODULE_ROLES: [Role; 3] = [Role::KeyManagement, Role::KeyOperation, Role::Service];

/// Check the credentials of `slot` at `urls`.
pub(super) fn check(
    r: &mut Report,
    slot: &SlotConfig,
    urls: &[String],
    budget: &Budget,
) -> Learned {
    let mut learned = Learned::default();
    let uses_api_keys = !slot.api_keys.is_empty();
    // (role, key index or None, probe)
    let mut probes: Vec<(Role, Option<usize>, Probe)> = Vec::new();
    for role in MODULE_ROLES.into_iter().chain([Role::Approver]) {
        if budget.out_of_time() {
            break;
        }
        match slot.api_keys.get(role.name()) {
            Some(keys) => {
                for (i, k) in keys.iter().enumerate() {
                    let c = client(
                        slot,
                        urls,
                        BTreeMap::from([(role.name().to_string(), vec![k.clone()])]),
                        budget,
                    );
                    probes.push((role, Some(i), probe(role, &c, &mut learned)));
                }
            }
            // The module sends no key for this role: does the TSB want one? (The approver role
            // is the approvers' business.)
            None if role == Role::Service && uses_api_keys => {
                // The module does not ask for the version then (`tsb::version`); what the TSB
                // answers without a key is kept for the version step, which says what it means.
                let c = client(slot, urls, BTreeMap::new(), budget);
                learned.version = Some(api::version_info(&c));
            }
            None if role != Role::Approver => {
                let c = client(slot, urls, BTreeMap::new(), budget);
                probes.push((role, None, probe(role, &c, &mut learned)));
            }
            None => {}
        }
    }
    bearer_line(r, slot, &probes, &mut learned);
    for (role, index, p) in &probes {
        // Another key of the same role that the TSB takes: the module rolls over to it.
        let spare = probes.iter().any(|(o, j, q)| {
            o == role && j != index && q.result.as_ref().err().is_none_or(|e| !key_refused(e))
        });
        role_line(r, slot, *role, *index, p, spare, &mut learned);
    }
    if slot
        .api_keys
        .contains_key(Role::ApproverKeyManagement.name())
    {
        r.check(
            Verdict::Skip,
            "api_keys.approverKeyManagementToken: not used by the module (it manages the \
             Authorization App's approvers): not checked",
            None,
        );
    }
    if budget.out_of_time() {
        r.check(
            Verdict::Skip,
            "credentials: the rest not checked: out of time",
            None,
        );
    }
    learned
}

/// The bearer token's verdict, from the answers to the calls of the module's roles (the TSB
/// ignores the token on the approvers' paths).
fn bearer_line(
    r: &mut Report,
    slot: &SlotConfig,
    probes: &[(Role, Option<usize>, Probe)],
    learned: &mut Learned,
) {
    let module: Vec<&Probe> = probes
        .iter()
        .filter(|(role, _, _)| *role != Role::Approver)
        .map(|(_, _, p)| p)
        .collect();
    let configured = slot.token.is_some();
    if let Some(p) = module.iter().find(|p| p.result.is_ok()) {
        let what = if configured {
            format!("bearer token: accepted ({} answered)", p.call)
        } else {
            format!(
                "bearer token: none configured, and the TSB asks for none ({} answered)",
                p.call
            )
        };
        r.check(Verdict::Ok, &what, None);
        return;
    }
    if let Some((p, e)) = module.iter().find_map(|p| {
        p.result
            .as_ref()
            .err()
            .filter(|e| token_refused(e))
            .map(|e| (p, e))
    }) {
        learned.refused = true;
        let what = if configured {
            "bearer token: refused"
        } else {
            "bearer token: none configured, and the TSB wants one"
        };
        r.check(
            Verdict::Fail,
            &format!("{what}: {} {}", p.call, answered(&p.call, e)),
            e.remedy().as_deref(),
        );
        return;
    }
    r.check(
        Verdict::Skip,
        "bearer token: not judged (no call got an answer about it; see the lines below)",
        None,
    );
}

/// One role's (or one of its keys') verdict. `spare`: another key of the role is not refused.
fn role_line(
    r: &mut Report,
    slot: &SlotConfig,
    role: Role,
    index: Option<usize>,
    p: &Probe,
    spare: bool,
    learned: &mut Learned,
) {
    let name = role.name();
    let keys = slot.api_keys.get(name).map_or(0, Vec::len);
    let field = match index {
        Some(i) if keys > 1 => format!("api_keys.{name}[{i}]"),
        Some(_) => format!("api_keys.{name}"),
        None => format!("{name}: no API key configured,"),
    };
    let call = &p.call;
    match (&p.result, index) {
        (Ok(()), Some(_)) => r.check(
            Verdict::Ok,
            &format!("{field}: accepted ({call} answered)"),
            None,
        ),
        (Ok(()), None) => r.check(
            Verdict::Ok,
            &format!("{field} and the TSB asks for none ({call} answered)"),
            None,
        ),
        (Err(e), _) if token_refused(e) && role != Role::Approver => r.check(
            Verdict::Skip,
            &format!("{field}: not checked: the TSB refused the bearer token first"),
            None,
        ),
        (Err(e), Some(0)) if key_refused(e) && spare => r.check(
            Verdict::Warn,
            &format!(
                "{field}: refused ({call} {}); another key of the role is accepted, \
                 so every process first gets this refusal, then rolls over with a WARN line",
                answered(call, e)
            ),
            Some(&format!(
                "remove the refused key from `api_keys.{name}` (or put the accepted one first)"
            )),
        ),
        (Err(e), Some(_)) if key_refused(e) && spare => r.check(
            Verdict::Warn,
            &format!(
                "{field}: refused ({call} {}); the module uses an accepted key before \
                 it, but a rollover to this one would fail",
                answered(call, e)
            ),
            Some(&format!(
                "replace it in `api_keys.{name}` with the TSB's next key, or remove it"
            )),
        ),
        (Err(e), Some(_)) if key_refused(e) => {
            learned.refused = true;
            r.check(
                Verdict::Fail,
                &format!("{field}: refused: {call} {}", answered(call, e)),
                e.remedy().as_deref(),
            );
        }
        (Err(e), None) if key_refused(e) => {
            learned.refused = true;
            r.check(
                Verdict::Fail,
                &format!(
                    "{field} but the TSB wants one: {call} {}",
                    answered(call, e)
                ),
                Some(&format!(
                    "add `api_keys.{name}` to the slot's config: the key of role {name} from \
                     the TSB's configuration"
                )),
            );
        }
        (Err(e), Some(_)) if role == Role::Approver => {
            // Anything but 631: the key passed the API-key check, and the unsigned body was
            // refused after it.
            r.check(
                Verdict::Ok,
                &format!(
                    "{field}: passed the TSB's API-key check ({call} without a signed timestamp \
                     {}, as expected)",
                    answered(call, e)
                ),
                None,
            );
            r.detail(
                "the task list itself needs an approver's key to sign the timestamp: check it \
                 with `tsb-approve list` and that key",
            );
        }
        (Err(e), _) => r.check(
            Verdict::Fail,
            &format!("{field}: {call} {}", answered(call, e)),
            Some(&e.remedy().unwrap_or_else(|| {
                "check the TSB's health and the slot's `url`; --debug shows each call (and \
                 --timeout gives the doctor more time)"
                    .into()
            })),
        ),
    }
}
