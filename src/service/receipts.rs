//! Receipts for citizens (biên lai thu phí, lệ phí; issue 11; docs/receipts.md).
//!
//! [`issue`] runs inside the transaction that makes a payment succeeded (no paid payment
//! without its receipt, no receipt without a paid payment): it takes the next number of
//! the agency's series, builds the canonical content (`domain::receipt::Content`), signs it
//! with the agency's Ed25519 key and stores it. [`verify`] is what anyone can ask, without
//! signing in: given the agency, series, number and the printed verification code, is this
//! receipt genuine and unchanged?

use crate::app::AppState;
use crate::config::{AgencyReceipts, Config, SecretSource};
use crate::domain::ids::{new_id, new_secret};
use crate::domain::receipt::{self, Content, ReceiptView};
use crate::service::caller::Principal;
use crate::service::error::Error;
use crate::store::payments::{AttemptRow, LineRow, PaymentRow};
use crate::store::receipts::ReceiptRow;
use crate::store::{Store, Tx};
use anyhow::Context;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::collections::HashMap;

/// The name of the instance's own signing key in `server_keys`, when none is configured.
const STORED_KEY: &str = "receipt-ed25519";

/// The keys receipts are signed with: each configured agency's own, else the instance's.
pub struct Signer {
    default: (SigningKey, String),
    agencies: HashMap<String, (SigningKey, String)>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer(default {}, {} agency keys)", self.default.1, self.agencies.len())
    }
}

fn from_pem(source: &SecretSource, what: &str) -> anyhow::Result<SigningKey> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    use secrecy::ExposeSecret;
    let pem = source.resolve().with_context(|| format!("reading {what}"))?;
    SigningKey::from_pkcs8_pem(pem.expose_secret())
        .map_err(|e| anyhow::anyhow!("{what} is not an Ed25519 private key in PKCS#8 PEM: {e}"))
}

fn named(key: SigningKey) -> (SigningKey, String) {
    let id = receipt::key_id(&key.verifying_key());
    (key, id)
}

impl Signer {
    /// Loads the configured keys (or makes the instance's once, kept in the database so
    /// that every node signs with it) and records their public keys for verification.
    pub async fn load(config: &Config, store: &Store) -> anyhow::Result<Signer> {
        let default = match &config.receipts.signing_key {
            Some(source) => from_pem(source, "receipts.signing_key")?,
            None => {
                let candidate = hex::encode(rand::random::<[u8; 32]>());
                let stored = store.server_key(STORED_KEY, &candidate).await?;
                let bytes: [u8; 32] = hex::decode(stored)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .context("the stored receipt key is not 32 bytes of hex")?;
                SigningKey::from_bytes(&bytes)
            }
        };
        let mut agencies = HashMap::new();
        for (code, a) in &config.receipts.agencies {
            if let Some(source) = &a.signing_key {
                agencies
                    .insert(code.clone(), named(from_pem(source, &format!("receipts.agencies.{code}.signing_key"))?));
            }
        }
        let signer = Signer { default: named(default), agencies };
        for (key, id) in std::iter::once(&signer.default).chain(signer.agencies.values()) {
            store.put_receipt_key(id, &hex::encode(key.verifying_key().as_bytes())).await?;
        }
        Ok(signer)
    }

    fn key_for(&self, agency_code: &str) -> &(SigningKey, String) {
        self.agencies.get(agency_code).unwrap_or(&self.default)
    }
}

/// An agency's receipt settings (the defaults when it has none configured).
pub fn settings(config: &Config, agency_code: &str) -> AgencyReceipts {
    config.receipts.agencies.get(agency_code).cloned().unwrap_or_default()
}

fn gmt7(ms: i64) -> time::OffsetDateTime {
    crate::service::datetime(ms).to_offset(time::macros::offset!(+7))
}

