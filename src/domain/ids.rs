//! Identifiers: `pay_...`, `att_...` and friends, and the attempt references sent to
//! gateways (`FG` + 10 Crockford base32 characters: short, upper-case, no I/L/O/U, so a
//! payer typing a transfer content cannot confuse them).

use rand::Rng;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char).collect()
}

/// A new id with a type prefix: `pay_` + 20 base62 characters (≈119 bits).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_from(BASE62, 20))
}

/// A new attempt or refund reference: `FG` + 10 Crockford base32 (50 bits).
pub fn new_reference() -> String {
    format!("FG{}", random_from(CROCKFORD, 10))
}

/// A new secret token (API keys, webhook secrets): 32 base62 characters (≈190 bits).
pub fn new_secret() -> String {
    random_from(BASE62, 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_short_and_unambiguous() {
        for _ in 0..100 {
            let r = new_reference();
            assert_eq!(r.len(), 12);
            assert!(r[2..].chars().all(|c| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c))));
        }
        assert!(new_id("pay").starts_with("pay_"));
    }
}
