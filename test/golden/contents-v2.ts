// What the format-v2 golden databases hold (table format v2: meta-index, range-deletion
// blocks; RangeDelete entries in WAL batches): the writes make.ts issued, session by session,
// and so what a reader must find in them (golden.test.ts replays the same writes into a model).
// The v1 contents, with range deletions added: in a level-0 table, in the WAL, in a batch, in
// a batch across shards, with and without an upper bound; and puts with a time-to-live
// (PutWithExpiry, kind 4): some that never expire in practice (a thousand years), some that had
// expired before the files were committed (1 ms), over older values that must stay hidden.
//
// FROZEN, like the directories written from it: v2-single/ and v2-sharded/ were made from
// exactly this file. Editing it makes golden.test.ts expect something the files do not hold.
// A new format version gets a new contents file and new directories.
//
// Values come from a PRNG defined here (not test/helpers.ts), so that nothing outside this
// file can change what the files are expected to hold.

export interface Range {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
}

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer; ttl?: number } | { type: 'del'; key: Buffer } | ({ type: 'clear' } & Range);

/** A ttl that outlives every test run. Puts with a shorter one (EXPIRED_TTL) had expired before the files were committed. */
export const LONG_TTL = 1000 * 365 * 24 * 3600 * 1000;
export const EXPIRED_TTL = 1;

export type Op =
  | { type: 'put'; key: Buffer; value: Buffer; ttl?: number }
  | { type: 'del'; key: Buffer }
  | { type: 'clear'; range: Range }
  | { type: 'batch'; ops: BatchOp[] }
  | { type: 'flush' }
  | { type: 'compactRange' };

export interface Session {
  /** Options of this session's open() (beside the common ones). */
  options: Record<string, unknown>;
  ops: Op[];
}

export interface GoldenDatabase {
  name: string;
  /** Options every session opened with. */
  options: Record<string, unknown>;
  sessions: Session[];
}

/** mulberry32: a tiny PRNG, fixed here for good. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(next: () => number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** A value that LZ4 shrinks well: text repeated to `n` bytes. */
const textValue = (tag: string, n: number) => Buffer.alloc(n, `${tag} is a compressible value; `);

const key = (s: string) => Buffer.from(s);
const name = (prefix: string, i: number) => key(`${prefix}/${String(i).padStart(3, '0')}`);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function single(): GoldenDatabase {
  const next = prng(0x5747_0201);
  const s1: Op[] = [
    // k/000..k/074: compressible values, so LZ4 keeps their blocks compressed ...
    ...range(75).map((i): Op => ({ type: 'put', key: name('k', i), value: textValue(`k${i}`, 40 + (i % 30)) })),
    // ... k/075..k/149: random values, whose blocks stay uncompressed.
    ...range(75).map((i): Op => ({ type: 'put', key: name('k', 75 + i), value: randomBytes(next, 20 + Math.floor(next() * 60)) })),
    // A value larger than a block (blockBytes 512) and not compressible.
    { type: 'put', key: key('big/1'), value: randomBytes(next, 12 * 1024) },
    { type: 'del', key: name('k', 10) },
    { type: 'del', key: name('k', 11) },
    { type: 'flush' },
    // Everything into level 1.
    { type: 'compactRange' },
  ];
  const s2: Op[] = [
    ...range(10).map((i): Op => ({ type: 'put', key: name('k', 20 + i), value: textValue(`k${20 + i} v2`, 50) })),
    // Tombstones in level 0 over values in level 1.
    ...range(5).map((i): Op => ({ type: 'del', key: name('k', 30 + i) })),
    ...range(40).map((i): Op => ({ type: 'put', key: name('m', i), value: randomBytes(next, 32) })),
    { type: 'put', key: key('big/2'), value: textValue('big2', 8 * 1024) },
    // Range tombstones in level 0 over values in level 1 (one of them over later writes of
    // its own memtable), and one without an upper bound over keys written only later.
    { type: 'clear', range: { gt: name('k', 100), lte: name('k', 110) } },
    { type: 'clear', range: { gte: name('m', 30), lt: name('m', 35) } },
    { type: 'put', key: name('m', 32), value: key('m/032 after its clear') },
    { type: 'clear', range: { gte: key('q') } },
    // Puts with a ttl in a level-0 table: one that lives, one expired over a level-1 value.
    { type: 'put', key: name('k', 60), value: textValue('k60 with a ttl', 40), ttl: LONG_TTL },
    { type: 'put', key: name('k', 61), value: textValue('k61 expired', 40), ttl: EXPIRED_TTL },
    // A level-0 table written with compression 'none'.
    { type: 'flush' },
  ];
  const s3: Op[] = [
    // Left in the WAL: recovery replays these.
    ...range(5).map((i): Op => ({ type: 'put', key: name('k', 40 + i), value: textValue(`k${40 + i} v3`, 30) })),
    { type: 'del', key: name('k', 50) },
    { type: 'del', key: name('m', 5) },
    { type: 'del', key: name('k', 20) },
    ...range(20).map((i): Op => ({ type: 'put', key: name('z', i), value: randomBytes(next, 16) })),
    { type: 'put', key: key('big/3'), value: randomBytes(next, 6 * 1024) },
    // Left in the WAL: a clear alone and one in a batch, puts with a ttl.
    { type: 'clear', range: { gte: name('k', 120), lt: name('k', 125) } },
    { type: 'put', key: name('k', 62), value: key('k/062 with a ttl, in the WAL'), ttl: LONG_TTL },
    { type: 'put', key: name('k', 63), value: key('k/063 expired, in the WAL'), ttl: EXPIRED_TTL },
    {
      type: 'batch',
      ops: [
        { type: 'put', key: key('batch/a'), value: key('one batch') },
        { type: 'put', key: key('batch/b'), value: key('same batch') },
        { type: 'del', key: name('m', 6) },
        { type: 'clear', gte: name('z', 5), lte: name('z', 7) },
        { type: 'put', key: name('z', 6), value: key('z/006 after the clear of its batch') },
      ],
    },
    { type: 'put', key: key('empty-value'), value: Buffer.alloc(0) },
    { type: 'put', key: Buffer.from([0x00, 0x01]), value: key('a key starting with a zero byte') },
    { type: 'put', key: Buffer.from([0xff, 0xfe, 0x80]), value: key('a key of high bytes') },
  ];
  return {
    name: 'v2-single',
    options: { memtableBytes: 64 * 1024, blockBytes: 512, compactionWorkers: 0, l0CompactionTrigger: 8, levelBaseBytes: 1024 * 1024 * 1024, changeRetention: { bytes: 0 } },
    sessions: [
      { options: { compression: 'lz4' }, ops: s1 },
      { options: { compression: 'none' }, ops: s2 },
      { options: { compression: 'lz4' }, ops: s3 },
    ],
  };
}

