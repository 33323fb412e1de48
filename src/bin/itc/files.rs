//! `itc upload`, `itc download` and `itc admin emoji …`: files and custom emoji through the
//! engine's client library.

use anyhow::{Context, Result};
use iptincan::client::{Client, UploadOptions};
use iptincan::proto::Channel;
use std::path::Path;

/// `itc admin emoji …`.
#[derive(clap::Subcommand)]
pub enum EmojiCommand {
    /// Add a custom emoji from a PNG, GIF or WebP picture (at most 128 KiB, 512×512)
    Add {
        /// Its shortcode, e.g. party or :party:
        name: String,
        /// The picture
        file: std::path::PathBuf,
    },
    /// Remove a custom emoji
    Remove {
        /// Its shortcode
        name: String,
    },
    /// Rename a custom emoji
    Rename {
        /// Its shortcode
        name: String,
        /// The new shortcode
        new_name: String,
    },
    /// List the custom emoji
    List,
}

/// Uploads `file` into `channel` as a message (with `text`, if any); prints the file id.
pub async fn upload(
    client: &Client,
    channel: &Channel,
    file: &Path,
    text: Option<String>,
    keep_metadata: bool,
) -> Result<()> {
    let name = file.file_name().map(|name| name.to_string_lossy().into_owned()).context("FILE has no file name")?;
    let options = UploadOptions { channel_id: Some(channel.id), keep_metadata, ..UploadOptions::default() };
    let info = client.upload_file(file, &name, options).await?;
    let message = client.send_with_files(channel.id, text.as_deref().unwrap_or(""), vec![info.file_id]).await?;
    eprintln!("sent #{} with {} ({} bytes, sha256 {})", message.id, info.name, info.size, info.sha256);
    println!("{}", info.file_id);
    Ok(())
}

/// Downloads file `file_id` (or its thumbnail) into `out`.
pub async fn download(client: &Client, file_id: i64, out: &Path, thumbnail: bool) -> Result<()> {
    let info = client.file_info(file_id).await?;
    let size = client.download_to(file_id, thumbnail, out).await?;
    eprintln!("{} ({size} bytes) → {}", info.name, out.display());
    Ok(())
}

/// Runs one `itc admin emoji` command.
pub async fn emoji(client: &Client, command: EmojiCommand) -> Result<()> {
    match command {
        EmojiCommand::Add { name, file } => {
            let picture = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let emoji = client.emoji_add(&name, &picture).await?;
            println!(":{}: added", emoji.shortcode);
        }
        EmojiCommand::Remove { name } => {
            client.emoji_remove(&name).await?;
            println!("removed");
        }
        EmojiCommand::Rename { name, new_name } => {
            let emoji = client.emoji_rename(&name, &new_name).await?;
            println!(":{}: renamed", emoji.shortcode);
        }
        EmojiCommand::List => {
            for emoji in client.emoji_list().await? {
                let by = emoji.created_by.unwrap_or_default();
                println!(":{}: {} (file {}, by {by})", emoji.shortcode, emoji.content_type, emoji.file_id);
            }
        }
    }
    Ok(())
}
