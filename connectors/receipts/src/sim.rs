//! A simulated e-receipt provider speaking protocol v1 (feature `sim`), mounted by a demo
//! feegate at `/sim/receipts/{id}` and used by the tests. It checks every request's
//! signature, issues once per key (a second request with the key answers the first
//! receipt), numbers its own series from 1, and has the faults the conformance story needs:
//! **down** (every request answers 503, nothing is done) and **lose answers** (the next n
//! issues are done but answered 503, as when the answer is lost on the way back) and
//! **refuse** (every issue and cancellation answers 422 with the given words and does
//! nothing, as a provider that will not take an agency's receipts until someone fixes its
//! registration).
//!
//! `POST /control {"down": bool, "lose_answers": n, "idempotent": bool, "refuse": "words"}`
//! sets the faults (`idempotent: false`: a second issue of a key makes a second receipt, as a
//! provider without idempotency keys would; `refuse: ""` stops refusing); `GET /control` tells
//! how many times each key was issued (`issued`, the count of receipts made per key: never
//! above 1 when feegate keeps its promise) and the receipts. The control routes are not
//! signed: a simulator is a demo and test door only (feegate refuses it outside demo mode).

use crate::{verify_signature, IssueRequest, ProviderReceipt};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Book {
    receipts: BTreeMap<String, (IssueRequest, ProviderReceipt)>,
    /// How many receipts were made per key (a second issue of a key must not make one).
    made: BTreeMap<String, u32>,
    down: bool,
    lose_answers: u32,
    /// Off: a second issue of a key makes a second receipt, as a provider without
    /// idempotency keys does (then only the caller's lookup-before-retry keeps it once).
    careless: bool,
    /// Set: issues and cancellations are refused (422) with these words.
    refuse: Option<String>,
    next_number: u64,
}

struct Sim {
    id: String,
    secret: Vec<u8>,
    public_url: String,
    book: Mutex<Book>,
}

type S = Arc<Sim>;

/// The simulator of provider `id`, checking requests with `secret`; `public_url` is where
/// its receipts are shown (`{public_url}/view/{key}`).
pub fn router(id: &str, secret: &[u8], public_url: &str) -> Router {
    let sim = Arc::new(Sim {
        id: id.to_owned(),
        secret: secret.to_vec(),
        public_url: public_url.trim_end_matches('/').to_owned(),
        book: Mutex::new(Book::default()),
    });
    Router::new()
        .route("/receipts", post(issue))
        .route("/receipts/{key}", get(lookup))
        .route("/receipts/{key}/cancel", post(cancel))
        .route("/view/{key}", get(view))
        .route("/control", get(stats).post(control))
        .with_state(sim)
}

fn book(sim: &Sim) -> std::sync::MutexGuard<'_, Book> {
    // A poisoned lock only means a panicking request; the book itself is whole.
    sim.book.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Refuses an unsigned or badly signed request, and everything while down. The signed path
/// is the path as sent (`OriginalUri`: the simulator may be nested under a prefix).
fn gate(sim: &Sim, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    let header = headers.get("feegate-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !verify_signature(&sim.secret, header, method.as_str(), uri.path(), body, now_secs(), 300) {
        return Some((StatusCode::UNAUTHORIZED, "bad signature").into_response());
    }
    if book(sim).down {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response());
    }
    None
}

