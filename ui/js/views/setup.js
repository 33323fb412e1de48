// First-run setup of the host side: server name, the admin's password, router ports.

import { $, show } from '../dom.js';
import { Cmd, act } from '../commands.js';

// `onDone(password)` runs once the server is set up (the host's chat signs in with it).
export function initSetup(onDone) {
  $('setup-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const password = $('admin-password').value;
    if (!$('server-name').value.trim()) {
      show('setup-error', 'Please give your server a name.');
      return;
    }
    if (password !== $('admin-password-again').value) {
      show('setup-error', 'The two passwords are not the same.');
      return;
    }
    $('setup-submit').disabled = true;
    show('setup-submit', 'Setting up…');
    const status = await act('setup-error', Cmd.setup, {
      choices: {
        server_name: $('server-name').value,
        admin_password: password,
        open_router_ports: $('open-router-ports').checked,
      },
    });
    $('setup-submit').disabled = false;
    show('setup-submit', 'Set up and start');
    if (status) onDone(password);
  });
}
