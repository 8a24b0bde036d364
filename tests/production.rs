//! Production safety: nothing of the demo outside demo mode, `/metrics` never public,
//! gateway answers bounded, and the README's first command on a fresh directory.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_feegate");

fn scratch(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("feegate-prod-{tag}-{}-{}", std::process::id(), feegate::store::now_ms()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `feegate ARGS` in `dir`, with none of the test runner's FEEGATE_* variables.
fn feegate(args: &[&str], dir: &Path, env: &[(&str, &str)], log: &Path) -> tokio::process::Child {
    let out = std::fs::File::create(log).expect("log");
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args).current_dir(dir).kill_on_drop(true).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("FEEGATE_") || k == "RUST_LOG" || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.stdout(out.try_clone().expect("log")).stderr(out);
    cmd.spawn().expect("spawn feegate")
}

/// Waits until `url/readyz` answers 200, panicking with the log if the process exits first.
async fn ready(child: &mut tokio::process::Child, url: &str, log: &Path) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "feegate exited with {status} while starting:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "feegate did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const VNPAY_FROM_ENV: &str = r#"
[[connectors]]
id = "vnpay-main"
kind = "vnpay"
display_name = "VNPAY"
settings = { base_url = "https://sandbox.vnpayment.vn", tmn_code = "ABCD1234" }
secrets = { hash_secret = { env = "FEEGATE_VNPAY_MAIN_HASH_SECRET" } }
"#;

#[tokio::test]
async fn serve_refuses_to_start_outside_demo_mode_naming_the_offending_key() {
    let dir = scratch("refuse");
    let demo_secret = "VNPAYTESTSECRET0123456789ABCDEFG";
    let cases: &[(&str, String, &str)] = &[
        ("simulate", format!("{VNPAY_FROM_ENV}simulate = true\n"), "connectors[id = \"vnpay-main\"].simulate = true"),
        (
            "sandbox",
            "[[connectors]]\nid = \"sandbox\"\nkind = \"sandbox\"\ndisplay_name = \"S\"\nsecrets = { secret = { env = \"FEEGATE_VNPAY_MAIN_HASH_SECRET\" } }\n"
                .into(),
            "connectors[id = \"sandbox\"].kind = \"sandbox\"",
        ),
        (
            "inline",
            VNPAY_FROM_ENV.replace("{ env = \"FEEGATE_VNPAY_MAIN_HASH_SECRET\" }", "{ value = \"0123456789abcdef\" }"),
            "connectors[id = \"vnpay-main\"].secrets.hash_secret is an inline",
        ),
        ("published", VNPAY_FROM_ENV.to_owned(), "connectors[id = \"vnpay-main\"].secrets.hash_secret is a published demo secret"),
        ("seed", "seed_demo = true\n".into(), "seed_demo = true"),
    ];
    for (tag, toml, key) in cases {
        let file = dir.join(format!("{tag}.toml"));
        std::fs::write(&file, toml).unwrap();
        let log = dir.join(format!("{tag}.log"));
        let db = format!("sqlite://{}/{tag}.db?mode=rwc", dir.display());
        let mut child = feegate(
            &["--config", file.to_str().unwrap(), "serve"],
            &dir,
            &[
                ("FEEGATE_DATABASE_URL", &db),
                ("FEEGATE_LISTEN", "127.0.0.1:0"),
                ("FEEGATE_VNPAY_MAIN_HASH_SECRET", demo_secret),
            ],
            &log,
        );
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap_or_else(|_| panic!("{tag}: feegate started although its config holds {key}"))
            .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!status.success(), "{tag}: exit status {status}");
        let line = text.lines().find(|l| l.contains("refusing to start")).unwrap_or_else(|| panic!("{tag}: {text}"));
        assert!(line.contains(key), "{tag}: {line} should name {key}");
        assert!(!text.contains(demo_secret), "{tag}: a secret in the log: {text}");
    }
}

#[tokio::test]
async fn a_production_config_starts_with_no_simulator_and_no_public_metrics() {
    let dir = scratch("prodstart");
    let file = dir.join("prod.toml");
    std::fs::write(&file, VNPAY_FROM_ENV).unwrap();
    let port = proc::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let db = format!("sqlite://{}/prod.db?mode=rwc", dir.display());
    let log = dir.join("serve.log");
    let mut child = feegate(
        &["--config", file.to_str().unwrap(), "serve"],
        &dir,
        &[
            ("FEEGATE_DATABASE_URL", &db),
            ("FEEGATE_LISTEN", &listen),
            ("FEEGATE_VNPAY_MAIN_HASH_SECRET", "a-real-secret-of-the-province-0001"),
        ],
        &log,
    );
    ready(&mut child, &url, &log).await;
    let client = reqwest::Client::new();
    for path in ["/sim/vnpay/paymentv2/vpcpay.html", "/sim/sandbox/pay", "/sim/vnpay-main/paymentv2/vpcpay.html"] {
        let r = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    assert_eq!(client.get(format!("{url}/metrics")).send().await.unwrap().status(), 401);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("DEMO MODE"), "{text}");
    child.kill().await.unwrap();
}

