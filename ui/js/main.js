// The app's page: starts the views. No framework and no build step: plain ES modules, one per
// view under views/, the element helper in dom.js, the command names in commands.js.

import { startHost } from './views/host.js';

startHost();
