//! Time: the one injectable clock, and timestamps in the form KMS puts on the wire.
//!
//! AWS JSON 1.1 sends timestamps as epoch seconds in a JSON number. KMS's servers print that
//! number the way Java's `Double.toString` does (`1.480632737044E9`, as in the API reference
//! examples), so [`Timestamp`] serializes the same way, byte for byte.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// A point in time with millisecond precision (what KMS keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s * 1000)
    }

    /// From fractional epoch seconds as a client sends them; sub-millisecond digits are
    /// dropped (truncated toward the past).
    pub fn from_epoch_seconds_f64(s: f64) -> Option<Self> {
        let ms = s * 1000.0;
        // A value that is a whole number of milliseconds up to binary rounding stays that.
        let ms = if (ms - ms.round()).abs() < 1e-3 {
            ms.round()
        } else {
            ms.floor()
        };
        (ms.is_finite() && ms.abs() < 1e17).then_some(Timestamp(ms as i64))
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub fn epoch_seconds_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Epoch seconds, dropping the fraction.
    pub const fn whole_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `2026-11-24T10:00:00Z` (whole seconds, UTC), as CloudTrail and `aws:CurrentTime` write it.
    pub fn to_rfc3339(self) -> String {
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        time::OffsetDateTime::from_unix_timestamp(self.whole_seconds())
            .ok()
            .and_then(|t| t.format(&format).ok())
            .unwrap_or_default()
    }

    /// Whole seconds, dropping the fraction (how KMS stores `ValidTo`).
    pub fn truncate_to_secs(self) -> Self {
        Timestamp(self.0.div_euclid(1000) * 1000)
    }

    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_millis() as i64))
    }

    pub fn minus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_sub(d.as_millis() as i64))
    }

    /// Epoch seconds as Java's `Double.toString` prints them: plain below 10^7
    /// (`12.5`), computerized scientific notation from there on (`1.7000000001E9`).
    pub fn to_wire(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let int = abs / 1000;
        let frac = format!("{:03}", abs % 1000);
        let frac = frac.trim_end_matches('0');
        if int < 10_000_000 {
            let frac = if frac.is_empty() { "0" } else { frac };
            return format!("{sign}{int}.{frac}");
        }
        let int = int.to_string();
        let digits = format!("{int}{frac}");
        let digits = digits.trim_end_matches('0');
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{}", int.len() - 1)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A raw JSON number, so that the Java rendering survives serde_json.
        let raw = serde_json::value::RawValue::from_string(self.to_wire())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Numbers beyond what a timestamp can hold are clamped (JSON has no NaN or infinity), so
    /// that an absurd `ValidTo` gets the range check's answer, not a parse error.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const LIMIT_SECS: f64 = 1e13;
        let secs = f64::deserialize(d)?.clamp(-LIMIT_SECS, LIMIT_SECS);
        Timestamp::from_epoch_seconds_f64(secs)
            .ok_or_else(|| de::Error::custom("timestamp out of range"))
    }
}

/// The clock every component reads. Tests freeze it or move it forward; the debug API of a
/// running endpoint can move it too, so expiry can be tested without sleeping.
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<ClockState>);

#[derive(Debug, Default)]
struct ClockState {
    /// `Some` when frozen: the fixed time in milliseconds.
    frozen: Option<AtomicI64>,
    /// Added to the base time; moved by [`Clock::advance`].
    offset_ms: AtomicI64,
}

impl Clock {
    /// Wall-clock time.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stands still at `t` until advanced.
    pub fn frozen_at(t: Timestamp) -> Self {
        Clock(Arc::new(ClockState {
            frozen: Some(AtomicI64::new(t.millis())),
            offset_ms: AtomicI64::new(0),
        }))
    }

    pub fn now(&self) -> Timestamp {
        let base = match &self.0.frozen {
            Some(t) => t.load(Ordering::Relaxed),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        };
        Timestamp(base + self.0.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance(&self, d: Duration) {
        self.0
            .offset_ms
            .fetch_add(d.as_millis() as i64, Ordering::Relaxed);
    }

    /// How far this clock has been moved from its base.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(self.0.offset_ms.load(Ordering::Relaxed).max(0) as u64)
    }
}

/// How long KMS's asynchronous changes take here; each completes by the clock alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    /// An accepted RotateKeyOnDemand (AWS took 48 s to 2.6 min).
    pub rotation: std::time::Duration,
    /// A replica in `Creating` after ReplicateKey, and both keys in `Updating` after
    /// UpdatePrimaryRegion (AWS: "seconds").
    pub multi_region: std::time::Duration,
}

impl Delays {
    /// Everything completes at once (in-process tests and benchmarks).
    pub const NONE: Delays = Delays {
        rotation: std::time::Duration::ZERO,
        multi_region: std::time::Duration::ZERO,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_matches_java_double_to_string() {
        assert_eq!(
            Timestamp::from_millis(1_480_632_737_044).to_wire(),
            "1.480632737044E9"
        );
        assert_eq!(
            Timestamp::from_millis(1_480_632_737_000).to_wire(),
            "1.480632737E9"
        );
        assert_eq!(
            Timestamp::from_millis(1_480_632_737_100).to_wire(),
            "1.4806327371E9"
        );
        assert_eq!(Timestamp::from_millis(2_000_000_000_000).to_wire(), "2.0E9");
        assert_eq!(Timestamp::from_millis(12_500).to_wire(), "12.5");
        assert_eq!(Timestamp::from_millis(0).to_wire(), "0.0");
        assert_eq!(Timestamp::from_millis(10_000_000_000).to_wire(), "1.0E7");
    }

    #[test]
    fn serializes_as_a_json_number() {
        let v = serde_json::json!({ "T": Timestamp::from_millis(1_789_209_320_955) });
        assert_eq!(v.to_string(), r#"{"T":1789209320.955}"#);
        let s = serde_json::to_string(&Timestamp::from_millis(1_789_209_320_955)).unwrap();
        assert_eq!(s, "1.789209320955E9");
        let back: Timestamp = serde_json::from_str(&s).unwrap();
        assert_eq!(back, Timestamp::from_millis(1_789_209_320_955));
    }

    #[test]
    fn input_precision_is_truncated() {
        let t = Timestamp::from_epoch_seconds_f64(1789209320.955686).unwrap();
        assert_eq!(t.millis(), 1_789_209_320_955);
        assert_eq!(t.truncate_to_secs().millis(), 1_789_209_320_000);
        assert!(Timestamp::from_epoch_seconds_f64(f64::NAN).is_none());
        let far: Timestamp = serde_json::from_str("1e300").unwrap();
        assert_eq!(far, Timestamp::from_secs(10_000_000_000_000));
        let past: Timestamp = serde_json::from_str("-1e300").unwrap();
        assert!(past < Timestamp::from_secs(0));
    }

    #[test]
    fn clock_moves_only_when_told() {
        let c = Clock::frozen_at(Timestamp::from_secs(100));
        let copy = c.clone();
        assert_eq!(c.now(), Timestamp::from_secs(100));
        copy.advance(Duration::from_secs(5));
        assert_eq!(c.now(), Timestamp::from_secs(105));
        assert_eq!(c.offset(), Duration::from_secs(5));
    }
}
