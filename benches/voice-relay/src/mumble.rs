//! Mumble's server under the same load: Debian's `murmurd` (package `mumble-server`) in its own
//! process on 127.0.0.1 with a throw-away data directory, and members that speak Mumble's own
//! protocol (`mumble-protocol` crate): TLS control channel (Version, Authenticate, then the
//! server's CryptSetup and ServerSync), and Opus voice over UDP sealed with OCB2-AES128. Every
//! member pings over UDP first, so murmurd forwards to it over UDP, not through the TCP tunnel.

use crate::common::AnyResult;
use crate::load::VoiceEndpoint;
use bytes::{Bytes, BytesMut};
use mumble_protocol::control::{msgs, ClientControlCodec, ControlPacket};
use mumble_protocol::crypt::ClientCryptState;
use mumble_protocol::voice::{Clientbound, VoicePacket, VoicePacketPayload};
use mumble_protocol::Serverbound;
use std::future::Future;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_util_06::codec::{Decoder, Encoder};

/// Where Debian installs Mumble's server.
pub const MURMURD: &str = "/usr/sbin/murmurd";
/// The user murmurd drops to when started as root.
const MURMUR_USER: &str = "mumble-server";
/// How long murmurd may take to accept a first client (it makes a certificate on first start).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a member waits for its UDP ping to come back.
const UDP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running murmurd; killed on drop.
pub struct Murmur {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    _data_dir: tempfile::TempDir,
}

impl Drop for Murmur {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why murmurd cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !std::path::Path::new(MURMURD).is_file() {
        return Some(format!("{MURMURD} is not installed (Debian package mumble-server)"));
    }
    let root = Command::new("id").arg("-u").output().ok().is_some_and(|out| out.stdout.starts_with(b"0\n"));
    let user = Command::new("id").arg(MURMUR_USER).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !root || !user.is_ok_and(|status| status.success()) {
        return Some(format!("murmurd is started as root and drops to the user {MURMUR_USER}; run as root"));
    }
    None
}