fn rfc3339_gmt7(ms: i64) -> String {
    gmt7(ms).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Issues the receipt of `paid` (just made succeeded by `attempt`, in `tx`).
pub async fn issue(
    state: &AppState,
    tx: &mut Tx,
    paid: &PaymentRow,
    lines: &[LineRow],
    attempt: &AttemptRow,
    gateway_txn: Option<&str>,
) -> Result<ReceiptRow, Error> {
    let store = &state.store;
    let cfg = settings(&state.config, &paid.agency_code);
    let agency = store.agency_in(tx, &paid.agency_code).await?.ok_or_else(|| Error::internal("the agency vanished"))?;
    let paid_at = paid.paid_at.unwrap_or_else(crate::store::now_ms);
    let year = if cfg.yearly { gmt7(paid_at).year() } else { 0 };
    let number = store.next_receipt_number(tx, &paid.agency_code, &cfg.template, &cfg.series, year).await?;
    let payer: crate::domain::payment::Payer = serde_json::from_str(&paid.payer).unwrap_or_default();
    let gateway = state
        .connectors
        .get(&attempt.connector_id)
        .map(|a| a.connector.display_name().to_owned())
        .unwrap_or_else(|| attempt.connector_id.clone());
    let content = Content {
        layout: receipt::LAYOUT,
        kind: "original".into(),
        refers_to: None,
        agency: receipt::Agency {
            code: agency.code.clone(),
            name: agency.name.clone(),
            tax_code: cfg.tax_code.clone(),
            address: cfg.address.clone(),
        },
        template: cfg.template.clone(),
        series: cfg.series.clone(),
        year,
        number,
        payment_id: paid.id.clone(),
        dossier_code: paid.dossier_code.clone(),
        procedure_code: paid.procedure_code.clone(),
        description: paid.description.clone(),
        payer_name: payer.name,
        payer_id_number: payer.id_number,
        lines: lines
            .iter()
            .map(|l| receipt::Line {
                kind: l.kind.clone(),
                code: l.code.clone(),
                name: l.description.clone(),
                amount: l.amount,
            })
            .collect(),
        total: paid.amount,
        total_words: crate::domain::words::dong_in_words(paid.amount.unsigned_abs()),
        currency: paid.currency.clone(),
        gateway,
        gateway_txn: gateway_txn.map(str::to_owned),
        reference: attempt.reference.clone(),
        paid_at: rfc3339_gmt7(paid_at),
        issued_at: rfc3339_gmt7(paid_at),
    };
    let row = seal(state, tx, content, None, paid_at).await?;
    if let Some(provider) = &cfg.provider {
        // The provider's e-receipt is asked for after the commit, by the job worker: a
        // provider that is down never holds up (or undoes) a payment.
        store.queue_receipt_job(tx, &row.id, "issue", provider, None, paid_at).await?;
    }
    Ok(row)
}

/// Signs `content` with its agency's key and stores it as a new receipt, in `tx`.
async fn seal(
    state: &AppState,
    tx: &mut Tx,
    content: Content,
    refers_to: Option<String>,
    issued_at: i64,
) -> Result<ReceiptRow, Error> {
    let bytes = content.canonical();
    let (key, key_id) = state.receipts.key_for(&content.agency.code);
    let signature = receipt::sign(key, &bytes);
    let row = ReceiptRow {
        id: new_id("rct"),
        token: new_secret(),
        payment_id: content.payment_id.clone(),
        agency_code: content.agency.code.clone(),
        template: content.template.clone(),
        series: content.series.clone(),
        year: content.year,
        number: content.number,
        kind: content.kind.clone(),
        refers_to,
        amount: content.total,
        content: String::from_utf8(bytes).map_err(Error::internal)?,
        verification_code: receipt::verification_code(&signature),
        signature,
        key_id: key_id.clone(),
        status: "issued".into(),
        issued_at,
        cancelled_at: None,
        cancel_reason: None,
    };
    state.store.insert_receipt(tx, &row).await?;
    metrics::counter!("feegate_receipts_issued_total", "kind" => row.kind.clone()).increment(1);
    Ok(row)
}

/// A refund of the payment was booked in `tx` (`payment_status` is the payment's status
/// after it). A receipt is never edited: a full refund cancels the original (kept, marked
/// cancelled with the reason and time); a partial one issues an adjustment receipt, the
/// series' next number, referring to the original, for minus the refunded amount. The
/// payment's history gets `receipt.cancelled` or `receipt.issued`. A payment paid before
/// receipts existed has no original, and nothing is done.
pub async fn refunded(
    state: &AppState,
    tx: &mut Tx,
    payment_id: &str,
    refund_id: &str,
    amount: i64,
    reason: &str,
    payment_status: &str,
) -> Result<(), Error> {
    let store = &state.store;
    let Some(original) = store.issued_original_in(tx, payment_id).await? else { return Ok(()) };
    let now = crate::store::now_ms();
    if payment_status == "refunded" {
        let why = format!("hoàn trả toàn bộ / refunded in full ({refund_id}): {reason}");
        if store.cancel_receipt(tx, &original.id, &why, now).await? {
            // The provider's e-receipt of it is cancelled too (after its issue is done; at
            // once, without the provider, when it refused to issue it).
            store.queue_receipt_cancel(tx, &original.id, &why, now).await?;
            // The receipt as it is now (cancelled), with the reason.
            let mut data = serde_json::to_value(view(
                &state.config.public_url,
                &ReceiptRow { status: "cancelled".into(), cancelled_at: Some(now), ..original.clone() },
            ))
            .map_err(Error::internal)?;
            data["reason"] = why.into();
            store.insert_event(tx, &original.payment_id, "receipt.cancelled", None, None, &data, true).await?;
            metrics::counter!("feegate_receipts_cancelled_total").increment(1);
        }
        return Ok(());
    }
    let Ok(was) = serde_json::from_str::<Content>(&original.content) else {
        return Err(Error::internal("a stored receipt's content does not parse"));
    };
    let cfg = settings(&state.config, &original.agency_code);
    let year = if cfg.yearly { gmt7(now).year() } else { 0 };
    let number = store.next_receipt_number(tx, &original.agency_code, &cfg.template, &cfg.series, year).await?;
    let content = Content {
        kind: "adjustment".into(),
        refers_to: Some(format!("{}/{}/{:07}", original.template, original.series, original.number)),
        template: cfg.template,
        series: cfg.series,
        year,
        number,
        lines: vec![receipt::Line {
            kind: "refund".into(),
            code: refund_id.to_owned(),
            name: format!("Hoàn trả một phần / Partial refund: {reason}"),
            amount: -amount,
        }],
        total: -amount,
        total_words: format!("Giảm {}", lower_first(&crate::domain::words::dong_in_words(amount.unsigned_abs()))),
        issued_at: rfc3339_gmt7(now),
        ..was
    };
    let provider = cfg.provider.clone();
    let row = seal(state, tx, content, Some(original.id.clone()), now).await?;
    if let Some(provider) = &provider {
        store.queue_receipt_job(tx, &row.id, "issue", provider, None, now).await?;
    }
    let issued = serde_json::to_value(view(&state.config.public_url, &row)).map_err(Error::internal)?;
    store.insert_event(tx, &row.payment_id, "receipt.issued", None, None, &issued, true).await?;
    Ok(())
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

/// A stored receipt as the API and the webhook show it.
pub fn view(public_url: &str, r: &ReceiptRow) -> ReceiptView {
    ReceiptView {
        id: r.id.clone(),
        payment_id: r.payment_id.clone(),
        kind: r.kind.clone(),
        template: r.template.clone(),
        series: r.series.clone(),
        number: r.number,
        status: r.status.clone(),
        amount: r.amount,
        verification_code: r.verification_code.clone(),
        url: format!("{public_url}/receipts/{}", r.token),
        verify_url: verify_url(public_url, r),
        issued_at: crate::service::rfc3339(r.issued_at),
        provider: None,
    }
}

/// The verification address of a receipt (what its QR code holds).
pub fn verify_url(public_url: &str, r: &ReceiptRow) -> String {
    let q = serde_urlencoded::to_string([
        ("agency", r.agency_code.as_str()),
        ("series", r.series.as_str()),
        ("number", &r.number.to_string()),
        ("code", r.verification_code.as_str()),
    ])
    .unwrap_or_default();
    format!("{public_url}/receipts/verify?{q}")
}

/// `GET /v1/payments/{id}/receipts`: the receipts of a payment the caller may see.
pub async fn list(state: &AppState, who: &Principal, payment_id: &str) -> Result<Vec<ReceiptView>, Error> {
    crate::service::payments::visible(state, who, payment_id).await?;
    let rows = state.store.receipts_of(payment_id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut v = view(&state.config.public_url, r);
        if !state.issuers.is_empty() {
            v.provider = super::receipt_jobs::provided(state, &r.id).await?;
        }
        out.push(v);
    }
    Ok(out)
}

/// What a verification found.
#[derive(Debug)]
pub enum Verdict {
    /// Signed by a key of this instance over exactly this content; the receipt as stored.
    Genuine { content: Box<Content>, cancelled: Option<(String, i64)> },
    /// A receipt by that number and code exists but its content or signature does not
    /// hold: it was changed after it was issued.
    Altered,
    /// No receipt has that agency, series, number and code.
    Unknown,
}

/// Checks a stored receipt: its signature over its stored content by its key, its code,
/// and that the columns it is found by say what the signed content says.
pub async fn check(store: &Store, row: &ReceiptRow) -> Result<Option<Content>, Error> {
    let Some(hex_key) = store.receipt_key(&row.key_id).await? else { return Ok(None) };
    let key = hex::decode(hex_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok());
    let Some(key) = key else { return Ok(None) };
    if !receipt::verify(&key, row.content.as_bytes(), &row.signature)
        || receipt::verification_code(&row.signature) != row.verification_code
    {
        return Ok(None);
    }
    let Ok(c) = serde_json::from_str::<Content>(&row.content) else { return Ok(None) };
    let agrees = c.agency.code == row.agency_code
        && c.template == row.template
        && c.series == row.series
        && c.year == row.year
        && c.number == row.number
        && c.payment_id == row.payment_id
        && c.total == row.amount
        && c.kind == row.kind;
    Ok(agrees.then_some(c))
}

/// `GET /receipts/verify`: is the receipt with this agency, series, number and code
/// genuine and unchanged?
pub async fn verify(state: &AppState, agency: &str, series: &str, number: i64, code: &str) -> Result<Verdict, Error> {
    let code = receipt::normalise_code(code);
    let rows = state.store.receipts_numbered(agency, series, number).await?;
    let Some(row) = rows.into_iter().find(|r| r.verification_code == code) else { return Ok(Verdict::Unknown) };
    Ok(match check(&state.store, &row).await? {
        Some(content) => Verdict::Genuine { cancelled: cancellation(&row), content: Box::new(content) },
        None => Verdict::Altered,
    })
}

/// A receipt as its page shows it: the signed content, whether it still verifies, and
/// what is outside the signature (its cancellation, code, key, verification address).
#[derive(Debug)]
pub struct Shown {
    pub content: Content,
    /// The signature holds over the stored content and the columns agree with it.
    pub genuine: bool,
    /// The cancellation's reason and time (ms), when cancelled.
    pub cancelled: Option<(String, i64)>,
    pub verification_code: String,
    pub key_id: String,
    pub verify_url: String,
    /// The agency's external provider's e-receipt of it, when the agency has a provider.
    pub provider: Option<crate::domain::receipt::ProviderView>,
}

/// The receipt with this token (`None`: no such receipt, or a content that does not even
/// parse); a receipt that fails verification is shown, marked so, never hidden.
pub async fn by_token(state: &AppState, token: &str) -> Result<Option<Shown>, Error> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let Some(row) = state.store.receipt_by_token(token).await? else { return Ok(None) };
    let (genuine, content) = match check(&state.store, &row).await? {
        Some(c) => (true, c),
        None => match serde_json::from_str::<Content>(&row.content) {
            Ok(c) => (false, c),
            Err(_) => return Ok(None),
        },
    };
    Ok(Some(Shown {
        content,
        genuine,
        cancelled: cancellation(&row),
        verify_url: verify_url(&state.config.public_url, &row),
        provider: super::receipt_jobs::provided(state, &row.id).await?,
        verification_code: row.verification_code,
        key_id: row.key_id,
    }))
}

/// A cancelled receipt's reason and time.
pub fn cancellation(row: &ReceiptRow) -> Option<(String, i64)> {
    (row.status == "cancelled").then(|| (row.cancel_reason.clone().unwrap_or_default(), row.cancelled_at.unwrap_or(0)))
}

/// What the checkout's paid page shows of a payment's original receipt: its series and
/// number, the gateway's transaction number, the time paid (GMT+7 RFC 3339), the code and
/// the receipt's page. The checkout URL is the payment's capability, as the receipt's is.
#[derive(Debug, Clone)]
pub struct Issued {
    pub series: String,
    pub number: i64,
    pub transaction: String,
    pub paid_at: String,
    pub verification_code: String,
    pub url: String,
    pub cancelled: bool,
}

/// The original receipt of a payment, if it has one.
pub async fn issued_for(state: &AppState, payment_id: &str) -> Result<Option<Issued>, Error> {
    let rows = state.store.receipts_of(payment_id).await?;
    let Some(row) = rows.into_iter().find(|r| r.kind == "original") else { return Ok(None) };
    let Ok(c) = serde_json::from_str::<Content>(&row.content) else { return Ok(None) };
    Ok(Some(Issued {
        series: row.series.clone(),
        number: row.number,
        transaction: c.gateway_txn.unwrap_or(c.reference),
        paid_at: c.paid_at,
        verification_code: row.verification_code.clone(),
        url: format!("/receipts/{}", row.token),
        cancelled: row.status == "cancelled",
    }))
}
