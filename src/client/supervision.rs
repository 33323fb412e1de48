//! Supervised members: marking a member supervised, their contacts and quiet hours, and
//! reading a supervision.

use super::exchange::{expect_ok, unexpected};
use super::{Client, ClientError};
use crate::proto::{QuietHours, Reply, Request, SupervisionInfo};

fn expect_supervision(reply: Reply) -> Result<SupervisionInfo, ClientError> {
    match reply {
        Reply::Supervision(info) => Ok(info),
        other => Err(unexpected(other)),
    }
}

impl Client {
    /// Admin: marks `username` supervised by `guardian` (or moves their supervision).
    pub async fn supervise(&self, username: &str, guardian: &str) -> Result<SupervisionInfo, ClientError> {
        let request = Request::Supervise { username: username.into(), guardian: guardian.into() };
        expect_supervision(self.request(request).await?)
    }

    /// The guardian or an admin: ends `username`'s supervision.
    pub async fn unsupervise(&self, username: &str) -> Result<(), ClientError> {
        expect_ok(self.request(Request::Unsupervise { username: username.into() }).await?)
    }

    /// The guardian or an admin: allows (or stops allowing) `contact` as `username`'s contact.
    pub async fn allow_contact(
        &self,
        username: &str,
        contact: &str,
        allowed: bool,
    ) -> Result<SupervisionInfo, ClientError> {
        let request = Request::AllowContact { username: username.into(), contact: contact.into(), allowed };
        expect_supervision(self.request(request).await?)
    }

    /// The guardian or an admin: sets (or, with none, clears) `username`'s quiet hours.
    pub async fn set_quiet_hours(
        &self,
        username: &str,
        hours: Option<QuietHours>,
    ) -> Result<SupervisionInfo, ClientError> {
        let request = Request::SetQuietHours {
            username: username.into(),
            start_minute: hours.map(|h| h.start_minute),
            end_minute: hours.map(|h| h.end_minute),
        };
        expect_supervision(self.request(request).await?)
    }

    /// The caller's own supervision (no `username`), or a supervised member's for their
    /// guardian or an admin.
    pub async fn supervision(&self, username: Option<&str>) -> Result<SupervisionInfo, ClientError> {
        expect_supervision(self.request(Request::Supervision { username: username.map(str::to_string) }).await?)
    }
}
