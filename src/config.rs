//! Layered configuration: built-in defaults (`config/default.toml`, compiled in) <
//! in demo mode only, the demo (`config/demo.toml`, compiled in) < `--config FILE` <
//! `FEEGATE_*` environment variables. Outside demo mode [`Config::check_production`]
//! refuses anything of the demo.

use anyhow::{bail, Context};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The defaults, compiled into the binary so that it runs anywhere.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// The demo (agencies, portal, every gateway pointed at its simulator, published secrets),
/// layered over the defaults only in demo mode.
pub const DEMO_TOML: &str = include_str!("../config/demo.toml");

/// The environment variable that turns demo mode on (as `--demo` does).
pub const DEMO_ENV: &str = "FEEGATE_DEMO";

/// Environment variables that always work, and the config key each sets.
const ENV_KEYS: &[(&str, &str)] = &[
    ("FEEGATE_LISTEN", "listen"),
    ("FEEGATE_DATABASE_URL", "database_url"),
    ("FEEGATE_PUBLIC_URL", "public_url"),
    ("FEEGATE_SEED_DEMO", "seed_demo"),
    ("FEEGATE_LOG_FORMAT", "log_format"),
    ("FEEGATE_EXPIRY_INTERVAL_MS", "expiry_interval_ms"),
    ("FEEGATE_OUTBOX_INTERVAL_MS", "outbox_interval_ms"),
    ("FEEGATE_OUTBOX_LEASE_MS", "outbox_lease_ms"),
    ("FEEGATE_RESOLVER_DELAY_MS", "resolver_delay_ms"),
    ("FEEGATE_CACHE_TTL_MS", "cache_ttl_ms"),
    ("FEEGATE_RATE_LIMITS_ENABLED", "rate_limits.enabled"),
    ("FEEGATE_METRICS_LISTEN", "metrics_listen"),
    ("FEEGATE_CONSOLE_IDLE_TIMEOUT_MS", "console.idle_timeout_ms"),
    ("FEEGATE_CONSOLE_ABSOLUTE_TIMEOUT_MS", "console.absolute_timeout_ms"),
    ("FEEGATE_CONSOLE_LOCK_MS", "console.lock_ms"),
];

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to bind, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Base URL browsers and gateways reach feegate at; `{listen}` by default.
    #[serde(default)]
    pub public_url: String,
    /// `sqlite://path?mode=rwc` or `postgres://...`.
    pub database_url: String,
    /// Seed the demo portal, agencies and accounts on start.
    #[serde(default)]
    pub seed_demo: bool,
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// How often the expiry worker looks for due payments.
    #[serde(default = "default_expiry_ms")]
    pub expiry_interval_ms: u64,
    /// Default and maximum lifetime of a payment.
    #[serde(default = "default_expires")]
    pub default_expires_in_seconds: i64,
    #[serde(default = "max_expires")]
    pub max_expires_in_seconds: i64,
    /// Database pool size.
    #[serde(default = "default_pool")]
    pub max_db_connections: u32,
    /// Timeout of every outbound call to a gateway.
    #[serde(default = "default_gateway_timeout")]
    pub gateway_timeout_ms: u64,
    /// Whether a portal key may refund its own payments (finance always may).
    #[serde(default)]
    pub allow_portal_refunds: bool,
    /// How long an attempt or refund stays open before the resolver asks its gateway.
    #[serde(default = "default_resolver_delay")]
    pub resolver_delay_ms: u64,
    /// How often the outbox worker looks for due webhook events.
    #[serde(default = "default_outbox_ms")]
    pub outbox_interval_ms: u64,
    /// How long a node's claim on a webhook event lasts; another node takes the event over
    /// once it runs out. Keep it above the 10 s delivery timeout so that only a dead
    /// node's claims expire (tests shorten it).
    #[serde(default = "default_outbox_lease_ms")]
    pub outbox_lease_ms: u64,
    /// How long portals, agencies and accounts read by a create stay cached in memory
    /// (`service::cache`; 0: not cached). Changes through this server's admin API are seen
    /// at once; changes made elsewhere (another node, the CLI) within this time.
    #[serde(default = "default_cache_ttl_ms")]
    pub cache_ttl_ms: u64,
    /// Waits (seconds) before each webhook retry; after the last, the event is `failed`.
    #[serde(default = "default_retry_schedule")]
    pub webhook_retry_schedule_secs: Vec<u64>,
    #[serde(default)]
    pub demo: Demo,
    #[serde(default)]
    pub connectors: Vec<ConnectorSection>,
    #[serde(default)]
    pub reconciliation: Reconciliation,
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// The finance console's sessions and sign-in throttle.
    #[serde(default)]
    pub console: Console,
    /// Receipts for citizens: each agency's template, series, tax code and address, and
    /// the signing keys (docs/receipts.md).
    #[serde(default)]
    pub receipts: Receipts,
    /// Who the citizen pages speak for: the portal's or province's name and logo in the
    /// header, where "back to the portal" goes, and the phones a payer may call.
    #[serde(default)]
    pub site: Site,
    /// An address of its own for `/metrics` (e.g. `127.0.0.1:9464`), served there without a
    /// key. Unset (the default), `/metrics` answers only on the main address and only to an
    /// admin or finance key: never public.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// Demo mode (`--demo` or `FEEGATE_DEMO=true`): the demo layer is loaded and its doors
    /// (simulators, inline and published secrets) are allowed. Not a file key.
    #[serde(skip)]
    pub demo_mode: bool,
    /// How many status queries a refund still `pending` gets before a review is opened for
    /// finance (once per refund; the resolver goes on asking). Only the gateway saying
    /// the refund failed fails it.
    #[serde(default = "default_refund_query_max_tries")]
    pub refund_query_max_tries: u32,
}

