//! Paging markers (`Marker` / `NextMarker`): opaque to clients, written and read in one place.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ErrorCode, KmsError, KmsResult};

/// The marker for a position in a listing.
pub(super) fn encode(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position)
}

/// The position a `Marker` parameter holds, as `read` understands it; a marker that is not one
/// of ours, or not for this listing, is AWS's `InvalidMarkerException`.
pub(super) fn decode<T>(
    marker: Option<&str>,
    read: impl FnOnce(String) -> Option<T>,
) -> KmsResult<Option<T>> {
    let Some(m) = marker else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(m)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(read)
        .map(Some)
        .ok_or_else(|| KmsError::new(ErrorCode::InvalidMarker, "The marker is not valid."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let m = encode("alias/a");
        assert_eq!(decode(Some(&m), Some), Ok(Some("alias/a".to_string())));
        assert_eq!(decode(None, Some), Ok(None::<String>));
        let e = decode(Some("!!"), Some).unwrap_err();
        assert_eq!(e.message(), Some("The marker is not valid."));
        assert_eq!(
            decode(Some(&m), |_| None::<()>).unwrap_err().code,
            ErrorCode::InvalidMarker
        );
    }
}
