//! Hostile input for the sandbox connector: random bytes, and signed notifications, returns
//! and settlement files mutated field by field (dropped, duplicated, a character changed,
//! huge, negative, fractional, non-ASCII values) and re-signed or not. Every input gives a
//! value or an error, never a panic, and a message verifies only as exactly what was signed.
//! Seeds and past finds live in `tests/corpus/sandbox-*` at the workspace root.

use feegate_connector::{settlement, Connector, ConnectorConfig, InboundRequest, SettlementKind, VerifyError};
use feegate_sandbox::wire::{return_query, sign};
use feegate_testkit::hostile::{byte_op, corpus, edit, mutate, render};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const SECRET: &str = "sandbox-hostile-secret";

fn connector() -> &'static dyn Connector {
    static C: OnceLock<Box<dyn Connector>> = OnceLock::new();
    C.get_or_init(|| {
        let cfg = ConnectorConfig::new("sandbox", "Sandbox")
            .with_setting("base_url", "http://127.0.0.1:9/sim/sandbox")
            .with_secret("secret", SECRET);
        feegate_sandbox::factory(cfg, reqwest::Client::new()).expect("config is complete")
    })
    .as_ref()
}

fn callback(body: &[u8], signature: Option<&str>) -> InboundRequest {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(s) = signature {
        headers.push(("x-sandbox-signature".to_owned(), s.to_owned()));
    }
    InboundRequest { method: "POST".into(), headers, body: body.to_vec(), ..Default::default() }
}

fn valid_notification() -> Map<String, Value> {
    let v = json!({"reference": "FG0123456789", "transaction_id": "SBX0001", "amount": 135000,
        "currency": "VND", "status": "succeeded", "paid_at": "2026-11-27T10:00:00Z"});
    v.as_object().unwrap().clone()
}

/// How a mutated message is signed.
#[derive(Debug, Clone)]
enum Signing {
    /// With the right key over the mutated bytes (upper-case hex when `true`).
    Resigned(bool),
    /// The valid message's signature, kept.
    Original,
    WrongKey,
    Garbage(String),
    Missing,
}

fn signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        any::<bool>().prop_map(Signing::Resigned),
        Just(Signing::Original),
        Just(Signing::WrongKey),
        "[0-9a-fA-Fg-z ]{0,70}".prop_map(Signing::Garbage),
        Just(Signing::Missing),
    ]
}

/// The signature header for `body` (`original` is the unmutated message) and whether it is right.
fn signature(how: &Signing, body: &[u8], original: &[u8]) -> (Option<String>, bool) {
    match how {
        Signing::Resigned(upper) => {
            let s = sign(SECRET.as_bytes(), body);
            (Some(if *upper { s.to_uppercase() } else { s }), true)
        }
        Signing::Original => (Some(sign(SECRET.as_bytes(), original)), body == original),
        Signing::WrongKey => (Some(sign(b"not-the-secret", body)), false),
        Signing::Garbage(g) => (Some(g.clone()), false),
        Signing::Missing => (None, false),
    }
}

fn valid_settlement() -> Vec<u8> {
    let t = time::macros::datetime!(2026-11-27 03:00:00 UTC);
    settlement::write_csv(&[
        ("FG0123456789".into(), "SBX0001".into(), SettlementKind::Pay, 135_000, 0, "succeeded".into(), t),
        ("FGR123456789".into(), "SBXR001".into(), SettlementKind::Refund, 35_000, 0, "succeeded".into(), t),
        ("FG0123456788".into(), "SBX0002".into(), SettlementKind::Pay, 50_000, 10, "failed".into(), t),
    ])
}

/// A settlement file must never panic, and rows it accepts must be usable.
fn check_settlement(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(lines) = connector().parse_settlement(bytes) {
        for l in &lines {
            prop_assert!(l.amount > 0 && l.fee >= 0 && !l.reference.is_empty() && l.line >= 2, "{l:?}");
        }
        prop_assert!(lines.windows(2).all(|w| w[0].line < w[1].line));
    }
    Ok(())
}

