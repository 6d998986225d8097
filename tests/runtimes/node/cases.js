'use strict';
// Node.js fixture for tests/tests/runtime_node.rs: runs one suite of cases
// under `rampart run` and reports each case's outcome.
//
//     node cases.js SUITE CONFIG_JSON
//
// For every case it writes `@@case NAME` to stderr with one write(2) (so the
// test can tell which rampart event lines belong to which case: a block line
// is written before the denied call returns, and children write theirs
// before they exit, which is before the case ends), then runs the case and
// prints one JSON line on stdout: {"case": NAME, "pid": PID, ...}.
//
// Every module is loaded here, at the top, so no case opens files of its own.

const fs = require('fs');
const path = require('path');
const net = require('net');
const dgram = require('dgram');
const childProcess = require('child_process');

const SUITE = process.argv[2];
const CFG = JSON.parse(process.argv[3]);
const ROOT = CFG.root;
const ALLOWED = path.join(ROOT, 'allowed');
const SECRET = path.join(ROOT, 'secret');

const CASES = [];
function test(suite, name, fn) {
  CASES.push({ suite, name, fn });
}

// What the runtime raised, for the test to compare exactly.
function err(e) {
  return { ok: false, error: e.constructor.name, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path };
}

async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return err(e);
  }
}

// --- files -------------------------------------------------------------------

test('block', 'open_sync_allowed', () =>
  attempt(() => {
    const fd = fs.openSync(path.join(ALLOWED, 'data.txt'), 'r');
    try {
      const buf = Buffer.alloc(100);
      return buf.toString('utf8', 0, fs.readSync(fd, buf));
    } finally {
      fs.closeSync(fd);
    }
  }));

test('block', 'open_sync_denied', () =>
  attempt(() => {
    fs.closeSync(fs.openSync(path.join(SECRET, 'x'), 'r'));
    return 'opened';
  }));

test('block', 'read_file_sync', async () => ({
  allowed: await attempt(() => fs.readFileSync(path.join(ALLOWED, 'data.txt'), 'utf8')),
  denied: await attempt(() => fs.readFileSync(path.join(SECRET, 'x'), 'utf8')),
}));

test('block', 'write_file_sync_denied', async () => ({
  create: await attempt(() => fs.writeFileSync(path.join(SECRET, 'new.txt'), 'leak')),
  created: fs.existsSync(path.join(SECRET, 'new.txt')),
  // 'w' truncates: it must be refused before the call, the content stays.
  truncate: await attempt(() => fs.writeFileSync(path.join(SECRET, 'x'), 'overwritten')),
}));

test('block', 'write_file_sync_allowed', () =>
  attempt(() => {
    fs.writeFileSync(path.join(ALLOWED, 'out.txt'), 'written');
    return fs.readFileSync(path.join(ALLOWED, 'out.txt'), 'utf8');
  }));

test('block', 'promises_read_file', async () => ({
  allowed: await attempt(() => fs.promises.readFile(path.join(ALLOWED, 'data.txt'), 'utf8')),
  denied: await attempt(() => fs.promises.readFile(path.join(SECRET, 'x'), 'utf8')),
}));

test('block', 'callback_open_denied', () =>
  attempt(
    () =>
      new Promise((resolve, reject) =>
        fs.open(path.join(SECRET, 'x'), 'r', (e, fd) => (e ? reject(e) : (fs.closeSync(fd), resolve('opened'))))),
  ));

test('block', 'symlink_to_denied', () => attempt(() => fs.readFileSync(path.join(ALLOWED, 'link'), 'utf8')));

test('block', 'symlink_to_allowed', () => attempt(() => fs.readFileSync(path.join(ALLOWED, 'goodlink'), 'utf8')));

test('block', 'symlink_dir_to_denied', () =>
  attempt(() => fs.readFileSync(path.join(ALLOWED, 'secretdir', 'x'), 'utf8')));

// String concatenation, not path.join: join would normalise the `..` away.
test('block', 'dotdot_escape', async () => ({
  escape: await attempt(() => fs.readFileSync(ALLOWED + '/../secret/x', 'utf8')),
  stay: await attempt(() => fs.readFileSync(ALLOWED + '/../allowed/./data.txt', 'utf8')),
  slashes: await attempt(() => fs.readFileSync(ROOT + '//secret///x', 'utf8')),
}));

test('block', 'relative_after_chdir', async () => {
  const before = process.cwd();
  try {
    process.chdir(ALLOWED);
    const allowed = await attempt(() => fs.readFileSync('data.txt', 'utf8'));
    const up = await attempt(() => fs.readFileSync('../secret/x', 'utf8'));
    process.chdir(SECRET);
    const inSecret = await attempt(() => fs.readFileSync('x', 'utf8'));
    return { allowed, up, in_secret: inSecret };
  } finally {
    process.chdir(before);
  }
});

test('block', 'open_modes', async () => ({
  // 'r+' is O_RDWR: "rw"; 'a' appends: "w", and nothing is created.
  rplus: await attempt(() => fs.closeSync(fs.openSync(path.join(SECRET, 'x'), 'r+'))),
  append: await attempt(() => fs.appendFileSync(path.join(SECRET, 'y'), 'more')),
  created: fs.existsSync(path.join(SECRET, 'y')),
}));

