//! Hostile and broken clients: malformed, truncated and oversized frames, frames out of
//! order, and certificates that do not match their pin. Each bad connection gets an error and
//! is closed; everyone else keeps chatting.

mod common;

use bytes::BytesMut;
use common::{next_message, TestServer, WAIT};
use iptincan::client::{Client, ClientError, KnownHosts, Target};
use iptincan::proto::{decode_frame, parse_payload, ErrorCode, Reply, ServerFrame, MAX_FRAME_LEN};
use iptincan::tls::PinningVerifier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn raw_connection(server: &TestServer) -> Tls {
    let tcp = TcpStream::connect(server.running().control_addr()).await.expect("connects");
    let verifier = PinningVerifier::new(server.running().fingerprint());
    let connector = tokio_rustls::TlsConnector::from(verifier.client_config().expect("config"));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("TLS")
}

/// Reads frames until the server closes; returns them.
async fn frames_until_close(stream: &mut Tls) -> Vec<ServerFrame> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            while let Some(payload) = decode_frame(&mut buf).expect("server frames are valid") {
                frames.push(parse_payload(&payload).expect("server frame parses"));
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("server closed the connection in time");
    frames
}

fn last_error_code(frames: &[ServerFrame]) -> Option<ErrorCode> {
    frames.iter().rev().find_map(|frame| match frame {
        ServerFrame::Error { id: None, code, .. } => Some(*code),
        _ => None,
    })
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let mut bob = server.member("bob").await;
    let general = ann.find_channel("general").await.expect("general");

    let hello = framed(br#"{"id":1,"op":"hello","args":{"versions":[1],"client":"raw"}}"#);
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        ("not json", framed(b"this is not json"), ErrorCode::BadFrame),
        ("unknown op", framed(br#"{"id":1,"op":"launch_missiles"}"#), ErrorCode::BadFrame),
        ("wrong arg type", framed(br#"{"id":1,"op":"login","args":{"username":1,"password":2}}"#), ErrorCode::BadFrame),
        ("hello without client", framed(br#"{"id":1,"op":"hello","args":{"versions":[1]}}"#), ErrorCode::BadFrame),
        ("empty frame", framed(b""), ErrorCode::BadFrame),
        ("oversized", ((MAX_FRAME_LEN as u32) + 1).to_be_bytes().to_vec(), ErrorCode::FrameTooLarge),
        ("huge length", u32::MAX.to_be_bytes().to_vec(), ErrorCode::FrameTooLarge),
        (
            "truncated",
            {
                let mut bytes = hello.clone();
                bytes.truncate(hello.len() - 5);
                bytes
            },
            ErrorCode::BadFrame,
        ),
    ];
    for (name, bytes, expected) in cases {
        let mut stream = raw_connection(&server).await;
        stream.write_all(&bytes).await.expect("writes");
        if name == "truncated" {
            stream.shutdown().await.expect("half-closes mid-frame");
        }
        let frames = frames_until_close(&mut stream).await;
        assert_eq!(last_error_code(&frames), Some(expected), "{name}: {frames:?}");

        // Everyone else is undisturbed.
        let sent = ann.send(general.id, &format!("still here after {name}")).await.expect("sends");
        let got = next_message(&mut bob).await;
        assert_eq!(got.id, sent.id, "{name}");
    }
}

#[tokio::test]
async fn requests_before_hello_or_login_are_refused() {
    let server = TestServer::start().await;
    let mut stream = raw_connection(&server).await;
    stream.write_all(&framed(br#"{"id":5,"op":"list_channels"}"#)).await.expect("writes");
    stream
        .write_all(&framed(br#"{"id":6,"op":"hello","args":{"versions":[99],"client":"future"}}"#))
        .await
        .expect("writes");
    stream
        .write_all(&framed(br#"{"id":7,"op":"hello","args":{"versions":[1,2],"client":"raw"}}"#))
        .await
        .expect("writes");
    stream
        .write_all(&framed(br#"{"id":8,"op":"send_message","args":{"channel_id":1,"body":"x"}}"#))
        .await
        .expect("writes");
    stream.write_all(&framed(br#"{"id":9,"op":"ping"}"#)).await.expect("writes");
    stream.shutdown().await.expect("closes");
    let frames = frames_until_close(&mut stream).await;
    let answers: Vec<(u64, Option<ErrorCode>)> = frames
        .iter()
        .filter_map(|frame| match frame {
            ServerFrame::Reply { id, .. } => Some((*id, None)),
            ServerFrame::Error { id: Some(id), code, .. } => Some((*id, Some(*code))),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            (5, Some(ErrorCode::NotAllowedNow)),
            (6, Some(ErrorCode::UnsupportedVersion)),
            (7, None),
            (8, Some(ErrorCode::NotAllowedNow)),
            (9, None),
        ]
    );
    match &frames[2] {
        ServerFrame::Reply { result: iptincan::proto::Reply::Welcome(welcome), .. } => {
            assert_eq!(welcome.version, 1);
            assert_eq!(welcome.server.motd, "Welcome to IPTinCan!");
            assert_eq!(welcome.server.name, "My IPTinCan Server");
        }
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// An op without arguments may omit `args`, or send `null` or an empty object: all are the same
/// request, and the connection stays open.
#[tokio::test]
async fn ops_without_arguments_take_omitted_null_or_empty_args() {
    let server = TestServer::start().await;
    let mut stream = raw_connection(&server).await;
    for frame in [
        &br#"{"id":1,"op":"hello","args":{"versions":[1],"client":"raw"}}"#[..],
        br#"{"id":2,"op":"ping","args":{}}"#,
        br#"{"id":3,"op":"ping","args":null}"#,
        br#"{"id":4,"op":"ping"}"#,
        br#"{"id":5,"op":"list_channels","args":{}}"#,
        br#"{"id":6,"op":"login","args":{"username":"chatter","password":"chatter"}}"#,
        br#"{"id":7,"op":"logout","args":{}}"#,
    ] {
        stream.write_all(&framed(frame)).await.expect("writes");
    }
    stream.shutdown().await.expect("closes");
    let frames = frames_until_close(&mut stream).await;
    assert_eq!(last_error_code(&frames), None, "the connection was not closed for a bad frame: {frames:?}");
    let answers: Vec<(u64, Result<&'static str, ErrorCode>)> = frames
        .iter()
        .filter_map(|frame| match frame {
            ServerFrame::Reply { id, result } => Some((
                *id,
                Ok(match result {
                    Reply::Welcome(_) => "welcome",
                    Reply::Pong => "pong",
                    Reply::Session(_) => "session",
                    Reply::Ok => "ok",
                    _ => "other",
                }),
            )),
            ServerFrame::Error { id: Some(id), code, .. } => Some((*id, Err(*code))),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            (1, Ok("welcome")),
            (2, Ok("pong")),
            (3, Ok("pong")),
            (4, Ok("pong")),
            (5, Err(ErrorCode::NotAllowedNow)),
            (6, Ok("session")),
            (7, Ok("ok")),
        ]
    );
}

#[tokio::test]
async fn a_code_with_the_wrong_fingerprint_is_refused() {
    let server = TestServer::start().await;
    let mut code = server.running().connection_code("127.0.0.1");
    code.fingerprint = Some([7u8; 32]);
    match Client::connect(&Target::Code(code), None).await {
        Err(ClientError::FingerprintMismatch { .. }) => {}
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    server.connect().await.channels().await.expect_err("not logged in, but connected with the right code");
}

#[tokio::test]
async fn address_connections_pin_on_first_use_and_refuse_a_new_certificate() {
    let first = TestServer::start().await;
    let port = first.running().control_addr().port();
    let known_dir = tempfile::tempdir().expect("tempdir");
    let known = KnownHosts::new(known_dir.path().join("known_hosts"));
    let target = Target::Address { host: "127.0.0.1".into(), port };
    Client::connect(&target, Some(&known)).await.expect("first use is trusted");
    assert_eq!(known.get(&target.authority()).expect("reads"), first.running().fingerprint());
    Client::connect(&target, Some(&known)).await.expect("same certificate again");
    first.stop().await;

    // A different server (new certificate) appears at the same address.
    let impostor = TestServer::start_with(|config| config.server.tcp_port = port).await;
    match Client::connect(&target, Some(&known)).await {
        Err(err @ ClientError::FingerprintMismatch { .. }) => {
            let text = err.to_string();
            assert!(text.contains("known_hosts"), "says where the pin lives: {text}");
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    drop(impostor);
}
