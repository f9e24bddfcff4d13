//! Turning what reqwest and the server said into [`RemoteError`]s: the
//! PostgREST error body, `Retry-After`, transport failures, and pages that
//! cannot be followed.
//!
//! Pure functions (the clock is passed in), called by `Client` after each
//! request. Nothing here sees the request headers, so no message can carry
//! the key; bodies are still scrubbed by the caller in case a proxy echoes it.

use std::error::Error as _;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde_json::Value;

use crate::model::PullPage;
use crate::remote::RemoteError;

/// How much of a body that is not PostgREST's JSON is kept as the message.
const NON_JSON_MESSAGE_CHARS: usize = 200;

/// The error for a non-2xx answer. A `Retry-After` longer than
/// `max_retry_after` (`rate_limit.max_retry_after`) is cut to it.
pub fn http_error(
    endpoint: &str,
    status: StatusCode,
    retry_after: Option<&str>,
    body: &[u8],
    now: SystemTime,
    max_retry_after: Duration,
) -> RemoteError {
    let fields = parse_body(body);
    let message = fields
        .message
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
    RemoteError::Http {
        endpoint: endpoint.to_owned(),
        status: status.as_u16(),
        code: fields.code.map(Into::into),
        message,
        details: fields.details.map(Into::into),
        hint: fields.hint.map(Into::into),
        retry_after: retry_after.and_then(|v| parse_retry_after(v, now, max_retry_after)),
    }
}

#[derive(Default)]
struct BodyFields {
    code: Option<String>,
    message: Option<String>,
    details: Option<String>,
    hint: Option<String>,
}

/// PostgREST's `{code, message, details, hint}`; a gateway's `{message}`,
/// `{msg}` or `{error}`; or any other text, of which the first 200
/// characters (whitespace collapsed) become the message.
fn parse_body(body: &[u8]) -> BodyFields {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let message: String = collapsed.chars().take(NON_JSON_MESSAGE_CHARS).collect();
        return BodyFields {
            message: (!message.is_empty()).then_some(message),
            ..BodyFields::default()
        };
    };
    let text = |key: &str| match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    BodyFields {
        code: text("code"),
        message: text("message")
            .or_else(|| text("msg"))
            .or_else(|| text("error_description"))
            .or_else(|| text("error")),
        details: text("details"),
        hint: text("hint"),
    }
}

/// `Retry-After` as delta-seconds or an IMF-fixdate HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), clamped to `max` (a confused proxy
/// must not stall sync for days); a date in the past is zero. Anything else
/// is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime, max: Duration) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = parse_http_date(value)?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(max))
}

/// IMF-fixdate, the HTTP date format every current server sends.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 || year < 1970 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `answer` as a page of at most `page` rows that can be followed.
pub fn readable(url: &str, answer: PullPage, page: usize) -> Result<PullPage, RemoteError> {
    let bad = |message: String| RemoteError::Protocol {
        endpoint: url.to_owned(),
        message,
    };
    if answer.rows.len() > page {
        return Err(bad(format!(
            "{} rows for a page of {page}",
            answer.rows.len()
        )));
    }
    if answer.has_more && answer.rows.is_empty() {
        // Following it would ask for the same page forever.
        return Err(bad("an empty page that says it has more".into()));
    }
    Ok(answer)
}

/// The error for a 2xx answer that is not the JSON the RPC returns, naming
/// the likely cause: an HTML page (a proxy, a login portal, or a
/// `rest_root` that points at a website), the function's value wrapped as
/// `[{"ebb_pull": ...}]` (a PostgREST clone not in PostgREST-compatible
/// mode), or an empty body. The body itself is never echoed.
pub fn unexpected_answer(url: &str, body: &[u8], err: &serde_json::Error) -> RemoteError {
    let function = url.rsplit('/').next().unwrap_or_default();
    let text = String::from_utf8_lossy(body);
    let start = text.trim_start();
    let cause = if start.is_empty() {
        "the body is empty: is `remote.rest_root` the PostgREST root (it must serve \
         POST {root}/rpc/ebb_push)?"
            .to_string()
    } else if start.starts_with('<') {
        "the server sent a web page, not JSON: a proxy or captive portal answered, or \
         `remote.rest_root` points at a website rather than the PostgREST root (on Supabase \
         it is https://PROJECT.supabase.co/rest/v1)"
            .to_string()
    } else if wrapped(start, function) {
        format!(
            "the function's value came wrapped as [{{\"{function}\": ...}}]: this server is \
             not answering as PostgREST does for a function returning json (a PostgREST clone \
             not in its PostgREST-compatible mode?)"
        )
    } else {
        format!(
            "not the expected JSON ({err}): is this server running ebb's remote SQL of this version (`ebb remote-sql`)?"
        )
    };
    RemoteError::Protocol {
        endpoint: url.to_owned(),
        message: format!("unexpected answer from {function}: {cause}"),
    }
}

