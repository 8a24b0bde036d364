//! The MoMo connector passes the conformance kit against its simulator.

use feegate_connector::ConnectorConfig;
use feegate_testkit::conformance::{run, Harness};

#[tokio::test]
async fn momo_passes_the_conformance_story() {
    run(Harness {
        kind: "momo",
        connector: Box::new(|sim_base, _cb, http| {
            feegate_momo::factory(config(sim_base), http).expect("config is complete")
        }),
        simulator: Box::new(|sim_base, cb| feegate_momo::sim::router(&config(sim_base), cb)),
    })
    .await;
}

/// MoMo's public sample credentials (GATEWAYS.md §2.1).
fn config(sim_base: &str) -> ConnectorConfig {
    ConnectorConfig::new("momo", "MoMo")
        .with_setting("base_url", sim_base)
        .with_setting("partner_code", "MOMO")
        .with_secret("access_key", "F8BBA842ECF85")
        .with_secret("secret_key", "K951B6PE1waDMi640xX08PD3vg6EkVlz")
}
