// The package's install script: builds the native addon (native/stratadb_io.c) with node-gyp.
//
// A failed build must not fail the install: every native call has a JavaScript fallback
// (src/base/native.ts). But npm shows a dependency's install output only when the script
// fails, so a warning printed here is seen only by whoever installs a checkout of stratadb
// itself. The failure is therefore also written to build/install-failed.log, which the loader
// reads to say why the addon is missing (nativeStatus().reason), and open() emits a process
// warning once when it runs without the addon.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const failedLog = new URL('build/install-failed.log', root);

// npm runs lifecycle scripts with its own node-gyp: npm_config_node_gyp names its entry point
// (and npm puts a node-gyp shim on PATH). Outside npm, node-gyp must be on PATH.
const gyp = process.env.npm_config_node_gyp;
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(command, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], shell: !gyp && process.platform === 'win32' });
process.stdout.write(r.stdout ?? '');
process.stderr.write(r.stderr ?? '');

if (r.status === 0) {
  rmSync(failedLog, { force: true });
} else {
  const why = r.error ? `${command} could not run: ${r.error.message}` : `node-gyp rebuild exited with ${r.status ?? r.signal}`;
  mkdirSync(new URL('build/', root), { recursive: true });
  writeFileSync(failedLog, `${why}\n\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  console.warn(
    `stratadb: WARNING: the native addon (native/) did not build (${why}); stratadb works without it, ` +
      'through the JavaScript fallback of each call, with a weaker directory lock (README, "Native addon"). ' +
      `Log: ${failedLog.pathname}`,
  );
}
