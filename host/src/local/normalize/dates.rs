//! Date and time text: the shapes a local column spells its dates in, what
//! Postgres sends back, and the one spelled the other's way.
//!
//! Pure functions, no I/O. `normalize` asks [`Shape::of_local`] what shape
//! a column's values (or its DEFAULT) have, [`Stamp::parse`] whether a
//! pulled string is a date or time stamp, and [`Stamp::render`] for the
//! same instant in the local shape. A render never drops information: a
//! value it cannot spell the local way without loss (a time of day into a
//! date, a year outside 0001-9999) is left as it came.

/// How a local column spells its dates (SQLite has no date type: the app's
/// own text is the format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// `YYYY-MM-DD` (SQLite's `CURRENT_DATE`).
    Date,
    /// `YYYY-MM-DD HH:MM:SS` or with `T` (`sep`), with `frac` digits of
    /// fractional seconds (0: none), ending in `Z` or in nothing (`zulu`).
    /// Without a zone the time is read as UTC, as SQLite's
    /// `CURRENT_TIMESTAMP` writes it.
    DateTime { sep: char, frac: u8, zulu: bool },
}

/// A date or time stamp read from text: a civil date, the seconds of its
/// day, the fractional digits as written and the zone offset if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Days since 1970-01-01.
    days: i64,
    /// Seconds into the day; `None` for a bare date.
    secs: Option<u32>,
    /// Fractional second digits, trailing zeros removed.
    frac: String,
    /// Seconds east of UTC; `None` when the text named no zone.
    offset: Option<i32>,
}

impl Shape {
    /// The shape of a local value, if it is one ebb can write back:
    /// `YYYY-MM-DD`, or a date and time with ` ` or `T`, optional fraction,
    /// `Z` or no zone. A value with a numeric offset is a date but not a
    /// shape to copy (it is what Postgres sends).
    pub(crate) fn of_local(text: &str) -> Option<Shape> {
        let parts = Parts::split(text)?;
        if parts.offset.is_some() {
            return None;
        }
        Some(match parts.time {
            None => Shape::Date,
            Some(_) => Shape::DateTime {
                sep: parts.sep,
                frac: u8::try_from(parts.frac_len).ok()?,
                zulu: parts.zulu,
            },
        })
    }

    /// The shape a column DEFAULT writes (SQL text as `PRAGMA table_info`
    /// shows it): CURRENT_TIMESTAMP and `datetime('now')` give
    /// `YYYY-MM-DD HH:MM:SS`, CURRENT_DATE and `date('now')` give
    /// `YYYY-MM-DD`, and `strftime('FORMAT', ...)` whatever FORMAT spells.
    pub(crate) fn of_default(default: &str) -> Option<Shape> {
        let original = default.trim().trim_start_matches('(');
        let d = original.to_ascii_lowercase();
        if d.starts_with("strftime(") {
            let rest = original.get("strftime(".len()..)?;
            let format = rest.trim_start().strip_prefix('\'')?.split('\'').next()?;
            let sample = format
                .replace("%Y", "2000")
                .replace("%m", "01")
                .replace("%d", "01")
                .replace("%H", "00")
                .replace("%M", "00")
                .replace("%S", "00")
                .replace("%f", "00.000");
            return Shape::of_local(&sample);
        }
        if d.starts_with("current_timestamp") {
            return Some(Shape::DateTime {
                sep: ' ',
                frac: 0,
                zulu: false,
            });
        }
        if let Some(args) = d.strip_prefix("datetime(") {
            let frac = if args.contains("subsec") { 3 } else { 0 };
            return Some(Shape::DateTime {
                sep: ' ',
                frac,
                zulu: false,
            });
        }
        if d.starts_with("current_date") || d.starts_with("date(") {
            return Some(Shape::Date);
        }
        None
    }
}

impl Stamp {
    /// A date (`YYYY-MM-DD`) or a date and time as RFC 3339 or Postgres
    /// write it: ` ` or `T`, any fraction, `Z`, `+HH`, `+HH:MM`, `+HHMM` or
    /// `+HH:MM:SS` (or none). `None` for anything else (`infinity`, BC
    /// dates, free text).
    pub(crate) fn parse(text: &str) -> Option<Stamp> {
        let p = Parts::split(text)?;
        let offset = if p.zulu { Some(0) } else { p.offset };
        Some(Stamp {
            days: days_from_civil(p.year, p.month, p.day),
            secs: p.time,
            frac: p.frac.trim_end_matches('0').to_string(),
            offset,
        })
    }

    /// Whether `a` and `b` are the same date, or the same instant spelled
    /// two ways (a time without a zone read as UTC, as `render` reads it):
    /// `2026-12-06 14:05:00` and `2026-12-06T16:05:00+02:00` are.
    pub(crate) fn same(a: &str, b: &str) -> bool {
        match (Stamp::parse(a), Stamp::parse(b)) {
            (Some(x), Some(y)) => x.utc() == y.utc(),
            _ => false,
        }
    }

