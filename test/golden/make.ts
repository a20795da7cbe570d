// Writes the golden databases of contents-v*.ts into test/golden/<name>/ and their checksums
// into test/golden/SHA256SUMS. Run once per format version, by hand, after a build:
//
//   npm run build && node dist/test/golden/make.js
//
// It leaves every directory that exists alone: the files of a released format version are
// never regenerated (see README.md). A new format version adds a contents file and new names.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type Database } from '../../src/index.js';
import { GOLDEN_V1 } from './contents-v1.js';
import { GOLDEN_V2, type GoldenDatabase, type Op } from './contents-v2.js';
import { logRecordTypes } from './format-v1.js';

const goldenDir = fileURLToPath(new URL('../../../test/golden/', import.meta.url));

async function run(db: Database, op: Op): Promise<unknown> {
  switch (op.type) {
    case 'put':
      return db.put(op.key, op.value, op.ttl === undefined ? {} : { ttl: op.ttl });
    case 'del':
      return db.del(op.key);
    case 'clear':
      return db.clear(op.range);
    case 'batch':
      return db.batch(op.ops);
    case 'flush':
      return db.flush();
    case 'compactRange':
      return db.compactRange();
  }
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .sort();
}

async function make(golden: GoldenDatabase): Promise<void> {
  const out = path.join(goldenDir, golden.name);
  if (fs.existsSync(out)) {
    console.log(`${golden.name}: exists, left alone (golden files are never regenerated: test/golden/README.md)`);
    return;
  }
  const work = fs.mkdtempSync(path.join(fs.realpathSync(process.env['TMPDIR'] ?? '/tmp'), 'strata-golden-'));
  try {
    for (const session of golden.sessions) {
      const db = await open(work, { ...golden.options, ...session.options });
      for (const op of session.ops) await run(db, op);
      if (session === golden.sessions[golden.sessions.length - 1]) {
        const levels = db.stats().levels.map((l) => l.files);
        console.log(`${golden.name}: tables per level ${levels.join(' ')}`);
      }
      await db.close();
    }
    // The lock files are created by open() when missing; they carry nothing.
    for (const p of filesUnder(work)) if (path.basename(p) === 'LOCK') fs.rmSync(path.join(work, p));
    for (const p of filesUnder(work)) {
      if (p.endsWith('.log')) console.log(`  ${p}: record types ${logRecordTypes(fs.readFileSync(path.join(work, p))).join(' ')}`);
    }
    fs.cpSync(work, out, { recursive: true });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const sums = filesUnder(out).map((p) => `${createHash('sha256').update(fs.readFileSync(path.join(out, p))).digest('hex')}  ${golden.name}/${p}`);
  fs.appendFileSync(path.join(goldenDir, 'SHA256SUMS'), sums.join('\n') + '\n');
  const bytes = filesUnder(out).reduce((n, p) => n + fs.statSync(path.join(out, p)).size, 0);
  console.log(`${golden.name}: ${sums.length} files, ${bytes} bytes`);
}

for (const golden of [...GOLDEN_V1, ...GOLDEN_V2]) await make(golden);
