//! Rich chat as family members use it: threads, reactions, search and mentions through two (or
//! three) real clients on a real server (TLS on loopback, SQLite in a temp dir).

mod common;

use common::{assert_code, next_matching, TestServer};
use iptincan::proto::{ErrorCode, Event, MessageId, HIGHLIGHT_END, HIGHLIGHT_START};

#[tokio::test]
async fn threads_and_reactions_round_trip_with_events_and_go_with_their_message() {
    let server = TestServer::start().await;
    let mut ann = server.member("ann").await;
    let mut bob = server.member("bob").await;
    let general = ann.find_channel("general").await.expect("general");
    let root = ann.send(general.id, "who wants pancakes?").await.expect("sent");

    let reply = bob.reply_thread(root.id, "me!").await.expect("replies");
    assert_eq!(reply.thread_id, Some(root.id));
    let heard = next_matching(&mut ann, |event| match event {
        Event::ThreadReply(reply) => Some(reply),
        _ => None,
    })
    .await;
    assert_eq!(heard.message, reply);
    assert_eq!((heard.thread.reply_count, heard.thread.last_reply_at), (1, reply.created_at));
    // A reply to a reply joins the root's thread.
    let second = ann.reply_thread(reply.id, "two for you then").await.expect("replies");
    assert_eq!(second.thread_id, Some(root.id));
    let told = next_matching(&mut bob, |event| match event {
        Event::ThreadReply(reply) if reply.message.id == second.id => Some(reply.thread),
        _ => None,
    })
    .await;
    assert_eq!((told.reply_count, told.last_reply_at), (2, second.created_at));
    let history = ann.history(general.id, None, None).await.expect("history");
    assert_eq!(history.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [root.id], "replies stay out of the channel");
    let thread = history.messages[0].thread.expect("the root shows its thread");
    assert_eq!((thread.reply_count, thread.last_reply_at), (2, second.created_at));
    let page = bob.thread_history(root.id, None, Some(1)).await.expect("thread history");
    assert_eq!((page.messages.iter().map(|m| m.id).collect::<Vec<_>>(), page.has_more), (vec![second.id], true));
    let older = bob.thread_history(root.id, Some(second.id), Some(1)).await.expect("thread history");
    assert_eq!((older.messages.iter().map(|m| m.id).collect::<Vec<_>>(), older.has_more), (vec![reply.id], false));

    let reacted = bob.react(root.id, "🥞").await.expect("reacts");
    assert_eq!(reacted.reactions.len(), 1);
    let changed = next_matching(&mut ann, |event| match event {
        Event::ReactionsChanged(reactions) => Some(reactions),
        _ => None,
    })
    .await;
    assert_eq!(changed, reacted);
    ann.react(root.id, "🥞").await.expect("reacts");
    let both = ann.react(root.id, ":yum:").await.expect("a shortcode");
    assert_eq!(both.reactions[0].count, 2);
    assert_eq!(both.reactions[0].users.len(), 2);
    assert_eq!(both.reactions[1].emoji, ":yum:");
    let again = ann.react(root.id, ":yum:").await.expect("the same twice changes nothing");
    assert_eq!(again, both);
    let taken_back = bob.unreact(root.id, "🥞").await.expect("takes back");
    assert_eq!((taken_back.reactions[0].count, taken_back.reactions[0].users.len()), (1, 1));
    assert_code(ann.react(root.id, "pancake").await, ErrorCode::InvalidArgument);
    assert_code(ann.react(MessageId(99_999), "👍").await, ErrorCode::NotFound);
    bob.react(reply.id, "👍").await.expect("reacts to a reply");
    let listed = ann.history(general.id, None, None).await.expect("history").messages;
    assert_eq!(listed[0].reactions, taken_back.reactions, "history carries the reactions");

    ann.delete(root.id).await.expect("deletes");
    assert_code(bob.thread_history(root.id, None, None).await, ErrorCode::NotFound);
    assert_code(bob.react(reply.id, "👍").await, ErrorCode::NotFound);
    assert_code(bob.thread_history(reply.id, None, None).await, ErrorCode::NotFound);
    for word in ["pancakes", "me", "two"] {
        assert!(ann.search(word, None, None, None).await.expect("searches").hits.is_empty(), "{word}: thread gone");
    }
}

