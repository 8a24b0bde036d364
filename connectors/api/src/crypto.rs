//! Signing and constant-time verification shared by all connectors.
//!
//! [`SignatureOk`] can only be made here, after a constant-time comparison, so a
//! [`crate::VerifiedNotification`] always stands on a checked signature.

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Proof that a signature was checked. Has no public constructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureOk {
    _private: (),
}

/// Lower-case hex HMAC-SHA256.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    hex::encode(hmac_sha256(key, message))
}

/// Raw HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so new_from_slice cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_key_length(),
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Lower-case hex HMAC-SHA512.
pub fn hmac_sha512_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = match Hmac::<Sha512>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_key_length(),
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

#[cold]
fn unreachable_key_length() -> ! {
    // hmac's InvalidLength is only returned for fixed-key MACs, never for Hmac<D>.
    std::process::abort()
}

/// Compares a received hex signature (any case) with the expected bytes in constant time.
pub fn verify_hex(expected: &[u8], received_hex: &str) -> Result<SignatureOk, crate::VerifyError> {
    let received = hex::decode(received_hex.trim()).map_err(|_| crate::VerifyError::BadSignature)?;
    if received.len() == expected.len() && bool::from(received.ct_eq(expected)) {
        Ok(SignatureOk { _private: () })
    } else {
        Err(crate::VerifyError::BadSignature)
    }
}

/// Verifies a hex HMAC-SHA256 over `message`.
pub fn verify_hmac_sha256(key: &[u8], message: &[u8], received_hex: &str) -> Result<SignatureOk, crate::VerifyError> {
    verify_hex(&hmac_sha256(key, message), received_hex)
}

/// Verifies a hex HMAC-SHA512 over `message`.
pub fn verify_hmac_sha512(key: &[u8], message: &[u8], received_hex: &str) -> Result<SignatureOk, crate::VerifyError> {
    let expected = hex::decode(hmac_sha512_hex(key, message)).unwrap_or_default();
    verify_hex(&expected, received_hex)
}

/// Constant-time equality of two byte strings (for response checksums compared as text).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_sha512_matches_rfc4231_case_2() {
        assert_eq!(
            hmac_sha512_hex(b"Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn verification_accepts_upper_case_and_rejects_any_change() {
        let sig = hmac_sha256_hex(b"k", b"m");
        assert!(verify_hmac_sha256(b"k", b"m", &sig.to_uppercase()).is_ok());
        assert!(verify_hmac_sha256(b"k", b"m2", &sig).is_err());
        assert!(verify_hmac_sha256(b"k", b"m", &sig[..10]).is_err());
        assert!(verify_hmac_sha256(b"k", b"m", "not hex").is_err());
    }
}
