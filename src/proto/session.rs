//! The per-connection session state machine: which requests each state admits. Pure: the
//! server feeds it outcomes.

use super::{ErrorCode, Request};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting for `hello`.
    AwaitingHello,
    /// Hello done; waiting for `register`, `login` or `resume`.
    Unauthenticated,
    /// Logged in, but the password must be changed first.
    MustChangePassword,
    /// Logged in.
    Authenticated,
}

/// A request that the session's state does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{op} is not allowed {reason}")]
pub struct NotAllowed {
    /// The refused operation.
    pub op: &'static str,
    /// Plain-words reason.
    pub reason: &'static str,
    /// The code to answer with.
    pub code: ErrorCode,
}

/// The session state machine of one connection. Pure: the server feeds it outcomes.
#[derive(Debug, Clone)]
pub struct Session {
    state: SessionState,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A fresh connection.
    pub fn new() -> Self {
        Session { state: SessionState::AwaitingHello }
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Whether `request` may be handled now.
    pub fn admit(&self, request: &Request) -> Result<(), NotAllowed> {
        use Request::*;
        let op = request.op_name();
        let refuse = |reason, code| Err(NotAllowed { op, reason, code });
        match (self.state, request) {
            (_, Ping) if self.state != SessionState::AwaitingHello => Ok(()),
            (SessionState::AwaitingHello, Hello { .. }) => Ok(()),
            (SessionState::AwaitingHello, _) => refuse("before hello", ErrorCode::NotAllowedNow),
            (_, Hello { .. }) => refuse("twice", ErrorCode::NotAllowedNow),
            (SessionState::Unauthenticated, Register { .. } | RedeemInvite { .. } | Login { .. } | Resume { .. }) => {
                Ok(())
            }
            (SessionState::Unauthenticated, _) => refuse("before login", ErrorCode::NotAllowedNow),
            (_, Register { .. } | RedeemInvite { .. } | Login { .. } | Resume { .. }) => {
                refuse("when already logged in", ErrorCode::NotAllowedNow)
            }
            (SessionState::MustChangePassword, ChangePassword { .. } | Logout) => Ok(()),
            (SessionState::MustChangePassword, _) => {
                refuse("until the password has been changed", ErrorCode::PasswordChangeRequired)
            }
            (SessionState::Authenticated, _) => Ok(()),
        }
    }

    /// `hello` was answered with a welcome.
    pub fn welcomed(&mut self) {
        self.state = SessionState::Unauthenticated;
    }

    /// A login, registration or resume succeeded.
    pub fn logged_in(&mut self, must_change_password: bool) {
        self.state = if must_change_password { SessionState::MustChangePassword } else { SessionState::Authenticated };
    }

    /// The password was changed.
    pub fn password_changed(&mut self) {
        self.state = SessionState::Authenticated;
    }

    /// The user logged out; the connection may log in again.
    pub fn logged_out(&mut self) {
        self.state = SessionState::Unauthenticated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_walks_hello_login_password_change() {
        let mut session = Session::new();
        let login = Request::Login { username: "a".into(), password: "b".into(), device: None };
        assert_eq!(session.admit(&Request::Ping).map_err(|e| e.code), Err(ErrorCode::NotAllowedNow));
        assert!(session.admit(&login).is_err());
        assert!(session.admit(&Request::Hello { versions: vec![1], client: "t".into() }).is_ok());
        session.welcomed();
        assert!(session.admit(&Request::Hello { versions: vec![1], client: "t".into() }).is_err());
        assert!(session.admit(&Request::ListChannels).is_err());
        assert!(session.admit(&login).is_ok());

        session.logged_in(true);
        assert_eq!(session.state(), SessionState::MustChangePassword);
        assert_eq!(session.admit(&Request::ListChannels).map_err(|e| e.code), Err(ErrorCode::PasswordChangeRequired));
        assert!(session.admit(&Request::Ping).is_ok());
        let change = Request::ChangePassword { old_password: "b".into(), new_password: "c".into() };
        assert!(session.admit(&change).is_ok());

        session.password_changed();
        assert!(session.admit(&Request::ListChannels).is_ok());
        assert!(session.admit(&login).is_err());
        session.logged_out();
        assert!(session.admit(&Request::ListChannels).is_err());
        assert!(session.admit(&login).is_ok());
    }
}
