//! The connector registry: the one place that lists the gateways feegate knows. Adding a
//! gateway is one line in [`KINDS`] (plus its crate in Cargo.toml).

use crate::config::ConnectorSection;
use anyhow::{bail, Context};
use axum::Router;
use feegate_connector::{Connector, ConnectorConfig, Factory};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A gateway kind: how to build its connector and its simulator.
pub struct Kind {
    pub kind: &'static str,
    pub factory: Factory,
    pub simulator: fn(&ConnectorConfig, &str) -> Router,
}

/// Every gateway kind feegate can talk to.
pub const KINDS: &[Kind] = &[
    Kind { kind: "sandbox", factory: feegate_sandbox::factory, simulator: feegate_sandbox::sim::router },
    Kind { kind: "momo", factory: feegate_momo::factory, simulator: feegate_momo::sim::router },
    Kind { kind: "vnpay", factory: feegate_vnpay::factory, simulator: feegate_vnpay::sim::router },
    Kind { kind: "zalopay", factory: feegate_zalopay::factory, simulator: feegate_zalopay::sim::router },
    Kind { kind: "vietqr", factory: feegate_vietqr::factory, simulator: feegate_vietqr::sim::router },
];

/// One configured connector account.
pub struct Account {
    pub connector: Arc<dyn Connector>,
    /// Agency codes served, `*` for all.
    pub agencies: Vec<String>,
    pub simulate: bool,
    /// The name on the English pages (`display_name_en`, or the display name).
    pub name_en: String,
    config: ConnectorConfig,
    simulator: fn(&ConnectorConfig, &str) -> Router,
}

impl Account {
    /// Whether this account may collect for `agency_code`.
    pub fn serves(&self, agency_code: &str) -> bool {
        self.agencies.iter().any(|a| a == "*" || a == agency_code)
    }

    /// The name a payer reads: the display name, or its English form on English pages.
    pub fn name(&self, english: bool) -> &str {
        if english {
            &self.name_en
        } else {
            self.connector.display_name()
        }
    }
}

/// All configured connector accounts by id.
#[derive(Default)]
pub struct Connectors {
    accounts: BTreeMap<String, Account>,
}

impl Connectors {
    /// Builds every configured account; fails on an unknown kind or a missing secret.
    pub fn build(sections: &[ConnectorSection], http: reqwest::Client) -> anyhow::Result<Connectors> {
        let mut accounts = BTreeMap::new();
        for s in sections {
            let Some(kind) = KINDS.iter().find(|k| k.kind == s.kind) else {
                bail!("connector {}: unknown kind {} (known: {})", s.id, s.kind, kind_names());
            };
            if !s.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || s.id.is_empty() {
                bail!("connector id {:?}: use letters, digits, '-' and '_'", s.id);
            }
            let mut cfg = ConnectorConfig::new(&s.id, &s.display_name);
            cfg.settings = s.settings.clone();
            for (k, src) in &s.secrets {
                cfg.secrets.insert(k.clone(), src.resolve().with_context(|| format!("connector {} secret {k}", s.id))?);
            }
            let connector = (kind.factory)(cfg.clone(), http.clone())?;
            let account = Account {
                connector: Arc::from(connector),
                agencies: s.agencies.clone(),
                simulate: s.simulate,
                name_en: if s.display_name_en.trim().is_empty() {
                    s.display_name.clone()
                } else {
                    s.display_name_en.clone()
                },
                config: cfg,
                simulator: kind.simulator,
            };
            if accounts.insert(s.id.clone(), account).is_some() {
                bail!("connector id {} is configured twice", s.id);
            }
        }
        Ok(Connectors { accounts })
    }

    pub fn get(&self, id: &str) -> Option<&Account> {
        self.accounts.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// Accounts that may collect for an agency.
    pub fn for_agency<'a>(&'a self, agency_code: &'a str) -> impl Iterator<Item = &'a Account> + 'a {
        self.accounts.values().filter(move |a| a.serves(agency_code))
    }

    /// The simulators to mount at `/sim/{id}`, each told feegate's callback URL.
    pub fn simulators(&self, public_url: &str) -> Vec<(String, Router)> {
        self.accounts
            .iter()
            .filter(|(_, a)| a.simulate)
            .map(|(id, a)| (id.clone(), (a.simulator)(&a.config, &format!("{public_url}/callbacks/{id}"))))
            .collect()
    }
}

fn kind_names() -> String {
    KINDS.iter().map(|k| k.kind).collect::<Vec<_>>().join(", ")
}