/// Request rate limits (`api::ratelimit`): token buckets answering 429 with `Retry-After`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Off only for load benchmarks.
    pub enabled: bool,
    /// Per API key, by the key's role.
    pub portal: Rate,
    pub finance: Rate,
    pub admin: Rate,
    /// Callbacks that do not verify, per connector and client address (IPv6: its /64).
    /// Verified callbacks are never limited.
    pub unverified_callbacks: Rate,
    /// `/checkout/...` and `/return/...` pages, per client address (IPv6: its /64).
    #[serde(default = "default_checkout_rate")]
    pub checkout: Rate,
}

/// A token bucket: refills `per_second`, holds at most `burst`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: std::num::NonZeroU32,
    pub burst: std::num::NonZeroU32,
}

impl Default for RateLimits {
    fn default() -> Self {
        let rate = |per_second, burst| Rate {
            per_second: std::num::NonZeroU32::new(per_second).unwrap_or(std::num::NonZeroU32::MIN),
            burst: std::num::NonZeroU32::new(burst).unwrap_or(std::num::NonZeroU32::MIN),
        };
        RateLimits {
            enabled: true,
            portal: rate(50, 100),
            finance: rate(50, 100),
            admin: rate(50, 100),
            unverified_callbacks: rate(10, 100),
            checkout: default_checkout_rate(),
        }
    }
}

/// Reconciliation settings (DESIGN §8).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconciliation {
    /// Largest amount difference, in đồng, still counted as matched. 0 (the default) is exact.
    #[serde(default)]
    pub tolerance: i64,
    /// How often the inbox job looks into the sources' inbox folders.
    #[serde(default = "default_inbox_ms")]
    pub inbox_interval_ms: u64,
    /// Import sources besides the connector accounts (whose ids are settlement sources).
    #[serde(default)]
    pub sources: Vec<ReconSource>,
}

impl Default for Reconciliation {
    fn default() -> Self {
        Reconciliation { tolerance: 0, inbox_interval_ms: default_inbox_ms(), sources: Vec::new() }
    }
}

fn default_inbox_ms() -> u64 {
    60_000
}

/// One place files to reconcile come from: a connector's settlement files, or one agency
/// account's bank statements.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconSource {
    /// The source id used by the API and the CLI (a connector account id for `settlement`).
    pub id: String,
    /// `settlement` (the connector's file), `camt053`, `mt940` or `csv` (a bank statement).
    pub format: String,
    /// For a statement: the agency account's number (CSV files do not name it; camt.053
    /// and MT940 files must name this one).
    #[serde(default)]
    pub account_number: Option<String>,
    /// A folder the inbox job imports new files from (files arrive there by SFTP or
    /// the like); each imported file moves to `done/` or, rejected, to `rejected/`
    /// with a `.reason.txt` beside it.
    #[serde(default)]
    pub inbox: Option<std::path::PathBuf>,
    /// For `csv`: which column holds what.
    #[serde(default)]
    pub csv: Option<crate::domain::statement::CsvMap>,
    /// For `csv`: the ISO 4217 currency of the amounts (an export does not say); `VND` when
    /// not given. camt.053 and MT940 files name their own.
    #[serde(default)]
    pub currency: Option<String>,
}

