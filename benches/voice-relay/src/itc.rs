//! IPTinCan under the load: the release `itc-server` in its own process on 127.0.0.1, members
//! registered and joined to one voice channel through the real client library, each with a
//! registered `MediaLink` (hop-by-hop encrypted UDP).

use crate::common::{AnyResult, ServerProc};
use crate::load::VoiceEndpoint;
use iptincan::client::media::MediaLink;
use iptincan::client::{Client, Target};
use iptincan::media::packet::{MediaHeader, StreamKind};
use iptincan::proto::ChannelKind;
use std::future::Future;
use std::path::Path;

const SERVER_TOML: &str = "[auth]\nregistrations_per_address = 10000\nregistrations_per_server = 100000\n[server]\nname = \"IPTinCan voice benchmark\"\nbind_address = \"127.0.0.1\"\ntcp_port = 0\nudp_port = 0\nrest_port = 0\nmax_users = 500\nlog_level = \"warn\"\n";

/// A member's media link, and its control connection (which must stay open).
pub struct Member {
    link: MediaLink,
    frame: u32,
    _control: Client,
}

impl VoiceEndpoint for Member {
    fn send(&mut self, payload: &[u8]) -> impl Future<Output = AnyResult<()>> + Send {
        let header = MediaHeader {
            source: 0,
            stream: StreamKind::Voice,
            flags: 0,
            frame: self.frame,
            fragment: 0,
            fragments: 1,
        };
        self.frame = self.frame.wrapping_add(1);
        async move { self.link.send(header, payload).await.map_err(|err| err.to_string()) }
    }

    async fn recv(&mut self) -> AnyResult<Vec<u8>> {
        self.link.recv().await.map(|(_, payload)| payload).map_err(|err| err.to_string())
    }
}

/// Starts `bin` and joins `members` members to one voice channel.
pub async fn start(bin: &Path, members: u64) -> AnyResult<(ServerProc, Vec<Member>)> {
    let server = ServerProc::start(SERVER_TOML, "itc-bench-voice-", &bin.to_path_buf())?;
    let target = Target::parse(&server.code).map_err(|err| err.to_string())?;
    let admin = Client::connect(&target, None).await.map_err(|err| err.to_string())?;
    admin.login("chatter", "chatter").await.map_err(|err| err.to_string())?;
    admin.change_password("chatter", "benchmark-admin").await.map_err(|err| err.to_string())?;
    let channel = admin.create_channel("bench", None, ChannelKind::Voice).await.map_err(|err| err.to_string())?.id;
    let mut joined = Vec::new();
    for n in 0..members {
        let client = Client::connect(&target, None).await.map_err(|err| err.to_string())?;
        client.register(&format!("voice-{n}"), "benchmark-pass").await.map_err(|err| err.to_string())?;
        let device_key = iptincan::e2e::DeviceKey::generate().public_base64();
        let session = client.join_voice(channel, &device_key).await.map_err(|err| err.to_string())?;
        let link = MediaLink::open(client.host(), &session).await.map_err(|err| err.to_string())?;
        joined.push(Member { link, frame: 0, _control: client });
    }
    Ok((server, joined))
}
