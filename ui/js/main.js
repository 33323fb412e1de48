// The app's page: decides what to show and starts the views. No framework and no build step:
// plain ES modules, one per view under views/, the element helper in dom.js, the command names
// in commands.js.
//
// The very first start asks one question (host a family server on this PC, or join one). A
// host sees the server's dashboard and, on the "Family chat" tab, the chat; a family member
// sees only the chat (and the join screens until they have joined).

import { $, el, show } from './dom.js';
import { Cmd, Event, act, call, on } from './commands.js';
import { startHost } from './views/host.js';
import { initJoin, showJoin } from './views/join.js';
import { initChat, showChat } from './views/chat.js';

let state = { mode: null, servers: [], link: null };
let signed = null;
let hostStarted = false;
let signinIndex = 0; // the remembered server the sign-in screen is for
let signinHere = false; // or the host's own server, not remembered yet

function showOnly(part) {
  for (const name of ['welcome', 'host', 'family']) $(name).hidden = name !== part;
  $('show-chat').setAttribute('aria-pressed', String(part === 'family'));
  $('show-server').setAttribute('aria-pressed', String(part === 'host'));
  document.body.dataset.view = part;
}

function hideFamilyScreens() {
  for (const name of ['join', 'signin', 'chat']) $(name).hidden = true;
}

function enterChat(session) {
  signed = session;
  hideFamilyScreens();
  if (state.mode !== 'host') show('title', session.server_name);
  showChat(session);
  // Every remembered server, the one just opened first (the app keeps them in that order).
  call(Cmd.appState).then((now) => {
    state = { ...now, link: null };
    $('server-form').hidden = state.servers.length < 2 && state.mode === 'host';
    $('server-switch').replaceChildren(...state.servers.map((server, index) =>
      el('option', { value: String(index) }, `${server.name} (as ${server.username})`)));
  }, () => {});
}

// Opens remembered server `index`: with its kept session, else its sign-in screen.
async function switchServer(index) {
  const session = await act('chat-error', Cmd.resume, { index });
  if (session) {
    enterChat(session);
    return;
  }
  signed = null;
  signinIndex = index;
  signinHere = false;
  hideFamilyScreens();
  show('signin-text', `Type your password for ${state.servers[index].name} to open the family chat.`);
  $('signin').hidden = false;
}

// The family side: the chat when signed in, else a kept session, else sign-in or joining.
async function openFamily(link) {
  showOnly('family');
  // The server badge is the host's; a family member's app runs no server.
  $('state-badge').hidden = state.mode !== 'host';
  if (link) {
    hideFamilyScreens();
    showJoin(link);
    return;
  }
  if (signed) {
    $('chat').hidden = false;
    return;
  }
  hideFamilyScreens();
  if (state.servers.length) {
    const session = await act('signin-error', Cmd.resume, { index: 0 });
    if (session) {
      enterChat(session);
      return;
    }
  }
  if (state.mode === 'host' || state.servers.length) {
    signinHere = !state.servers.length;
    signinIndex = 0;
    show('signin-text', signinHere
      ? 'Type the password you chose when you set up the server to open the family chat.'
      : `Type your password for ${state.servers[0].name} to open the family chat.`);
    $('signin').hidden = false;
    $('signin-password').focus();
    return;
  }
  showJoin(null);
}

function startHostSide() {
  if (hostStarted) return;
  hostStarted = true;
  startHost((password) => {
    // The host chats as the server's administrator: sign in now, with the password just chosen.
    call(Cmd.signInHere, { password }).then((session) => { signed = session; showChat(session); }, () => {});
  });
}

function wire() {
  $('choose-host').addEventListener('click', async () => {
    if (await act('welcome-error', Cmd.chooseMode, { mode: 'host' }) === null) return;
    state.mode = 'host';
    showOnly('host');
    startHostSide();
  });
  $('choose-join').addEventListener('click', async () => {
    if (await act('welcome-error', Cmd.chooseMode, { mode: 'member' }) === null) return;
    state.mode = 'member';
    openFamily(null);
  });
  $('show-chat').addEventListener('click', () => openFamily(null));
  $('show-server').addEventListener('click', () => showOnly('host'));
  $('signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const password = $('signin-password').value;
    const session = signinHere
      ? await act('signin-error', Cmd.signInHere, { password })
      : await act('signin-error', Cmd.signIn, { index: signinIndex, password });
    if (session) {
      $('signin-password').value = '';
      enterChat(session);
    }
  });
  const joinAnother = () => {
    hideFamilyScreens();
    showJoin(null);
  };
  $('signin-join').addEventListener('click', joinAnother);
  $('server-join').addEventListener('click', joinAnother);
  $('server-switch').addEventListener('change', (event) => switchServer(Number(event.target.value)));
  initJoin(enterChat);
  initChat((reason) => {
    signed = null;
    show('signin-error', reason);
    call(Cmd.appState).then((now) => { state = { ...now, link: null }; openFamily(null); }, () => {});
  });
  // A link clicked while the app runs (the OS hands it over to this instance).
  on(Event.joinLink, () => call(Cmd.appState).then((now) => openFamily(now.link), () => {}));
}

async function start() {
  wire();
  state = await call(Cmd.appState);
  if (state.mode === 'host') {
    showOnly('host');
    startHostSide();
  } else if (state.mode === 'member' || state.link) {
    openFamily(state.link);
  } else {
    showOnly('welcome');
  }
}

start();
