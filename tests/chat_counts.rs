//! Unread numbers and mentions as members see them through real clients on loopback: a
//! thread's replies do not count toward the channel's unread number, and an edit that drops an
//! `@name` takes the message out of that member's mentions (one that adds one puts it in).

mod common;

use common::TestServer;
use iptincan::client::Client;
use iptincan::proto::ChannelId;

async fn unread(client: &Client, channel_id: ChannelId) -> u32 {
    let list = client.channels().await.expect("channels");
    let at = list.channels.iter().position(|channel| channel.id == channel_id).expect("the channel is listed");
    list.read_states[at].unread
}

#[tokio::test]
async fn thread_replies_do_not_count_as_unread_in_the_channel() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let bob = server.member("bob").await;
    let general = ann.find_channel("general").await.expect("general").id;
    let root = ann.send(general, "who is cooking?").await.expect("sent");
    assert_eq!(unread(&bob, general).await, 1, "the root is unread");
    bob.mark_read(general, root.id).await.expect("marks");
    for reply in ["me", "no, me", "both of us"] {
        ann.reply_thread(root.id, reply).await.expect("replies");
    }
    assert_eq!(unread(&bob, general).await, 0, "replies in a thread are not the channel's unread messages");
    ann.send(general, "dinner is ready").await.expect("sent");
    assert_eq!(unread(&bob, general).await, 1, "a message in the channel is");
}

#[tokio::test]
async fn an_edit_recomputes_mentions() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let bob = server.member("bob").await;
    let eve = server.member("eve").await;
    let general = ann.find_channel("general").await.expect("general").id;
    let ids = |page: iptincan::proto::MentionPage| page.messages.iter().map(|m| m.id).collect::<Vec<_>>();

    let sent = ann.send(general, "@bob and @eve: the car").await.expect("sent");
    assert_eq!(ids(bob.mentions(None, None).await.expect("mentions")), [sent.id]);
    ann.edit(sent.id, "@eve: the car").await.expect("edits");
    assert!(ids(bob.mentions(None, None).await.expect("mentions")).is_empty(), "bob is no longer mentioned");
    assert_eq!(ids(eve.mentions(None, None).await.expect("mentions")), [sent.id], "eve still is");
    ann.edit(sent.id, "the car, @bob").await.expect("edits");
    assert_eq!(ids(bob.mentions(None, None).await.expect("mentions")), [sent.id], "mentioned again");
    assert!(ids(eve.mentions(None, None).await.expect("mentions")).is_empty(), "eve no longer is");
    ann.edit(sent.id, "the car").await.expect("edits");
    assert!(ids(bob.mentions(None, None).await.expect("mentions")).is_empty(), "nobody is mentioned");
}
