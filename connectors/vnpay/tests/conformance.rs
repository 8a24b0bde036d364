//! The VNPay connector passes the conformance kit against its simulator.

use feegate_connector::ConnectorConfig;
use feegate_testkit::conformance::{run, Harness};

#[tokio::test]
async fn vnpay_passes_the_conformance_story() {
    run(Harness {
        kind: "vnpay",
        connector: Box::new(|sim_base, _cb, http| {
            feegate_vnpay::factory(config(sim_base), http).expect("config is complete")
        }),
        simulator: Box::new(|sim_base, cb| feegate_vnpay::sim::router(&config(sim_base), cb)),
    })
    .await;
}

fn config(sim_base: &str) -> ConnectorConfig {
    ConnectorConfig::new("vnpay", "VNPay")
        .with_setting("base_url", sim_base)
        .with_setting("tmn_code", "FEEGATE1")
        .with_secret("hash_secret", "VNPAYTESTSECRET0123456789ABCDEFG")
}