fn default_log_format() -> String {
    "text".into()
}
fn default_expiry_ms() -> u64 {
    5_000
}
fn default_expires() -> i64 {
    900
}
fn max_expires() -> i64 {
    30 * 24 * 3600
}
fn default_resolver_delay() -> u64 {
    60_000
}
fn default_outbox_ms() -> u64 {
    500
}
fn default_cache_ttl_ms() -> u64 {
    5_000
}
fn default_outbox_lease_ms() -> u64 {
    30_000
}
fn default_retry_schedule() -> Vec<u64> {
    // 16 attempts over about 26 hours.
    vec![10, 30, 60, 300, 600, 1200, 1800, 3600, 3600, 7200, 7200, 10800, 14400, 21600, 21600]
}
fn default_pool() -> u32 {
    16
}
fn default_gateway_timeout() -> u64 {
    10_000
}

/// Receipts (docs/receipts.md): `[receipts]` holds the instance's signing key,
/// `[receipts.agencies."CODE"]` an agency's receipt template, series, tax code, address and
/// optionally its own key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Receipts {
    /// The instance's Ed25519 signing key as PKCS#8 PEM (`{ env = "..." }` or
    /// `{ file = "..." }`); none: a key made once and kept in the database's server keys.
    pub signing_key: Option<SecretSource>,
    /// Per agency code; an agency not listed gets [`AgencyReceipts::default`].
    pub agencies: std::collections::BTreeMap<String, AgencyReceipts>,
    /// External e-receipt providers by id (`[receipts.providers.ID]`), used by the agencies
    /// that name one (`provider = "ID"`).
    pub providers: std::collections::BTreeMap<String, ReceiptProvider>,
    /// Waits (seconds) before each retry of a provider job that found the provider
    /// unavailable; the last wait repeats for as long as it takes (a receipt is never given up).
    pub retry_secs: Vec<u64>,
    /// How often the provider worker looks for due jobs (ms).
    pub jobs_interval_ms: u64,
}

/// An external e-receipt provider speaking feegate's provider protocol v1
/// (`connectors/receipts`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptProvider {
    /// Shown to payers and staff.
    pub name: String,
    /// The provider's base URL; `{public_url}` is replaced. With `simulate = true`, leave it
    /// unset: the simulator at `{public_url}/sim/receipts/ID` is used.
    #[serde(default)]
    pub url: String,
    /// The shared secret requests are signed with.
    pub secret: SecretSource,
    /// Mount this provider's simulator at `/sim/receipts/ID` (demo only).
    #[serde(default)]
    pub simulate: bool,
}

/// One agency's receipts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgencyReceipts {
    /// The receipt template symbol (ký hiệu mẫu biên lai), e.g. `01BLP0-001`.
    pub template: String,
    /// The receipt series (ký hiệu biên lai), e.g. `AB-26E`.
    pub series: String,
    /// Numbers start again at 1 each calendar year (GMT+7).
    pub yearly: bool,
    /// The agency's tax code (mã số thuế) and address, printed on the receipt.
    pub tax_code: String,
    pub address: String,
    /// The agency's own signing key; none: the instance's.
    pub signing_key: Option<SecretSource>,
    /// An external provider (`[receipts.providers.ID]`) that issues this agency's legal
    /// e-receipts; feegate still numbers, signs and shows its own. None: feegate's only.
    pub provider: Option<String>,
}

impl Default for Receipts {
    fn default() -> Self {
        Receipts {
            signing_key: None,
            agencies: Default::default(),
            providers: Default::default(),
            retry_secs: vec![1, 2, 5, 15, 60, 300, 600],
            jobs_interval_ms: 500,
        }
    }
}

