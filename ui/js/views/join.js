// Joining a family server, in at most three screens: the invite (an opened itc:// link skips
// this one; or pasted; or read from a picture of its QR code), then a name and password, then
// the chat's #general. The invite pins the server, so there is no certificate question.

import { $, show } from '../dom.js';
import { Cmd, act } from '../commands.js';

let invite = null;
let joined = () => {};

function showStep(account) {
  $('join-step-invite').hidden = account;
  $('join-step-account').hidden = !account;
  (account ? $('join-username') : $('join-invite')).focus();
}

async function accept(summary) {
  if (!summary) return;
  invite = summary.text;
  show('join-server-name', summary.server_name);
  showStep(true);
}

// Shows the join screens; `link` (an itc:// link the app was opened with) skips the first.
export async function showJoin(link) {
  $('join').hidden = false;
  if (link) {
    $('join-invite').value = link;
    await accept(await act('join-invite-error', Cmd.readInvite, { text: link }));
    if (invite) return;
  }
  showStep(false);
}

// `onJoined(signed)` runs once the account is made and signed in.
export function initJoin(onJoined) {
  joined = onJoined;
  $('join-continue').addEventListener('click', async () => {
    const text = $('join-invite').value.trim();
    if (!text) {
      show('join-invite-error', 'Please paste the invite you were sent.');
      return;
    }
    accept(await act('join-invite-error', Cmd.readInvite, { text }));
  });
  $('join-picture').addEventListener('change', async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    const bytes = Array.from(new Uint8Array(await file.arrayBuffer()));
    event.target.value = '';
    accept(await act('join-invite-error', Cmd.readInvitePicture, { bytes }));
  });
  $('join-back').addEventListener('click', () => showStep(false));
  $('join-step-account').addEventListener('submit', async (event) => {
    event.preventDefault();
    const username = $('join-username').value.trim();
    const password = $('join-password').value;
    if (!username) {
      show('join-error', 'Please choose the name the family will see.');
      return;
    }
    if (password.length < 8) {
      show('join-error', 'The password needs at least 8 characters.');
      return;
    }
    if (password !== $('join-password-again').value) {
      show('join-error', 'The two passwords are not the same.');
      return;
    }
    $('join-submit').disabled = true;
    show('join-submit', 'Joining…');
    const signed = await act('join-error', Cmd.join, { invite, username, password });
    $('join-submit').disabled = false;
    show('join-submit', 'Join');
    if (signed) {
      $('join').hidden = true;
      $('join-password').value = '';
      $('join-password-again').value = '';
      joined(signed);
    }
  });
}
