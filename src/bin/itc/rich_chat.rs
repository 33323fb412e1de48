//! `itc react`, `itc thread`, `itc search` and `itc mentions`: rich chat from the command line.

use anyhow::{bail, Result};
use clap::Subcommand;
use iptincan::client::Client;
use iptincan::proto::{Message, MessageId, HIGHLIGHT_END, HIGHLIGHT_START};

#[derive(Subcommand)]
pub enum RichCommand {
    /// React to a message with an emoji or a custom :shortcode: (--remove takes it back)
    React {
        /// Message id
        id: i64,
        /// The emoji, e.g. 👍 or :party:
        emoji: String,
        /// Take the reaction back
        #[arg(long)]
        remove: bool,
    },
    /// Reply in a message's thread, or print the thread with --history
    Thread {
        /// Message id (the thread's root or any reply in it)
        id: i64,
        /// Reply text
        text: Vec<String>,
        /// Print the thread's replies instead, oldest first
        #[arg(long, conflicts_with = "text")]
        history: bool,
        /// With --history: only replies older than this message id
        #[arg(long, requires = "history")]
        before: Option<i64>,
    },
    /// Search the messages you can read, newest first (matches between *…*)
    Search {
        /// Words to find (all of them; word* finds a prefix)
        #[arg(required = true)]
        query: Vec<String>,
        /// Only this channel (name, id, or @user)
        #[arg(long)]
        channel: Option<String>,
        /// Only messages older than this message id
        #[arg(long)]
        before: Option<i64>,
    },
    /// List the messages that mention you, newest first
    Mentions {
        /// Only messages older than this message id
        #[arg(long)]
        before: Option<i64>,
    },
}

/// Runs one rich chat command.
pub async fn run(client: &Client, command: RichCommand) -> Result<()> {
    match command {
        RichCommand::React { id, emoji, remove } => {
            let reactions = if remove {
                client.unreact(MessageId(id), &emoji).await?
            } else {
                client.react(MessageId(id), &emoji).await?
            };
            let counts: Vec<String> = reactions.reactions.iter().map(|r| format!("{} {}", r.emoji, r.count)).collect();
            println!("#{id}: {}", if counts.is_empty() { "no reactions".to_string() } else { counts.join("  ") });
        }
        RichCommand::Thread { id, text, history, before } => {
            if history {
                let page = client.thread_history(MessageId(id), before.map(MessageId), None).await?;
                for message in &page.messages {
                    println!("{}", super::format_message(message));
                }
                more_hint(page.has_more, page.messages.first().map(|m| m.id));
            } else if text.is_empty() {
                bail!("give the reply's text, or --history to read the thread");
            } else {
                let reply = client.reply_thread(MessageId(id), &text.join(" ")).await?;
                println!("sent #{} in the thread of #{}", reply.id, reply.thread_id.unwrap_or(reply.id));
            }
        }
        RichCommand::Search { query, channel, before } => {
            let channel_id = match channel {
                Some(name) => Some(super::resolve_channel(client, &name).await?.id),
                None => None,
            };
            let page = client.search(&query.join(" "), channel_id, before.map(MessageId), None).await?;
            for hit in &page.hits {
                let snippet = hit.snippet.replace([HIGHLIGHT_START, HIGHLIGHT_END], "*");
                println!(
                    "#{} in channel {} by {}: {snippet}",
                    hit.message.id, hit.message.channel_id, hit.message.author
                );
            }
            more_hint(page.has_more, page.hits.last().map(|hit| hit.message.id));
        }
        RichCommand::Mentions { before } => {
            let page = client.mentions(before.map(MessageId), None).await?;
            for message in &page.messages {
                println!("{}", super::format_message(message));
            }
            more_hint(page.has_more, page.messages.last().map(|m| m.id));
        }
    }
    Ok(())
}

/// What `itc history` adds to a message's line: its thread's reply count, its reactions and
/// its link preview's title (empty when it has none).
pub fn annotations(message: &Message) -> String {
    let mut extra = String::new();
    if let Some(thread) = &message.thread {
        let plural = if thread.reply_count == 1 { "reply" } else { "replies" };
        extra.push_str(&format!(" ({} {plural}: itc thread {} --history)", thread.reply_count, message.id));
    }
    for reaction in &message.reactions {
        extra.push_str(&format!(" {} {}", reaction.emoji, reaction.count));
    }
    if let Some(title) = message.preview.as_ref().and_then(|preview| preview.title.as_ref()) {
        extra.push_str(&format!(" [{title}]"));
    }
    extra
}

fn more_hint(has_more: bool, next: Option<MessageId>) {
    if let (true, Some(next)) = (has_more, next) {
        eprintln!("(more: --before {next})");
    }
}