    /// (seconds since 1970 in UTC, or the day of a bare date; fraction).
    fn utc(&self) -> (Option<i64>, i64, &str) {
        match self.secs {
            None => (None, self.days, ""),
            Some(secs) => {
                let at = self.days * 86_400 + i64::from(secs) - i64::from(self.offset.unwrap_or(0));
                (Some(at), 0, self.frac.as_str())
            }
        }
    }

    /// This instant spelled in `shape`: moved to UTC when it carries an
    /// offset (a time without a zone is taken as it is), fraction digits
    /// kept (padded to the shape's count, never cut). `None` when the shape
    /// cannot hold it without loss: a time of day into a date, a bare date
    /// into a date and time, a year outside 0001-9999.
    pub(crate) fn render(&self, shape: Shape) -> Option<String> {
        let Some(secs) = self.secs else {
            return (shape == Shape::Date)
                .then(|| civil_text(self.days))
                .flatten();
        };
        let total =
            self.days * 86_400 + i64::from(secs) - i64::from(self.offset.unwrap_or_default());
        let (days, secs) = (total.div_euclid(86_400), total.rem_euclid(86_400));
        let date = civil_text(days)?;
        match shape {
            Shape::Date => (secs == 0 && self.frac.is_empty()).then_some(date),
            Shape::DateTime { sep, frac, zulu } => {
                let mut out = format!(
                    "{date}{sep}{:02}:{:02}:{:02}",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                );
                let digits = usize::from(frac).max(self.frac.len());
                if digits > 0 {
                    out.push('.');
                    out.push_str(&self.frac);
                    out.extend(std::iter::repeat_n('0', digits - self.frac.len()));
                }
                if zulu {
                    out.push('Z');
                }
                Some(out)
            }
        }
    }
}

/// The pieces of a date or date-time text, checked for range.
struct Parts<'a> {
    year: i64,
    month: u32,
    day: u32,
    sep: char,
    time: Option<u32>,
    frac: &'a str,
    frac_len: usize,
    zulu: bool,
    offset: Option<i32>,
}

impl<'a> Parts<'a> {
    fn split(text: &'a str) -> Option<Parts<'a>> {
        let b = text.as_bytes();
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = i64::from(digits(text.get(0..4)?)?);
        let month = digits(text.get(5..7)?)?;
        let day = digits(text.get(8..10)?)?;
        if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in(year, month) {
            return None;
        }
        let mut parts = Parts {
            year,
            month,
            day,
            sep: ' ',
            time: None,
            frac: "",
            frac_len: 0,
            zulu: false,
            offset: None,
        };
        if b.len() == 10 {
            return Some(parts);
        }
        parts.sep = match b[10] {
            b' ' => ' ',
            b'T' => 'T',
            _ => return None,
        };
        let rest = text.get(11..)?;
        if rest.len() < 8 || rest.as_bytes()[2] != b':' || rest.as_bytes()[5] != b':' {
            return None;
        }
        let (h, m, s) = (
            digits(rest.get(0..2)?)?,
            digits(rest.get(3..5)?)?,
            digits(rest.get(6..8)?)?,
        );
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        parts.time = Some(h * 3600 + m * 60 + s);
        let mut rest = rest.get(8..)?;
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            parts.frac = &after[..n];
            parts.frac_len = n;
            rest = &after[n..];
        }
        match rest {
            "" => {}
            "Z" => parts.zulu = true,
            zone => parts.offset = Some(offset(zone)?),
        }
        Some(parts)
    }
}

/// `+HH`, `+HH:MM`, `+HHMM`, `+HH:MM:SS` (or `-`) in seconds east of UTC.
fn offset(zone: &str) -> Option<i32> {
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = zone.get(1..)?;
    let colon = |i: usize| body.as_bytes().get(i) == Some(&b':');
    let (h, m, s) = match body.len() {
        2 => (Some(body), Some("00"), Some("00")),
        4 => (body.get(0..2), body.get(2..4), Some("00")),
        5 if colon(2) => (body.get(0..2), body.get(3..5), Some("00")),
        8 if colon(2) && colon(5) => (body.get(0..2), body.get(3..5), body.get(6..8)),
        _ => return None,
    };
    let (h, m, s) = (digits(h?)?, digits(m?)?, digits(s?)?);
    if h > 18 || m > 59 || s > 59 {
        return None;
    }
    i32::try_from(h * 3600 + m * 60 + s).ok().map(|v| sign * v)
}

/// ASCII digits only (no sign, no space), as a number.
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of days since 1970-01-01, for years 0001-9999 only.
fn civil_text(days: i64) -> Option<String> {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (1..=9999)
        .contains(&year)
        .then(|| format!("{year:04}-{month:02}-{day:02}"))
}

#[cfg(test)]
#[path = "dates_tests.rs"]
mod tests;