proptest! {
    #![proptest_config(feegate_testkit::hostile::config(384))]

    #[test]
    fn random_bytes_never_verify_and_never_panic(body in prop::collection::vec(any::<u8>(), 0..600), how in signing()) {
        let (sig, right) = signature(&how, &body, b"");
        match connector().verify_callback(&callback(&body, sig.as_deref())) {
            Ok(n) => prop_assert!(right, "verified without the key: {n:?}"),
            Err(e) => prop_assert!(right || e == VerifyError::BadSignature, "{e:?}"),
        }
    }

    #[test]
    fn a_mutated_notification_verifies_only_as_what_was_signed(
        edits in prop::collection::vec(edit(), 0..4),
        how in signing(),
    ) {
        let original = render(&valid_notification(), &[]);
        let body = render(&valid_notification(), &edits);
        let (sig, right) = signature(&how, &body, &original);
        match connector().verify_callback(&callback(&body, sig.as_deref())) {
            Ok(v) => {
                prop_assert!(right, "verified without the key: {v:?}");
                let n = v.into_inner();
                let signed: Value = serde_json::from_slice(&body).unwrap();
                prop_assert_eq!(Some(n.reference.as_str()), signed["reference"].as_str());
                prop_assert_eq!(Some(n.amount), signed["amount"].as_i64());
                prop_assert_eq!(Some(n.currency.as_str()), signed["currency"].as_str());
            }
            // A right signature is never reported as a bad one; anything else always is.
            Err(e) if right => prop_assert!(matches!(e, VerifyError::Malformed(_)), "{e:?}"),
            Err(e) => prop_assert_eq!(e, VerifyError::BadSignature),
        }
    }

    #[test]
    fn a_byte_flipped_notification_with_its_old_signature_is_a_bad_signature(ops in prop::collection::vec(byte_op(), 1..4)) {
        let original = render(&valid_notification(), &[]);
        let body = mutate(&original, &ops);
        let sig = sign(SECRET.as_bytes(), &original);
        let r = connector().verify_callback(&callback(&body, Some(&sig)));
        if body == original {
            prop_assert!(r.is_ok());
        } else {
            prop_assert_eq!(r.unwrap_err(), VerifyError::BadSignature);
        }
    }

    #[test]
    fn a_mutated_browser_return_never_panics_nor_verifies_unsigned(ops in prop::collection::vec(byte_op(), 0..4), raw in ".{0,200}") {
        let original = return_query(SECRET.as_bytes(), "FG0123456789", "succeeded", 135_000);
        let mutated = String::from_utf8_lossy(&mutate(original.as_bytes(), &ops)).into_owned();
        for query in [mutated.clone(), raw] {
            let req = InboundRequest { method: "GET".into(), query: query.clone(), ..Default::default() };
            if let Ok(info) = connector().verify_return(&req) {
                let unsigned = |q: &str| q.rsplit_once("&signature=").map(|(u, _)| u.to_owned());
                prop_assert_eq!(unsigned(&query), unsigned(&original), "only the signed return verifies");
                prop_assert_eq!(info.reference, "FG0123456789");
            }
        }
    }

    #[test]
    fn settlement_files_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        ops in prop::collection::vec(byte_op(), 0..6),
    ) {
        check_settlement(&bytes)?;
        check_settlement(&mutate(&valid_settlement(), &ops))?;
    }
}

#[test]
fn the_valid_seeds_verify_and_parse_so_the_mutations_start_from_good_input() {
    let body = render(&valid_notification(), &[]);
    let n = connector().verify_callback(&callback(&body, Some(&sign(SECRET.as_bytes(), &body)))).unwrap().into_inner();
    assert_eq!((n.reference.as_str(), n.amount), ("FG0123456789", 135_000));
    assert_eq!(connector().parse_settlement(&valid_settlement()).unwrap().len(), 3);
}

#[test]
fn the_callback_corpus_verifies_only_its_ok_seeds() {
    for (name, body) in corpus("sandbox-callback") {
        let signed = connector().verify_callback(&callback(&body, Some(&sign(SECRET.as_bytes(), &body))));
        assert_eq!(signed.is_ok(), name.starts_with("ok"), "{name}: {signed:?}");
        let forged = connector().verify_callback(&callback(&body, Some(&sign(b"wrong", &body))));
        assert_eq!(forged.unwrap_err(), VerifyError::BadSignature, "{name}");
    }
}

#[test]
fn the_settlement_corpus_parses_only_its_ok_seeds() {
    for (name, bytes) in corpus("settlement") {
        let r = connector().parse_settlement(&bytes);
        assert_eq!(r.is_ok(), name.starts_with("ok"), "{name}: {r:?}");
    }
}
