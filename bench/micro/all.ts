// Runs every micro-benchmark, one process each (so that one's heap and JIT state do not
// colour the next), passing the flags on.
//
//   node dist/bench/micro/all.js [--time ms]

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FILES = ['memtable', 'wal', 'block', 'block-read', 'bloom', 'checksum', 'compression'];
let failed = 0;
for (const name of FILES) {
  const file = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  const { status } = spawnSync(process.execPath, [file, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
