//! Time in SigV4: `X-Amz-Date`, and how far a request's clock may be from ours.

/// How far a request's time may be from the verifier's clock.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// `X-Amz-Date`'s ISO 8601 basic form, `20261124T100000Z`, as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmzDate(pub String);

const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

impl AmzDate {
    /// Epoch seconds, if the text is a date of that form.
    pub fn epoch(&self) -> Option<i64> {
        time::PrimitiveDateTime::parse(&self.0, AMZ_DATE)
            .ok()
            .map(|t| t.assume_utc().unix_timestamp())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `epoch` (seconds) in `X-Amz-Date` form.
pub fn format_amz_date(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(AMZ_DATE).ok())
        .unwrap_or_default()
}
