//! Property-style tests: the decoder answers every input (random, truncated, mutated,
//! non-ASCII) with a value or an error, never a panic; and what the encoder builds decodes
//! back to what went in. A small xorshift generator keeps it free of extra dependencies.

use feegate_vietqr::decode;
use feegate_vietqr::emv::{encode, Initiation, QrData, Service};

const VALID: &str = "00020101021238560010A0000007270126000697041501121133666688880208QRIBFTTA53037045405790005802VN62220818Ung Ho Quy Vac Xin63043ACF";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick(&mut self, alphabet: &[char]) -> char {
        alphabet[self.below(alphabet.len())]
    }
}

#[test]
fn every_prefix_of_a_valid_payload_is_refused_without_panicking() {
    let chars: Vec<char> = VALID.chars().collect();
    for n in 0..chars.len() {
        let prefix: String = chars[..n].iter().collect();
        assert!(decode(&prefix).is_err(), "{prefix}");
    }
    assert!(decode(VALID).is_ok());
}

#[test]
fn random_strings_never_panic() {
    let alphabet: Vec<char> = "0123456789ABCDEF6304 .éđ€\u{0}".chars().collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let len = rng.below(160);
        let s: String = (0..len).map(|_| rng.pick(&alphabet)).collect();
        let _ = decode(&s);
    }
}

#[test]
fn mutated_valid_payloads_never_panic_and_single_changes_are_caught() {
    let alphabet: Vec<char> = "0123456789ABCDEFXYZ .ệ".chars().collect();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let chars: Vec<char> = VALID.chars().collect();
    for _ in 0..20_000 {
        let mut m = chars.clone();
        let at = rng.below(m.len());
        match rng.below(3) {
            0 => m[at] = rng.pick(&alphabet),
            1 => {
                m.remove(at);
            }
            _ => m.insert(at, rng.pick(&alphabet)),
        }
        let s: String = m.iter().collect();
        if s != VALID {
            // CRC-16 catches every single-character change, so none of these is valid.
            assert!(decode(&s).is_err(), "{s}");
        }
    }
}

#[test]
fn what_the_encoder_builds_decodes_back_to_the_same_fields() {
    let digits: Vec<char> = "0123456789".chars().collect();
    let text: Vec<char> = "ABCDEFGHJKMNPQRSTVWXYZ0123456789 abc.-".chars().collect();
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let bin: String = (0..6).map(|_| rng.pick(&digits)).collect();
        let account: String = (0..1 + rng.below(19)).map(|_| rng.pick(&digits)).collect();
        let purpose: String = (0..1 + rng.below(25)).map(|_| rng.pick(&text)).collect();
        let amount = 1 + (rng.next() % 9_999_999_999) as i64;
        let data = QrData {
            initiation: if rng.below(2) == 0 { Initiation::Static } else { Initiation::Dynamic },
            bank_bin: bin,
            account,
            service: if rng.below(2) == 0 { Service::ToAccount } else { Service::ToCard },
            merchant_category: None,
            amount: Some(amount),
            bill_number: None,
            purpose: Some(purpose),
        };
        let payload = encode(&data).expect("valid data encodes");
        let d = decode(&payload).expect("our payload decodes");
        assert_eq!(
            (d.dynamic, &d.bank_bin, &d.account),
            (data.initiation == Initiation::Dynamic, &data.bank_bin, &data.account)
        );
        assert_eq!((d.service_code.as_str(), d.amount, &d.purpose), (data.service.code(), data.amount, &data.purpose));
    }
}
