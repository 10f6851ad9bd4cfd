// forkbox worker: the Node.js process of a guest VM.
//
// Started by forkbox-agent (PID 1) at boot, before the VM is snapshotted,
// with /dev/null on fd 0 and the pipes of the future job's stdout and stderr
// on fds 1 and 2 (Node cannot dup2(): guest/agent/worker.h). It runs the
// recipe's prelude ($FORKBOX_RECIPE_DIR/prelude: a function body with
// `require`, loading modules, warming up), tells the agent "ready\n" on fd 4
// and blocks reading one job on fd 3. Every VM forked from the snapshot
// resumes here, receives one job and runs it in this process like
// `node /tmp/main.js`: CommonJS, `require.main === module`, uncaught errors
// printed with their stack and exit status 1, process.exit() and
// process.exitCode as usual, the process ending when its event loop is
// empty. The names the recipe binds ($FORKBOX_RECIPE_DIR/bind) are globals.
//
// Job on fd 3: "FBW1", u32 LE seed length, u32 LE code length, the seed
// (fresh entropy drawn by the agent after it reseeded the kernel RNG), the
// code. Must match guest/agent/worker.h.
'use strict';

const fs = require('fs');
const path = require('path');
const Module = require('module');

const JOB_FD = 3;
const STATUS_FD = 4;
const JOB_MAGIC = 'FBW1';
const MAX_SEED = 4096;
// The user's code, as a file (in the guest's private /tmp; host tests give
// each run its own directory).
const MAIN = path.join(process.env.FORKBOX_MAIN_DIR || '/tmp', 'main.js');
const RECIPE_DIR = process.env.FORKBOX_RECIPE_DIR || '/etc/forkbox';
// OpenSSL's reseed (node_reseed.c), installed beside this script.
const RESEED_ADDON = process.env.FORKBOX_RESEED_ADDON ||
                     path.join(__dirname, 'forkbox_reseed.node');

const openssl = require(RESEED_ADDON);

// count bytes, or null at end of file before the first one.
function readExactly(fd, count) {
  const buf = Buffer.alloc(count);
  let got = 0;
  while (got < count) {
    let n;
    try {
      n = fs.readSync(fd, buf, got, count - got, null);
    } catch (err) {
      if (err.code === 'EAGAIN' || err.code === 'EINTR') continue;
      throw err;
    }
    if (n === 0) {
      if (got === 0) return null;
      throw new Error(`job pipe closed after ${got} of ${count} bytes`);
    }
    got += n;
  }
  return buf;
}

function readJob() {
  const header = readExactly(JOB_FD, 12);
  if (header === null) process.exit(0); // the agent went away before a job (host tests)
  const seedLen = header.readUInt32LE(4);
  const codeLen = header.readUInt32LE(8);
  if (header.toString('latin1', 0, 4) !== JOB_MAGIC || seedLen > MAX_SEED) {
    throw new Error('malformed job header');
  }
  const seed = readExactly(JOB_FD, seedLen);
  const code = readExactly(JOB_FD, codeLen) || Buffer.alloc(0);
  if (seed === null) throw new Error('job pipe closed before the seed');
  return {seed, code};
}

function readRecipeFile(name) {
  try {
    return fs.readFileSync(path.join(RECIPE_DIR, name), 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return '';
    throw err;
  }
}

// The recipe's code before the snapshot, as a function body with the
// `require` of /tmp/main.js (the module cache is shared with the user's
// code); returns the bound names' values. A failure stops the boot with
// its stack on the console (the template build then fails naming it).
function runPrelude() {
  const names = readRecipeFile('bind').split(/\s+/).filter(Boolean);
  for (const name of names) {
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`bind: ${name} is not a name`);
  }
  const check = names.map((n) =>
    `if (typeof ${n} === 'undefined') throw new Error(` +
    `'the recipe binds ${n}, which its prelude does not define');`).join('\n');
  const body = `${readRecipeFile('prelude')}\n;${check}\nreturn {${names.join(', ')}};`;
  const prelude = new Function('require', body); // eslint-disable-line no-new-func
  return prelude(Module.createRequire(MAIN));
}

// Math.random() has no reseed in V8: every fork would repeat the
// snapshot's sequence. It becomes a draw from OpenSSL (reseeded below):
// 53 random bits per number, fetched 512 numbers at a time.
function replaceMathRandom(crypto) {
  const pool = new Uint32Array(1024);
  let next = pool.length;
  const random = function random() {
    if (next === pool.length) {
      crypto.randomFillSync(pool);
      next = 0;
    }
    const hi = pool[next++] >>> 5; // 27 bits
    const lo = pool[next++] >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  };
  Object.defineProperty(Math, 'random', {value: random, writable: true, configurable: true});
}

function reseed(seed) {
  // OpenSSL: crypto.randomBytes(), randomFillSync(), randomUUID(),
  // webcrypto, and so Math.random() from now on.
  openssl.reseed(seed);
  replaceMathRandom(require('crypto'));
}

// Once the code is done (its event loop empty, process.exit(), or an
// uncaught error), after the other 'exit' listeners ran: close stdio so
// the agent sees the end of the output, report "exit N" on the status
// pipe and stop. The agent takes the report as the exit and the VM is
// destroyed: really exiting would first tear down V8's heap and the
// process's address space on the request's path (worker.py does the same,
// guest/agent/README.md). Registered first, so it calls the listeners the
// code added itself, in order, as Node would have. After an uncaught error
// Node emits 'exit' before it prints the error: then Node exits its own way.
let fatal = false;
function leave(code) {
  if (fatal) return;
  for (const listener of process.listeners('exit')) {
    if (listener === leave) continue;
    try {
      listener.call(process, code);
    } catch (err) {
      process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
      process.exitCode = 1;
    }
  }
  const status = (process.exitCode === undefined ? code : process.exitCode) & 0xff;
  for (const fd of [0, 1, 2]) {
    try {
      fs.closeSync(fd);
    } catch (err) { /* already closed */ }
  }
  try {
    fs.writeSync(STATUS_FD, `exit ${status}\n`);
    process.kill(process.pid, 'SIGSTOP');
  } catch (err) { /* no agent to tell: exit as usual */ }
  process.reallyExit(status);
}

// Like `node /tmp/main.js`: the code becomes the main module. Run from the
// event loop (not from this script's stack) so an uncaught error shows
// only the user's frames and Node's, and is handled as Node does.
function runMain(code, bound) {
  for (const [name, value] of Object.entries(bound)) {
    Object.defineProperty(globalThis, name,
                          {value, writable: true, configurable: true, enumerable: false});
  }
  fs.writeFileSync(MAIN, code, {mode: 0o600});
  process.argv = [process.execPath, MAIN];
  process.chdir(path.dirname(MAIN));
  setImmediate(Module.runMain);
}

function main() {
  const bound = runPrelude();
  fs.writeSync(STATUS_FD, 'ready\n');
  const job = readJob();
  fs.closeSync(JOB_FD);
  reseed(job.seed);
  process.on('uncaughtExceptionMonitor', () => { fatal = true; });
  process.on('exit', leave);
  runMain(job.code, bound);
}

main();
