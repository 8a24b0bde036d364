//! A receipt's signed content and what proves it (issue 11): the canonical JSON that is
//! signed ([`Content`]), the Ed25519 signature over exactly those bytes, the key's id, and
//! the short verification code printed on the receipt. Pure: no clock, no database.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version of [`Content`]'s layout.
pub const LAYOUT: u32 = 1;

/// Everything a receipt says, as signed. The bytes signed are `serde_json::to_vec` of this
/// struct (fields in declaration order); a verifier checks the stored bytes, never a
/// re-serialisation, so the layout may grow fields under a new [`LAYOUT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub layout: u32,
    /// `original`, or `adjustment` (a partial refund's receipt referring to the original).
    pub kind: String,
    /// The original's `template/series/number` for an adjustment.
    pub refers_to: Option<String>,
    pub agency: Agency,
    pub template: String,
    pub series: String,
    /// The numbering year (GMT+7) when the series restarts yearly; 0 otherwise.
    pub year: i32,
    pub number: i64,
    pub payment_id: String,
    pub dossier_code: String,
    pub procedure_code: String,
    pub description: String,
    pub payer_name: Option<String>,
    pub payer_id_number: Option<String>,
    pub lines: Vec<Line>,
    /// Đồng; negative on an adjustment (the amount refunded).
    pub total: i64,
    /// The total in Vietnamese words ("Một trăm ba mươi lăm nghìn đồng").
    pub total_words: String,
    pub currency: String,
    /// The gateway's name as the payer saw it, and its transaction number.
    pub gateway: String,
    pub gateway_txn: Option<String>,
    /// feegate's reference of the paying attempt.
    pub reference: String,
    /// RFC 3339 in GMT+7.
    pub paid_at: String,
    pub issued_at: String,
}

/// The collecting agency as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agency {
    pub code: String,
    pub name: String,
    pub tax_code: String,
    pub address: String,
}

/// One line: phí or lệ phí.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// `fee` (phí) or `charge` (lệ phí).
    pub kind: String,
    pub code: String,
    pub name: String,
    pub amount: i64,
}

impl Content {
    /// The bytes that are signed.
    pub fn canonical(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A receipt as the API and the webhook show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptView {
    pub id: String,
    /// The payment the receipt is for.
    pub payment_id: String,
    /// `original` or `adjustment`.
    pub kind: String,
    /// The receipt template symbol (ký hiệu mẫu).
    pub template: String,
    /// The series (ký hiệu).
    pub series: String,
    pub number: i64,
    /// `issued` or `cancelled`.
    pub status: String,
    /// Đồng.
    pub amount: i64,
    pub verification_code: String,
    /// The receipt's page for the payer (no login; unguessable).
    pub url: String,
    /// Where anyone checks that the receipt is genuine (the QR code on the receipt).
    pub verify_url: String,
    pub issued_at: String,
    /// The agency's external e-receipt provider's receipt, when the agency has one
    /// (in `GET /v1/payments/{id}/receipts`; webhooks sent in the paying transaction, before
    /// the provider was asked, have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderView>,
}

/// A receipt's e-receipt at the agency's external provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProviderView {
    /// The provider's id (`[receipts.providers.ID]`) and name.
    pub provider: String,
    pub name: String,
    /// `queued` (the provider is being asked; retried until it answers), `issued`, `failed`
    /// (the provider refused to issue: see `error`), `cancelling`, `cancel_failed` (the
    /// provider refused to cancel: see `error`) or `cancelled`.
    pub status: String,
    pub series: Option<String>,
    pub number: Option<String>,
    pub lookup_code: Option<String>,
    pub url: Option<String>,
    pub error: Option<String>,
    /// How the receipt's cancellation ended without the provider (it never issued the
    /// receipt), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A key's id: the first 16 hex digits of the SHA-256 of its public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))[..16].to_owned()
}

/// The signature of `content` (base64url, no padding).
pub fn sign(key: &SigningKey, content: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign(content).to_bytes())
}

/// Whether `signature` (as [`sign`] wrote it) is `key`'s over exactly `content`.
pub fn verify(key: &VerifyingKey, content: &[u8], signature: &str) -> bool {
    use base64::Engine;
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else { return false };
    let Ok(sig) = Signature::from_slice(&bytes) else { return false };
    key.verify(content, &sig).is_ok()
}

