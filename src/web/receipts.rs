//! A citizen's receipt and its verification, for anyone without signing in:
//! `GET /receipts/{token}` (the receipt, shown from its signed content, with its QR code;
//! the token is unguessable) and `GET /receipts/verify?agency=&series=&number=&code=` (what
//! the QR code opens: is the receipt genuine and unchanged?). Neither page may be indexed
//! (`X-Robots-Tag` and a meta tag) nor cached (`no-store`, the default of every answer).

use crate::app::AppState;
use crate::domain::money::format_vnd;
use crate::service::receipts::{self as svc, Verdict};
use crate::web::receipt_pdf;
use axum::extract::{Path, Query, State};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new().route("/receipts/verify", get(verify)).route("/receipts/{token}", get(receipt))
}

/// An HTML answer no search engine keeps.
fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, Html(html)).into_response();
    r.headers_mut().insert(HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow"));
    r
}

fn gmt7_text(rfc3339: &str) -> String {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[hour]:[minute]:[second] [day]/[month]/[year]")).ok())
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// A number as printed: at least seven digits (`0000012`).
fn printed_number(n: i64) -> String {
    format!("{n:07}")
}

fn cancelled(c: &Option<(String, i64)>) -> Option<String> {
    c.as_ref().map(|(reason, ms)| format!("{reason} ({})", gmt7_text(&crate::service::rfc3339(*ms))))
}

#[derive(Serialize)]
struct LineCtx {
    kind: &'static str,
    code: String,
    name: String,
    amount: String,
}

/// Digits grouped by dots, without the currency sign (the column says đồng).
fn dong(amount: i64) -> String {
    format_vnd(amount).trim_end_matches(" ₫").to_owned()
}

/// `?paper=a5` on the PDF (A4 otherwise).
#[derive(Deserialize, Default)]
pub struct PdfQuery {
    paper: Option<String>,
}

async fn receipt(State(state): State<AppState>, Path(token): Path<String>, Query(q): Query<PdfQuery>) -> Response {
    if let Some(token) = token.strip_suffix(".pdf") {
        return pdf(&state, token, q.paper.as_deref()).await;
    }
    let not_found = |state: &AppState| {
        page(StatusCode::NOT_FOUND, state.pages.message("Không tìm thấy biên lai", "Receipt not found."))
    };
    let shown = match svc::by_token(&state, &token).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(&state),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let (genuine, content, verify_url) = (shown.genuine, shown.content, shown.verify_url);
    let svg = match qrcode::QrCode::new(verify_url.as_bytes()) {
        Ok(code) => code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let lines: Vec<LineCtx> = content
        .lines
        .iter()
        .map(|l| LineCtx {
            kind: match l.kind.as_str() {
                "fee" => "Phí / Fee",
                "charge" => "Lệ phí / Charge",
                _ => "Hoàn trả / Refund",
            },
            code: l.code.clone(),
            name: l.name.clone(),
            amount: dong(l.amount),
        })
        .collect();
    let (heading, heading_en) = if content.kind == "adjustment" {
        ("BIÊN LAI ĐIỀU CHỈNH", "Adjustment receipt")
    } else {
        ("BIÊN LAI THU PHÍ, LỆ PHÍ", "Receipt for fees and charges")
    };
    let html = state.pages.render(
        "receipt.html",
        context! {
            title => format!("Biên lai {} số {}", content.series, printed_number(content.number)),
            heading, heading_en, genuine, cancelled => cancelled(&shown.cancelled), lines,
            number => printed_number(content.number), total => dong(content.total),
            paid_at => gmt7_text(&content.paid_at), issued_at => gmt7_text(&content.issued_at),
            code => shown.verification_code, key_id => shown.key_id, verify_url,
            qr_svg_b64 => base64::engine::general_purpose::STANDARD.encode(svg.as_bytes()),
            pdf_url => format!("/receipts/{token}.pdf"),
            provider => shown.provider,
            c => content,
        },
    );
    page(StatusCode::OK, html)
}

/// `GET /receipts/{token}.pdf`: the receipt as a PDF, from its signed content. A receipt
/// whose signature does not hold is not made into a PDF (a PDF travels; its page says why).
async fn pdf(state: &AppState, token: &str, paper: Option<&str>) -> Response {
    let Some(paper) = receipt_pdf::Paper::parse(paper) else {
        return page(
            StatusCode::BAD_REQUEST,
            state.pages.message("Khổ giấy không hợp lệ", "Unknown paper size: use paper=a4 or paper=a5."),
        );
    };
    let shown = match svc::by_token(state, token).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return page(StatusCode::NOT_FOUND, state.pages.message("Không tìm thấy biên lai", "Receipt not found."))
        }
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !shown.genuine {
        return page(
            StatusCode::CONFLICT,
            state.pages.message(
                "Biên lai không hợp lệ",
                "The receipt's signature does not verify: it was changed after it was issued, so no PDF is made of it.",
            ),
        );
    }
    let c = &shown.content;
    let cancelled = cancelled(&shown.cancelled);
    let (paid_at, issued_at) = (gmt7_text(&c.paid_at), gmt7_text(&c.issued_at));
    // Laying out and compressing a page is CPU work: off the async workers.
    let content = c.clone();
    let owned = (shown.verification_code.clone(), shown.verify_url.clone(), shown.key_id.clone());
    // The provider's e-receipt, once issued (a queued one is not printed: the PDF would
    // then say nothing wrong, only less).
    let provided = shown.provider.as_ref().filter(|p| p.status == "issued" || p.status == "cancelled").map(|p| {
        format!(
            "{}: ký hiệu / series {}, số / no. {}, mã tra cứu / lookup code {}{}",
            p.name,
            p.series.as_deref().unwrap_or(""),
            p.number.as_deref().unwrap_or(""),
            p.lookup_code.as_deref().unwrap_or(""),
            if p.status == "cancelled" { " (đã hủy / cancelled)" } else { "" }
        )
    });
    let made = tokio::task::spawn_blocking(move || {
        let extra = receipt_pdf::Extra {
            verification_code: &owned.0,
            verify_url: &owned.1,
            key_id: &owned.2,
            cancelled: cancelled.as_deref(),
            paid_at: &paid_at,
            issued_at: &issued_at,
            provider: provided.as_deref(),
        };
        receipt_pdf::render(&content, &extra, paper)
    })
    .await;
    match made {
        Ok(Ok(bytes)) => {
            let name = format!("bien-lai-{}-{:07}.pdf", c.series, c.number);
            let mut r = (
                [
                    (axum::http::header::CONTENT_TYPE, "application/pdf".to_owned()),
                    (axum::http::header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
                ],
                bytes,
            )
                .into_response();
            r.headers_mut()
                .insert(HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow"));
            r
        }
        _ => {
            tracing::error!(token_len = token.len(), "the receipt's PDF could not be made");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The verification form's fields, as typed.
#[derive(Deserialize, Serialize, Default)]
pub struct VerifyQuery {
    #[serde(default)]
    agency: String,
    #[serde(default)]
    series: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    code: String,
}

async fn verify(State(state): State<AppState>, Query(q): Query<VerifyQuery>) -> Response {
    let t = crate::web::i18n::texts(crate::web::i18n::Lang::Vi);
    let asked = !(q.agency.is_empty() && q.series.is_empty() && q.number.is_empty() && q.code.is_empty());
    let number = q.number.trim().trim_start_matches('0').parse::<i64>().ok();
    let verdict = match (asked, number) {
        (false, _) => None,
        (true, None) => Some(Verdict::Unknown),
        (true, Some(n)) => match svc::verify(&state, q.agency.trim(), q.series.trim(), n, &q.code).await {
            Ok(v) => Some(v),
            Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
    };
    let (status, ctx) = match verdict {
        None => (StatusCode::OK, context! { verdict => "" }),
        Some(Verdict::Unknown) => (StatusCode::NOT_FOUND, context! { verdict => "unknown" }),
        Some(Verdict::Altered) => (StatusCode::CONFLICT, context! { verdict => "altered" }),
        Some(Verdict::Genuine { content, cancelled: was }) => (
            StatusCode::OK,
            context! {
                verdict => "genuine", cancelled => cancelled(&was), number => printed_number(content.number),
                total => format_vnd(content.total), paid_at => gmt7_text(&content.paid_at), c => *content,
            },
        ),
    };
    let html = state.pages.render(
        "receipt_verify.html",
        context! { lang => "vi", title => "Tra cứu biên lai", t, switch_url => "", q, ..ctx },
    );
    page(status, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_with_seven_digits_and_times_in_gmt7() {
        assert_eq!(printed_number(12), "0000012");
        assert_eq!(printed_number(12_345_678), "12345678");
        assert_eq!(gmt7_text("2026-11-29T21:05:09+07:00"), "21:05:09 29/11/2026");
        assert_eq!(dong(135_000), "135.000");
    }
}