impl Default for AgencyReceipts {
    fn default() -> Self {
        AgencyReceipts {
            template: "01BLP0-001".into(),
            series: "BL".into(),
            yearly: true,
            tax_code: String::new(),
            address: String::new(),
            signing_key: None,
            provider: None,
        }
    }
}

/// `[site]`: the name and logo the citizen pages carry (docs/citizen.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Site {
    /// The name in the header of the Vietnamese pages, e.g. "Cổng Dịch vụ công tỉnh Hà Nam".
    pub name: String,
    /// The same in English; empty: `name`.
    pub name_en: String,
    /// The logo: a `data:image/...` URL, or the path of a PNG, JPEG, WebP or SVG file
    /// (read once at start, at most 256 KiB); empty: no logo.
    pub logo: String,
    /// Where "back to the portal" goes when a payment has no return_url; empty: no link.
    pub portal_url: String,
    /// The portal's help line, shown on every citizen page; empty: none.
    pub phone: String,
    /// Each agency's phone for payers (by agency code), named on the expired, failed and
    /// cancelled pages; an agency not listed: "contact the agency" (and `phone`).
    pub agency_phones: BTreeMap<String, String>,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            name: DEFAULT_SITE_NAME.into(),
            name_en: String::new(),
            logo: String::new(),
            portal_url: String::new(),
            phone: String::new(),
            agency_phones: BTreeMap::new(),
        }
    }
}

/// The site's name when `[site]` names none, and its English form.
const DEFAULT_SITE_NAME: &str = "Thanh toán phí, lệ phí trực tuyến";
const DEFAULT_SITE_NAME_EN: &str = "Online payment of fees and charges";

/// The largest logo file `[site] logo` may name.
const MAX_LOGO_BYTES: usize = 256 * 1024;

impl Site {
    /// The English name (the Vietnamese one if none is configured).
    pub fn name_en(&self) -> &str {
        if self.name_en.trim().is_empty() {
            if self.name == DEFAULT_SITE_NAME {
                DEFAULT_SITE_NAME_EN
            } else {
                &self.name
            }
        } else {
            &self.name_en
        }
    }

    /// The logo as an `<img src>`: the data URL as configured, or the file read and
    /// embedded (the pages' Content-Security-Policy allows `data:` images only).
    pub fn logo_src(&self) -> anyhow::Result<Option<String>> {
        let logo = self.logo.trim();
        if logo.is_empty() {
            return Ok(None);
        }
        if let Some(rest) = logo.strip_prefix("data:") {
            if !rest.starts_with("image/") || !rest.contains(',') {
                bail!("[site] logo: a data URL must be data:image/...;base64,... or data:image/svg+xml,...");
            }
            return Ok(Some(logo.to_owned()));
        }
        let path = Path::new(logo);
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        let mime = match ext.as_str() {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "webp" => "image/webp",
            "svg" => "image/svg+xml",
            _ => bail!("[site] logo {logo:?}: give a .png, .jpg, .webp or .svg file, or a data:image/... URL"),
        };
        let bytes = std::fs::read(path).with_context(|| format!("[site] logo: reading {logo}"))?;
        if bytes.len() > MAX_LOGO_BYTES {
            bail!("[site] logo {logo}: {} bytes, more than {MAX_LOGO_BYTES}", bytes.len());
        }
        use base64::Engine;
        Ok(Some(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))))
    }

    /// Refuses a site the pages cannot show: no name, a logo that cannot be read, a portal
    /// URL that is not http(s).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.name.trim().is_empty() {
            bail!("[site] name is empty: name the portal or province the payment pages speak for");
        }
        self.logo_src()?;
        if !self.portal_url.is_empty() {
            match url::Url::parse(&self.portal_url) {
                Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                _ => bail!("[site] portal_url {:?} must be an absolute http(s) URL", self.portal_url),
            }
        }
        Ok(())
    }
}

