//! Application state shared by handlers and workers, and the launch function that
//! serves it on an already-bound listener until a shutdown future resolves.

use crate::config::Config;
use crate::connectors::Connectors;
use crate::store::Store;
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// Everything a request handler or worker needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub connectors: Arc<Connectors>,
    pub metrics: PrometheusHandle,
    pub pages: Arc<crate::web::Pages>,
    pub http: reqwest::Client,
    /// Portals, agencies and accounts read by a create, kept for `cache_ttl_ms`.
    pub cache: Arc<crate::service::cache::Cache>,
    /// Held while serving a SQLite file (single-node guard); `None` on PostgreSQL.
    pub serve_lock: Option<Arc<std::fs::File>>,
    /// The keys receipts are signed with.
    pub receipts: Arc<crate::service::receipts::Signer>,
    /// External e-receipt providers by id (`[receipts.providers.ID]`).
    pub issuers: Arc<crate::service::receipt_jobs::Issuers>,
}

/// The process-wide Prometheus recorder (installed once, even when tests start many apps).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist only if the embedding program installed one.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl AppState {
    /// Connects the store, applies migrations, seeds demo data if configured and builds
    /// the connectors.
    pub async fn build(config: Config) -> anyhow::Result<AppState> {
        let serve_lock = crate::store::lock_sqlite_for_serving(&config.database_url)?.map(Arc::new);
        Ok(AppState { serve_lock, ..Self::build_unlocked(config).await? })
    }

    /// The same without SQLite's serving lock: for a one-shot command (`feegate reconcile`)
    /// that may run beside the server on the same file.
    pub async fn build_unlocked(config: Config) -> anyhow::Result<AppState> {
        let store = Store::connect(&config.database_url, config.max_db_connections).await?;
        store.migrate().await?;
        if config.seed_demo {
            crate::service::admin::seed_demo(&store, &config).await.context("seeding demo data")?;
        }
        let http = reqwest::Client::builder()
            // A gateway API answers itself: a redirect could send a signed request (or
            // take its answer) from elsewhere. Answers are read with a size cap
            // (`feegate_connector::http::read_capped`).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(config.gateway_timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        let connectors = Connectors::build(&config.connectors, http.clone())?;
        crate::service::statements::validate_sources(&config, &connectors, &store).await?;
        let cache = Arc::new(crate::service::cache::Cache::new(Duration::from_millis(config.cache_ttl_ms)));
        let receipts = Arc::new(crate::service::receipts::Signer::load(&config, &store).await?);
        let issuers = Arc::new(crate::service::receipt_jobs::issuers(&config)?);
        let pages = Arc::new(crate::web::Pages::new(&config.site)?);
        Ok(AppState {
            receipts,
            issuers,
            store,
            cache,
            config: Arc::new(config),
            connectors: Arc::new(connectors),
            metrics: metrics_handle(),
            pages,
            http,
            serve_lock: None,
        })
    }
}

/// Serves feegate on `listener` (API, pages, callbacks, simulators, workers) until
/// `shutdown` resolves; in-flight requests finish first.
pub async fn launch(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = crate::service::expiry::spawn(state.clone(), stop_rx.clone());
    let resolver = crate::service::resolver::spawn(state.clone(), stop_rx.clone());
    let outbox = crate::service::outbox::spawn(state.clone(), stop_rx.clone())?;
    let inbox = crate::service::inbox::spawn(state.clone(), stop_rx.clone());
    let corrections = crate::service::corrections::spawn(state.clone(), stop_rx.clone());
    let receipt_jobs = crate::service::receipt_jobs::spawn(state.clone(), stop_rx.clone());
    let app = crate::api::router(state.clone());
    let metrics_server = match &state.config.metrics_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr).await.with_context(|| format!("binding metrics_listen {addr}"))?;
            tracing::info!(addr = %l.local_addr()?, "metrics listening");
            let mut stop = stop_rx.clone();
            let router = crate::api::ops::metrics_only(state.metrics.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(l, router)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            }))
        }
        None => None,
    };
    tracing::info!(addr = %listener.local_addr()?, public_url = %state.config.public_url, database = %state.config.database_url_redacted(), "feegate listening");
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
        .await
        .context("serving")?;
    let _ = stop_tx.send(true);
    let _ = workers.await;
    let _ = resolver.await;
    let _ = outbox.await;
    let _ = inbox.await;
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    let _ = corrections.await;
    let _ = receipt_jobs.await;
    state.store.close().await;
    Ok(())
}
