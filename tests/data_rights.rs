//! Data rights: a member exports exactly their own data (an admin anyone's), and deleting an
//! account leaves none of its messages, sessions, access tokens, VPN peers or invites in the
//! database file (read with SQLite), while other people's messages stay.

mod common;

use common::{assert_code, TestServer, MEMBER_PASSWORD};
use iptincan::proto::{ChannelKind, ErrorCode, Role, Scope};
use std::collections::BTreeSet;

/// #general's id.
async fn general(client: &iptincan::client::Client) -> iptincan::proto::ChannelId {
    let list = client.channels().await.expect("channels");
    list.channels
        .iter()
        .find(|channel| channel.kind == ChannelKind::Text && channel.name == "general")
        .expect("#general")
        .id
}

#[tokio::test]
async fn a_member_exports_exactly_their_own_data() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ann = server.member("ann").await;
    let bob = server.member("bob").await;
    let general = general(&ann).await;
    let mut anns = BTreeSet::new();
    for text in ["one", "two"] {
        anns.insert(ann.send(general, text).await.expect("sent").id);
        bob.send(general, &format!("bob says {text}")).await.expect("sent");
    }
    let direct = ann.request(iptincan::proto::Request::OpenDirect { username: "bob".into() }).await.expect("opened");
    let iptincan::proto::Reply::Channel(direct) = direct else { panic!("{direct:?}") };
    anns.insert(ann.send(direct.id, "just for bob").await.expect("sent").id);
    bob.send(direct.id, "just for ann").await.expect("sent");
    ann.request(iptincan::proto::Request::SetStatus { status: Some("baking".into()) }).await.expect("status");

    let export = ann.export_data(None).await.expect("exports");
    assert_eq!(export.user.username, "ann");
    assert_eq!(export.status.as_deref(), Some("baking"));
    assert_eq!(export.messages.iter().map(|message| message.id).collect::<BTreeSet<_>>(), anns);
    assert!(export.messages.iter().all(|message| message.author == "ann"), "{export:?}");
    assert_code(ann.export_data(Some("bob")).await, ErrorCode::Forbidden);
    let by_admin = admin.export_data(Some("ann")).await.expect("an admin exports anyone's");
    assert_eq!(by_admin.messages, export.messages);
    assert_code(admin.export_data(Some("nobody")).await, ErrorCode::NotFound);
}

#[tokio::test]
async fn deleting_an_account_deletes_everything_that_is_theirs() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ann = server.member("ann").await;
    let bob = server.member("bob").await;
    admin.set_role("ann", Role::Admin).await.expect("ann is an admin");
    let general = general(&ann).await;
    ann.send(general, "ann-secret-words").await.expect("sent");
    bob.send(general, "bob stays").await.expect("sent");
    let invite = ann.create_invite(Default::default()).await.expect("invite").invite.id;
    let token = ann.create_token("ann's bot", vec![Scope::Read], None).await.expect("token");
    let peer = admin.vpn_create_peer("ann", "laptop", Some("127.0.0.1".into())).await.expect("peer").peer.id;

    let ann_id = ann.export_data(None).await.expect("exports").user.id.get();
    let db = rusqlite::Connection::open(server.dir.path().join(&server.config.database.path)).expect("opens");
    let count = |sql: &str, arg: i64| -> i64 { db.query_row(sql, [arg], |row| row.get(0)).expect(sql) };
    let sessions = "SELECT COUNT(*) FROM sessions WHERE user_id = ?1";
    let messages = "SELECT COUNT(*) FROM messages WHERE author_id = ?1";
    assert_eq!((count(sessions, ann_id), count(messages, ann_id)), (1, 1), "ann's session and message, before");

    assert_code(bob.delete_account(Some("ann")).await, ErrorCode::Forbidden);
    assert_code(admin.delete_account(None).await, ErrorCode::InvalidArgument);
    admin.delete_account(Some("ann")).await.expect("an admin deletes another account");
    assert!(ann.channels().await.is_err(), "ann's connection was ended");

    assert_eq!((count(sessions, ann_id), count(messages, ann_id)), (0, 0), "ann's sessions and messages");
    assert_eq!(count("SELECT COUNT(*) FROM messages WHERE body LIKE 'ann-secret%' AND ?1 = ?1", 0), 0, "by text");
    assert_eq!(count("SELECT COUNT(*) FROM messages WHERE body = 'bob stays' AND ?1 = ?1", 0), 1, "others' stay");
    assert_eq!(count("SELECT COUNT(*) FROM users WHERE username = 'ann' AND ?1 = ?1", 0), 0, "the account");
    assert_eq!(count("SELECT COUNT(*) FROM access_tokens WHERE id = ?1", token.token.id), 0, "tokens");
    assert_eq!(count("SELECT COUNT(*) FROM vpn_peers WHERE id = ?1", peer), 0, "VPN peers");
    assert_eq!(count("SELECT COUNT(*) FROM invites WHERE id = ?1", invite), 0, "invites made");
    assert!(admin.tokens().await.expect("tokens").is_empty());

    bob.delete_account(None).await.expect("a member deletes their own account");
    let again = server.connect().await;
    assert_code(again.login("bob", MEMBER_PASSWORD).await, ErrorCode::InvalidCredentials);
}