// /proc/** is allowed for reading, but /proc/self/root is a link to /: the
// file really opened is the secret one.
test('block', 'proc_root_escape', () =>
  attempt(() => fs.readFileSync('/proc/self/root' + path.join(SECRET, 'x'), 'utf8')));

// --- network -----------------------------------------------------------------

function tcpConnect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    // destroy, not end: the peer never reads or closes, and a half-open
    // socket would keep the event loop (and the fixture) alive.
    s.on('connect', () => s.write('ping', () => (s.destroy(), resolve('connected'))));
    s.on('error', reject);
  });
}

test('block', 'net_connect_allowed', () => attempt(() => tcpConnect(CFG.tcp_allowed)));
test('block', 'net_connect_denied', () => attempt(() => tcpConnect(CFG.tcp_denied)));

function udpSend(port) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', (e) => (s.close(), reject(e)));
    s.send('datagram', port, '127.0.0.1', (e, n) => {
      s.close();
      if (e) reject(e);
      else resolve(n);
    });
  });
}

test('block', 'dgram_send_allowed', () => attempt(() => udpSend(CFG.udp_allowed)));
test('block', 'dgram_send_denied', () => attempt(() => udpSend(CFG.udp_denied)));

// --- processes ---------------------------------------------------------------

// stderr is inherited (not piped) so the child's event lines reach the test in order.
function spawn(file, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const c = childProcess.spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout: out, pid: c.pid }));
  });
}

test('block', 'spawn_allowed', () => attempt(() => spawn('/usr/bin/echo', ['hello'])));
test('block', 'spawn_denied', () => attempt(() => spawn('/usr/bin/uname', ['-s'])));

// allowed/tool -> /usr/bin/uname: the program is the link's target.
test('block', 'spawn_via_symlink', () => attempt(() => spawn(path.join(ALLOWED, 'tool'), ['-s'])));

// The child changes to cwd and then execs ./tool (-> uname, denied) or ./ok
// (-> true, allowed): relative to the child's directory, not the parent's.
test('block', 'spawn_relative_cwd', async () => ({
  tool: await attempt(() => spawn('./tool', ['-s'], { cwd: ALLOWED })),
  ok: await attempt(() => spawn('./ok', [], { cwd: ALLOWED }).then((r) => r.code)),
}));

test('block', 'spawn_env_scrubbed', () =>
  attempt(() =>
    spawn(
      process.execPath,
      [
        '-e',
        `let r;
         try { require('fs').readFileSync(${JSON.stringify(path.join(SECRET, 'x'))}); r = { ok: true }; }
         catch (e) { r = { ok: false, code: e.code }; }
         r.pid = process.pid;
         r.env = Object.keys(process.env).filter((k) => k.startsWith('RAMPART_') || k === 'LD_PRELOAD').sort();
         console.log(JSON.stringify(r));`,
      ],
      { env: {} },
    ).then((r) => ({ code: r.code, child: r.stdout ? JSON.parse(r.stdout) : null }))));

test('block', 'exec_sync_allowed', () =>
  attempt(() => childProcess.execSync('echo hello', { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })));

test('block', 'exec_sync_denied_inner', async () => {
  // /bin/sh is allowed, the program it runs is not: the shell reports
  // "Permission denied" and exits 126, so execSync throws.
  try {
    const out = childProcess.execSync('/usr/bin/uname -s', { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    return { ok: true, value: out };
  } catch (e) {
    return { ok: false, error: e.constructor.name, status: e.status, signal: e.signal, stdout: e.stdout };
  }
});

// Last of its suite: once the process resolved localhost, the library
// names 127.0.0.1 "localhost" in every later target.
test('block', 'net_connect_by_name_denied', () =>
  attempt(
    () =>
      new Promise((resolve, reject) => {
        const s = net.connect({ host: 'localhost', port: CFG.tcp_denied, family: 4 });
        s.on('connect', () => s.write('ping', () => (s.destroy(), resolve('connected'))));
        s.on('error', reject);
      }),
  ));

// --- alert mode --------------------------------------------------------------

test('alert', 'alert_file', () => attempt(() => fs.readFileSync(path.join(SECRET, 'x'), 'utf8')));
test('alert', 'alert_connect', () => attempt(() => tcpConnect(CFG.tcp_denied)));

async function main() {
  const selected = CASES.filter((c) => c.suite === SUITE);
  if (selected.length === 0) {
    console.error(`unknown suite ${SUITE}`);
    process.exit(2);
  }
  for (const { name, fn } of selected) {
    fs.writeSync(2, `@@case ${name}\n`);
    let out;
    try {
      out = await fn();
    } catch (e) {
      out = { unexpected: err(e) };
    }
    fs.writeSync(1, JSON.stringify({ case: name, pid: process.pid, ...out }) + '\n');
  }
  fs.writeSync(2, '@@done\n');
}

main();
