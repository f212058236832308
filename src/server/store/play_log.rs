//! What the store keeps while a client is the subject (`Play` on): every request, and
//! every device code's polls; and every credential it holds, for redaction.

use super::{Store, Timestamp};
use crate::server::play::{DeviceLog, Hang, PlayRecord, RequestRecord};

impl Store {
    /// Every credential the store holds or was sent while a client was the subject, with
    /// its kind (`device_code`, `user_code`, `access_token`, `refresh_token`, `code`,
    /// `code_verifier`, `client_secret`), for redaction.
    pub(crate) fn credentials(&self) -> Vec<(&'static str, String)> {
        const SENT: [&str; 5] = [
            "code_verifier",
            "client_secret",
            "access_token",
            "refresh_token",
            "code",
        ];
        let t = self.tables.lock();
        let mut out = Vec::new();
        for (code, d) in t.devices.iter() {
            out.push(("device_code", code.as_str().to_string()));
            out.push(("user_code", d.user_code.clone()));
        }
        let held = |kind: &'static str, key: &super::Token| (kind, key.as_str().to_string());
        out.extend(t.access.iter().map(|(k, _)| held("access_token", k)));
        out.extend(t.refresh.iter().map(|(k, _)| held("refresh_token", k)));
        out.extend(t.codes.iter().map(|(k, _)| held("code", k)));
        for r in &t.requests {
            for (k, v) in r.form.iter().chain(&r.query) {
                if let Some(kind) = SENT.iter().find(|s| **s == k.as_str()) {
                    out.push((kind, v.clone()));
                }
            }
        }
        out
    }

    /// The device codes a client under test asked for, with their polls so far.
    pub(crate) fn device_logs(&self) -> Vec<DeviceLog> {
        self.tables.lock().device_logs.clone()
    }

    /// What a client under test did, as the play logs kept it, with the user behind each
    /// authorization code issued.
    pub(crate) fn play_record(&self) -> PlayRecord {
        let t = self.tables.lock();
        PlayRecord {
            devices: t.device_logs.clone(),
            requests: t.requests.clone(),
            code_users: t
                .codes
                .iter()
                .map(|(code, c)| (code.as_str().to_string(), c.user.clone()))
                .collect(),
        }
    }

    /// Whether a request to `path` has been kept (a client under test).
    pub(crate) fn requested(&self, path: &str) -> bool {
        self.tables.lock().requests.iter().any(|r| r.path == path)
    }

    /// Whether a kept request to `path` was answered 200.
    pub(crate) fn answered_200(&self, path: &str) -> bool {
        let t = self.tables.lock();
        t.requests.iter().any(|r| r.path == path && r.status == 200)
    }

    /// Keeps a request (a client under test).
    pub(crate) fn keep_request(&self, record: RequestRecord) {
        self.tables.lock().requests.push(record);
    }

    /// Notes when the client gave up waiting for a held poll.
    pub(crate) fn log_abandoned(&self, hang: Hang, at: Timestamp) {
        let mut t = self.tables.lock();
        if let Some(p) = t
            .device_logs
            .get_mut(hang.log)
            .and_then(|l| l.polls.get_mut(hang.poll))
        {
            p.abandoned = Some(at);
        }
    }
}
