// Check that a trimmed node rootfs still runs what guests need.
//
// Runs inside the tree (chroot ROOT node - < check.js) after trim.py; any
// failure throws, so the build stops with the stack.
'use strict';
const assert = require('assert');

// Modules the worker and typical user code load; each pulls in parts of
// libnode (ICU, OpenSSL, zlib, c-ares, libuv) trim.py must not have removed.
const MODULES = [
  'fs', 'path', 'os', 'util', 'events', 'stream', 'buffer', 'crypto', 'zlib', 'vm',
  'module', 'child_process', 'url', 'querystring', 'string_decoder', 'timers',
  'readline', 'assert', 'http', 'https', 'net', 'dns', 'worker_threads', 'perf_hooks',
];

function main() {
  for (const name of MODULES) require(name);
  const crypto = require('crypto');
  assert.strictEqual(crypto.randomBytes(16).length, 16);
  assert.strictEqual(crypto.createHash('sha256').update('').digest('hex').slice(0, 8), 'e3b0c442');
  const r = Math.random();
  assert(r >= 0 && r < 1);
  const zlib = require('zlib');
  assert.strictEqual(zlib.gunzipSync(zlib.gzipSync('forkbox')).toString(), 'forkbox');
  // ICU: full data, not just English
  assert.strictEqual(new Intl.NumberFormat('de-DE').format(1234.5), '1.234,5');
  const out = require('child_process').execFileSync('/bin/sh', ['-c', 'echo sh-ok']);
  assert.strictEqual(out.toString(), 'sh-ok\n');
  console.log(`check: ok: Node ${process.version}, OpenSSL ${process.versions.openssl}, ` +
              `${MODULES.length} modules, crypto/zlib/Intl, /bin/sh`);
}

main();