/// The console's sessions and wrong-password throttle (docs/console.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Console {
    /// The organisation named in the console's header (a province's People's Committee).
    pub organisation: String,
    /// A session unused this long ends (30 minutes).
    pub idle_timeout_ms: u64,
    /// A session ends this long after sign-in, used or not (12 hours).
    pub absolute_timeout_ms: u64,
    /// Wrong passwords in a row after which each answer waits longer (3).
    pub slow_after_failures: u32,
    /// Wrong passwords in a row that lock the username (5).
    pub lock_after_failures: u32,
    /// How long a locked username stays locked (15 minutes).
    pub lock_ms: u64,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            organisation: String::new(),
            idle_timeout_ms: 30 * 60 * 1000,
            absolute_timeout_ms: 12 * 3600 * 1000,
            slow_after_failures: 3,
            lock_after_failures: 5,
            lock_ms: 15 * 60 * 1000,
        }
    }
}

/// Demo data seeded when `seed_demo` is on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    #[serde(default)]
    pub portals: Vec<DemoPortal>,
    #[serde(default)]
    pub agencies: Vec<crate::domain::agency::AgencyImport>,
    /// Console users with published passwords (created once; never outside demo mode).
    #[serde(default)]
    pub staff: Vec<DemoStaff>,
}

/// A console user seeded by the demo.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoStaff {
    pub username: String,
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub agencies: Vec<String>,
    /// Published in the README: redacted in Debug all the same.
    pub password: SecretString,
}

/// A portal seeded by the demo.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPortal {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Redacted in Debug output.
    pub webhook_secret: SecretString,
    /// Allowed return_url origins (`https://host[:port]`), set on first seed only.
    #[serde(default)]
    pub return_origins: Vec<String>,
}

/// One connector account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSection {
    pub id: String,
    pub kind: String,
    pub display_name: String,
    /// The name on the English pages; empty: `display_name`.
    #[serde(default)]
    pub display_name_en: String,
    /// Agency codes this account serves; `["*"]` for all.
    #[serde(default = "all_agencies")]
    pub agencies: Vec<String>,
    /// Mount this gateway's simulator at `/sim/{id}` (sandbox and demo only).
    #[serde(default)]
    pub simulate: bool,
    /// Plain settings; `{public_url}` is replaced by the public URL.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Secrets: each `{ env = "VAR" }`, `{ file = "path" }` or, for sandboxes only,
    /// `{ value = "..." }`.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
}

fn all_agencies() -> Vec<String> {
    vec!["*".into()]
}

/// Where a secret comes from.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    env: Option<String>,
    file: Option<String>,
    value: Option<String>,
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.env, &self.file) {
            (Some(e), _) => write!(f, "env:{e}"),
            (_, Some(p)) => write!(f, "file:{p}"),
            _ => f.write_str("[REDACTED]"),
        }
    }
}

impl SecretSource {
    /// Reads the secret.
    pub fn resolve(&self) -> anyhow::Result<SecretString> {
        let v = match (&self.env, &self.file, &self.value) {
            (Some(var), None, None) => {
                std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?
            }
            (None, Some(path), None) => {
                std::fs::read_to_string(path).with_context(|| format!("reading secret file {path}"))?.trim().to_owned()
            }
            (None, None, Some(v)) => v.clone(),
            _ => bail!("a secret needs exactly one of env, file or value"),
        };
        Ok(SecretString::from(v))
    }
}

