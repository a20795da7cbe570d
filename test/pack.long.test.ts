// The package as a user gets it: `npm pack`, the tarball installed into a new application, and
// used from ESM and from CommonJS. Installs reach the registry (--prefer-offline uses npm's
// cache first), so this runs in `npm run test:long` only (about a minute).
//
// Three installs: scripts skipped (--ignore-scripts: no addon), then the install script run by
// `npm rebuild` with a compiler that fails (CC=/bin/false), then with the real compiler. The
// first two must open databases through the JavaScript fallbacks, keep a second process out,
// and say why the addon is missing.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NATIVE_CALL_NAMES } from '../src/base/native.js';
import { makeTempDir, removeDir } from './helpers.js';

const repo = new URL('../../', import.meta.url).pathname;
const work = makeTempDir('strata-pack-');
const app = path.join(work, 'app');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Runs a command that must succeed; its standard output, then its standard error. */
function run(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  const out = `${String(r.stdout ?? '')}${String(r.stderr ?? '')}`;
  assert.is(r.status, 0, `${command} ${args.join(' ')} failed:\n${out}`);
  return out;
}

/** The JSON a command prints on its standard output (npm's --json). */
function runJson(command: string, args: string[], options: SpawnSyncOptions = {}): unknown {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  assert.is(r.status, 0, `${command} ${args.join(' ')} failed:\n${String(r.stdout)}${String(r.stderr)}`);
  return JSON.parse(String(r.stdout));
}

const ESM = `
import { open, nativeStatus } from 'stratadb';
import { StrataLevel } from 'stratadb/level';
import { FaultInjectingFileSystem } from 'stratadb/testing';
const warnings = [];
process.on('warning', (w) => warnings.push(w.code));
const db = await open(process.argv[2]);
await db.put('from', 'esm');
const value = (await db.get('from')).toString();
await db.close();
console.log(JSON.stringify({ value, status: nativeStatus(), warnings, level: typeof StrataLevel, testing: typeof FaultInjectingFileSystem }));
`;

const CJS = `
const { open, nativeStatus } = require('stratadb');
const level = require('stratadb/level');
const testing = require('stratadb/testing');
(async () => {
  const db = await open(process.argv[2]).catch((e) => { console.log(JSON.stringify({ code: e.code, name: e.constructor.name })); process.exit(0); });
  await db.put('from', 'cjs');
  const value = (await db.get('from')).toString();
  await db.close();
  console.log(JSON.stringify({ value, addon: nativeStatus().addon, level: typeof level.StrataLevel, testing: typeof testing.FaultInjectingFileSystem }));
})();
`;

const HOLDER = `
import { open } from 'stratadb';
await open(process.argv[2]);
console.log('HELD');
setInterval(() => {}, 1000);
`;

function node(script: string, dir: string, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const out = run(process.execPath, [script, dir], { cwd: app, env });
  return JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? 'null') as Record<string, unknown>;
}

/** Opens from ESM and CommonJS, and checks that a second process gets LOCKED from each. */
async function useTheInstall(expectAddon: string): Promise<Record<string, unknown>> {
  const env = { ...process.env };
  delete env['STRATADB_NATIVE'];
  const dbDir = makeTempDir('strata-pack-db-');
  try {
    const esm = node(path.join(app, 'use.mjs'), dbDir, env);
    const status = esm['status'] as { addon: string };
    assert.equal({ ...esm, status: undefined, warnings: undefined }, { value: 'esm', status: undefined, warnings: undefined, level: 'function', testing: 'function' });
    assert.is(status.addon, expectAddon);
    assert.equal(node(path.join(app, 'use.cjs'), dbDir, env), { value: 'cjs', addon: expectAddon, level: 'function', testing: 'function' });

    const holder = spawn(process.execPath, [path.join(app, 'hold.mjs'), dbDir], { cwd: app, env, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const first = await new Promise<string>((resolve) => {
        let out = '';
        holder.stdout.on('data', (c: Buffer) => ((out += c.toString()), out.includes('\n') && resolve(out.trim())));
        holder.once('exit', () => resolve(out.trim() || 'exited'));
      });
      assert.is(first, 'HELD');
      assert.equal(node(path.join(app, 'use.cjs'), dbDir, env), { code: 'LOCKED', name: 'StrataError' }, 'a second process is kept out');
    } finally {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
    }
    return esm;
  } finally {
    removeDir(dbDir);
  }
}

test('installed with scripts skipped, stratadb opens from ESM and CommonJS, locks out a second process, and says why the addon is missing', async () => {
  fs.mkdirSync(app, { recursive: true });
  const tgz = (runJson(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: repo }) as [{ filename: string }])[0].filename;
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  fs.writeFileSync(path.join(app, 'use.mjs'), ESM);
  fs.writeFileSync(path.join(app, 'use.cjs'), CJS);
  fs.writeFileSync(path.join(app, 'hold.mjs'), HOLDER);
  // abstract-level: stratadb/level's optional peer dependency.
  run(npm, ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, tgz), 'abstract-level@^3'], { cwd: app });
  assert.not.ok(fs.existsSync(path.join(app, 'node_modules/fs-ext')), 'fs-ext is no dependency');
  const esm = await useTheInstall('missing');
  const status = esm['status'] as { reason: string; fallbacks: Record<string, string> };
  assert.match(status.reason, /install script did not run/);
  assert.ok(status.fallbacks['flock'], 'the weaker lock is named');
  assert.equal(esm['warnings'], ['STRATADB_NO_NATIVE_ADDON'], 'one process warning');
});

test('an install script whose compiler fails warns, and the database still opens; nativeStatus() says the build failed', async () => {
  const out = run(npm, ['rebuild', 'stratadb', '--foreground-scripts'], { cwd: app, env: { ...process.env, CC: '/bin/false', CXX: '/bin/false' } });
  assert.match(out, /stratadb: WARNING: the native addon \(native\/\) did not build/);
  const esm = await useTheInstall('missing');
  assert.match((esm['status'] as { reason: string }).reason, /did not build when the package was installed/);
});

test('with a compiler the addon builds at install, and every native call is in use', async () => {
  run(npm, ['rebuild', 'stratadb'], { cwd: app });
  assert.not.ok(fs.existsSync(path.join(app, 'node_modules/stratadb/build/install-failed.log')), 'the failure record is gone');
  const esm = await useTheInstall('loaded');
  assert.equal((esm['status'] as { calls: string[] }).calls, [...NATIVE_CALL_NAMES]);
  assert.equal(esm['warnings'], []);
});

test('npm names stratadb and msgpackr-extract until the application approves or denies their install scripts', () => {
  const install = () => run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app });
  const before = install();
  assert.match(before, /not yet covered by allowScripts/);
  assert.match(before, /stratadb@0\.1\.0/);
  assert.match(before, /msgpackr-extract@/);
  // What README tells an application to run: stratadb's script allowed, msgpackr-extract's denied
  // (msgpackr has a JavaScript path) or allowed.
  run(npm, ['approve-scripts', 'stratadb'], { cwd: app });
  run(npm, ['deny-scripts', 'msgpackr-extract'], { cwd: app });
  assert.not.match(install(), /allowScripts/);
});

test.after(() => removeDir(work));

test.run();
