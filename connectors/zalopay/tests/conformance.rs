//! The ZaloPay connector passes the conformance kit against its simulator.

use feegate_connector::ConnectorConfig;
use feegate_testkit::conformance::{run, Harness};

#[tokio::test]
async fn zalopay_passes_the_conformance_story() {
    run(Harness {
        kind: "zalopay",
        connector: Box::new(|sim_base, _cb, http| {
            feegate_zalopay::factory(config(sim_base), http).expect("config is complete")
        }),
        simulator: Box::new(|sim_base, cb| feegate_zalopay::sim::router(&config(sim_base), cb)),
    })
    .await;
}

fn config(sim_base: &str) -> ConnectorConfig {
    ConnectorConfig::new("zalopay", "ZaloPay")
        .with_setting("base_url", sim_base)
        .with_setting("app_id", "2553")
        .with_secret("key1", "PcY4iZIKFCIdgZvA6ueMcMHHUbRLYjPL")
        .with_secret("key2", "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz")
}
