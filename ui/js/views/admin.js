// The few quick admin actions in the chat's side bar, for administrators: add a channel,
// make someone an administrator (or not), and invite someone (the invite's link and text;
// the host's Server view also shows its QR code). The full admin panel (admin/panel.js) opens
// from here, for moderators too; the member's own side of moderation is in standing.js.

import { $, choosePeople, show } from '../dom.js';
import { nameAndRank } from '../format.js';
import { Cmd, act } from '../commands.js';
import { initPanel, showPanel } from './admin/panel.js';
import { initStanding, standingFor } from './standing.js';

let changed = () => {};

// Shows the admin parts to administrators (and the panel to moderators), with `people` to
// choose from.
export function showAdmin(me, people) {
  standingFor(me.username, me.timed_out_until);
  showPanel(me, people);
  $('chat-admin').hidden = !me.admin;
  if (!me.admin) return;
  const others = people.filter((person) => person.username !== me.username);
  choosePeople($('admin-role-user'), others, nameAndRank);
}

async function setRole(admin) {
  const username = $('admin-role-user').value;
  if (!username) return;
  const done = await act('admin-error', Cmd.setRole, { username, admin });
  if (done) {
    show('admin-message', admin ? `${username} is now an administrator.` : `${username} is now an ordinary member.`);
    changed();
  }
}

// `onChanged` runs after a change others can see (roles), to redraw the people.
export function initAdmin(onChanged) {
  changed = onChanged;
  initPanel(onChanged);
  initStanding();
  $('admin-channel-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = $('admin-channel-name').value.trim().replace(/^#/, '');
    if (!name) {
      show('admin-error', 'Please give the channel a name.');
      return;
    }
    const reply = await act('admin-error', Cmd.createChannel, { name, voice: $('admin-channel-voice').checked });
    if (reply) {
      $('admin-channel-name').value = '';
      show('admin-message', `#${reply.data.name} is ready.`);
    }
  });
  $('admin-role-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setRole(true);
  });
  $('admin-make-member').addEventListener('click', () => setRole(false));
  $('admin-invite-create').addEventListener('click', async () => {
    const invite = await act('admin-error', Cmd.createInviteAsAdmin, { note: null, expiresInSeconds: 604800 });
    if (!invite) return;
    show('admin-invite-text', invite.text);
    show('admin-invite-link', invite.link);
    $('admin-invite-card').hidden = false;
  });
  $('admin-invite-copy').addEventListener('click', () =>
    act('admin-error', Cmd.copyText, { text: $('admin-invite-text').textContent }));
  $('admin-invite-copy-link').addEventListener('click', () =>
    act('admin-error', Cmd.copyText, { text: $('admin-invite-link').textContent }));
}
