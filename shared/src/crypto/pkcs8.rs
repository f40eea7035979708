//! PKCS#8 private keys in BER. AWS KMS imports RSA and ECC private keys whose PKCS#8 is BER
//! (indefinite lengths, say), not only DER, and treats them as the same material. aws-lc-rs
//! parses DER only; aws-lc's ASN.1 template decoder reads BER, so such a key is read there and
//! written back as DER first.

/// The DER form of a BER-encoded PKCS#8 `PrivateKeyInfo`; `None` if it is not one, or has
/// bytes after it.
pub fn ber_to_der(input: &[u8]) -> Option<Vec<u8>> {
    let len = std::os::raw::c_long::try_from(input.len()).ok()?;
    // SAFETY: aws-lc reads at most `len` bytes from `input` and advances `p` within it; the
    // object it returns is freed below, and the DER buffer it allocates is copied, then freed
    // with OPENSSL_free as aws-lc requires.
    unsafe {
        let mut p = input.as_ptr();
        let info = aws_lc_sys::d2i_PKCS8_PRIV_KEY_INFO(std::ptr::null_mut(), &mut p, len);
        if info.is_null() {
            return None;
        }
        let consumed = p.offset_from(input.as_ptr()) as usize;
        let mut out: *mut u8 = std::ptr::null_mut();
        let n = aws_lc_sys::i2d_PKCS8_PRIV_KEY_INFO(info, &mut out);
        aws_lc_sys::PKCS8_PRIV_KEY_INFO_free(info);
        if n <= 0 || out.is_null() {
            return None;
        }
        let der = std::slice::from_raw_parts(out, n as usize).to_vec();
        aws_lc_sys::OPENSSL_free(out.cast());
        (consumed == input.len()).then_some(der)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `der` with its outer SEQUENCE re-encoded with BER's indefinite length, as in the
    /// captured AWS exchange.
    pub fn indefinite(der: &[u8]) -> Vec<u8> {
        assert_eq!(der[0], 0x30);
        let start = if der[1] < 0x80 {
            2
        } else {
            2 + (der[1] & 0x7f) as usize
        };
        let mut out = vec![0x30, 0x80];
        out.extend_from_slice(&der[start..]);
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn indefinite_lengths_become_der() {
        let der = crate::crypto::material::generate(
            crate::domain::spec::KeySpec::EccNistP384,
            crate::domain::spec::SymmetricCipher::Aes256,
        )
        .unwrap();
        assert_eq!(ber_to_der(&indefinite(&der)), Some(der.clone()));
        assert_eq!(ber_to_der(&der), Some(der.clone()));
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(ber_to_der(&trailing), None);
        assert_eq!(ber_to_der(b"\x30\x80"), None);
        assert_eq!(ber_to_der(&[]), None);
    }
}
