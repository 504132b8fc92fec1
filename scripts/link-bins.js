// Writes dist/<stage>.js for every dist/bin/<stage>.js, so users run `node dist/webserver1.js`
// while the sources keep one folder per layer (src/bin/).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dist = path.resolve(__dirname, '..', 'dist');
const binDir = path.join(dist, 'bin');
for (const file of fs.readdirSync(binDir)) {
  if (!file.endsWith('.js')) continue;
  // startEntry turns a load-time failure (the addon built for another Node) into one line, exit 1.
  const shim = `#!/usr/bin/env node\n'use strict';\nrequire('./entry.js').startEntry(() => require('./bin/${file}'));\n`;
  fs.writeFileSync(path.join(dist, file), shim, { mode: 0o755 });
}
