//! Server-rendered pages: the hosted checkout (bank chooser, QR transfer). Templates
//! live in `templates/` and are compiled into the binary. Vietnamese by default,
//! English with `?lang=en`; no JavaScript needed.

pub mod checkout;
mod i18n;

use crate::app::AppState;
use axum::Router;
use minijinja::Environment;

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn new() -> anyhow::Result<Pages> {
        let mut env = Environment::new();
        env.add_template("base.html", include_str!("../../templates/base.html"))?;
        env.add_template("checkout.html", include_str!("../../templates/checkout.html"))?;
        env.add_template("qr.html", include_str!("../../templates/qr.html"))?;
        env.add_template("message.html", include_str!("../../templates/message.html"))?;
        Ok(Pages { env })
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

pub fn router() -> Router<AppState> {
    checkout::router()
}