/// The README's first command, `cargo run --release -- --demo`, on a fresh clone: no `data/`
/// folder yet (the serve lock used to be taken before the store created it).
#[tokio::test]
async fn the_demo_starts_in_a_fresh_directory_and_says_it_is_a_demo_in_plain_text() {
    let dir = scratch("fresh");
    assert!(!dir.join("data").exists());
    let port = proc::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let log = dir.join("serve.log");
    let mut child = feegate(&["--demo"], &dir, &[("FEEGATE_LISTEN", &listen)], &log);
    ready(&mut child, &url, &log).await;
    assert!(dir.join("data/feegate.db").exists());
    let sim = reqwest::get(format!("{url}/sim/sandbox/pay")).await.unwrap();
    assert_ne!(sim.status(), 404, "the demo mounts its simulators");
    child.kill().await.unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DEMO MODE"), "{text}");
    // A log written to a file carries no terminal colour codes.
    assert!(!text.contains('\u{1b}'), "ANSI escapes in a log file: {text:?}");
}

#[tokio::test]
async fn simulators_are_mounted_only_in_demo_mode() {
    use tower::ServiceExt;
    let dir = scratch("sims");
    let file = dir.join("c.toml");
    // A simulated connector that slipped past `serve`'s check (built directly here).
    std::fs::write(
        &file,
        "[[connectors]]\nid = \"sandbox\"\nkind = \"sandbox\"\ndisplay_name = \"S\"\nsimulate = true\n\
         settings = { base_url = \"http://127.0.0.1:1/sim/sandbox\" }\nsecrets = { secret = { value = \"x\" } }\n",
    )
    .unwrap();
    for demo in [false, true] {
        let db = fresh_database().await;
        let env = vec![
            ("FEEGATE_DATABASE_URL".to_string(), db),
            ("FEEGATE_DEMO".to_string(), demo.to_string()),
            ("FEEGATE_SEED_DEMO".to_string(), "false".to_string()),
        ];
        let config = feegate::config::Config::load_with(Some(&file), &env).unwrap();
        assert_eq!(config.check_production().is_ok(), demo);
        let state = feegate::app::AppState::build_unlocked(config).await.unwrap();
        let router = feegate::api::router(state.clone());
        let req = axum::http::Request::get("/sim/sandbox/pay").body(axum::body::Body::empty()).unwrap();
        let status = router.oneshot(req).await.unwrap().status();
        if demo {
            assert_ne!(status, 404, "demo mode mounts the simulator");
        } else {
            assert_eq!(status, 404, "no simulator outside demo mode");
        }
        state.store.close().await;
    }
}

#[tokio::test]
async fn metrics_answer_staff_keys_only_and_methods_do_not_make_new_series() {
    let app = TestApp::spawn().await;
    let get = |key: Option<&str>| {
        let r = app.client.get(format!("{}/metrics", app.url));
        match key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    };
    assert_eq!(get(None).send().await.unwrap().status(), 401);
    assert_eq!(get(Some(&app.portal_key)).send().await.unwrap().status(), 403);
    assert_eq!(get(Some(&app.finance_key)).send().await.unwrap().status(), 200);
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        app.client.request(method, format!("{}/v1/payments", app.url)).send().await.unwrap();
    }
    let text = get(Some(&app.admin_key)).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("MADEUP"), "a made-up method became a label value");
    assert!(text.contains("method=\"other\""), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn metrics_listen_serves_metrics_without_a_key_on_its_own_address() {
    let port = proc::free_port();
    let addr = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("FEEGATE_METRICS_LISTEN", &addr)]).await;
    app.create_payment(&payment_body()).await;
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    assert!(text.contains("feegate_http_requests_total"), "{text}");
    assert_eq!(reqwest::get(format!("http://{addr}/v1/payments")).await.unwrap().status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn gateway_answers_are_capped_and_redirects_are_not_followed() {
    use axum::routing::get;
    let big = vec![b'x'; 1024 * 1024];
    let big2 = big.clone();
    let gateway = axum::Router::new()
        .route("/big", get(move || std::future::ready(big.clone())))
        .route(
            "/chunked",
            get(move || {
                let chunks = big2.chunks(16 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>();
                std::future::ready(axum::body::Body::from_stream(futures::stream::iter(chunks)))
            }),
        )
        .route("/small", get(|| async { "{\"ok\":true}" }))
        .route("/moved", get(|| async { axum::response::Redirect::temporary("/small") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, gateway).await });
    let app = TestApp::spawn().await;
    let http = &app.state.http;
    for path in ["/big", "/chunked"] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        let err = feegate_connector::http::read_capped(r).await.expect_err(path);
        assert!(matches!(err, feegate_connector::ConnectorError::BadResponse(_)), "{path}: {err}");
    }
    let ok = feegate_connector::http::read_capped(http.get(format!("{base}/small")).send().await.unwrap()).await;
    assert_eq!(ok.unwrap(), b"{\"ok\":true}");
    let moved = http.get(format!("{base}/moved")).send().await.unwrap();
    assert_eq!(moved.status(), 307, "the gateway client must not follow redirects");
    app.stop().await;
}
