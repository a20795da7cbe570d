// The IDENTITY file: a database's identity, 16 random bytes drawn once, when a database first
// opens without one (at its creation; a database made by an older version gets one at its next
// open). It names one history of writes: replication (src/replication.ts) stamps it on every
// message so that a replica refuses the writes of another database. It sits in the database's
// root directory. A checkpoint, a backup or a restore does not copy it: a copy is a new history
// from its first write on, and gets its own at its first open.
//
//   IDENTITY := magic "STRATIDN" (8 bytes) | version u32 LE | identity (16 bytes) | checksum u32 LE
//   checksum := xxh32 (seed 0) of every byte before it
//
// Versions: v1 as above. Written to IDENTITY.tmp, fsynced, renamed, and the directory fsynced,
// so a crash leaves no IDENTITY (a new one is drawn at the next open; nothing can have used the
// old one yet, as open() had not resolved) or a complete one.

import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { corruption, getU32, ioError, putU32, StrataError, xxh32, type FileSystem } from './base/index.js';

const MAGIC = Buffer.from('STRATIDN', 'latin1');
const VERSION = 1;
export const IDENTITY_BYTES = 16;
const FILE_BYTES = 8 + 4 + IDENTITY_BYTES + 4;

export const identityFileName = (dir: string) => path.join(dir, 'IDENTITY');

/** The identity recorded in `dir` (as 32 lowercase hex digits); draws and records one when there is none. */
export async function loadIdentity(fs: FileSystem, dir: string): Promise<string> {
  const file = identityFileName(dir);
  if (await fs.exists(file)) return decodeIdentity(await fs.readFile(file), file);
  const identity = randomBytes(IDENTITY_BYTES);
  const bytes = new Uint8Array(FILE_BYTES);
  bytes.set(MAGIC, 0);
  putU32(bytes, 8, VERSION);
  bytes.set(identity, 12);
  putU32(bytes, 12 + IDENTITY_BYTES, xxh32(bytes.subarray(0, 12 + IDENTITY_BYTES)));
  const temp = `${file}.tmp`;
  const out = await fs.createWritable(temp);
  try {
    await out.append(bytes);
    await out.sync();
  } catch (err) {
    throw ioError('write', temp, err);
  } finally {
    await out.close();
  }
  await fs.rename(temp, file);
  await fs.syncDir(dir);
  return identity.toString('hex');
}

function decodeIdentity(bytes: Uint8Array, file: string): string {
  if (bytes.length < 12 || !Buffer.from(bytes.subarray(0, 8)).equals(MAGIC)) throw corruption(file, 0, 'not an IDENTITY file (bad magic)');
  const version = getU32(bytes, 8);
  if (version !== VERSION) throw new StrataError('NOT_SUPPORTED', `${file}: IDENTITY format v${version}`);
  if (bytes.length !== FILE_BYTES) throw corruption(file, 0, `IDENTITY of ${bytes.length} bytes, expected ${FILE_BYTES}`);
  const end = 12 + IDENTITY_BYTES;
  if (getU32(bytes, end) !== xxh32(bytes.subarray(0, end))) throw corruption(file, end, 'IDENTITY checksum mismatch');
  return Buffer.from(bytes.subarray(12, end)).toString('hex');
}