#[tokio::test]
async fn search_pages_and_never_shows_what_the_searcher_cannot_read() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let bob = server.member("bob").await;
    let eve = server.member("eve").await;
    let general = ann.find_channel("general").await.expect("general");
    let direct = ann.open_direct("bob").await.expect("a direct conversation");
    bob.send(direct.id, "the secret picnic is saturday").await.expect("sent");
    let mut public = Vec::new();
    for i in 0..5 {
        public.push(ann.send(general.id, &format!("picnic plan {i}")).await.expect("sent").id);
    }
    public.reverse();

    let first = ann.search("PICNIC", None, None, Some(4)).await.expect("searches");
    assert!(first.has_more);
    let rest = ann.search("picnic", None, first.hits.last().map(|h| h.message.id), Some(4)).await.expect("pages");
    assert!(!rest.has_more);
    let all: Vec<MessageId> = first.hits.iter().chain(&rest.hits).map(|hit| hit.message.id).collect();
    assert_eq!(all.len(), 6, "five public and one direct: {all:?}");
    assert!(first.hits[0].snippet.contains(&format!("{HIGHLIGHT_START}picnic{HIGHLIGHT_END}")));

    for query in ["picnic", "secret", "saturday", "secr*", "\"secret\" OR picnic", "NEAR(secret saturday)"] {
        let page = eve.search(query, None, None, Some(50)).await.expect("searches");
        assert!(page.hits.iter().all(|hit| hit.message.channel_id == general.id), "{query}: {:?}", page.hits);
    }
    assert_eq!(eve.search("picnic", None, None, Some(50)).await.expect("ok").hits.len(), 5);
    assert_code(eve.search("secret", Some(direct.id), None, None).await, ErrorCode::NotFound);
    let private = ann.history(direct.id, None, None).await.expect("history").messages[0].id;
    assert_code(eve.react(private, "👀").await, ErrorCode::NotFound);
    assert_code(eve.reply_thread(private, "hi").await, ErrorCode::NotFound);
    assert_code(eve.thread_history(private, None, None).await, ErrorCode::NotFound);
    let in_general = bob.search("picnic", Some(general.id), None, Some(50)).await.expect("searches");
    assert_eq!(in_general.hits.iter().map(|h| h.message.id).collect::<Vec<_>>(), public);
    assert_code(ann.search("   ", None, None, None).await, ErrorCode::InvalidArgument);
    assert_code(ann.search("x", None, None, Some(51)).await, ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn mentions_are_recorded_for_readers_and_announced() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let mut bob = server.member("bob").await;
    let eve = server.member("eve").await;
    let general = ann.find_channel("general").await.expect("general");
    let direct = ann.open_direct("bob").await.expect("direct");

    let sent = ann.send(general.id, "@Bob and @eve: dinner at 7, @nobody").await.expect("sent");
    let told = next_matching(&mut bob, |event| match event {
        Event::Mentioned(message) => Some(message),
        _ => None,
    })
    .await;
    assert_eq!(told.id, sent.id);
    ann.send(direct.id, "just between us, @eve is planning a party").await.expect("sent");
    let root = eve.send(general.id, "cake?").await.expect("sent");
    let reply = ann.reply_thread(root.id, "yes @bob, get cake").await.expect("replies");

    let bobs = bob.mentions(None, Some(1)).await.expect("mentions");
    assert_eq!((bobs.messages.iter().map(|m| m.id).collect::<Vec<_>>(), bobs.has_more), (vec![reply.id], true));
    let older = bob.mentions(Some(reply.id), None).await.expect("mentions");
    assert_eq!(older.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [sent.id]);
    let eves = eve.mentions(None, None).await.expect("mentions");
    assert_eq!(eves.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [sent.id], "not from a DM she cannot read");
    assert!(ann.mentions(None, None).await.expect("mentions").messages.is_empty());
}

#[tokio::test]
async fn itc_reacts_threads_searches_and_lists_mentions() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let _bob = server.member("bob").await;
    let general = ann.find_channel("general").await.expect("general");
    let root = ann.send(general.id, "@bob the garden needs watering").await.expect("sent");
    let code = server.running().connection_code("127.0.0.1").encode().expect("code");
    let known = server.dir.path().join("known_hosts");
    let itc = move |user: &str, args: Vec<String>| {
        let mut command = std::process::Command::new(common::client_binary());
        command
            .env("ITC_SERVER", &code)
            .env("ITC_KNOWN_HOSTS", &known)
            .env("ITC_USER", user)
            .env("ITC_PASSWORD", common::MEMBER_PASSWORD)
            .args(args);
        let (ok, stdout, stderr) = common::run_bounded(&mut command);
        assert!(ok, "{command:?}: {stderr}");
        stdout
    };
    let run = |user: &'static str, args: &[&str]| {
        let itc = itc.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || itc(user, args))
    };
    let id = root.id.to_string();
    assert_eq!(run("bob", &["react", &id, "🌱"]).await.expect("runs").trim(), format!("#{id}: 🌱 1"));
    let sent = run("bob", &["thread", &id, "on", "it"]).await.expect("runs");
    assert!(sent.starts_with("sent #") && sent.contains(&format!("in the thread of #{id}")), "{sent}");
    let history = run("ann", &["history", "general"]).await.expect("runs");
    assert!(history.contains("watering (1 reply: itc thread") && history.contains("🌱 1"), "{history}");
    let thread = run("ann", &["thread", &id, "--history"]).await.expect("runs");
    assert!(thread.contains("bob: on it"), "{thread}");
    let found = run("bob", &["search", "garden", "--channel", "general"]).await.expect("runs");
    assert!(found.contains("*garden*"), "{found}");
    let mentions = run("bob", &["mentions"]).await.expect("runs");
    assert!(mentions.contains(&format!("#{id} ann: @bob the garden")), "{mentions}");
    assert_eq!(
        run("bob", &["react", &id, "🌱", "--remove"]).await.expect("runs").trim(),
        format!("#{id}: no reactions")
    );
}

#[tokio::test]
async fn a_member_puts_at_most_twenty_different_reactions_on_a_message() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let bob = server.member("bob").await;
    let general = ann.find_channel("general").await.expect("general");
    let message = ann.send(general.id, "react away").await.expect("sent");
    let emoji: Vec<String> = (0x1F600..0x1F615).filter_map(char::from_u32).map(String::from).collect();
    for one in &emoji[..20] {
        bob.react(message.id, one).await.expect("reacts");
    }
    assert_code(bob.react(message.id, &emoji[20]).await, ErrorCode::LimitReached);
    bob.react(message.id, &emoji[0]).await.expect("one already there is no new one");
    ann.react(message.id, &emoji[20]).await.expect("the limit is per member");
    bob.unreact(message.id, &emoji[0]).await.expect("takes one back");
    let all = bob.react(message.id, &emoji[20]).await.expect("room again");
    assert_eq!(all.reactions.len(), 20, "emoji 1 to 20; the first was taken back");
    assert_eq!(all.reactions.iter().find(|r| r.emoji == emoji[20]).map(|r| r.count), Some(2));
}
