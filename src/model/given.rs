//! Values as people give them, on the command line or in a file: checked once, with words
//! that say what is wanted.

use std::time::Duration;

/// An artifact type is a media type (`type/subtype`, RFC 6838's characters): a typo such as
/// `spdx` would match nothing and pass or fail for the wrong reason.
pub fn parse_artifact_type(text: &str) -> Result<String, String> {
    let t = text.trim();
    let ok = t.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+/".contains(c))
            && t.matches('/').count() == 1
    });
    if ok {
        Ok(t.to_string())
    } else {
        Err("an artifact type is a media type, such as application/spdx+json".into())
    }
}

/// The longest `--timeout` or `--deadline` accepted: a week is longer than any build waits.
const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A wait as people type it: seconds (`30`, `1.5`) or a duration (`5s`, `2m`, `1m30s`,
/// `500ms`, `1h`). Zero is refused: it would fail every request before it is sent.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let d = match t.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => {
            Duration::try_from_secs_f64(secs.min(MAX_WAIT.as_secs_f64() + 1.0))
                .map_err(|e| e.to_string())?
        }
        Ok(_) => return Err("not a number of seconds".into()),
        Err(_) => humantime::parse_duration(t).map_err(|e| {
            format!("{e}; give seconds (30, 1.5) or a duration (5s, 2m, 1m30s, 500ms)")
        })?,
    };
    if d.is_zero() {
        return Err("must be more than 0: a zero wait would fail every request".into());
    }
    if d > MAX_WAIT {
        return Err("at most 7 days (168h)".into());
    }
    Ok(d)
}
