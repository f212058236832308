//! NOORLE-16's rate limit on device authorizations: policy beside the store, not in it.
//! Each client has a fixed window of one minute on the server's clock.

use crate::clock::Timestamp;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// Device authorizations per client in the current minute: (window start, count).
#[derive(Debug, Default)]
pub(crate) struct DeviceRate {
    windows: Mutex<HashMap<Arc<str>, (Timestamp, u32)>>,
}

impl DeviceRate {
    /// Counts one device authorization of `client` now, unless it has had `limit` in this
    /// window: then how long until the window ends. `None`: no limit (still counted).
    pub(crate) fn admit(
        &self,
        client: &Arc<str>,
        now: Timestamp,
        limit: Option<u32>,
    ) -> Result<(), Duration> {
        let mut windows = self.windows.lock();
        let window = windows.entry(client.clone()).or_insert((now, 0));
        if now.since(window.0) >= MINUTE {
            *window = (now, 0);
        }
        if limit.is_some_and(|l| window.1 >= l) {
            return Err(MINUTE.saturating_sub(now.since(window.0)));
        }
        window.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_limit_per_minute_and_is_told_when_the_window_ends() {
        let rate = DeviceRate::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let at = |s: u64| Timestamp::from_millis(s * 1000);
        assert_eq!(rate.admit(&a, at(0), Some(2)), Ok(()));
        assert_eq!(rate.admit(&a, at(10), Some(2)), Ok(()));
        assert_eq!(
            rate.admit(&a, at(15), Some(2)),
            Err(Duration::from_secs(45))
        );
        assert_eq!(rate.admit(&b, at(15), Some(2)), Ok(()), "per client");
        assert_eq!(rate.admit(&a, at(60), Some(2)), Ok(()), "a new window");
        assert_eq!(rate.admit(&a, at(61), None), Ok(()));
    }
}
