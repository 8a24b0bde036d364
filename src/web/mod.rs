//! Server-rendered pages: the hosted checkout (bank chooser, QR transfer), the site's
//! front page and its page for unknown addresses (`checkout`), and the finance console
//! (`console`, under `/console`). Templates live in `templates/` and are compiled into the
//! binary; the citizen pages carry the `[site]` name and logo. Vietnamese by default,
//! English with `?lang=en` or the browser's Accept-Language; no JavaScript needed. `headers` adds the security headers to
//! every answer; `form` makes and checks the checkout form's token.

pub mod checkout;
pub mod console;
pub mod form;
pub mod headers;
mod i18n;
mod receipt_pdf;
pub mod receipts;

use crate::app::AppState;
use axum::Router;
use minijinja::Environment;

/// The compiled templates, and the key of the checkout form tokens once loaded.
pub struct Pages {
    env: Environment<'static>,
    form_key: tokio::sync::OnceCell<Vec<u8>>,
}

impl Pages {
    /// The templates, with the `[site]` every citizen page names in its header.
    pub fn new(site: &crate::config::Site) -> anyhow::Result<Pages> {
        let mut env = Environment::new();
        env.add_global(
            "site",
            minijinja::context! {
                name => site.name.clone(), name_en => site.name_en().to_owned(),
                logo => site.logo_src()?, phone => site.phone.clone(),
            },
        );
        env.add_template("base.html", include_str!("../../templates/base.html"))?;
        env.add_template("checkout.html", include_str!("../../templates/checkout.html"))?;
        env.add_template("qr.html", include_str!("../../templates/qr.html"))?;
        env.add_template("message.html", include_str!("../../templates/message.html"))?;
        env.add_template("not_found.html", include_str!("../../templates/not_found.html"))?;
        env.add_template("home.html", include_str!("../../templates/home.html"))?;
        env.add_template("receipt.html", include_str!("../../templates/receipt.html"))?;
        env.add_template("receipt_verify.html", include_str!("../../templates/receipt_verify.html"))?;
        for (name, text) in [
            ("console/base.html", include_str!("../../templates/console/base.html")),
            ("console/message.html", include_str!("../../templates/console/message.html")),
            ("console/signin.html", include_str!("../../templates/console/signin.html")),
            ("console/today.html", include_str!("../../templates/console/today.html")),
            ("console/payments.html", include_str!("../../templates/console/payments.html")),
            ("console/payment.html", include_str!("../../templates/console/payment.html")),
            ("console/recon.html", include_str!("../../templates/console/recon.html")),
            ("console/run.html", include_str!("../../templates/console/run.html")),
            ("console/cases.html", include_str!("../../templates/console/cases.html")),
            ("console/admin_head.html", include_str!("../../templates/console/admin_head.html")),
            ("console/admin_agencies.html", include_str!("../../templates/console/admin_agencies.html")),
            ("console/admin_agency.html", include_str!("../../templates/console/admin_agency.html")),
            ("console/admin_portals.html", include_str!("../../templates/console/admin_portals.html")),
            ("console/admin_keys.html", include_str!("../../templates/console/admin_keys.html")),
            ("console/admin_gateways.html", include_str!("../../templates/console/admin_gateways.html")),
            ("console/admin_staff.html", include_str!("../../templates/console/admin_staff.html")),
            ("console/admin_audit.html", include_str!("../../templates/console/admin_audit.html")),
            ("console/refunds.html", include_str!("../../templates/console/refunds.html")),
            ("console/reports.html", include_str!("../../templates/console/reports.html")),
            ("console/receipts.html", include_str!("../../templates/console/receipts.html")),
            ("console/preview.html", include_str!("../../templates/console/preview.html")),
        ] {
            env.add_template(name, text)?;
        }
        Ok(Pages { env, form_key: tokio::sync::OnceCell::new() })
    }

    /// The checkout form token key (loaded from, or made in, the database once).
    pub async fn form_key(&self, state: &AppState) -> Result<&[u8], crate::api::error::ApiError> {
        self.form_key.get_or_try_init(|| crate::service::checkout::form_key(state)).await.map(Vec::as_slice)
    }

    /// Renders `name` with `ctx`; a template error becomes a plain message.
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> String {
        self.env.get_template(name).and_then(|t| t.render(ctx)).unwrap_or_else(|e| {
            tracing::error!(error = %e, template = name, "template failed");
            "<!doctype html><p>Internal error</p>".into()
        })
    }

    /// A page with a title and one sentence.
    pub fn message(&self, title: &str, text: &str) -> String {
        let t = i18n::texts(i18n::Lang::Vi);
        self.render("message.html", minijinja::context! { lang => "vi", title, text, t, switch_url => "" })
    }
}

/// "Too many requests", in both languages (the rate limiter does not know the page's).
pub fn too_many_text() -> &'static str {
    "Quá nhiều yêu cầu, vui lòng thử lại sau ít phút. / Too many requests, please try again in a moment."
}

pub fn router() -> Router<AppState> {
    checkout::router()
        .merge(console::router())
        .merge(receipts::router())
        .route("/", axum::routing::get(checkout::home))
        .fallback(checkout::unknown)
}
