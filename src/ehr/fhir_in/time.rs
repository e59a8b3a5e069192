//! FHIR dates and times: `date`/`dateTime` with their partial forms (`YYYY`, `YYYY-MM`), the
//! clinical time of an Observation, and the whole-year age between two possibly partial dates.
//!
//! A partial date is the range of days it could be; a look-back or an age is taken from it only
//! when every day in the range gives the same answer (hand-written: chrono parses full dates and
//! RFC 3339 instants, not FHIR's reduced precisions).

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde_json::Value;

use super::resource::text;

/// A FHIR date or dateTime: the days it could fall on and a sort key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FhirDate {
    /// First possible (local) day.
    pub earliest: NaiveDate,
    /// Last possible (local) day.
    pub latest: NaiveDate,
    /// Earliest possible instant, for ordering (a date alone counts from 00:00 UTC).
    pub instant: DateTime<Utc>,
    /// As written.
    pub text: String,
}

impl FhirDate {
    /// Parses `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or an RFC 3339 dateTime with a time zone.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (earliest, latest) = match s.len() {
            4 => {
                let y = year(s)?;
                (
                    NaiveDate::from_ymd_opt(y, 1, 1)?,
                    NaiveDate::from_ymd_opt(y, 12, 31)?,
                )
            }
            7 => {
                let (y, m) = (year(&s[..4])?, two(s, 5)?);
                if &s[4..5] != "-" {
                    return None;
                }
                let first = NaiveDate::from_ymd_opt(y, m, 1)?;
                let last = first.checked_add_months(chrono::Months::new(1))? - Days::new(1);
                (first, last)
            }
            10 => {
                let d = full_date(s)?;
                (d, d)
            }
            _ => {
                let instant = DateTime::parse_from_rfc3339(s).ok()?;
                let d = full_date(s.get(..10)?)?;
                return Some(Self {
                    earliest: d,
                    latest: d,
                    instant: instant.with_timezone(&Utc),
                    text: s.to_string(),
                });
            }
        };
        Some(Self {
            earliest,
            latest,
            instant: earliest.and_hms_opt(0, 0, 0)?.and_utc(),
            text: s.to_string(),
        })
    }

    /// A known day.
    pub fn day(d: NaiveDate) -> Self {
        Self {
            earliest: d,
            latest: d,
            instant: d
                .and_hms_opt(0, 0, 0)
                .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc()),
            text: d.format("%Y-%m-%d").to_string(),
        }
    }
}

fn year(s: &str) -> Option<i32> {
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn two(s: &str, at: usize) -> Option<u32> {
    let part = s.get(at..at + 2)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

fn full_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 || &s[4..5] != "-" || &s[7..8] != "-" {
        return None;
    }
    NaiveDate::from_ymd_opt(year(&s[..4])?, two(s, 5)?, two(s, 8)?)
}

/// The clinical time of an Observation: `effectiveDateTime` | `effectiveInstant` |
/// `effectivePeriod.end` (else `.start`) | `issued`.
pub(crate) fn clinical_time(obs: &Value) -> Option<FhirDate> {
    let period = obs.get("effectivePeriod");
    text(obs, "effectiveDateTime")
        .or_else(|| text(obs, "effectiveInstant"))
        .or_else(|| period.and_then(|p| text(p, "end")))
        .or_else(|| period.and_then(|p| text(p, "start")))
        .or_else(|| text(obs, "issued"))
        .and_then(FhirDate::parse)
}

/// `meta.lastUpdated`, the tie-break between results of the same clinical time.
pub(crate) fn last_updated(r: &Value) -> Option<DateTime<Utc>> {
    let s = r.get("meta").and_then(|m| text(m, "lastUpdated"))?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whole years completed from `birth` to `at`, or `Err((youngest, oldest))` when the partial
/// dates allow more than one answer.
pub(crate) fn whole_years(birth: &FhirDate, at: &FhirDate) -> Result<i64, (i64, i64)> {
    let youngest = years(birth.latest, at.earliest);
    let oldest = years(birth.earliest, at.latest);
    if youngest == oldest {
        Ok(youngest)
    } else {
        Err((youngest, oldest))
    }
}

fn years(birth: NaiveDate, at: NaiveDate) -> i64 {
    let mut age = i64::from(at.year()) - i64::from(birth.year());
    if (at.month(), at.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// Days from `date`'s earliest possible day to `today` (negative in the future).
pub(crate) fn age_in_days(date: &FhirDate, today: NaiveDate) -> i64 {
    (today - date.earliest).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> FhirDate {
        FhirDate::parse(s).expect(s)
    }

    #[test]
    fn partial_dates_are_ranges_of_days() {
        let y = d("1956");
        assert_eq!(y.earliest.to_string(), "1956-01-01");
        assert_eq!(y.latest.to_string(), "1956-12-31");
        let m = d("2024-02");
        assert_eq!(m.latest.to_string(), "2024-02-29");
        let dec = d("2023-12");
        assert_eq!(dec.latest.to_string(), "2023-12-31");
        let t = d("2026-02-10T23:30:00-05:00");
        assert_eq!(t.earliest.to_string(), "2026-02-10");
        assert_eq!(t.instant.to_rfc3339(), "2026-02-11T04:30:00+00:00");
        for bad in [
            "56",
            "1956-13",
            "1956-02-30",
            "2026-02-10T08:30",
            "19x6",
            "1956/04",
        ] {
            assert!(FhirDate::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn clinical_time_prefers_effective_then_period_end_then_start_then_issued() {
        let t = |o: Value| clinical_time(&o).map(|t| t.text);
        assert_eq!(
            t(json!({"effectiveDateTime": "2026-01-02", "issued": "2026-01-05T00:00:00Z"})),
            Some("2026-01-02".to_string())
        );
        assert_eq!(
            t(json!({"effectiveInstant": "2026-01-03T10:00:00Z"})),
            Some("2026-01-03T10:00:00Z".to_string())
        );
        assert_eq!(
            t(json!({"effectivePeriod": {"start": "2026-01-01", "end": "2026-01-04"}})),
            Some("2026-01-04".to_string())
        );
        assert_eq!(
            t(json!({"effectivePeriod": {"start": "2026-01-01"}})),
            Some("2026-01-01".to_string())
        );
        assert_eq!(
            t(json!({"issued": "2026-01-05T00:00:00Z"})),
            Some("2026-01-05T00:00:00Z".to_string())
        );
        assert_eq!(t(json!({"effectiveDateTime": "garbage"})), None);
    }

    #[test]
    fn age_counts_completed_years_and_refuses_ambiguous_partial_birth_dates() {
        let surgery = d("2026-03-02");
        assert_eq!(whole_years(&d("1956-04-11"), &surgery), Ok(69));
        assert_eq!(whole_years(&d("1956-03-02"), &surgery), Ok(70));
        assert_eq!(whole_years(&d("1956-03-03"), &surgery), Ok(69));
        // Any day of February 1956 had its birthday by 2 March 2026.
        assert_eq!(whole_years(&d("1956-02"), &surgery), Ok(70));
        // March 1956: 1-2 March gives 70, later days 69.
        assert_eq!(whole_years(&d("1956-03"), &surgery), Err((69, 70)));
        assert_eq!(whole_years(&d("1956"), &surgery), Err((69, 70)));
        // On 31 December every day of the year has passed.
        assert_eq!(whole_years(&d("1956"), &d("2026-12-31")), Ok(70));
        // A partial surgery date widens the range too.
        assert_eq!(whole_years(&d("1956-04-11"), &d("2026-04")), Err((69, 70)));
    }
}
