//! The browser harness of the real-browser tests (the `browser` test binary,
//! `tests/browser.rs` and `tests/browser/*.rs`): chromedriver on a free 127.0.0.1 port
//! started per test and killed when it ends, a headless Chromium of 1280x800, a screenshot of
//! a failure under `target/console-screenshots/`, the accessibility check of a page, and
//! waiting for the next page. Included by `tests/browser.rs` with `#[path]`, not by
//! `common/mod.rs`, so other test binaries do not build fantoccini.
#![allow(dead_code)]

use crate::common::{proc, TestApp};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver, killed (and reaped) when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("chromedriver")).find(|p| p.is_file())
}

/// Starts chromedriver, or says why the browser tests cannot run: `None` skips (loudly)
/// outside CI; in CI a missing chromedriver fails the test.
pub async fn driver() -> Option<Driver> {
    let Some(bin) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromedriver is missing: apt-get install chromium chromium-driver"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPED: chromedriver is not installed; the console's browser tests did not run !!!!!!!!\n"
        );
        return None;
    };
    let port = proc::free_port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        // Vietnamese dates in the date fields (Chromium takes its locale from here).
        .env("LANGUAGE", "vi")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let d = Driver { child, url: format!("http://127.0.0.1:{port}") };
    let start = Instant::now();
    let http = reqwest::Client::new();
    while start.elapsed() < Duration::from_secs(20) {
        if http.get(format!("{}/status", d.url)).send().await.is_ok_and(|r| r.status().is_success()) {
            return Some(d);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {} within 20 s", d.url);
}

pub async fn browser(d: &Driver) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,800", "--lang=vi-VN", "--hide-scrollbars", "--force-device-scale-factor=1"],
            "prefs": { "intl.accept_languages": "vi-VN,vi" }
        }
    });
    let serde_json::Value::Object(caps) = caps else { unreachable!() };
    let http = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(http).capabilities(caps).connect(&d.url).await.expect("a browser session");
    // A 1280x800 page: the window is that plus the browser's own frame.
    let inner = c.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.expect("size");
    let (w, h) = (inner[0].as_u64().unwrap_or(1280) as u32, inner[1].as_u64().unwrap_or(800) as u32);
    let (ow, oh) = c.get_window_size().await.map(|(w, h)| (w as u32, h as u32)).expect("window size");
    c.set_window_size(1280 + ow.saturating_sub(w), 800 + oh.saturating_sub(h)).await.expect("resize");
    c
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("console-screenshots")
}

/// Runs `body` with a browser; on failure saves a screenshot named after the test and
/// fails with the original message. The browser and chromedriver end either way.
pub async fn with_browser<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Client, TestApp) -> Fut,
    Fut: std::future::Future<Output = TestApp>,
{
    let Some(d) = driver().await else { return };
    let app = TestApp::spawn().await;
    let c = browser(&d).await;
    let outcome = std::panic::AssertUnwindSafe(body(c.clone(), app)).catch_unwind().await;
    let app = match outcome {
        Ok(app) => app,
        Err(panic) => {
            if let Ok(png) = c.screenshot().await {
                let dir = screenshot_dir();
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("{name}.png"));
                let _ = std::fs::write(&path, png);
                eprintln!("screenshot of the failure: {}", path.display());
            }
            let _ = c.close().await;
            std::panic::resume_unwind(panic);
        }
    };
    let _ = c.close().await;
    app.stop().await;
}

/// The page's accessibility problems: inputs and selects without a label, not exactly
/// one h1 first, a heading that skips a level, a page without `lang`.
pub const A11Y: &str = r#"
const problems = [];
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const byFor = el.id && document.querySelector('label[for="' + el.id + '"]');
  if (!byFor && !el.closest('label') && !el.getAttribute('aria-label')) problems.push('no label: ' + (el.name || el.id));
}
const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1]);
if (levels[0] !== 1) problems.push('the first heading is not h1: ' + levels.join(','));
if (levels.filter(l => l === 1).length !== 1) problems.push('not exactly one h1');
for (let i = 1; i < levels.length; i++) if (levels[i] > levels[i - 1] + 1) problems.push('a heading skips a level: ' + levels.join(','));
if (!document.documentElement.lang) problems.push('no lang on html');
return problems;
"#;

pub async fn accessible(c: &Client, page: &str) {
    let v = c.execute(A11Y, vec![]).await.expect("run the check");
    let problems: Vec<String> = serde_json::from_value(v).expect("a list");
    assert!(problems.is_empty(), "{page}: {problems:?}");
    // From the top of the page, the first Tab reaches the skip link to the main content.
    // (Focusing the body moves the browser's focus starting point to the top; the sign-in
    // page's autofocus put it on the username.)
    let top = "document.body.tabIndex = -1; document.body.focus(); document.body.removeAttribute('tabindex');";
    c.execute(top, vec![]).await.expect("blur");
    let tab = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: '\u{e004}' })
        .then(KeyAction::Up { value: '\u{e004}' });
    c.perform_actions(tab).await.expect("Tab");
    let focused = c.active_element().await.expect("focus");
    assert_eq!(
        focused.attr("class").await.expect("class").as_deref(),
        Some("skip"),
        "{page}: Tab goes to the skip link"
    );
    // Enter on it puts the keyboard in the main content.
    let enter = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: '\u{e007}' })
        .then(KeyAction::Up { value: '\u{e007}' });
    c.perform_actions(enter).await.expect("Enter");
    let focused = c.active_element().await.expect("focus");
    assert_eq!(focused.attr("id").await.expect("id").as_deref(), Some("main"), "{page}: the skip link leads to main");
    c.execute("document.activeElement.blur();", vec![]).await.expect("blur");
}

pub async fn goto(c: &Client, app: &TestApp, path: &str) {
    c.goto(&format!("{}{path}", app.url)).await.expect("goto");
}

pub async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.expect("text")
}

/// Does `act` (a click or a key that submits) and waits until the next page has loaded
/// (at most 10 s): the old page is marked first, so its elements are never read instead.
pub async fn and_wait<F: std::future::Future<Output = ()>>(c: &Client, act: F) {
    c.execute("window.__fgOld = true;", vec![]).await.expect("mark the page");
    act.await;
    let start = Instant::now();
    let done = "return !window.__fgOld && document.readyState === 'complete';";
    while start.elapsed() < Duration::from_secs(10) {
        if c.execute(done, vec![]).await.is_ok_and(|v| v == serde_json::Value::Bool(true)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no new page within 10 s");
}

pub async fn click(c: &Client, locator: Locator<'_>) {
    let el = c.find(locator).await.unwrap_or_else(|e| panic!("{locator:?}: {e}"));
    and_wait(c, async { el.click().await.expect("click") }).await;
}

/// Signs in with the keyboard only: the username field has the focus, Tab, Enter.
pub async fn sign_in_by_keyboard(c: &Client, app: &TestApp, user: &str, password: &str) {
    goto(c, app, "/console/sign-in").await;
    let focused = c.active_element().await.expect("focus");
    assert_eq!(focused.attr("id").await.expect("id").as_deref(), Some("username"), "the username has the focus");
    and_wait(c, async { focused.send_keys(&format!("{user}\u{e004}{password}\u{e007}")).await.expect("type") }).await;
}

pub fn save_docs_png(name: &str, png: &[u8]) {
    if std::env::var("FEEGATE_WRITE_SCREENSHOTS").as_deref() == Ok("1") {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console");
        std::fs::create_dir_all(&dir).expect("docs/console");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }
}