impl Config {
    /// Loads defaults < file < environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with(file, &env)
    }

    /// As [`Config::load`], with the environment given (for tests). Demo mode is on when
    /// the environment has `FEEGATE_DEMO=true` (`--demo` puts it there).
    pub fn load_with(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Config> {
        let demo_mode = env.iter().rev().find(|(k, _)| k == DEMO_ENV).is_some_and(|(_, v)| is_true(v));
        let mut merged: toml::Table = DEFAULT_TOML.parse().context("built-in config/default.toml")?;
        if demo_mode {
            merge(&mut merged, DEMO_TOML.parse().context("built-in config/demo.toml")?);
        }
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.iter().find(|(k, _)| k == "FEEGATE_CONFIG").map(|(_, v)| std::path::PathBuf::from(v)));
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let layer: toml::Table = text.parse().with_context(|| format!("parsing {}", path.display()))?;
            merge(&mut merged, layer);
        }
        for (k, v) in env {
            if let Some((_, key)) = ENV_KEYS.iter().find(|(name, _)| name == k) {
                let value = match *key {
                    "seed_demo" | "rate_limits.enabled" => toml::Value::Boolean(is_true(v)),
                    key if key.ends_with("_ms") => {
                        toml::Value::Integer(v.parse().with_context(|| format!("{k} must be a number"))?)
                    }
                    _ => toml::Value::String(v.clone()),
                };
                match key.split_once('.') {
                    Some((table, field)) => {
                        let t = merged.entry(table).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                        if let toml::Value::Table(t) = t {
                            t.insert(field.into(), value);
                        }
                    }
                    None => {
                        merged.insert((*key).into(), value);
                    }
                }
            } else if k.starts_with("FEEGATE_")
                && k != "FEEGATE_CONFIG"
                && k != DEMO_ENV
                && !k.ends_with("_SECRET")
                && !k.contains("_KEY")
            {
                tracing::warn!(variable = %k, "unknown FEEGATE_ variable (a typo?)");
            }
        }
        let mut cfg: Config = merged.try_into().context("invalid configuration")?;
        cfg.demo_mode = demo_mode;
        cfg.site.check()?;
        if cfg.public_url.is_empty() {
            cfg.public_url = format!("http://{}", cfg.listen);
        }
        cfg.public_url = cfg.public_url.trim_end_matches('/').to_owned();
        let public = cfg.public_url.clone();
        for c in &mut cfg.connectors {
            for v in c.settings.values_mut() {
                *v = v.replace("{public_url}", &public);
            }
        }
        for (id, p) in &mut cfg.receipts.providers {
            p.url =
                if p.simulate { format!("{public}/sim/receipts/{id}") } else { p.url.replace("{public_url}", &public) };
        }
        for (code, a) in &cfg.receipts.agencies {
            if let Some(p) = &a.provider {
                if !cfg.receipts.providers.contains_key(p) {
                    bail!("receipts.agencies.\"{code}\".provider = \"{p}\": no [receipts.providers.{p}]");
                }
            }
        }
        for (id, p) in &cfg.receipts.providers {
            if !(p.simulate || p.url.starts_with("https://") || p.url.starts_with("http://")) {
                bail!("receipts.providers.{id}.url must be an http(s) URL");
            }
        }
        if cfg.receipts.retry_secs.is_empty() {
            bail!("receipts.retry_secs must hold at least one wait");
        }
        Ok(cfg)
    }

    /// Outside demo mode, the first thing of the demo this configuration holds, named by
    /// its key: a simulator, the sandbox gateway, an inline secret, a secret published in
    /// `config/demo.toml`, or demo seeding. `serve` refuses to start on it. In demo mode
    /// everything is allowed (and `serve` warns that it is a demo).
    pub fn check_production(&self) -> Result<(), String> {
        if self.demo_mode {
            return Ok(());
        }
        const HINT: &str = "allowed only in demo mode (feegate --demo)";
        if self.seed_demo {
            return Err(format!("seed_demo = true: demo data is {HINT}"));
        }
        let published = demo_secrets();
        for c in &self.connectors {
            let key = format!("connectors[id = \"{}\"]", c.id);
            if c.simulate {
                return Err(format!("{key}.simulate = true: a gateway simulator is {HINT}"));
            }
            if c.kind == "sandbox" {
                return Err(format!("{key}.kind = \"sandbox\": the test gateway is {HINT}"));
            }
            for (name, source) in &c.secrets {
                if source.value.is_some() {
                    return Err(format!(
                        "{key}.secrets.{name} is an inline {{ value = ... }}: read secrets from \
                         {{ env = \"VAR\" }} or {{ file = \"path\" }}"
                    ));
                }
                // A secret that cannot be read is reported when the connector is built.
                if let Ok(v) = source.resolve() {
                    use secrecy::ExposeSecret;
                    if published.iter().any(|p| p == v.expose_secret()) {
                        return Err(format!("{key}.secrets.{name} is a published demo secret: use the gateway's own"));
                    }
                }
            }
        }
        for (id, p) in &self.receipts.providers {
            let key = format!("receipts.providers.{id}");
            if p.simulate {
                return Err(format!("{key}.simulate = true: a receipt provider simulator is {HINT}"));
            }
            if p.secret.value.is_some() {
                return Err(format!(
                    "{key}.secret is an inline {{ value = ... }}: read secrets from {{ env = \"VAR\" }} or {{ file = \"path\" }}"
                ));
            }
            if let Ok(v) = p.secret.resolve() {
                use secrecy::ExposeSecret;
                if published.iter().any(|d| d == v.expose_secret()) {
                    return Err(format!("{key}.secret is a published demo secret: use the provider's own"));
                }
            }
        }
        Ok(())
    }

    /// The database URL with any password replaced, for logs.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url)
    }
}