/// Starts murmurd on a free port of 127.0.0.1 with room for `members` users.
pub fn start(members: u64) -> AnyResult<Murmur> {
    let data_dir = tempfile::Builder::new()
        .prefix("itc-bench-murmur-")
        .tempdir()
        .map_err(|err| format!("cannot make a temporary directory: {err}"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|err| format!("cannot find a free port: {err}"))?
        .port();
    let dir = data_dir.path();
    let ini = format!(
        "database={}\nhost=127.0.0.1\nport={port}\nusers={}\nbandwidth=558000\ncertrequired=false\nautobanAttempts=0\nbonjour=false\ntimeout=600\nuname={MURMUR_USER}\nlogfile={}\n",
        dir.join("murmur.sqlite").display(),
        members + 10,
        dir.join("murmur.log").display(),
    );
    std::fs::write(dir.join("murmur.ini"), ini).map_err(|err| format!("cannot write murmur.ini: {err}"))?;
    let owned = Command::new("chown").arg("-R").arg(format!("{MURMUR_USER}:")).arg(dir).status();
    if !owned.is_ok_and(|status| status.success()) {
        return Err(format!("cannot give {} to {MURMUR_USER}", dir.display()));
    }
    let child = Command::new(MURMURD)
        .arg("-fg")
        .arg("-ini")
        .arg(dir.join("murmur.ini"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot start {MURMURD}: {err}"))?;
    let pid = child.id();
    Ok(Murmur { child, pid, addr: SocketAddr::from(([127, 0, 0, 1], port)), _data_dir: data_dir })
}

/// A member: its UDP socket and voice crypto; the control connection is drained by a task
/// that ends with the member.
pub struct Member {
    socket: UdpSocket,
    crypt: ClientCryptState,
    sequence: u64,
    buf: BytesMut,
    control: tokio::task::JoinHandle<()>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.control.abort();
    }
}

impl VoiceEndpoint for Member {
    fn send(&mut self, payload: &[u8]) -> impl Future<Output = AnyResult<()>> + Send {
        let packet = VoicePacket::Audio {
            _dst: std::marker::PhantomData,
            target: 0,
            session_id: (),
            seq_num: self.sequence,
            payload: VoicePacketPayload::Opus(Bytes::copy_from_slice(payload), false),
            position_info: None,
        };
        self.sequence += 1;
        let mut wire = BytesMut::new();
        self.crypt.encrypt(packet, &mut wire);
        async move { self.socket.send(&wire).await.map(drop).map_err(|err| err.to_string()) }
    }

    async fn recv(&mut self) -> AnyResult<Vec<u8>> {
        loop {
            if let VoicePacket::Audio { payload: VoicePacketPayload::Opus(frame, _), .. } = self.next_packet().await? {
                return Ok(frame.to_vec());
            }
        }
    }
}

impl Member {
    /// The next datagram that decrypts.
    async fn next_packet(&mut self) -> AnyResult<VoicePacket<Clientbound>> {
        loop {
            self.buf.clear();
            self.buf.resize(2048, 0);
            let len = self.socket.recv(&mut self.buf).await.map_err(|err| err.to_string())?;
            self.buf.truncate(len);
            if let Ok(Ok(packet)) = self.crypt.decrypt(&mut self.buf) {
                return Ok(packet);
            }
        }
    }
}

/// Connects `members` members to `murmur` (all land in its root channel).
pub async fn join(murmur: &Murmur, members: u64) -> AnyResult<Vec<Member>> {
    let tls = TlsConnector::from(Arc::new(any_certificate()?));
    let mut joined = Vec::new();
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    for n in 0..members {
        let member = loop {
            match connect(murmur.addr, &format!("voice-{n}"), &tls).await {
                Ok(member) => break member,
                // murmurd may still be starting (it makes its certificate first).
                Err(err) if n == 0 && tokio::time::Instant::now() < deadline => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => return Err(format!("Mumble member {n}: {err}")),
            }
        };
        joined.push(member);
    }
    Ok(joined)
}

async fn connect(addr: SocketAddr, name: &str, tls: &TlsConnector) -> AnyResult<Member> {
    let tcp = TcpStream::connect(addr).await.map_err(|err| format!("cannot connect: {err}"))?;
    tcp.set_nodelay(true).map_err(|err| err.to_string())?;
    let server_name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut stream = tls.connect(server_name, tcp).await.map_err(|err| format!("TLS: {err}"))?;
    let mut codec = ClientControlCodec::new();
    let mut out = BytesMut::new();
    let mut version = msgs::Version::new();
    version.set_version(0x0001_0304);
    version.set_release("IPTinCan voice benchmark".into());
    codec.encode(ControlPacket::<Serverbound>::from(version), &mut out).map_err(|err| err.to_string())?;
    let mut authenticate = msgs::Authenticate::new();
    authenticate.set_username(name.into());
    authenticate.set_opus(true);
    codec.encode(ControlPacket::<Serverbound>::from(authenticate), &mut out).map_err(|err| err.to_string())?;
    stream.write_all(&out).await.map_err(|err| err.to_string())?;

    let mut inbox = BytesMut::with_capacity(64 * 1024);
    let mut crypt = None;
    'handshake: loop {
        if stream.read_buf(&mut inbox).await.map_err(|err| err.to_string())? == 0 {
            return Err("murmurd closed the connection during the handshake".into());
        }
        while let Some(packet) = codec.decode(&mut inbox).map_err(|err| err.to_string())? {
            match packet {
                ControlPacket::CryptSetup(setup) => {
                    let key = setup.get_key().try_into().map_err(|_| "a CryptSetup key is 16 bytes")?;
                    let client_nonce = setup.get_client_nonce().try_into().map_err(|_| "a nonce is 16 bytes")?;
                    let server_nonce = setup.get_server_nonce().try_into().map_err(|_| "a nonce is 16 bytes")?;
                    crypt = Some(ClientCryptState::new_from(key, client_nonce, server_nonce));
                }
                ControlPacket::ServerSync(_) => break 'handshake,
                ControlPacket::Reject(reject) => return Err(format!("rejected: {}", reject.get_reason())),
                _ => {}
            }
        }
    }
    let crypt = crypt.ok_or("murmurd sent no CryptSetup before ServerSync")?;
    // The rest of the control stream (other members' UserState, …) is read and dropped.
    let control = tokio::spawn(async move {
        let mut sink = vec![0u8; 16 * 1024];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    });

    let socket = UdpSocket::bind("127.0.0.1:0").await.map_err(|err| err.to_string())?;
    socket.connect(addr).await.map_err(|err| err.to_string())?;
    let mut member = Member { socket, crypt, sequence: 0, buf: BytesMut::new(), control };
    register_udp(&mut member).await?;
    Ok(member)
}

/// Pings over UDP until murmurd echoes, so that it knows this member's UDP address.
async fn register_udp(member: &mut Member) -> AnyResult<()> {
    let deadline = tokio::time::Instant::now() + UDP_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        let mut wire = BytesMut::new();
        member.crypt.encrypt(VoicePacket::Ping { timestamp: 1 }, &mut wire);
        member.socket.send(&wire).await.map_err(|err| err.to_string())?;
        let echo = tokio::time::timeout(Duration::from_millis(500), member.next_packet()).await;
        if let Ok(Ok(VoicePacket::Ping { .. })) = echo {
            return Ok(());
        }
    }
    Err(format!("murmurd did not answer a UDP ping within {} s", UDP_TIMEOUT.as_secs()))
}

/// A TLS client that accepts murmurd's self-signed certificate (loopback benchmark only).
fn any_certificate() -> AnyResult<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(config)
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
