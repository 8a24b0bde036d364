//! Every real-browser test, in one test binary (one link instead of six on a 2-core
//! machine): headless Chromium driven over WebDriver (`fantoccini`, chromedriver on a free
//! 127.0.0.1 port, started per test and killed when it ends). The harness is
//! `common/browser.rs`; the console's pages are in `browser/console*.rs`, a citizen's receipt
//! in `browser/receipts.rs`. Without chromedriver the tests say so loudly and pass, unless
//! CI is set (then they fail). A failing test saves a screenshot under
//! `target/console-screenshots/`; FEEGATE_WRITE_SCREENSHOTS=1 writes the README's pictures.

#[path = "common/browser.rs"]
mod browser;
mod common;

#[path = "browser/citizen.rs"]
mod citizen;
#[path = "browser/console.rs"]
mod console;
#[path = "browser/console_admin.rs"]
mod console_admin;
#[path = "browser/console_receipts.rs"]
mod console_receipts;
#[path = "browser/console_recon.rs"]
mod console_recon;
#[path = "browser/console_refunds.rs"]
mod console_refunds;
#[path = "browser/console_reports.rs"]
mod console_reports;
#[path = "browser/receipts.rs"]
mod receipts;
