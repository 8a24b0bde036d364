//! `feegate-bench callback`: VNPay IPNs with valid signatures for distinct payments.
//! `prepare` creates the payments and their VNPay attempts through the API (not timed),
//! then `drive` sends one signed IPN per payment from N concurrent senders, for at most
//! the measured time, and counts `RspCode 00` answers.

use crate::load::Stats;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The demo config's VNPay terminal and secret (`config/default.toml`).
const TMN_CODE: &str = "FEEGATE1";
const HASH_SECRET: &[u8] = b"VNPAYTESTSECRET0123456789ABCDEFG";

fn client(clients: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(clients * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the client")
}

/// Creates `n` payments with a started VNPay attempt; gives one signed IPN URL for each.
pub async fn prepare(base: &str, portal_key: &str, n: usize, clients: usize) -> Result<Vec<String>> {
    let http = client(clients)?;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (http, next, base, key) = (http.clone(), Arc::clone(&next), base.to_owned(), portal_key.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut urls = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(urls);
                }
                urls.push(one(&http, &base, &key, i).await?);
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.context("a preparing task failed")??);
    }
    Ok(all)
}

async fn one(http: &reqwest::Client, base: &str, key: &str, i: usize) -> Result<String> {
    let body = format!(
        r#"{{"agency_code":"H12.20","dossier_code":"CB-{i}","description":"bench","lines":[{{"kind":"charge","code":"LP","description":"Le phi","amount":"135000"}}],"return_url":"https://portal.example.vn/r"}}"#
    );
    let r = http
        .post(format!("{base}/v1/payments"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    if r.status() != 201 {
        bail!("create answered {}", r.status());
    }
    let p: serde_json::Value = r.json().await?;
    let id = p["id"].as_str().context("payment id")?;
    let r = http
        .post(format!("{base}/v1/payments/{id}/attempts"))
        .bearer_auth(key)
        .json(&serde_json::json!({"connector": "vnpay"}))
        .send()
        .await?;
    if r.status() != 201 {
        bail!("attempt answered {}", r.status());
    }
    let action: serde_json::Value = r.json().await?;
    let url = url::Url::parse(action["url"].as_str().context("redirect url")?)?;
    let pay: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let mut ipn = BTreeMap::new();
    for k in ["vnp_Amount", "vnp_TxnRef", "vnp_OrderInfo"] {
        ipn.insert(k.to_owned(), pay.get(k).cloned().context("pay URL field")?);
    }
    for (k, v) in [
        ("vnp_TmnCode", TMN_CODE.to_owned()),
        ("vnp_BankCode", "NCB".to_owned()),
        ("vnp_BankTranNo", format!("VNP{}", 10_000_000 + i)),
        ("vnp_CardType", "ATM".to_owned()),
        ("vnp_PayDate", pay.get("vnp_CreateDate").cloned().unwrap_or_default()),
        ("vnp_ResponseCode", "00".to_owned()),
        ("vnp_TransactionNo", format!("{}", 14_000_000 + i)),
        ("vnp_TransactionStatus", "00".to_owned()),
    ] {
        ipn.insert(k.to_owned(), v);
    }
    Ok(format!("{base}/callbacks/vnpay?{}", feegate_vnpay::sign::signed_query(HASH_SECRET, &ipn)))
}

/// Sends each IPN once from `clients` senders, for at most `limit`.
pub async fn drive(urls: Vec<String>, clients: usize, limit: Duration) -> Result<Stats> {
    let http = client(clients)?;
    let urls = Arc::new(urls);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + limit;
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (http, urls, next) = (http.clone(), Arc::clone(&urls), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut local = Stats::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= urls.len() || Instant::now() >= end {
                    return local;
                }
                let began = Instant::now();
                let outcome = match http.get(&urls[i]).send().await {
                    Ok(r) if r.status() == 200 => match r.text().await {
                        Ok(t) if t.contains(r#""RspCode":"00""#) => None,
                        Ok(t) => Some(format!("reply {t}")),
                        Err(e) => Some(format!("transport error {e}")),
                    },
                    Ok(r) => Some(format!("status {}", r.status().as_u16())),
                    Err(e) => Some(format!("transport error {}", e.without_url())),
                };
                match outcome {
                    None => {
                        local.created += 1;
                        local.latencies_us.push(began.elapsed().as_micros() as u64);
                    }
                    Some(f) => {
                        if local.first_failure.is_none() {
                            local.first_failure = Some(f.clone());
                        }
                        *local.failures.entry(f).or_default() += 1;
                    }
                }
            }
        }));
    }
    let mut stats = Stats::default();
    for t in tasks {
        let l = t.await.context("a sender failed")?;
        stats.created += l.created;
        for (k, v) in l.failures {
            *stats.failures.entry(k).or_default() += v;
        }
        if stats.first_failure.is_none() {
            stats.first_failure = l.first_failure;
        }
        stats.latencies_us.extend(l.latencies_us);
    }
    stats.elapsed = start.elapsed();
    stats.latencies_us.sort_unstable();
    Ok(stats)
}
