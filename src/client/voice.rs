//! Voice and video calls on the control channel: joining and leaving, media keys, mute, moving,
//! and the video requests.

use super::exchange::{expect_ok, unexpected};
use super::{Client, ClientError};
use crate::ids::ChannelId;
use crate::proto::{Reply, Request, VideoStream, VoiceSession, WrappedKeyFor};

impl Client {
    /// Joins a voice channel publishing `device_key` (see [`crate::e2e::DeviceKey`]); open a
    /// [`media::MediaLink`](super::media::MediaLink) with the answer, or use
    /// [`call::Call`](super::call::Call) which does all of it.
    pub async fn join_voice(&self, channel_id: ChannelId, device_key: &str) -> Result<VoiceSession, ClientError> {
        match self.request(Request::JoinVoice { channel_id, device_key: device_key.into() }).await? {
            Reply::VoiceSession(session) => Ok(session),
            other => Err(unexpected(other)),
        }
    }

    /// Hands wrapped copies of this device's media key to the other members.
    pub async fn share_media_key(&self, key_id: u64, wrapped: Vec<WrappedKeyFor>) -> Result<(), ClientError> {
        expect_ok(self.request(Request::ShareMediaKey { key_id, wrapped }).await?)
    }

    /// Sets this connection's own mute and deafen in voice.
    pub async fn set_voice_state(&self, self_muted: bool, self_deafened: bool) -> Result<(), ClientError> {
        expect_ok(self.request(Request::SetVoiceState { self_muted, self_deafened }).await?)
    }

    /// Admin: mutes or unmutes a user in voice.
    pub async fn server_mute(&self, username: &str, muted: bool) -> Result<(), ClientError> {
        expect_ok(self.request(Request::ServerMute { username: username.into(), muted }).await?)
    }

    /// Admin: moves a user's voice sessions to another voice channel.
    pub async fn move_voice(&self, username: &str, channel_id: ChannelId) -> Result<(), ClientError> {
        expect_ok(self.request(Request::MoveVoice { username: username.into(), channel_id }).await?)
    }

    /// Starts or stops sending a video stream.
    pub async fn set_video(&self, stream: VideoStream, sending: bool) -> Result<(), ClientError> {
        let request = if sending { Request::StartVideo { stream } } else { Request::StopVideo { stream } };
        expect_ok(self.request(request).await?)
    }

    /// Starts or stops receiving another member's video stream.
    pub async fn watch_video(&self, session_id: u32, stream: VideoStream, watching: bool) -> Result<(), ClientError> {
        expect_ok(self.request(Request::WatchVideo { session_id, stream, watching }).await?)
    }

    /// Asks a video sender for a keyframe.
    pub async fn request_keyframe(&self, session_id: u32, stream: VideoStream) -> Result<(), ClientError> {
        expect_ok(self.request(Request::RequestKeyframe { session_id, stream }).await?)
    }

    /// Tells a video sender this receiver's bandwidth for its stream.
    pub async fn report_bandwidth(&self, session_id: u32, stream: VideoStream, kbps: u32) -> Result<(), ClientError> {
        expect_ok(self.request(Request::ReportBandwidth { session_id, stream, kbps }).await?)
    }

    /// Leaves the voice channel.
    pub async fn leave_voice(&self) -> Result<(), ClientError> {
        expect_ok(self.request(Request::LeaveVoice).await?)
    }
}
