//! Security headers on every answer (pages, API, errors, 404s): no MIME sniffing, no
//! framing (clickjacking of the checkout), no referrer (the checkout URL is the payment's
//! capability), a CSP that fits the server-rendered pages (inline styles, the QR code as a
//! `data:` image, no script at all), and `no-store` unless a handler chose otherwise:
//! payments and payers are personal data that no shared cache may keep.

use axum::extract::Request;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of every answer. `form-action` allows https because the
/// checkout's form answers 303 to the gateway's pay page, and browsers apply
/// `form-action` to that redirect too.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
    form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'";

/// The headers every answer carries (`Cache-Control` only where the handler set none).
pub const HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// Adds the security headers to the answer of `next`.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in HEADERS.iter() {
        // A page with a script of its own sets the CSP above plus that script's hash
        // (`web::console::recon::with_script`); every other answer gets the CSP as it is.
        if *name == header::CONTENT_SECURITY_POLICY && h.contains_key(name) {
            continue;
        }
        h.insert(name.clone(), HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