/// The verification code printed on a receipt: 10 Crockford base-32 characters of the
/// SHA-256 of its signature, as `XXXXX-XXXXX`. With the agency, series and number it
/// finds the receipt; without the code, knowing a number shows nobody's payment.
pub fn verification_code(signature: &str) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let d = Sha256::digest(signature.as_bytes());
    let mut bits: u64 = 0;
    for b in &d[..7] {
        bits = (bits << 8) | u64::from(*b);
    }
    let chars: String = (0..10).map(|i| ALPHABET[((bits >> (56 - 5 * (i + 1))) & 31) as usize] as char).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A typed code in the printed form: upper case, without spaces, the dash put back; the
/// letters Crockford reads as digits (O→0, I/L→1) read so.
pub fn normalise_code(typed: &str) -> String {
    let c: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            u => u,
        })
        .collect();
    if c.len() == 10 {
        format!("{}-{}", &c[..5], &c[5..])
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn content() -> Content {
        Content {
            layout: LAYOUT,
            kind: "original".into(),
            refers_to: None,
            agency: Agency {
                code: "H12.20".into(),
                name: "Sở Giao thông vận tải Hà Nam".into(),
                tax_code: "0700123456".into(),
                address: "Phủ Lý, Hà Nam".into(),
            },
            template: "01BLP0-001".into(),
            series: "HN-26E".into(),
            year: 2026,
            number: 1,
            payment_id: "pay_1".into(),
            dossier_code: "H12.20-260101-0001".into(),
            procedure_code: "1.000001".into(),
            description: "Lệ phí cấp giấy phép lái xe".into(),
            payer_name: Some("Nguyễn Văn A".into()),
            payer_id_number: None,
            lines: vec![Line { kind: "charge".into(), code: "LP01".into(), name: "Lệ phí".into(), amount: 135_000 }],
            total: 135_000,
            total_words: "Một trăm ba mươi lăm nghìn đồng".into(),
            currency: "VND".into(),
            gateway: "VNPay".into(),
            gateway_txn: Some("14000001".into()),
            reference: "FG0001".into(),
            paid_at: "2026-01-01T10:00:00+07:00".into(),
            issued_at: "2026-01-01T10:00:00+07:00".into(),
        }
    }

    #[test]
    fn a_signature_verifies_its_content_and_nothing_else() {
        let k = key();
        let c = content();
        let sig = sign(&k, &c.canonical());
        assert!(verify(&k.verifying_key(), &c.canonical(), &sig));
        // Any field changed: the signature no longer holds.
        let mut changed = c.clone();
        changed.lines[0].amount = 13_500;
        assert!(!verify(&k.verifying_key(), &changed.canonical(), &sig));
        let mut changed = c.clone();
        changed.payer_name = Some("Nguyễn Văn B".into());
        assert!(!verify(&k.verifying_key(), &changed.canonical(), &sig));
        // Another key, a mangled signature: no.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(!verify(&other.verifying_key(), &c.canonical(), &sig));
        assert!(!verify(&k.verifying_key(), &c.canonical(), "not base64!"));
        assert!(!verify(&k.verifying_key(), &c.canonical(), &sig[..20]));
    }

    #[test]
    fn the_canonical_bytes_read_back_to_the_same_content() {
        let c = content();
        let back: Content = serde_json::from_slice(&c.canonical()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.canonical(), c.canonical());
    }

    #[test]
    fn verification_codes_are_ten_crockford_characters_and_read_back_when_typed_loosely() {
        let code = verification_code("abc");
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert!(code.chars().filter(|c| *c != '-').all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)));
        assert_ne!(code, verification_code("abd"));
        assert_eq!(normalise_code(&code.to_lowercase().replace('-', " ")), code);
        assert_eq!(normalise_code("oooo0-iiil1"), "00000-11111");
    }

    #[test]
    fn key_ids_name_the_public_key() {
        let a = key_id(&key().verifying_key());
        assert_eq!(a.len(), 16);
        assert_ne!(a, key_id(&SigningKey::from_bytes(&[8u8; 32]).verifying_key()));
    }
}
