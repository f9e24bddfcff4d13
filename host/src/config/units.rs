//! Value parsers for policies.toml: durations, sizes, identifiers, URLs.
//!
//! Pure functions from the text a user wrote to a value or a message that
//! says what was expected. They know nothing of keys or files; `resolve`
//! wraps their messages with the dotted key. No I/O.

use std::time::Duration;

/// "250ms", "30s", "5m", "1h", "1h 30m" (humantime's grammar).
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?}: {e} (expected e.g. \"250ms\", \"30s\", \"5m\", \"1h\")")
    })
}

/// "32MiB", "8KiB", "1GiB", "512B", "1MB" (decimal), or bare digits (bytes).
pub fn size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid size {text:?} (expected e.g. \"8KiB\", \"32MiB\" or a number of bytes)")
    };
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(bad());
    }
    let number: u64 = t[..digits].parse().map_err(|_| bad())?;
    let unit: u64 = match t[digits..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    number
        .checked_mul(unit)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// A plain SQL identifier: ASCII letters, digits, underscore, not starting
/// with a digit, at most 63 bytes (Postgres truncates longer names), and not
/// in ebb's own `_ebb` namespace.
pub fn identifier(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let plain = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    };
    if !plain {
        return Err(format!(
            "{name:?} is not a plain identifier (letters, digits and underscore, not starting with a digit)"
        ));
    }
    if name.len() > 63 {
        return Err(format!(
            "{name:?} is longer than 63 bytes (Postgres would truncate it)"
        ));
    }
    if name.to_ascii_lowercase().starts_with("_ebb") {
        return Err(format!("{name:?} is in ebb's reserved _ebb namespace"));
    }
    Ok(())
}

/// An http(s) URL with a host; plain http only on loopback, because the API
/// key travels in its headers.
pub fn http_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("{url:?} is not a URL (expected e.g. \"https://xyz.supabase.co\")")
    })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host_of(authority);
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(format!(
            "{url:?} uses plain http to a host that is not loopback; the API key would travel in clear text (use https)"
        )),
        _ => Err(format!(
            "{url:?}: unsupported scheme {scheme:?} (expected https)"
        )),
    }
}

/// The host of `user@host:port` / `[::1]:port`.
fn host_of(authority: &str) -> &str {
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    hostport.split(':').next().unwrap_or("")
}

/// Whether a host name (brackets off) is `localhost` or a loopback address.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `host:port` for a listening socket: an IP address or a name, and a port.
pub fn listen_addr(text: &str) -> Result<(), String> {
    if text.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad =
        || format!("{text:?} is not host:port (expected e.g. \"127.0.0.1:9464\"; \"\" disables)");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || host.contains(['[', ']', ':', '/']) || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(
            duration("5")
                .unwrap_err()
                .contains("invalid duration \"5\"")
        );
        assert!(duration("soon").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size("32MiB"), Ok(32 << 20));
        assert_eq!(size("8KiB"), Ok(8192));
        assert_eq!(size(" 512 B "), Ok(512));
        assert_eq!(size("1MB"), Ok(1_000_000));
        assert_eq!(size("1024"), Ok(1024));
        assert!(size("MiB").is_err());
        assert!(size("12 parsecs").is_err());
        assert!(size("-1KiB").is_err());
        assert!(size("99999999999999GiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn identifiers() {
        assert!(identifier("debt_payments").is_ok());
        assert!(identifier("_private").is_ok());
        assert!(identifier("T2").is_ok());
        assert!(identifier("2t").is_err());
        assert!(identifier("").is_err());
        assert!(identifier("a-b").is_err());
        assert!(identifier("naïve").is_err());
        assert!(identifier("_ebb_queue").unwrap_err().contains("reserved"));
        assert!(identifier("_EBBx").is_err());
        assert!(identifier(&"a".repeat(64)).unwrap_err().contains("63"));
    }

    #[test]
    fn urls() {
        assert!(http_url("https://xyz.supabase.co").is_ok());
        assert!(http_url("http://127.0.0.1:54321/rest/v1").is_ok());
        assert!(http_url("http://localhost:3000").is_ok());
        assert!(http_url("http://[::1]:3000").is_ok());
        assert!(
            http_url("http://example.com")
                .unwrap_err()
                .contains("clear text")
        );
        assert!(http_url("http://127.0.0.1.evil.com").is_err());
        assert!(http_url("ftp://example.com").is_err());
        assert!(http_url("example.com").is_err());
        assert!(http_url("https://").is_err());
    }

    #[test]
    fn listen_addrs() {
        assert!(listen_addr("127.0.0.1:9464").is_ok());
        assert!(listen_addr("[::1]:9464").is_ok());
        assert!(listen_addr("localhost:9464").is_ok());
        assert!(listen_addr("9464").is_err());
        assert!(listen_addr("localhost:http").is_err());
        assert!(listen_addr(":9464").is_err());
    }
}
