//! The VietQR connector passes the conformance kit against its simulator.

use feegate_connector::ConnectorConfig;
use feegate_testkit::conformance::{run, Harness};

#[tokio::test]
async fn vietqr_passes_the_conformance_story() {
    run(Harness {
        kind: "vietqr",
        connector: Box::new(|sim_base, _cb, http| {
            feegate_vietqr::factory(config(sim_base), http).expect("config is complete")
        }),
        simulator: Box::new(|sim_base, cb| feegate_vietqr::sim::router(&config(sim_base), cb)),
    })
    .await;
}

fn config(sim_base: &str) -> ConnectorConfig {
    ConnectorConfig::new("vietqr", "VietQR")
        .with_setting("base_url", sim_base)
        .with_secret("notify_secret", "bank-notify-secret")
}