function sharded(): GoldenDatabase {
  const next = prng(0x5747_0202);
  const s1: Op[] = [
    ...range(60).map((i): Op => ({ type: 'put', key: name('s', i), value: i % 2 === 0 ? textValue(`s${i}`, 48) : randomBytes(next, 24) })),
    { type: 'del', key: name('s', 7) },
    { type: 'flush' },
    { type: 'compactRange' },
    // A range tombstone flushed into a level-0 table of each shard.
    { type: 'clear', range: { gte: name('s', 40), lt: name('s', 45) } },
    { type: 'flush' },
  ];
  const s2: Op[] = [
    ...range(10).map((i): Op => ({ type: 'put', key: name('t', i), value: randomBytes(next, 20) })),
    { type: 'del', key: name('s', 8) },
    // Batches over several keys, so that they span both shards: Prepare and Commit records.
    {
      type: 'batch',
      ops: [
        ...range(8).map((i) => ({ type: 'put' as const, key: name('x', i), value: key(`x${i} in one batch across shards`) })),
        { type: 'del' as const, key: name('s', 9) },
        { type: 'del' as const, key: name('s', 10) },
      ],
    },
    {
      type: 'batch',
      ops: range(6).map((i) => ({ type: 'put' as const, key: name('s', 20 + i), value: key(`s${20 + i} rewritten in a batch`) })),
    },
    // A clear is every shard's: Prepare and Commit records with a RangeDelete in each.
    { type: 'clear', range: { gt: name('s', 50), lt: name('s', 55) } },
    {
      type: 'batch',
      ops: [
        { type: 'clear' as const, gte: name('t', 2), lt: name('t', 4) },
        { type: 'put' as const, key: name('t', 3), value: key('t/003 after the clear') },
        { type: 'put' as const, key: name('t', 5), value: key('t/005 with a ttl'), ttl: LONG_TTL },
        { type: 'put' as const, key: name('t', 6), value: key('t/006 expired'), ttl: EXPIRED_TTL },
      ],
    },
  ];
  return {
    name: 'v2-sharded',
    options: { shards: 2, memtableBytes: 64 * 1024, blockBytes: 512, compactionWorkers: 0, l0CompactionTrigger: 8, levelBaseBytes: 1024 * 1024 * 1024, changeRetention: { bytes: 0 } },
    sessions: [
      { options: {}, ops: s1 },
      { options: {}, ops: s2 },
    ],
  };
}

export const GOLDEN_V2: readonly GoldenDatabase[] = [single(), sharded()];
