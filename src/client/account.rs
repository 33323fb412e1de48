//! Account calls: log in, register, redeem an invite, resume, log out, change the password.

use super::exchange::{expect_ok, expect_session};
use super::{Client, ClientError};
use crate::proto::{Request, SessionInfo};

impl Client {
    /// Logs in with a password.
    pub async fn login(&self, username: &str, password: &str) -> Result<SessionInfo, ClientError> {
        self.login_with_device(username, password, None).await
    }

    /// Logs in with a password, presenting the device cookie an earlier session of this
    /// account on this server gave (see [`super::device_cookies`]); keep the reply's
    /// `device_cookie` for next time.
    pub async fn login_with_device(
        &self,
        username: &str,
        password: &str,
        device: Option<&str>,
    ) -> Result<SessionInfo, ClientError> {
        let request =
            Request::Login { username: username.into(), password: password.into(), device: device.map(Into::into) };
        expect_session(self.request(request).await?)
    }

    /// Creates an account and logs in.
    pub async fn register(&self, username: &str, password: &str) -> Result<SessionInfo, ClientError> {
        let request = Request::Register { username: username.into(), password: password.into() };
        expect_session(self.request(request).await?)
    }

    /// Creates an account with an invite (its whole text or `itc://join/` link, or just the secret after the `.`)
    /// and logs in.
    pub async fn redeem_invite(
        &self,
        invite: &str,
        username: &str,
        password: &str,
    ) -> Result<SessionInfo, ClientError> {
        let secret = if crate::code::is_code_like(invite) {
            crate::code::Invite::decode(invite)?.secret
        } else {
            invite.trim().to_string()
        };
        let request = Request::RedeemInvite { secret, username: username.into(), password: password.into() };
        expect_session(self.request(request).await?)
    }

    /// Logs in with a session token.
    pub async fn resume(&self, token: &str) -> Result<SessionInfo, ClientError> {
        expect_session(self.request(Request::Resume { token: token.into() }).await?)
    }

    /// Ends the session.
    pub async fn logout(&self) -> Result<(), ClientError> {
        expect_ok(self.request(Request::Logout).await?)
    }

    /// Changes the password.
    pub async fn change_password(&self, old: &str, new: &str) -> Result<(), ClientError> {
        let request = Request::ChangePassword { old_password: old.into(), new_password: new.into() };
        expect_ok(self.request(request).await?)
    }
}
