//! The TSB URL, checked with the parser the HTTP client uses, so that what is checked is what
//! gets connected to: https, or plain http to a loopback address only.

/// Whether `url`, parsed as the HTTP client parses it, names a loopback host: a literal address
/// in 127.0.0.0/8 or `::1`, or `localhost` (which the client pins to those addresses instead of
/// asking DNS). The only place plain HTTP is allowed.
#[cfg(test)]
pub(crate) fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(is_loopback_host))
        .unwrap_or(false)
}

/// `host` as `Url::host_str` gives it (IPv6 in brackets, IPv4 normalized, names lowercased).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// Parse and check a TSB base URL with the parser the HTTP client uses, so that what is checked
/// is what gets connected to. Returns the normalized URL (no trailing `/` or `/v1`, no default
/// port) or the reason it is refused. Never repeats userinfo in a message.
pub(super) fn check_url(text: &str, allow_http: bool) -> std::result::Result<String, String> {
    let text = text.trim();
    // WHATWG parsing reads `\` as `/` in http(s) URLs while other parsers do not; a URL whose
    // host depends on the parser is refused outright.
    if text.contains('\\') {
        return Err("contains a backslash; write the URL without it".into());
    }
    let https_only = "must be https:// (or http:// to a loopback emulator)";
    let u = reqwest::Url::parse(text).map_err(|e| format!("not a URL ({e}); {https_only}"))?;
    let scheme = u.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(format!("scheme {scheme}: {https_only}"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(
            "must not contain user:password@ (credentials go in \"token\" or \"api_keys\")".into(),
        );
    }
    if u.query().is_some() {
        return Err("must not have a query (?...)".into());
    }
    if u.fragment().is_some() {
        return Err("must not have a fragment (#...)".into());
    }
    let host = match u.host_str() {
        Some(h) if !h.is_empty() => h,
        _ => return Err(format!("not a URL (no host); {https_only}")),
    };
    if scheme == "http" {
        if !allow_http {
            return Err("plain http:// is refused; use https://, or set \"allow_http\": true (TSB_PKCS11_ALLOW_HTTP=1) for a local emulator on a loopback address".into());
        }
        if !is_loopback_host(host) {
            return Err(
                "plain http:// is only allowed to a loopback address (127.0.0.0/8, ::1, localhost)"
                    .into(),
            );
        }
    }
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = u.path().trim_end_matches('/');
    let path = path.strip_suffix(tsb_models::paths::PREFIX).unwrap_or(path);
    Ok(format!("{scheme}://{host}{port}{path}"))
}

/// The slot description shown by C_GetSlotInfo: "TSB " and the URL without any userinfo (which
/// the config refuses anyway; this keeps it out of sight even if a URL got here some other way).
pub(crate) fn url_description(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if matches!(u.scheme(), "https" | "http") => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            format!("TSB {}", u.as_str().trim_end_matches('/'))
        }
        _ => "TSB".into(),
    }
}
