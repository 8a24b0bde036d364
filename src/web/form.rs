//! The checkout form's token: `<unix seconds>.<hex HMAC-SHA256(key, "checkout\n" id "\n" t)>`
//! put in the page and required with the POST that starts an attempt, so that a form on
//! another site cannot make a payer's browser start one. The key is the server's own (in
//! the database, shared by every node); a token is good for [`TOKEN_TTL_SECS`].

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a checkout page's token is accepted.
pub const TOKEN_TTL_SECS: i64 = 2 * 3600;
/// How far in the future a token's time may be (clocks of two nodes differ a little).
const SKEW_SECS: i64 = 300;

fn mac(key: &[u8], payment_id: &str, t: i64) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    m.update(format!("checkout\n{payment_id}\n{t}").as_bytes());
    Some(m)
}

/// A token for `payment_id` made at `now` (unix seconds).
pub fn token(key: &[u8], payment_id: &str, now: i64) -> String {
    let sig = mac(key, payment_id, now).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default();
    format!("{now}.{sig}")
}

/// Whether `token` was made by this server for `payment_id` and is still fresh at `now`.
/// The signature is compared in constant time.
pub fn verify(key: &[u8], payment_id: &str, token: &str, now: i64) -> bool {
    let Some((t, sig)) = token.split_once('.') else { return false };
    let (Ok(t), Ok(sig)) = (t.parse::<i64>(), hex::decode(sig)) else { return false };
    if t > now.saturating_add(SKEW_SECS) || now.saturating_sub(t) > TOKEN_TTL_SECS {
        return false;
    }
    mac(key, payment_id, t).is_some_and(|m| m.verify_slice(&sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_bound_to_its_payment_its_key_and_its_time() {
        let (key, now) = (b"k1".as_slice(), 1_800_000_000);
        let t = token(key, "pay_a", now);
        assert!(verify(key, "pay_a", &t, now));
        assert!(verify(key, "pay_a", &t, now + TOKEN_TTL_SECS));
        assert!(!verify(key, "pay_a", &t, now + TOKEN_TTL_SECS + 1), "stale");
        assert!(!verify(key, "pay_b", &t, now), "another payment");
        assert!(!verify(b"k2", "pay_a", &t, now), "another key");
        assert!(!verify(key, "pay_a", &token(key, "pay_a", now + SKEW_SECS + 1), now), "from the future");
        let (secs, sig) = t.split_once('.').unwrap();
        assert!(!verify(key, "pay_a", &format!("{}.{sig}", secs.parse::<i64>().unwrap() + 1), now), "moved time");
        for bad in ["", ".", "x.y", &format!("{now}."), &format!("{now}.zz"), "99999999999999999999.00"] {
            assert!(!verify(key, "pay_a", bad, now), "{bad:?}");
        }
    }
}
