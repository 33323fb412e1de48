//! The voice view's commands: the audio devices, joining and leaving a call (a voice channel,
//! or a direct conversation's 1:1 call), and the call's controls (mute and deafen, which the
//! server learns too so that the others see them; per-person volume, devices, processing,
//! push-to-talk). The engine's `client::talk` does the work (cpal
//! devices, echo cancellation, noise suppression, gain, gate, Opus, end-to-end encryption); the
//! call's news reaches the page as [`VOICE_EVENT`]s.

use crate::chat::Family;
use crate::family::FamilyError;
use iptincan::client::audio::devices::{self, Direction};
use iptincan::client::audio::processing::Settings;
use iptincan::client::talk::{Controls, TalkOptions};
use iptincan::proto::{ChannelId, SessionId};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tauri::{AppHandle, Emitter, State};

/// The page's event for the call's news (the engine's `TalkEvent`s and [`CallEnded`]).
pub const VOICE_EVENT: &str = "voice-event";

/// The running call's controls and this member's mute and deafen, managed by Tauri.
#[derive(Default)]
pub struct Voice(Mutex<Option<InCall>>);

/// A running call as the commands see it.
struct InCall {
    controls: Controls,
    muted: bool,
    deafened: bool,
}

impl Voice {
    fn controls(&self) -> Result<Controls, FamilyError> {
        let call = self.0.lock().unwrap_or_else(|p| p.into_inner());
        call.as_ref().map(|call| call.controls.clone()).ok_or(FamilyError::NotInCall)
    }

    fn set(&self, controls: Controls) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(InCall { controls, muted: false, deafened: false });
    }

    /// Mutes or deafens (each if given) at once here; answers both as they now are, for the
    /// server.
    fn change(&self, muted: Option<bool>, deafened: Option<bool>) -> Result<(bool, bool), FamilyError> {
        let mut call = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let call = call.as_mut().ok_or(FamilyError::NotInCall)?;
        if let Some(muted) = muted {
            call.muted = muted;
            call.controls.set_muted(muted);
        }
        if let Some(deafened) = deafened {
            call.deafened = deafened;
            call.controls.set_deafened(deafened);
        }
        Ok((call.muted, call.deafened))
    }

    /// Forgets the call's controls (it ended).
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The call's end, for the page: `{"kind":"ended","reason":…}`, beside the engine's
/// `TalkEvent`s (which serialise the same way, tagged by `kind`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename = "ended")]
pub struct CallEnded<'a> {
    /// Why.
    pub reason: &'a str,
}

/// Tells the page a call's news (a `TalkEvent` or a [`CallEnded`]).
pub fn tell(app: &AppHandle, news: &impl Serialize) {
    if let Err(err) = app.emit_to("main", VOICE_EVENT, news) {
        tracing::warn!("the window could not be told the call's news: {err}");
    }
}

/// The microphone chain's settings, as the page sends them.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct VoiceSettings {
    echo_cancellation: bool,
    noise_suppression: bool,
    voice_activation: bool,
    push_to_talk: bool,
    threshold_dbfs: f32,
    input_volume: f32,
}

impl From<VoiceSettings> for Settings {
    fn from(page: VoiceSettings) -> Settings {
        Settings {
            echo_cancellation: page.echo_cancellation,
            noise_suppression: page.noise_suppression,
            voice_activation: page.voice_activation,
            push_to_talk: page.push_to_talk,
            threshold_dbfs: page.threshold_dbfs.clamp(-90.0, 0.0),
            input_volume: page.input_volume.clamp(0.0, 4.0),
            ..Settings::default()
        }
    }
}

/// The audio devices, each list with the system's default first.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceLists {
    microphones: Vec<String>,
    speakers: Vec<String>,
}

/// The microphones and speakers this computer has.
#[tauri::command]
pub fn voice_devices() -> Result<DeviceLists, FamilyError> {
    let names = |direction| -> Result<Vec<String>, FamilyError> {
        Ok(devices::list(direction).map_err(FamilyError::Audio)?.into_iter().map(|device| device.name).collect())
    };
    Ok(DeviceLists { microphones: names(Direction::Input)?, speakers: names(Direction::Output)? })
}

/// Joins the call of `channel_id` with the chosen devices and settings; returns its safety
/// number. Its news follows as [`VOICE_EVENT`]s until it ends.
#[tauri::command]
pub async fn voice_join(
    app: AppHandle,
    family: State<'_, Family>,
    voice: State<'_, Voice>,
    channel_id: ChannelId,
    microphone: Option<String>,
    speaker: Option<String>,
    settings: VoiceSettings,
) -> Result<String, FamilyError> {
    let options = TalkOptions { microphone, speaker, processing: settings.into() };
    let mut joined = family.join_call(channel_id, options).await?;
    voice.set(joined.controls.clone());
    tauri::async_runtime::spawn(async move {
        while let Some(event) = joined.events.recv().await {
            tell(&app, &event);
        }
    });
    Ok(joined.safety_number)
}

/// Leaves the call.
#[tauri::command]
pub async fn voice_leave(family: State<'_, Family>, voice: State<'_, Voice>) -> Result<(), FamilyError> {
    voice.clear();
    family.leave_call().await
}

/// Mutes or unmutes oneself: here at once, then on the server, which stops relaying one's
/// voice and tells the others in the call (`voice_state`).
#[tauri::command]
pub async fn voice_set_muted(
    family: State<'_, Family>,
    voice: State<'_, Voice>,
    muted: bool,
) -> Result<(), FamilyError> {
    let (muted, deafened) = voice.change(Some(muted), None)?;
    family.set_voice_state(muted, deafened).await
}

/// Deafens or undeafens oneself: here at once, then on the server, which stops relaying to
/// one and tells the others in the call.
#[tauri::command]
pub async fn voice_set_deafened(
    family: State<'_, Family>,
    voice: State<'_, Voice>,
    deafened: bool,
) -> Result<(), FamilyError> {
    let (muted, deafened) = voice.change(None, Some(deafened))?;
    family.set_voice_state(muted, deafened).await
}

/// How loud one person plays (1 unchanged, 0 to 4).
#[tauri::command]
pub fn voice_set_volume(voice: State<'_, Voice>, session_id: SessionId, volume: f32) -> Result<(), FamilyError> {
    voice.controls()?.set_volume(session_id, volume);
    Ok(())
}

/// The microphone chain's settings while in a call.
#[tauri::command]
pub fn voice_set_processing(voice: State<'_, Voice>, settings: VoiceSettings) -> Result<(), FamilyError> {
    voice.controls()?.set_processing(settings.into());
    Ok(())
}

/// Whether the push-to-talk key is held.
#[tauri::command]
pub fn voice_set_pressed(voice: State<'_, Voice>, pressed: bool) -> Result<(), FamilyError> {
    voice.controls()?.set_pressed(pressed);
    Ok(())
}

/// Switches the microphone (none: the default) while in a call.
#[tauri::command]
pub fn voice_set_microphone(voice: State<'_, Voice>, name: Option<String>) -> Result<(), FamilyError> {
    voice.controls()?.set_microphone(name);
    Ok(())
}

/// Switches the speakers (none: the default) while in a call.
#[tauri::command]
pub fn voice_set_speaker(voice: State<'_, Voice>, name: Option<String>) -> Result<(), FamilyError> {
    voice.controls()?.set_speaker(name);
    Ok(())
}
