//! The rendezvous the race fault switches put in a check-then-act gap (conformance
//! matrix §17a: "a rendezvous between read and write, never a sleep"): a request that has
//! read an artefact waits there until a second request for the same artefact has read it
//! too, so that both act on what they read. A request alone goes on after
//! [`Rendezvous::PATIENCE`]: the gap never hangs a request that has no partner.
//!
//! The handlers are synchronous; the wait blocks its thread, moved off the runtime's
//! workers first (`block_in_place`), so that the partner can be served meanwhile. On a
//! current-thread runtime there is nobody to meet: the gap is skipped.

use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Requests met per artefact.
#[derive(Debug, Default)]
pub(crate) struct Rendezvous {
    arrived: Mutex<HashMap<Vec<u8>, usize>>,
    met: Condvar,
}

impl Rendezvous {
    /// How long a request waits for a partner.
    pub(crate) const PATIENCE: Duration = Duration::from_secs(2);

    /// Waits until a second request has reached this point for `key` (or
    /// [`Self::PATIENCE`] has passed).
    pub(crate) fn meet(&self, key: &[u8]) {
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi {
            return;
        }
        tokio::task::block_in_place(|| self.wait(key));
    }

    fn wait(&self, key: &[u8]) {
        let deadline = Instant::now() + Self::PATIENCE;
        let mut arrived = self.arrived.lock();
        let n = {
            let n = arrived.entry(key.to_vec()).or_insert(0);
            *n += 1;
            *n
        };
        if n >= 2 {
            self.met.notify_all();
            return;
        }
        while arrived.get(key).copied().unwrap_or(0) < 2 {
            if self.met.wait_until(&mut arrived, deadline).timed_out() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_requests_meet_and_one_alone_goes_on() {
        let r = Arc::new(Rendezvous::default());
        let started = Instant::now();
        let (a, b) = (r.clone(), r.clone());
        let one = tokio::spawn(async move { a.meet(b"code") });
        let two = tokio::spawn(async move { b.meet(b"code") });
        let _ = tokio::join!(one, two);
        assert!(started.elapsed() < Rendezvous::PATIENCE, "they met");
        let alone = Instant::now();
        let c = r.clone();
        let _ = tokio::spawn(async move { c.meet(b"other") }).await;
        assert!(alone.elapsed() >= Rendezvous::PATIENCE, "waited for nobody");
    }

    #[tokio::test]
    async fn a_current_thread_runtime_skips_the_gap() {
        let started = Instant::now();
        Rendezvous::default().meet(b"x");
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
