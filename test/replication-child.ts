// The processes test/replication-cluster.long.test.ts SIGKILLs: a primary that writes and
// replicates, or a replica that follows. Lines on stdout (written at once: helpers' acknowledge):
//   "R"            ready: replicate() / follow() resolved
//   "A <seq>"      primary: a write (sync: true) resolved to <seq>
//   "K <seq>"      primary: publisher.acknowledged moved to <seq>
//   "Y <seq>"      replica: replica.applied moved to <seq>
//
//   node dist/test/replication-child.js primary DIR SERVERS STREAM SEED TAG
//   node dist/test/replication-child.js replica DIR SERVERS STREAM
// SERVERS: comma-separated URLs. A primary writes until it is killed.

import { open } from '../src/index.js';
import { follow, replicate } from '../src/replication.js';
import { acknowledge as say, Rng } from './helpers.js';
import { PRIMARY_OPTIONS, REPLICA_OPTIONS, WriteMix } from './replication-workload.js';

const WRITERS = 16;
const [mode, dir, serversArg, stream, seedArg, tag] = process.argv.slice(2);
if ((mode !== 'primary' && mode !== 'replica') || dir === undefined || serversArg === undefined || stream === undefined) {
  process.stderr.write('usage: replication-child.js primary DIR SERVERS STREAM SEED TAG | replica DIR SERVERS STREAM\n');
  process.exit(2);
}
const servers = serversArg.split(',');

/** Says `line(value)` each time `get()` moves, every 10 ms. */
function report(letter: string, get: () => bigint): void {
  let last = -1n;
  setInterval(() => {
    const now = get();
    if (now !== last) say(`${letter} ${now}`);
    last = now;
  }, 10);
}

function fail(what: string, err: unknown): never {
  process.stderr.write(`replication-child ${mode}: ${what}: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
}

if (mode === 'primary') {
  const db = await open(dir, PRIMARY_OPTIONS);
  const publisher = await replicate(db, { servers, stream, replicas: 3 }).catch((err) => fail('replicate()', err));
  say('R');
  report('K', () => publisher.acknowledged);
  const mix = new WriteMix(new Rng(Number(seedArg)), tag ?? 't');
  await mix.run(db, Number.MAX_SAFE_INTEGER, WRITERS, true, (seq) => say(`A ${seq}`)).catch((err) => fail('a write', err));
} else {
  const replica = await follow(dir, { servers, stream, open: REPLICA_OPTIONS }).catch((err) => fail('follow()', err));
  say('R');
  report('Y', () => replica.applied);
  replica.closed.then(
    () => fail('the replica', new Error('closed by itself')),
    (err) => fail('the replica stopped', err),
  );
}
