// Fails the build when an import points the wrong way between the folders of src/.
// The allowed direction: base ← wal, memtable, sstable ← manifest ← compaction ← engine ← shard ←
// public API (src/*.ts) ← level, testing, tools (adapters and tools on the public API);
// replication (the formats and client door of stratadb/replication) sits beside shard. A stage
// folder is reached through its index.ts only; base, the shared vocabulary of small helpers,
// file by file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

const src = new URL('../src/', import.meta.url).pathname;
const rank = { base: 0, wal: 1, memtable: 1, sstable: 1, manifest: 2, compaction: 3, engine: 4, shard: 5, replication: 5, '': 6, level: 7, testing: 7, tools: 7 };

function layerOf(file) {
  const rel = relative(src, file);
  const top = rel.includes('/') ? rel.split('/')[0] : '';
  if (!(top in rank)) throw new Error(`${rel}: folder ${top} has no place in scripts/check-layers.js`);
  return top;
}

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (name.endsWith('.ts')) yield p;
  }
}

const problems = [];
for (const file of files(src)) {
  const from = layerOf(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)) {
    const target = resolve(dirname(file), m[1]);
    const to = layerOf(target);
    if (to === from) continue;
    if (rank[to] >= rank[from]) problems.push(`${relative(src, file)} imports ${m[1]} (${from || 'api'} → ${to || 'api'})`);
    else if (to !== '' && to !== 'base' && !/\/index\.js$/.test(m[1]) && !target.startsWith(join(src, to, 'index'))) {
      problems.push(`${relative(src, file)} imports ${m[1]}: other folders are reached through their index.ts`);
    }
  }
}
if (problems.length > 0) {
  console.error('layering violations:\n  ' + problems.join('\n  '));
  process.exit(1);
}
