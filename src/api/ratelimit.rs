//! Request limits: a token bucket per API key (its quota set by the key's role), one per
//! connector and client address for callbacks that do not verify, one per client address
//! for the checkout and return pages, and a cap on the size of a request's headers. A
//! refusal answers 429 `rate_limited` (a page for the pages) with `Retry-After` (whole
//! seconds) or 431 `headers_too_large`, before any handler runs: it changes nothing.

use super::auth::{Principal, Role};
use super::error::ApiError;
use crate::app::AppState;
use crate::config::{Rate, RateLimits};
use crate::service::error::Code;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The most bytes of header names and values one request may carry. Below it, hyper
/// itself refuses more than 100 headers or about 400 KiB of request head with a bare 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Beyond this many tracked callback senders, buckets that are full again are dropped
/// (a flood from many addresses must not grow memory without bound).
const MAX_TRACKED_SENDERS: usize = 10_000;

/// The buckets of one running server.
pub struct Limits {
    portal: DefaultKeyedRateLimiter<String>,
    finance: DefaultKeyedRateLimiter<String>,
    admin: DefaultKeyedRateLimiter<String>,
    callbacks: DefaultKeyedRateLimiter<(String, IpAddr)>,
    pages: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn quota(rate: Rate) -> Quota {
    Quota::per_second(rate.per_second).allow_burst(rate.burst)
}

impl Limits {
    /// Buckets as configured; `None` when rate limits are off.
    pub fn new(cfg: &RateLimits) -> Option<Limits> {
        cfg.enabled.then(|| Limits {
            portal: RateLimiter::keyed(quota(cfg.portal)),
            finance: RateLimiter::keyed(quota(cfg.finance)),
            admin: RateLimiter::keyed(quota(cfg.admin)),
            callbacks: RateLimiter::keyed(quota(cfg.unverified_callbacks)),
            pages: RateLimiter::keyed(quota(cfg.checkout)),
            clock: DefaultClock::default(),
        })
    }

    /// Takes a token from the key's bucket, or tells how long until one is there.
    fn check_key(&self, who: &Principal) -> Result<(), Duration> {
        let limiter = match who.role {
            Role::Portal => &self.portal,
            Role::Finance | Role::Viewer => &self.finance,
            Role::Admin => &self.admin,
        };
        limiter.check_key(&who.key_id).map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// Takes a token for one unverified callback of `connector` from `ip`.
    fn check_unverified(&self, connector: &str, ip: IpAddr) -> Result<(), Duration> {
        if self.callbacks.len() > MAX_TRACKED_SENDERS {
            self.callbacks.retain_recent();
        }
        self.callbacks.check_key(&(connector.to_owned(), sender(ip))).map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// Takes a token for one checkout or return page request from `ip`.
    fn check_page(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.pages.len() > MAX_TRACKED_SENDERS {
            self.pages.retain_recent();
        }
        self.pages.check_key(&sender(ip)).map_err(|n| n.wait_time_from(self.clock.now()))
    }
}

/// Whether a path is a payer's page: the checkout (and its transfer page) or a return.
fn is_payer_page(path: &str) -> bool {
    path.starts_with("/checkout/") || path.starts_with("/return/")
}

/// The bucket owner of an address: an IPv4 address, or an IPv6 address's /64 (one
/// host usually holds a whole /64, and could otherwise spread a flood across it).
fn sender(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(v6.to_bits() & !0xffff_ffff_ffff_ffff)),
        },
        v4 => v4,
    }
}

/// What the limiting middleware needs: the app (to authenticate, to verify callbacks)
/// and the buckets.
#[derive(Clone)]
pub struct Guard {
    app: AppState,
    limits: Option<Arc<Limits>>,
}

