// The voice view: join or leave a voice channel's call (or a direct conversation's 1:1 call),
// who is in it, who is talking and who is muted or has the sound off, mute and "sound off"
// (the server learns both, so the others see them), each person's volume, the safety
// number, and the sound settings (microphone and speakers, switchable during a call;
// microphone volume; voice activation with its threshold and a live level meter;
// push-to-talk with its key; echo and noise removal, on by default). The engine does the
// audio; this draws it.

import { $, el, show } from '../dom.js';
import { Cmd, Event, act, call, on } from '../commands.js';

const voice = {
  shown: null, // the channel on screen, if it can have a call
  inCall: null, // the channel whose call this app is in
  members: new Map(), // session id → { username, talking } (in the call)
  seen: new Map(), // channel id → Map(session id → name), from join/leave events
  states: new Map(), // session id → { self_muted, self_deafened, server_muted }, from voice_state events
  muted: false,
  deafened: false,
  pttKey: ' ',
  devicesLoaded: false,
};

function settings() {
  return {
    echo_cancellation: $('voice-echo').checked,
    noise_suppression: $('voice-noise').checked,
    voice_activation: $('voice-activation').checked,
    push_to_talk: $('voice-ptt').checked,
    threshold_dbfs: Number($('voice-threshold').value),
    input_volume: Number($('voice-input-volume').value),
  };
}

async function loadDevices() {
  if (voice.devicesLoaded) return;
  let lists;
  try {
    lists = await call(Cmd.voiceDevices);
  } catch (err) {
    show('voice-error', String(err));
    return;
  }
  voice.devicesLoaded = true;
  const fill = (id, names, usual) => $(id).replaceChildren(el('option', { value: '' }, usual),
    ...names.map((name) => el('option', { value: name }, name)));
  fill('voice-microphone', lists.microphones, "The computer's usual microphone");
  fill('voice-speaker', lists.speakers, "The computer's usual speakers");
}

// " (microphone off, sound off)" and the like, for someone's mute and deafen.
function stateWords(state) {
  if (!state) return '';
  const words = [];
  if (state.server_muted) words.push('muted by an admin');
  else if (state.self_muted) words.push('microphone off');
  if (state.self_deafened) words.push('sound off');
  return words.length ? ` (${words.join(', ')})` : '';
}

function drawPeople() {
  const inThisCall = voice.inCall !== null && voice.inCall === voice.shown;
  $('voice-members').hidden = !inThisCall;
  $('voice-people').hidden = inThisCall;
  if (!inThisCall) {
    const names = [...(voice.seen.get(voice.shown) || new Map())]
      .map(([id, name]) => `${name}${stateWords(voice.states.get(id))}`);
    show('voice-people', names.length ? `In this call now: ${names.join(', ')}.` : 'Nobody is in this call right now.');
    return;
  }
  $('voice-members').replaceChildren(el('li', { class: voice.members.get('me')?.talking ? 'talking' : '' },
    el('span', { class: 'dot', 'aria-hidden': 'true' }), 'You',
    stateWords({ self_muted: voice.muted, self_deafened: voice.deafened })),
  ...[...voice.members].filter(([id]) => id !== 'me').map(([id, member]) => {
    const slider = el('input', {
      type: 'range', min: '0', max: '4', step: '0.1', value: String(member.volume ?? 1),
      'aria-label': `How loud ${member.username} is`,
      onchange: (event) => {
        member.volume = Number(event.target.value);
        act('voice-error', Cmd.voiceSetVolume, { sessionId: Number(id), volume: member.volume });
      },
    });
    return el('li', { class: member.talking ? 'talking' : '', dataset: { session: String(id) } },
      el('span', { class: 'dot', 'aria-hidden': 'true' }), member.username, stateWords(voice.states.get(id)),
      member.talking ? el('span', { class: 'sr-only' }, ', talking') : null, slider);
  }));
}

function drawButtons() {
  const inThisCall = voice.inCall !== null && voice.inCall === voice.shown;
  $('voice-join').hidden = inThisCall;
  for (const id of ['voice-leave', 'voice-mute', 'voice-deafen']) $(id).hidden = !inThisCall;
  $('voice-safety').hidden = !inThisCall;
  $('voice-mute').setAttribute('aria-pressed', String(voice.muted));
  show('voice-mute', voice.muted ? 'Turn my microphone on' : 'Mute my microphone');
  $('voice-deafen').setAttribute('aria-pressed', String(voice.deafened));
  show('voice-deafen', voice.deafened ? 'Turn the sound on' : 'Turn the sound off');
}

