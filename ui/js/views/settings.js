// Settings: start at login.

import { $ } from '../dom.js';
import { Cmd, act, call } from '../commands.js';

export function initSettings() {
  $('autostart').addEventListener('change', async (event) => {
    const enabled = await act('settings-error', Cmd.setAutostart, { enabled: event.target.checked });
    if (enabled !== null) event.target.checked = enabled;
  });
  call(Cmd.autostartEnabled).then((on) => { $('autostart').checked = on; }, () => {});
}