async fn issue(
    State(sim): State<S>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&sim, &method, &uri, &headers, &body) {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<IssueRequest>(&body) else {
        return (StatusCode::BAD_REQUEST, "not an issue request").into_response();
    };
    let mut b = book(&sim);
    if let Some(words) = &b.refuse {
        return (StatusCode::UNPROCESSABLE_ENTITY, words.clone()).into_response();
    }
    let known = if b.careless { None } else { b.receipts.get(&req.key) };
    let (status, receipt) = match known {
        Some((first, _)) if first.content != req.content || first.amount != req.amount => {
            return (StatusCode::CONFLICT, "this key was issued for other content").into_response();
        }
        Some((_, r)) => (StatusCode::OK, r.clone()),
        None => {
            b.next_number += 1;
            let n = b.next_number;
            let receipt = ProviderReceipt {
                key: req.key.clone(),
                series: format!("{}-26E", sim.id.to_uppercase().chars().take(4).collect::<String>()),
                number: format!("{n:07}"),
                lookup_code: format!("SIM{n:06}{}", req.key.len()),
                url: format!("{}/view/{}", sim.public_url, req.key),
                status: "issued".into(),
            };
            *b.made.entry(req.key.clone()).or_default() += 1;
            b.receipts.insert(req.key.clone(), (req, receipt.clone()));
            (StatusCode::CREATED, receipt)
        }
    };
    if b.lose_answers > 0 {
        b.lose_answers -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "the answer was lost").into_response();
    }
    (status, Json(receipt)).into_response()
}

async fn lookup(
    State(sim): State<S>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    if let Some(r) = gate(&sim, &method, &uri, &headers, b"") {
        return r;
    }
    match book(&sim).receipts.get(&key) {
        Some((_, r)) => Json(r.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no receipt has this key").into_response(),
    }
}

#[derive(Deserialize)]
struct CancelBody {
    reason: String,
}

async fn cancel(
    State(sim): State<S>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&sim, &method, &uri, &headers, &body) {
        return r;
    }
    let Ok(c) = serde_json::from_slice::<CancelBody>(&body) else {
        return (StatusCode::BAD_REQUEST, "a cancellation needs a reason").into_response();
    };
    if c.reason.trim().is_empty() {
        return (StatusCode::BAD_REQUEST, "a cancellation needs a reason").into_response();
    }
    let mut b = book(&sim);
    if let Some(words) = &b.refuse {
        return (StatusCode::UNPROCESSABLE_ENTITY, words.clone()).into_response();
    }
    match b.receipts.get_mut(&key) {
        Some((_, r)) => {
            r.status = "cancelled".into();
            Json(r.clone()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no receipt has this key").into_response(),
    }
}

/// The provider's own page of a receipt (what its `url` opens).
async fn view(State(sim): State<S>, Path(key): Path<String>) -> Response {
    match book(&sim).receipts.get(&key) {
        Some((req, r)) => axum::response::Html(format!(
            "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Biên lai {series} {number}</title></head>\
             <body><h1>Biên lai điện tử (nhà cung cấp mô phỏng)</h1><p>Ký hiệu {series}, số {number}, mã tra cứu {code}, \
             {amount} đồng, trạng thái {status}.</p></body></html>",
            series = r.series,
            number = r.number,
            code = r.lookup_code,
            amount = req.amount,
            status = r.status
        ))
        .into_response(),
        None => (StatusCode::NOT_FOUND, "no receipt has this key").into_response(),
    }
}

#[derive(Deserialize)]
struct Faults {
    down: Option<bool>,
    lose_answers: Option<u32>,
    /// `false`: behave as a provider without idempotency keys.
    idempotent: Option<bool>,
    /// Refuse issues and cancellations with these words (empty: stop refusing).
    refuse: Option<String>,
}

async fn control(State(sim): State<S>, Json(f): Json<Faults>) -> StatusCode {
    let mut b = book(&sim);
    if let Some(d) = f.down {
        b.down = d;
    }
    if let Some(n) = f.lose_answers {
        b.lose_answers = n;
    }
    if let Some(i) = f.idempotent {
        b.careless = !i;
    }
    if let Some(words) = f.refuse {
        b.refuse = Some(words).filter(|w| !w.trim().is_empty());
    }
    StatusCode::NO_CONTENT
}

#[derive(Serialize)]
struct Stats {
    issued: BTreeMap<String, u32>,
    receipts: Vec<ProviderReceipt>,
}

async fn stats(State(sim): State<S>) -> Json<Stats> {
    let b = book(&sim);
    Json(Stats { issued: b.made.clone(), receipts: b.receipts.values().map(|(_, r)| r.clone()).collect() })
}
