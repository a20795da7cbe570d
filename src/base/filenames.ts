// Names of the files in a database directory. File numbers come from one counter per
// database (recorded in the MANIFEST), so a number names exactly one file ever.
//
//   LOCK                 flock(2) target, and the name of the fallback lock; content meaningless
//   CURRENT              the name of the live MANIFEST, then "\n"
//   MANIFEST-000001      log of version edits
//   000002.log           a WAL
//   000003.sst           a table
//   *.tmp                a file being written; deleted at open

import * as path from 'node:path';

export type FileKind = 'wal' | 'table' | 'manifest' | 'current' | 'lock' | 'temp';

const pad = (n: number) => String(n).padStart(6, '0');

export const walFileName = (dir: string, n: number) => path.join(dir, `${pad(n)}.log`);
export const tableFileName = (dir: string, n: number) => path.join(dir, `${pad(n)}.sst`);
export const manifestFileName = (dir: string, n: number) => path.join(dir, `MANIFEST-${pad(n)}`);
export const currentFileName = (dir: string) => path.join(dir, 'CURRENT');
export const lockFileName = (dir: string) => path.join(dir, 'LOCK');
export const tempFileName = (dir: string, n: number) => path.join(dir, `${pad(n)}.tmp`);

/** Classifies a directory entry by name; undefined for names stratadb never writes. */
export function parseFileName(name: string): { kind: FileKind; number: number } | undefined {
  if (name === 'CURRENT') return { kind: 'current', number: 0 };
  if (name === 'LOCK') return { kind: 'lock', number: 0 };
  let m = /^MANIFEST-(\d+)$/.exec(name);
  if (m) return { kind: 'manifest', number: Number(m[1]) };
  m = /^(\d+)\.(log|sst|tmp)$/.exec(name);
  if (!m) return undefined;
  const kind = m[2] === 'log' ? 'wal' : m[2] === 'sst' ? 'table' : 'temp';
  return { kind, number: Number(m[1]) };
}