fn is_true(v: &str) -> bool {
    matches!(v, "1" | "true" | "yes")
}

/// Every secret value published in `config/demo.toml` (connector secrets and portal
/// webhook secrets): none may guard real money.
pub fn demo_secrets() -> Vec<String> {
    fn walk(v: &toml::Value, under_secret: bool, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    match (k.as_str(), v) {
                        ("value", toml::Value::String(s)) if under_secret => out.push(s.clone()),
                        ("webhook_secret", toml::Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, under_secret || k == "secrets" || k == "secret", out),
                    }
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, under_secret, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(t) = DEMO_TOML.parse::<toml::Table>() {
        walk(&toml::Value::Table(t), false, &mut out);
    }
    out
}

/// Replaces the password of a URL, and the value of any `password` (or `pass`, `pwd`,
/// `secret`, `token`) query parameter, with `***`.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut u) = url::Url::parse(raw) else { return raw.to_owned() };
    let mut changed = false;
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
        changed = true;
    }
    let secret_key = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["password", "pass", "pwd", "secret", "token", "sslpassword"].contains(&k.as_str())
    };
    if u.query_pairs().any(|(k, _)| secret_key(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_key(&k) { "***".to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        u.to_string()
    } else {
        raw.to_owned()
    }
}

fn merge(base: &mut toml::Table, layer: toml::Table) {
    for (k, v) in layer {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(l)) => merge(b, l),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn default_checkout_rate() -> Rate {
    Rate {
        per_second: std::num::NonZeroU32::new(5).unwrap_or(std::num::NonZeroU32::MIN),
        burst: std::num::NonZeroU32::new(60).unwrap_or(std::num::NonZeroU32::MIN),
    }
}

fn default_refund_query_max_tries() -> u32 {
    10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_beats_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("feegate-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\ndatabase_url = \"sqlite://x.db\"\n").unwrap();
        let env = vec![("FEEGATE_DATABASE_URL".to_string(), "postgres://u:pw@h/db".to_string())];
        let cfg = Config::load_with(Some(&file), &env).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9999");
        assert_eq!(cfg.database_url, "postgres://u:pw@h/db");
        assert_eq!(cfg.public_url, "http://127.0.0.1:9999");
        assert!(!cfg.database_url_redacted().contains("pw"));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let cfg = Config::load_with(None, &demo()).unwrap();
        let dbg = format!("{cfg:?}");
        for secret in [
            "sandbox-demo-secret",
            "whsec_demo_portal_secret",
            "K951B6PE1waDMi640xX08PD3vg6EkVlz",
            "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz",
        ] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
    }

    fn demo() -> Vec<(String, String)> {
        vec![(DEMO_ENV.to_string(), "true".to_string())]
    }

    #[test]
    fn a_receipt_provider_must_exist_have_an_address_and_a_retry_schedule() {
        let load = |toml: &str| {
            let dir =
                std::env::temp_dir().join(format!("feegate-rp-{}-{}", std::process::id(), crate::store::now_ms()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("c.toml");
            std::fs::write(&file, toml).unwrap();
            Config::load_with(Some(&file), &[]).map(|_| ()).map_err(|e| format!("{e:#}"))
        };
        const P: &str = "[receipts.providers.p]\nname = \"P\"\nsecret = { env = \"HOME\" }\n";
        assert_eq!(load(&format!("{P}url = \"https://p.example\"\n")), Ok(()));
        let cases = [
            (
                format!("[receipts.agencies.\"A.1\"]\nprovider = \"q\"\n{P}url = \"https://p.example\"\n"),
                "no [receipts.providers.q]",
            ),
            (format!("{P}url = \"ftp://p.example\"\n"), "receipts.providers.p.url must be an http(s) URL"),
            (format!("{P}url = \"\"\n"), "receipts.providers.p.url must be an http(s) URL"),
            ("[receipts]\nretry_secs = []\n".to_string(), "receipts.retry_secs must hold at least one wait"),
        ];
        for (toml, want) in cases {
            let err = load(&toml).expect_err(&toml);
            assert!(err.contains(want), "{err} should say {want}");
        }
    }

    fn production(toml: &str) -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("feegate-prod-{}-{}", std::process::id(), crate::store::now_ms()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, toml).unwrap();
        Config::load_with(Some(&file), &[]).unwrap().check_production()
    }

    /// A secret file holding a secret published in config/demo.toml.
    fn published_file() -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("feegate-published-{}", std::process::id()));
        std::fs::write(&path, "K951B6PE1waDMi640xX08PD3vg6EkVlz\n").unwrap();
        path
    }

    const VNPAY: &str = "[[connectors]]\nid = \"vnpay-main\"\nkind = \"vnpay\"\ndisplay_name = \"VNPAY\"\n";

    #[test]
    fn the_defaults_hold_nothing_of_the_demo() {
        let cfg = Config::load_with(None, &[]).unwrap();
        assert!(!cfg.demo_mode && !cfg.seed_demo);
        assert!(cfg.connectors.is_empty() && cfg.demo.portals.is_empty() && cfg.reconciliation.sources.is_empty());
        assert_eq!(cfg.check_production(), Ok(()));
    }

    #[test]
    fn demo_mode_layers_the_demo_and_allows_it() {
        let cfg = Config::load_with(None, &demo()).unwrap();
        assert!(cfg.demo_mode && cfg.seed_demo);
        assert!(cfg.connectors.iter().any(|c| c.kind == "sandbox" && c.simulate));
        assert_eq!(cfg.check_production(), Ok(()));
    }

    #[test]
    fn outside_demo_mode_each_demo_door_is_refused_by_its_key() {
        let ok = format!("{VNPAY}secrets = {{ hash_secret = {{ env = \"HOME\" }} }}\n");
        assert_eq!(production(&ok), Ok(()));
        let cases = [
            ("seed_demo = true\n".to_string(), "seed_demo"),
            (format!("{VNPAY}simulate = true\n"), "connectors[id = \"vnpay-main\"].simulate"),
            (
                "[[connectors]]\nid = \"t\"\nkind = \"sandbox\"\ndisplay_name = \"T\"\n".to_string(),
                "connectors[id = \"t\"].kind",
            ),
            (
                format!("{VNPAY}secrets = {{ hash_secret = {{ value = \"x\" }} }}\n"),
                "connectors[id = \"vnpay-main\"].secrets.hash_secret is an inline",
            ),
            (
                format!("{VNPAY}secrets = {{ hash_secret = {{ file = \"{}\" }} }}\n", published_file().display()),
                "connectors[id = \"vnpay-main\"].secrets.hash_secret is a published demo secret",
            ),
            (
                "[receipts.providers.p]\nname = \"P\"\nsimulate = true\nsecret = { env = \"HOME\" }\n".to_string(),
                "receipts.providers.p.simulate",
            ),
            (
                "[receipts.providers.p]\nname = \"P\"\nurl = \"https://p.example\"\nsecret = { value = \"x\" }\n"
                    .to_string(),
                "receipts.providers.p.secret is an inline",
            ),
        ];
        for (toml, key) in cases {
            let err = production(&toml).expect_err(&toml);
            assert!(err.starts_with(key), "{err} should name {key}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn every_published_demo_secret_is_known() {
        let secrets = demo_secrets();
        for s in [
            "sandbox-demo-secret",
            "whsec_demo_portal_secret",
            "VNPAYTESTSECRET0123456789ABCDEFG",
            "F8BBA842ECF85",
            "receipt-provider-demo-secret",
        ] {
            assert!(secrets.iter().any(|x| x == s), "{s} missing from {secrets:?}");
        }
    }

    #[test]
    fn redact_url_hides_passwords_in_userinfo_and_query() {
        let r = redact_url("postgres://u:pw1@h/db?sslmode=require&password=pw2&Token=t0k");
        assert!(!r.contains("pw1") && !r.contains("pw2") && !r.contains("t0k"), "{r}");
        assert!(r.contains("sslmode=require"), "{r}");
        assert_eq!(redact_url("sqlite://data/feegate.db?mode=rwc"), "sqlite://data/feegate.db?mode=rwc");
    }
}
