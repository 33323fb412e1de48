//! The family side of the app: joining a family server by invite (link, text or a QR
//! picture), the remembered servers, and the signed-in connection the chat view uses.
//!
//! Files: `profile` (host or member, remembered servers: a plain file without secrets),
//! `secrets` (session tokens in the OS credential store), `qr` (reading an invite from a
//! picture), `session` (the reconnecting connection), `invite` (invite links and texts).
//! The commands the window calls are in [`crate::chat`].

pub mod invite;
pub mod profile;
pub mod qr;
pub mod secrets;
pub mod session;

use iptincan::client::ClientError;

/// What went wrong on the family side, in words for the family member.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FamilyError {
    /// The server could not be reached, refused, or answered with an error.
    #[error("{}", client_words(.0))]
    Client(#[from] ClientError),
    /// The text is not an invite.
    #[error(
        "this is not an IPTinCan invite; please paste the whole invite or link, starting with ITC- or itc://join/"
    )]
    NotAnInvite,
    /// The file is not a picture this app can read.
    #[error("this file is not a picture (PNG or JPEG) that IPTinCan can read")]
    NotAPicture,
    /// The picture holds no readable QR code.
    #[error("no QR code could be read in this picture; try a sharper or larger one")]
    NoQrCode,
    /// The app's remembered servers could not be read or written.
    #[error("the app's list of servers could not be saved: {0}")]
    Profile(std::io::Error),
    /// The OS credential store failed.
    #[error("the computer's password store could not be used: {0}")]
    Keyring(keyring::Error),
    /// The server on this PC is not running (the host's own chat needs it).
    #[error("the server on this computer is not running; start it first")]
    NotRunning,
    /// No voice call is running.
    #[error("you are not in a call")]
    NotInCall,
    /// The audio devices could not be listed or used.
    #[error("the computer's sound could not be used: {0}")]
    Audio(iptincan::client::audio::AudioError),
    /// The server refused a message for good (or the session ended before it was sent).
    #[error("the message could not be sent: {0}")]
    NotSent(String),
    /// Not signed in to any server (or the session ended).
    #[error("you are not signed in to a family server")]
    SignedOut,
    /// The server sent an answer this app did not expect.
    #[error("the server gave an unexpected answer")]
    Unexpected,
    /// The page asked for a request that only the session itself makes (sign-in, resume, sign-out).
    #[error("this request is made by the app's session, not by a page")]
    SessionOnly,
}

impl serde::Serialize for FamilyError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// A client error in plain words; the server's own message when it refused.
fn client_words(err: &ClientError) -> String {
    match err {
        ClientError::Server { message, .. } => message.clone(),
        ClientError::Connect { .. } | ClientError::Timeout(_) => {
            "the family server cannot be reached right now; check that this computer is online, or ask the person who runs it".into()
        }
        ClientError::Audio(err) => format!("the computer's sound could not be used: {err}"),
        ClientError::FingerprintMismatch { .. } => {
            "this is not the family server the invite is for (its identity does not match); ask for a new invite".into()
        }
        other => other.to_string(),
    }
}
