//! The loop every periodic background worker runs: wait `every`, stop as soon as the stop
//! watch turns true, else do one pass and log a failed one (the next tick retries it).

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Spawns a task that runs `pass` every `every` until `stop` turns true. The first pass
/// comes after one interval; a stop signalled while waiting ends the task at once, one
/// signalled during a pass ends it when the pass is done. A failed pass is logged as
/// "`name` pass failed; will retry".
pub fn spawn<F, Fut, T>(
    name: &'static str,
    every: Duration,
    mut stop: watch::Receiver<bool>,
    mut pass: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            if let Err(e) = pass().await {
                tracing::warn!(error = %e, "{name} pass failed; will retry");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_worker_ticks_survives_a_failed_pass_and_stops_when_told() {
        let (tx, rx) = watch::channel(false);
        let passes = Arc::new(AtomicUsize::new(0));
        let counted = passes.clone();
        let handle = spawn("test", Duration::from_millis(5), rx, move || {
            let counted = counted.clone();
            async move {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    anyhow::bail!("the first pass fails");
                }
                Ok(n)
            }
        });
        let three = async {
            while passes.load(Ordering::SeqCst) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), three).await.expect("the worker goes on after a failed pass");
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), handle).await.unwrap().unwrap();
        let after = passes.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(passes.load(Ordering::SeqCst), after, "no pass after the stop");
    }

    #[tokio::test]
    async fn a_stop_while_waiting_ends_the_worker_before_any_pass() {
        let (tx, rx) = watch::channel(false);
        let passes = Arc::new(AtomicUsize::new(0));
        let counted = passes.clone();
        let handle = spawn("test", Duration::from_secs(3600), rx, move || {
            let counted = counted.clone();
            async move { anyhow::Ok(counted.fetch_add(1, Ordering::SeqCst)) }
        });
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), handle).await.unwrap().unwrap();
        assert_eq!(passes.load(Ordering::SeqCst), 0);
    }
}
