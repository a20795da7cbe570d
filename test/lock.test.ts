// The directory lock (NodeFileSystem.lock): flock(2) through the native addon, an abstract Unix
// socket without it (src/base/fs.ts says why). Runs twice in `npm test`, the second time with
// STRATADB_NATIVE=0, so that both kinds keep a second open out, in this process and in others;
// with the addon, a process with it and one without keep each other out.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs_ from 'node:fs';
import * as path from 'node:path';
import { NodeFileSystem } from '../src/base/index.js';
import { nativeIo } from '../src/base/native.js';
import { nativeStatus, open } from '../src/index.js';
import { expectCode, withTempDir } from './helpers.js';

const index = new URL('../src/index.js', import.meta.url).href;
const withFlock = nativeIo.calls.includes('flock');

/** Runs open(dir) in a fresh process; its error code, or 'OPENED'. */
function openInChild(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  const script = `import(${JSON.stringify(index)}).then((m) => m.open(${JSON.stringify(dir)})).then(
    (db) => db.close().then(() => console.log('OPENED')), (e) => console.log(e.code))`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env, timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** A child process that holds dir open until killed; resolves once it holds it. */
async function holderInChild(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const script = `import(${JSON.stringify(index)}).then((m) => m.open(${JSON.stringify(dir)})).then(
    () => { console.log('HELD'); setInterval(() => {}, 1000); }, (e) => { console.log(e.code); process.exit(3); })`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', () => resolve(out.trim() || 'exited'));
  });
  if (first !== 'HELD') await kill(child);
  assert.is(first, 'HELD');
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

test('nativeStatus() names the lock in use: flock with the addon, the socket fallback without', () => {
  const status = nativeStatus();
  assert.is(status.calls.includes('flock'), withFlock);
  if (withFlock) assert.is(status.fallbacks.flock, undefined);
  else assert.match(status.fallbacks.flock ?? '', /abstract Unix socket/);
  if (status.addon !== 'loaded') assert.ok(status.reason, 'an addon not in use says why');
});

test('stats().native says the same as nativeStatus(), on every open database', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { shards: 2 });
    try {
      const { native } = db.stats();
      assert.equal(native, nativeStatus());
      assert.is(native.calls.includes('flock'), withFlock);
    } finally {
      await db.close();
    }
  }));

test('a second lock of the same file fails at once with LOCKED, and release() frees it', async () => {
  await withTempDir(async (dir) => {
    const fs = new NodeFileSystem();
    const file = path.join(dir, 'LOCK');
    const lock = await fs.lock(file);
    await expectCode(() => fs.lock(file), 'LOCKED');
    await lock.release();
    await lock.release();
    const again = await fs.lock(file);
    await again.release();
  });
});

test('the lock is the same through a symbolic link to the directory', async () => {
  await withTempDir(async (dir) => {
    const fs = new NodeFileSystem();
    fs_.mkdirSync(path.join(dir, 'db'));
    fs_.symlinkSync(path.join(dir, 'db'), path.join(dir, 'alias'));
    const lock = await fs.lock(path.join(dir, 'db', 'LOCK'));
    await expectCode(() => fs.lock(path.join(dir, 'alias', 'LOCK')), 'LOCKED');
    await lock.release();
  });
});

test('another process gets LOCKED while a database is open, and opens it once it is closed', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    assert.is(openInChild(dir), 'LOCKED');
    await db.close();
    assert.is(openInChild(dir), 'OPENED');
  });
});

test('a holder killed with SIGKILL leaves no stale lock behind', async () => {
  await withTempDir(async (dir) => {
    const child = await holderInChild(dir);
    try {
      await expectCode(() => open(dir), 'LOCKED');
    } finally {
      await kill(child);
    }
    const db = await open(dir);
    await db.close();
  });
});

test('a process with the addon and one without keep each other out', async () => {
  if (!withFlock) return;
  const fallback = { ...process.env, STRATADB_NATIVE: '0' };
  await withTempDir(async (dir) => {
    const db = await open(dir);
    assert.is(openInChild(dir, fallback), 'LOCKED', 'the fallback sees the flock holder');
    await db.close();
    const child = await holderInChild(dir, fallback);
    try {
      await expectCode(() => open(dir), 'LOCKED', 'the flock taker sees the fallback holder');
    } finally {
      await kill(child);
    }
    await (await open(dir)).close();
  });
});

test.run();