impl Guard {
    pub fn new(app: AppState) -> Guard {
        let limits = Limits::new(&app.config.rate_limits).map(Arc::new);
        Guard { app, limits }
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

fn limited(wait: Duration, what: &str) -> Response {
    let secs = retry_after_secs(wait);
    let err = ApiError::new(Code::RateLimited, format!("too many requests {what}; retry after {secs} s"));
    let mut resp = err.into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// Limits the `/v1` API per API key. Only an authenticated key spends its own tokens:
/// a request with a wrong or unknown key goes on to be refused with 401 and costs no
/// real key anything. The authenticated caller is kept in the request so that the
/// handler does not look the key up again.
pub async fn per_key(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let Some(limits) = guard.limits.as_deref() else {
        return next.run(req).await;
    };
    if !req.headers().contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    if let Ok(who) = Principal::from_request_parts(&mut parts, &guard.app).await {
        if let Err(wait) = limits.check_key(&who) {
            metrics::counter!("feegate_rate_limited_total", "scope" => "api_key", "role" => who.role.as_str())
                .increment(1);
            tracing::warn!(key_id = %who.key_id, role = who.role.as_str(), "rate limited");
            return limited(wait, "for this API key");
        }
        parts.extensions.insert(who);
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Limits `/callbacks/{connector_id}` messages that do not verify, per connector and
/// client address, so that a flood of forgeries is not stored (each would be recorded
/// and audited). A callback that verifies always goes through: the gateway gets its
/// protocol reply, and a retrying gateway is never refused.
pub async fn unverified_callbacks(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let Some(limits) = guard.limits.as_deref() else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let connector = match Path::<String>::from_request_parts(&mut parts, &guard.app).await {
        Ok(Path(id)) if parts.uri.path().starts_with("/callbacks/") => guard.app.connectors.get(&id).map(|a| (id, a)),
        _ => None,
    };
    // Not a callback, or no such connector (the handler answers 404 and stores nothing).
    let Some((connector_id, account)) = connector else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let bytes = match axum::body::to_bytes(body, super::body::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                Code::BodyTooLarge,
                format!("request body is larger than {} bytes", super::body::MAX_BODY),
            )
            .into_response()
        }
    };
    let inbound =
        super::callbacks::inbound(&parts.method, parts.uri.query().map(str::to_owned), &parts.headers, bytes.clone());
    if account.connector.verify_callback(&inbound).is_err() {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        if let Err(wait) = limits.check_unverified(&connector_id, ip) {
            metrics::counter!("feegate_rate_limited_total", "scope" => "unverified_callback", "connector" => connector_id.clone())
                .increment(1);
            tracing::warn!(connector = %connector_id, %ip, "unverified callbacks rate limited; not stored");
            return limited(wait, "that do not verify from this address");
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Limits the checkout and return pages per client address (IPv6: its /64), so that
/// nobody can start attempts or make gateway status queries in a loop. The answer is a
/// page, as a browser is on the other end.
pub async fn payer_pages(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let Some(limits) = guard.limits.as_deref() else {
        return next.run(req).await;
    };
    if !is_payer_page(req.uri().path()) {
        return next.run(req).await;
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if let Err(wait) = limits.check_page(ip) {
        metrics::counter!("feegate_rate_limited_total", "scope" => "payer_pages").increment(1);
        tracing::warn!(%ip, path = req.uri().path(), "checkout/return pages rate limited");
        let secs = retry_after_secs(wait);
        let t = crate::web::too_many_text();
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::response::Html(guard.app.pages.message("Quá nhiều yêu cầu / Too many requests", t)),
        )
            .into_response();
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return resp;
    }
    next.run(req).await
}

/// Refuses a request whose header names and values together exceed [`MAX_HEADER_BYTES`]
/// with 431 `headers_too_large`.
pub async fn header_limit(req: Request, next: Next) -> Response {
    let size: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if size > MAX_HEADER_BYTES {
        metrics::counter!("feegate_headers_too_large_total").increment(1);
        return ApiError::new(
            Code::HeadersTooLarge,
            format!("request headers are larger than {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
    }

    #[test]
    fn an_ipv6_sender_is_its_64_and_a_mapped_ipv4_is_itself() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(sender(a), sender(b));
        assert_ne!(sender(a), sender(c));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(sender(mapped), "10.0.0.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_environment_turns_limits_off_and_a_zero_rate_is_refused() {
        use crate::config::Config;
        assert!(Limits::new(&Config::load_with(None, &[]).unwrap().rate_limits).is_some());
        let off = [("FEEGATE_RATE_LIMITS_ENABLED".to_owned(), "false".to_owned())];
        assert!(Limits::new(&Config::load_with(None, &off).unwrap().rate_limits).is_none());
        let file = std::env::temp_dir().join(format!("feegate-ratelimit-{}.toml", std::process::id()));
        std::fs::write(&file, "[rate_limits]\nportal = { per_second = 0, burst = 10 }\n").unwrap();
        let err = Config::load_with(Some(&file), &[]).unwrap_err();
        let _ = std::fs::remove_file(&file);
        assert!(format!("{err:#}").contains("nonzero"), "{err:#}");
    }

    #[test]
    fn a_key_over_its_burst_waits_and_other_keys_do_not() {
        let one = std::num::NonZeroU32::new(1).unwrap();
        let two = std::num::NonZeroU32::new(2).unwrap();
        let cfg = RateLimits { portal: Rate { per_second: one, burst: two }, ..RateLimits::default() };
        let limits = Limits::new(&cfg).unwrap();
        let who = |id: &str| Principal {
            key_id: id.into(),
            role: Role::Portal,
            portal_id: None,
            name: "t".into(),
            agencies: None,
            staff: false,
        };
        assert!(limits.check_key(&who("a")).is_ok());
        assert!(limits.check_key(&who("a")).is_ok());
        let wait = limits.check_key(&who("a")).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limits.check_key(&who("b")).is_ok());
    }

    #[test]
    fn only_checkout_and_return_paths_are_payer_pages() {
        for p in ["/checkout/pay_1", "/checkout/pay_1/transfer", "/return/vnpay"] {
            assert!(is_payer_page(p), "{p}");
        }
        for p in ["/v1/payments", "/callbacks/vnpay", "/sim/sandbox/pay", "/checkout", "/healthz"] {
            assert!(!is_payer_page(p), "{p}");
        }
    }
}
