//! Request bodies checked the way the TSB checks them before any handler runs: Jackson reads the
//! body into the endpoint's DTO, then bean validation checks its annotations.
//!
//! Sources: the DTO copies in Securosys `vault-code-executable-examples`
//! (`src/main/java/com/securosys/tee/dto/tsb/**`, "S3"), their validators
//! (`validation/tsb/Base64EncodedValidator.java`, `ISO8601TimestampValidator.java`) and enums
//! (`enums/tsb/*.java`). The schemas themselves live next to their routes (`keys.rs`,
//! `operations.rs`, ...); the names of enum constants come from `tsb_models`.
//!
//! What the emulator answers, and how sure that is:
//! - **Unknown properties are refused.** The comment in S3 `SynchronousSignRequestDto.java` says
//!   the TSB could only drop fields "by disabling the FAIL_ON_UNKOWN_PROPERTIES configuration",
//!   so the TSB's ObjectMapper has it enabled (Spring Boot's default would ignore them).
//! - **Unknown enum names, wrong JSON types, and failed bean validation** all answer HTTP 400
//!   with errorCode 600 `res.error.input.validation.failed`. For bean validation that is what the
//!   `BusinessReason` catalogue names for it; for what Jackson refuses (an unknown enum name
//!   reaches Spring as `HttpMessageNotReadableException`) no public source shows the TSB's
//!   exception handler, and 600 is this project's choice. Audit divergence #12: errorCode 501
//!   `res.error.invalid.value.for.enum` is thrown only by the enums' `fromAlgorithm()`, which map
//!   JCA names (`SHA256withRSA`), not the JSON names Jackson reads, so a request body never gets
//!   it from parsing.
//! - Syntactically invalid JSON stays errorCode 621 `res.error.invalid.json` (`parse_json`).
//! - Jackson's coercions are followed where they matter: numbers and booleans are accepted for a
//!   `String`, numeric strings for an `int`, `"true"`/`"false"` for a `boolean`; `char[]` takes a
//!   string or an array of one-character strings. Not emulated: enum constants given by ordinal
//!   number (Jackson would accept them; refused here).

use super::ApiError;
use serde_json::Value;
use tsb_models::{codes, TsbVersion};