// Shows the voice view for `channel` (a voice channel or a direct conversation titled
// `title`), or hides it for a text channel.
export function showVoice(channel, title) {
  const canCall = channel.kind === 'voice' || channel.kind === 'direct';
  $('voice').hidden = !canCall;
  voice.shown = canCall ? channel.id : null;
  if (!canCall) return;
  show('voice-join', channel.kind === 'direct' ? `Call ${title}` : 'Join the call');
  drawButtons();
  drawPeople();
}

// Who is in which call, muted or deafened, from the server's join, leave and state events.
export function voicePresence(kind, data) {
  if (!voice.seen.has(data.channel_id)) voice.seen.set(data.channel_id, new Map());
  const inChannel = voice.seen.get(data.channel_id);
  if (kind === 'voice_joined') inChannel.set(data.session_id, data.user.username);
  else if (kind === 'voice_state') voice.states.set(data.session_id, data);
  else {
    inChannel.delete(data.session_id);
    voice.states.delete(data.session_id);
  }
  if (data.channel_id === voice.shown) drawPeople();
}

// A new session: no call, nothing seen.
export function resetVoice() {
  voice.seen.clear();
  voice.states.clear();
  ended('');
}

function ended(reason) {
  voice.inCall = null;
  voice.members.clear();
  show('voice-error', reason ? `The call ended: ${reason}.` : '');
  $('voice-level').value = -90;
  drawButtons();
  drawPeople();
}

function onVoice(news) {
  if (news.kind === 'level') {
    $('voice-level').value = Math.max(-90, Math.min(0, news.dbfs));
    return;
  }
  if (news.kind === 'ended') {
    ended(news.reason);
    return;
  }
  if (news.kind === 'device_error') show('voice-error', news.message);
  else if (news.kind === 'joined') voice.members.set(news.session_id, { username: news.username, talking: false });
  else if (news.kind === 'left') voice.members.delete(news.session_id);
  else if (news.kind === 'talking') {
    const member = voice.members.get(news.session_id ?? 'me');
    if (member) member.talking = news.talking;
  }
  drawPeople();
}

const sendSettings = () => {
  if (voice.inCall !== null) act('voice-error', Cmd.voiceSetProcessing, { settings: settings() });
};
const keyName = (key) => (key === ' ' ? 'Space' : key);

export function initVoice() {
  on(Event.voice, onVoice);
  $('voice-settings').addEventListener('toggle', loadDevices);
  $('voice-join').addEventListener('click', async () => {
    await loadDevices();
    $('voice-join').disabled = true;
    show('voice-error', '');
    const channelId = voice.shown;
    voice.members.clear();
    const safety = await act('voice-error', Cmd.voiceJoin, {
      channelId,
      microphone: $('voice-microphone').value || null,
      speaker: $('voice-speaker').value || null,
      settings: settings(),
    });
    $('voice-join').disabled = false;
    if (safety === null) return;
    voice.inCall = channelId;
    voice.muted = false;
    voice.deafened = false;
    voice.members.set('me', { username: 'You', talking: false });
    show('voice-safety-number', safety);
    drawButtons();
    drawPeople();
  });
  $('voice-leave').addEventListener('click', async () => {
    await act('voice-error', Cmd.voiceLeave);
    ended('');
  });
  $('voice-mute').addEventListener('click', async () => {
    if (await act('voice-error', Cmd.voiceSetMuted, { muted: !voice.muted }) === null && $('voice-error').textContent) return;
    voice.muted = !voice.muted;
    drawButtons();
    drawPeople();
  });
  $('voice-deafen').addEventListener('click', async () => {
    if (await act('voice-error', Cmd.voiceSetDeafened, { deafened: !voice.deafened }) === null && $('voice-error').textContent) return;
    voice.deafened = !voice.deafened;
    drawButtons();
  });
  $('voice-microphone').addEventListener('change', (event) => {
    if (voice.inCall !== null) act('voice-error', Cmd.voiceSetMicrophone, { name: event.target.value || null });
  });
  $('voice-speaker').addEventListener('change', (event) => {
    if (voice.inCall !== null) act('voice-error', Cmd.voiceSetSpeaker, { name: event.target.value || null });
  });
  for (const id of ['voice-echo', 'voice-noise', 'voice-activation', 'voice-ptt', 'voice-threshold', 'voice-input-volume']) {
    $(id).addEventListener('change', sendSettings);
  }
  $('voice-ptt-key').addEventListener('keydown', (event) => {
    event.preventDefault();
    voice.pttKey = event.key;
    $('voice-ptt-key').value = keyName(event.key);
  });
  const pressed = (down) => (event) => {
    if (voice.inCall === null || !$('voice-ptt').checked || event.key !== voice.pttKey || event.repeat) return;
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName)) return;
    event.preventDefault();
    call(Cmd.voiceSetPressed, { pressed: down }).catch(() => {});
  };
  window.addEventListener('keydown', pressed(true));
  window.addEventListener('keyup', pressed(false));
}
