//! Time as periop writes it: the current instant at millisecond precision and its RFC 3339 text
//! (what `created_at` carries in answers and audit records). A leaf module so the audit store,
//! the rule registry and the service agree on one format.

use chrono::{DateTime, SecondsFormat, Utc};

/// The current time at millisecond precision (what `created_at` serialises).
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// `created_at` exactly as it appears in a serialised answer (RFC 3339, ms, `Z`).
pub fn created_at_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