/// The JSON type of a DTO field.
#[derive(Clone, Copy)]
pub(super) enum Ty {
    /// `String`.
    Str,
    /// `@Base64Encoded String`: `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`
    /// after removing PEM BEGIN/END lines of private keys, public keys and certificates.
    Base64,
    /// `@ISO8601Timestamp String`.
    Timestamp,
    /// `char[]`.
    Chars,
    /// `boolean` / `Boolean`.
    Bool,
    /// `int` / `Integer`.
    Int,
    /// An enum: `.0` names it in messages, `.1` says whether TSB `v` has the constant.
    Enum(&'static str, fn(&str, TsbVersion) -> bool),
    /// `List<T>`.
    List(&'static Ty),
    /// A nested DTO; `true` when the field is annotated `@Valid` (its constraints are checked,
    /// otherwise only its JSON is read).
    Dto(&'static Dto, bool),
    /// Read but not interpreted by the emulator (e.g. `addressFormat`).
    Any,
}

/// The bean-validation constraint of a field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Check {
    None,
    /// `@NotNull`.
    NotNull,
    /// `@NotEmpty` (not null, not "", not []).
    NotEmpty,
    /// `@Min(n)` on an `int` (absent = 0).
    Min(i64),
}

/// One field of a DTO.
#[derive(Clone, Copy)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) ty: Ty,
    pub(super) check: Check,
    /// First TSB version that has the field.
    pub(super) since: TsbVersion,
}

impl Field {
    pub(super) const fn new(name: &'static str, ty: Ty) -> Field {
        Field {
            name,
            ty,
            check: Check::None,
            since: TsbVersion::new(1, 0, 0),
        }
    }
    pub(super) const fn not_null(self) -> Field {
        Field {
            check: Check::NotNull,
            ..self
        }
    }
    pub(super) const fn not_empty(self) -> Field {
        Field {
            check: Check::NotEmpty,
            ..self
        }
    }
    pub(super) const fn min(self, n: i64) -> Field {
        Field {
            check: Check::Min(n),
            ..self
        }
    }
    pub(super) const fn since(self, v: TsbVersion) -> Field {
        Field { since: v, ..self }
    }
}

/// A DTO: its Java name (for messages) and fields.
pub(super) struct Dto {
    pub(super) name: &'static str,
    pub(super) fields: &'static [Field],
}

/// `SignatureDto` (S3 `dto/tsb/request/SignatureDto.java`): the `requestSignature` of every
/// `Signed*RequestDto` envelope.
pub(super) static SIGNATURE: Dto = Dto {
    name: "SignatureDto",
    fields: &[
        Field::new("signature", Ty::Base64).not_empty(),
        Field::new("digestAlgorithm", Ty::Str).not_empty(),
        Field::new("publicKey", Ty::Base64).not_empty(),
    ],
};

/// The `Signed*RequestDto` envelopes: `{"<request>": @NotNull @Valid <inner>, "requestSignature":
/// @Valid SignatureDto}` (S3 `dto/tsb/request/Signed*RequestDto.java`).
macro_rules! envelope_dtos {
    ($($name:ident = $dto:literal, $field:literal, $inner:ident;)*) => {
        $(static $name: $crate::api::validate::Dto = $crate::api::validate::Dto {
            name: $dto,
            fields: &[
                $crate::api::validate::Field::new(
                    $field,
                    $crate::api::validate::Ty::Dto(&$inner, true),
                )
                .not_null(),
                $crate::api::validate::Field::new(
                    "requestSignature",
                    $crate::api::validate::Ty::Dto(&$crate::api::validate::SIGNATURE, true),
                ),
            ],
        };)*
    };
}
pub(super) use envelope_dtos;

/// Check `body` against `dto` as TSB `v` would: 400 / 600 on the first problem.
pub(super) fn check(body: &Value, dto: &Dto, v: TsbVersion) -> Result<(), ApiError> {
    check_dto(body, dto, v, true, "").map_err(|m| ApiError::new(codes::VALIDATION_FAILED, m))
}

fn check_dto(value: &Value, dto: &Dto, v: TsbVersion, beans: bool, at: &str) -> Result<(), String> {
    let Some(obj) = value.as_object() else {
        return Err(format!(
            "{}: a JSON object ({}) is expected",
            path(at, ""),
            dto.name
        ));
    };
    let fields = || dto.fields.iter().filter(|f| f.since <= v);
    for key in obj.keys() {
        if !fields().any(|f| f.name == key) {
            return Err(format!(
                "{}: unknown property of {} (the TSB refuses unknown properties)",
                path(at, key),
                dto.name
            ));
        }
    }
    for f in fields() {
        let here = path(at, f.name);
        let value = obj.get(f.name).filter(|x| !x.is_null());
        if let Some(x) = value {
            check_type(x, f.ty, v, beans, &here)?;
        }
        if beans {
            check_constraint(value, f, &here)?;
        }
    }
    Ok(())
}

fn path(at: &str, name: &str) -> String {
    match (at.is_empty(), name.is_empty()) {
        (true, true) => "body".into(),
        (true, false) => name.into(),
        (false, true) => at.into(),
        (false, false) => format!("{at}.{name}"),
    }
}

fn check_type(x: &Value, ty: Ty, v: TsbVersion, beans: bool, at: &str) -> Result<(), String> {
    let wrong = |what: &str| Err(format!("{at}: {what} expected, not {}", kind(x)));
    match ty {
        Ty::Str | Ty::Base64 | Ty::Timestamp => {
            if !matches!(x, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                return wrong("a string");
            }
            if let (true, Value::String(s)) = (beans, x) {
                if matches!(ty, Ty::Base64) && !is_base64(s) {
                    return Err(format!("{at}: not base64 (@Base64Encoded)"));
                }
                if matches!(ty, Ty::Timestamp) && !is_iso8601(s) {
                    return Err(format!(
                        "{at}: not an ISO-8601 timestamp (@ISO8601Timestamp)"
                    ));
                }
            }
            Ok(())
        }
        Ty::Chars => match x {
            Value::String(_) => Ok(()),
            Value::Array(items)
                if items
                    .iter()
                    .all(|c| c.as_str().is_some_and(|c| c.chars().count() == 1)) =>
            {
                Ok(())
            }
            _ => wrong("a string or an array of one-character strings (char[])"),
        },
        Ty::Bool => match x {
            Value::Bool(_) => Ok(()),
            Value::String(s) if s == "true" || s == "false" => Ok(()),
            _ => wrong("a boolean"),
        },
        Ty::Int => {
            let ok = match x {
                Value::Number(n) => n.as_f64().is_some_and(|f| f.abs() < 2_147_483_648.0),
                Value::String(s) => s.trim().parse::<i32>().is_ok(),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                wrong("an int")
            }
        }
        Ty::Enum(name, known) => match x {
            Value::String(s) if known(s, v) => Ok(()),
            Value::String(s) => Err(format!("{at}: {s:?} is not a value of the enum {name}")),
            _ => wrong(&format!("a name of the enum {name}")),
        },
        Ty::List(item) => match x {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter(|(_, i)| !i.is_null())
                .try_for_each(|(n, i)| check_type(i, *item, v, beans, &format!("{at}[{n}]"))),
            _ => wrong("an array"),
        },
        Ty::Dto(dto, valid) => check_dto(x, dto, v, beans && valid, at),
        Ty::Any => Ok(()),
    }
}

fn check_constraint(value: Option<&Value>, f: &Field, at: &str) -> Result<(), String> {
    let empty = match value {
        None => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    match f.check {
        Check::None => Ok(()),
        Check::NotNull if value.is_none() => Err(format!("{at}: must not be null (@NotNull)")),
        Check::NotEmpty if empty => Err(format!("{at}: must not be empty (@NotEmpty)")),
        Check::Min(n) => {
            let got = value.map(int_of).unwrap_or(0);
            if got < n {
                Err(format!("{at}: must be at least {n} (@Min), not {got}"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// An int field's value as Jackson reads it (type already checked).
fn int_of(x: &Value) -> i64 {
    match x {
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn kind(x: &Value) -> &'static str {
    match x {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// S3 `Base64EncodedValidator`: PEM armour of keys and certificates removed, then the strict
/// padded alphabet (no whitespace). The empty string matches.
pub(super) fn is_base64(s: &str) -> bool {
    let mut s = s.to_string();
    for armour in [
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "-----BEGIN PUBLIC KEY-----",
        "-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----",
        "-----END CERTIFICATE-----",
    ] {
        s = s.replace(armour, "");
    }
    let b = s.as_bytes();
    let alpha = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    pad <= 2 && b[..b.len() - pad].iter().all(alpha)
}

/// S3 `ISO8601TimestampValidator`: `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or
/// `+HH:MM`/`-HH:MM`, with a valid calendar date.
pub(super) fn is_iso8601(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !(digits(0..4) && digits(5..7) && digits(8..10) && digits(11..13))
        || !(digits(14..16) && digits(17..19))
        || (b[4], b[7], b[10], b[13], b[16]) != (b'-', b'-', b'T', b':', b':')
        || b[0] == b'0'
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let zone_ok = rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':'
            && rest[1..3].bytes().all(|c| c.is_ascii_digit())
            && rest[4..6].bytes().all(|c| c.is_ascii_digit())
            && matches!(rest.as_bytes()[1], b'0' | b'1')
            && rest.as_bytes()[4] <= b'5');
    // The calendar and clock ranges, as the validator's pattern has them (hour 00-23, minute and
    // second 00-59, day valid for the month and leap year).
    zone_ok && chrono::NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%dT%H:%M:%S").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static INNER: Dto = Dto {
        name: "InnerDto",
        fields: &[Field::new("name", Ty::Str).not_empty()],
    };
    static OUTER: Dto = Dto {
        name: "OuterDto",
        fields: &[
            Field::new("inner", Ty::Dto(&INNER, true)).not_null(),
            Field::new("loose", Ty::Dto(&INNER, false)),
            Field::new("size", Ty::Int).min(1),
            Field::new("pw", Ty::Chars),
            Field::new("new", Ty::Bool).since(TsbVersion::V2_2_0),
            Field::new("list", Ty::List(&Ty::Enum("E", |s, _| s == "A"))),
        ],
    };

    fn ok(v: Value) -> bool {
        check(&v, &OUTER, TsbVersion::V2_2_0).is_ok()
    }

    #[test]
    fn dto_rules() {
        assert!(ok(
            json!({"inner": {"name": "x"}, "size": "3", "pw": ["a", "b"]})
        ));
        assert!(!ok(json!({"inner": {"name": ""}, "size": 3})));
        // Without @Valid the nested constraints are not checked, but its JSON still is.
        assert!(ok(
            json!({"inner": {"name": "x"}, "loose": {"name": ""}, "size": 1})
        ));
        assert!(!ok(
            json!({"inner": {"name": "x"}, "loose": {"nom": ""}, "size": 1})
        ));
        assert!(
            !ok(json!({"inner": {"name": "x"}})),
            "size defaults to 0 < 1"
        );
        assert!(!ok(json!({"inner": null, "size": 1})));
        assert!(!ok(
            json!({"inner": {"name": "x"}, "size": 1, "pw": ["ab"]})
        ));
        assert!(!ok(json!({"inner": {"name": "x"}, "size": 1, "extra": 1})));
        assert!(!ok(
            json!({"inner": {"name": "x"}, "size": 1, "list": ["B"]})
        ));
        assert!(ok(
            json!({"inner": {"name": "x"}, "size": 1, "list": ["A", null]})
        ));
        assert!(ok(
            json!({"inner": {"name": "x"}, "size": 1, "new": "true"})
        ));
        let older = json!({"inner": {"name": "x"}, "size": 1, "new": true});
        let e = check(&older, &OUTER, TsbVersion::V2_1_1).unwrap_err();
        assert_eq!(e.code, 600);
        assert!(!ok(json!([1])));
    }

    #[test]
    fn base64_as_the_validator() {
        for good in [
            "",
            "AAAA",
            "AA==",
            "AAA=",
            "ab+/",
            "-----BEGIN CERTIFICATE-----AAAA-----END CERTIFICATE-----",
        ] {
            assert!(is_base64(good), "{good}");
        }
        for bad in [
            "A",
            "AAA",
            "AA=A",
            "A===",
            "AA AA",
            "AAAA\n",
            "AA-_",
            "-----BEGIN X-----AAAA",
        ] {
            assert!(!is_base64(bad), "{bad}");
        }
    }

    #[test]
    fn timestamps_as_the_validator() {
        for good in [
            "2026-01-31T23:59:59Z",
            "2024-02-29T00:00:00.123Z",
            "2026-06-01T12:00:00+02:00",
        ] {
            assert!(is_iso8601(good), "{good}");
        }
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-01-31 23:59:59Z",
            "2026-01-31T24:00:00Z",
            "2026-01-31T23:59:59",
            "2026-01-31T23:59:59.Z",
            "2026-01-31t23:59:59z",
            "0999-01-31T23:59:59Z",
            "2026-01-31T23:59:59+2:00",
            "yesterday",
        ] {
            assert!(!is_iso8601(bad), "{bad}");
        }
    }
}