/// `[{"function": ...}]`: one object whose one key is the function's name.
fn wrapped(body: &str, function: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(items)) => match items.as_slice() {
            [serde_json::Value::Object(o)] => o.len() == 1 && o.contains_key(function),
            _ => false,
        },
        _ => false,
    }
}

/// The error for a request that got no (complete) answer.
pub fn transport_error(
    endpoint: &str,
    err: reqwest::Error,
    timeout: Duration,
    connect_timeout: Duration,
) -> RemoteError {
    if err.is_timeout() {
        let after = if err.is_connect() {
            connect_timeout
        } else {
            timeout
        };
        return RemoteError::Timeout {
            endpoint: endpoint.to_owned(),
            after,
        };
    }
    RemoteError::Network {
        endpoint: endpoint.to_owned(),
        message: describe(err.without_url()),
    }
}

/// The error and its causes, "a: b: c", without repeats (hyper and reqwest
/// often wrap the same io error twice).
fn describe(err: reqwest::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn http_dates() {
        // 784111777 is RFC 9110's example date.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at(784_111_777))
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(at(0))
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(at(1_835_438_400))
        );
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT x",
            "06 Nov 1994",
            "",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = at(784_111_777);
        assert_eq!(
            parse_retry_after("120", now, HOUR),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now, HOUR), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now, HOUR),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now, HOUR),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("999999999", now, HOUR), Some(HOUR));
        assert_eq!(parse_retry_after("-5", now, HOUR), None);
        assert_eq!(parse_retry_after("soon", now, HOUR), None);
        // The cap is the configured one, for seconds and dates alike.
        let min = Duration::from_secs(60);
        assert_eq!(parse_retry_after("120", now, min), Some(min));
        assert_eq!(
            parse_retry_after("59", now, min),
            Some(Duration::from_secs(59))
        );
        let date = "Sun, 06 Nov 1994 09:49:37 GMT";
        assert_eq!(parse_retry_after(date, now, min), Some(min));
        let e = http_error(
            "e",
            StatusCode::TOO_MANY_REQUESTS,
            Some("600"),
            b"",
            now,
            min,
        );
        assert_eq!(e.retry_after(), Some(min));
    }

    #[test]
    fn postgrest_body() {
        let body = br#"{"code":"23505","details":"Key (id)=(1) already exists.","hint":null,"message":"duplicate key value"}"#;
        let e = http_error("e", StatusCode::CONFLICT, None, body, at(0), HOUR);
        let RemoteError::Http {
            status,
            code,
            message,
            details,
            hint,
            retry_after,
            ..
        } = e
        else {
            panic!("{e:?}");
        };
        assert_eq!(status, 409);
        assert_eq!(code.as_deref(), Some("23505"));
        assert_eq!(message, "duplicate key value");
        assert_eq!(details.as_deref(), Some("Key (id)=(1) already exists."));
        assert_eq!(hint, None);
        assert_eq!(retry_after, None);
    }

    #[test]
    fn non_json_and_empty_bodies() {
        let html = format!(
            "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>{}</body></html>",
            "x".repeat(500)
        );
        let e = http_error(
            "e",
            StatusCode::BAD_GATEWAY,
            None,
            html.as_bytes(),
            at(0),
            HOUR,
        );
        let RemoteError::Http { message, code, .. } = &e else {
            panic!("{e:?}");
        };
        assert!(
            message.starts_with("<html> <head><title>502 Bad Gateway"),
            "{message}"
        );
        assert_eq!(message.chars().count(), 200);
        assert_eq!(code, &None);
        assert!(e.is_retryable());

        let e = http_error(
            "e",
            StatusCode::SERVICE_UNAVAILABLE,
            Some("7"),
            b"",
            at(0),
            HOUR,
        );
        assert!(
            e.to_string().ends_with("HTTP 503: Service Unavailable"),
            "{e}"
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));

        // Supabase's gateway answers with {"message": ...} only.
        let e = http_error(
            "e",
            StatusCode::UNAUTHORIZED,
            None,
            br#"{"message":"Invalid API key"}"#,
            at(0),
            HOUR,
        );
        assert!(e.to_string().ends_with("HTTP 401: Invalid API key"), "{e}");
    }
}
