//! `itc voice talk` and `itc voice devices`: a live call through this computer's microphone
//! and speakers (the engine's `client::talk`), usable without the app.

use anyhow::Result;
use iptincan::client::audio::devices::{self, Direction};
use iptincan::client::audio::processing::Settings;
use iptincan::client::talk::{Talk, TalkEvent, TalkOptions, Talker};
use iptincan::client::Client;
use iptincan::proto::ChannelId;
use std::collections::HashMap;
use std::time::Duration;

/// How `itc voice talk` opens and processes audio.
#[derive(clap::Args)]
pub struct TalkFlags {
    /// Microphone by name (`itc voice devices`) [default: the system's]
    #[arg(long)]
    microphone: Option<String>,
    /// Speaker by name [default: the system's]
    #[arg(long)]
    speaker: Option<String>,
    /// Turn echo cancellation off (on by default)
    #[arg(long)]
    no_echo_cancellation: bool,
    /// Turn noise suppression off (on by default)
    #[arg(long)]
    no_noise_suppression: bool,
    /// Turn automatic gain off (on by default)
    #[arg(long)]
    no_auto_gain: bool,
    /// Send all the time instead of on voice activation
    #[arg(long)]
    open_mic: bool,
    /// Voice-activation threshold in dBFS
    #[arg(long, default_value_t = Settings::default().threshold_dbfs, allow_negative_numbers = true)]
    threshold_db: f32,
    /// Input volume, a factor (1 unchanged, up to 4)
    #[arg(long, default_value_t = 1.0)]
    input_volume: f32,
    /// Print the input level about ten times a second
    #[arg(long)]
    meter: bool,
    /// Print the audio path's trouble counters (underruns, overruns, late frames) each second
    /// they change, and when leaving
    #[arg(long)]
    health: bool,
    /// Leave after this many seconds [default: stay until Ctrl-C]
    #[arg(long)]
    seconds: Option<u64>,
}

/// Prints the microphones and speakers.
pub fn list_devices() -> Result<()> {
    for (title, direction) in [("microphones", Direction::Input), ("speakers", Direction::Output)] {
        println!("{title}:");
        for device in devices::list(direction)? {
            let default = if device.default { " (default)" } else { "" };
            println!("  {}{default}: {}", device.name, device.description);
        }
    }
    Ok(())
}

/// Talks in `channel` until Ctrl-C, `--seconds`, or the connection closes.
pub async fn talk(client: &mut Client, channel: ChannelId, name: &str, flags: TalkFlags) -> Result<()> {
    let processing = Settings {
        echo_cancellation: !flags.no_echo_cancellation,
        noise_suppression: !flags.no_noise_suppression,
        auto_gain: !flags.no_auto_gain,
        voice_activation: !flags.open_mic,
        threshold_dbfs: flags.threshold_db,
        input_volume: flags.input_volume,
        ..Settings::default()
    };
    let options = TalkOptions { microphone: flags.microphone, speaker: flags.speaker, processing };
    let mut talk = Talk::join(client, channel, options).await?;
    let mut events = talk.events().ok_or_else(|| anyhow::anyhow!("no voice events"))?;
    eprintln!("talking in {name} (safety number {}); Ctrl-C leaves", talk.call().safety_number());
    let until = async {
        match flags.seconds {
            Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    let mut health_tick = tokio::time::interval(Duration::from_secs(1));
    let mut health = talk.health();
    let mut names: HashMap<_, String> = HashMap::new();
    let result = loop {
        tokio::select! {
            ran = talk.run(client) => break ran.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => break Ok(()),
            _ = &mut until => break Ok(()),
            _ = health_tick.tick(), if flags.health => {
                let now = talk.health();
                if now != health {
                    health = now;
                    eprintln!("audio health: {health}");
                }
            }
            Some(event) = events.recv() => match event {
                TalkEvent::Level { dbfs } if flags.meter => eprintln!("level {dbfs:.0} dBFS"),
                TalkEvent::Level { .. } => {}
                TalkEvent::Joined { session_id, username } => {
                    eprintln!("{username} is here");
                    names.insert(session_id, username);
                }
                TalkEvent::Left { session_id } => {
                    eprintln!("{} left", names.remove(&session_id).unwrap_or_else(|| "someone".into()));
                }
                TalkEvent::Talking { talker, talking } => {
                    let who = match talker {
                        Talker::Me => "you".to_owned(),
                        Talker::Member(session) => names.get(&session).cloned().unwrap_or_else(|| "someone".into()),
                    };
                    eprintln!("{who} {}", if talking { "started talking" } else { "stopped" });
                }
                TalkEvent::DeviceError { message } => eprintln!("{message}"),
                _ => {}
            },
        }
    };
    if flags.health {
        eprintln!("audio health: {}", talk.health());
    }
    drop(talk);
    client.leave_voice().await?;
    result
}
