// stratadb/replication against a real nats-server with JetStream, started here on 127.0.0.1
// (a free port, its store in a temp dir): a replica of a 4-shard primary converges key by key at
// the primary's sequence; its writes are refused with READ_ONLY; waitFor(); restarts of the
// primary and of the replica lose nothing and apply nothing twice (counters kept with the
// 'add' merge operator would show a change applied twice); a forged message and one of another
// database stop the replica with CORRUPTION naming the stream sequence; a new replica starts
// from an uploaded checkpoint once the stream's first messages are purged; bad options; no
// secret in a connection error. Skipped, with a message, when nats-server cannot be found.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from 'nats';
import { open, StrataError, type Database } from '../src/index.js';
import { follow, replicate, type Publisher, type Replica } from '../src/replication.js';
import { loadChecksum, ValueKind } from '../src/base/index.js';
import { APPLIED_KEY, decodeApplied, decodeMessage, encodeMessage, messageId, shardSubject, type ChangeToSend } from '../src/replication/index.js';
import { changesAsBatches, type BatchChange } from '../src/database.js';
import { FaultInjectingFileSystem } from '../src/testing/index.js';
import { withTempDir } from './helpers.js';

await loadChecksum();

const SERVER_PATHS = [process.env['NATS_SERVER'], '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];
const serverBinary = SERVER_PATHS.find((p): p is string => p !== undefined && fs.existsSync(p));

/** The nice value of each of this process's threads (Linux), by thread id. */
function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of fs.readdirSync(`/proc/${process.pid}/task`)) {
    try {
      // Fields after the command's closing parenthesis: state is the 3rd field, nice the 19th.
      const fields = fs.readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      nices.set(Number(tid), Number(fields[16]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return nices;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface Server {
  url: string;
  process: ChildProcess;
  storeDir: string;
}

async function startServer(): Promise<Server> {
  const port = await freePort();
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-nats-'));
  const child = spawn(serverBinary!, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  for (let i = 0; i < 200 && !(await portOpen(port)); i++) {
    if (child.exitCode !== null) throw new Error(`nats-server exited: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `nats://127.0.0.1:${port}`, process: child, storeDir };
}

async function stopServer(s: Server): Promise<void> {
  if (s.process.exitCode === null) {
    const exited = new Promise((r) => s.process.once('exit', r));
    s.process.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(s.storeDir, { recursive: true, force: true });
}

let server: Server | undefined;
let streams = 0;
const nextStream = () => `t${process.pid}_${++streams}`;

async function expectCode(p: Promise<unknown>, code: string): Promise<StrataError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, StrataError, String(err));
    assert.is((err as StrataError).code, code, (err as Error).message);
    return err as StrataError;
  }
  throw new Error(`expected ${code}, but it resolved`);
}

type Db = Database<Buffer, Buffer, string | Buffer, string | Buffer>;

/** Every key and value of `db` as text, in key order. */
async function contents(db: Database<Buffer, Buffer, any, any>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of db.iterator()) out.push(`${k.toString('latin1')}=${v.toString('hex')}`);
  return out;
}

/** The sequence numbers of the writes in every message of `stream`, in stream order. */
async function storedWrites(stream: string): Promise<number[]> {
  const nc = await connect({ servers: server!.url });
  try {
    const jsm = await nc.jetstreamManager();
    const { first_seq, last_seq } = (await jsm.streams.info(stream)).state;
    const seqs: number[] = [];
    for (let q = first_seq; q <= last_seq; q++) {
      for (const c of decodeMessage((await jsm.streams.getMessage(stream, { seq: q })).data, `sequence ${q}`).changes) seqs.push(c.seq);
    }
    return seqs.sort((a, b) => a - b);
  } finally {
    await nc.close();
  }
}

/** The sequence numbers of every write in `db`'s change feed. */
async function feedWrites(db: Db): Promise<number[]> {
  const seqs: number[] = [];
  for await (const change of db.changes({ since: 0n, live: false })) seqs.push(Number(change.seq));
  return seqs;
}

/** Puts, deletes, batches within and across shards, merges and a range clear: `n` writes. Resolves to the last sequence. */
async function writeMix(db: Db, n: number, prefix: string): Promise<bigint> {
  let seq = 0n;
  for (let i = 0; i < n; i++) {
    const k = `${prefix}${i % 97}`;
    switch (i % 6) {
      case 0:
      case 1:
        seq = await db.put(k, `v${i}`);
        break;
      case 2:
        seq = await db.del(`${prefix}${(i * 7) % 97}`);
        break;
      case 3:
        seq = await db.batch([
          { type: 'put', key: `${prefix}b${i}`, value: `x${i}` },
          { type: 'put', key: `${prefix}c${i}`, value: `y${i}` },
          { type: 'del', key: `${prefix}${(i * 3) % 97}` },
        ]);
        break;
      case 4:
        seq = await db.merge(`${prefix}count`, 1n);
        break;
      case 5:
        seq = i % 30 === 5 ? await db.clear({ gte: `${prefix}b`, lt: `${prefix}b${i % 10}` }) : await db.put(k, Buffer.alloc(200, i));
        break;
    }
  }
  return seq;
}

const PRIMARY = { shards: 4, mergeOperator: 'add' as const };
const REPLICA_OPEN = { shards: 4, mergeOperator: 'add' as const };

/** Waits (10 s at most) until `publisher` acknowledged `seq`, and asserts it did, no further. */
async function untilAcknowledged(publisher: Publisher, seq: bigint): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (publisher.acknowledged < seq && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.is(publisher.acknowledged, seq);
}

async function converge(primary: Db, replica: Replica, publisher?: Publisher): Promise<void> {
  const seq = primary.sequence;
  await replica.waitFor(seq);
  assert.is(replica.applied, seq, 'the replica applied up to the primary sequence, and no further');
  assert.equal(await contents(replica.db), await contents(primary), 'the same keys and values');
  // The replica can apply a message before its publisher hears JetStream's answer to it.
  if (publisher !== undefined) await untilAcknowledged(publisher, seq);
}

/**
 * Replicates `primary` to `stream` (with `connection` options, if any), writes `n` more writes,
 * follows the stream into a new replica until it converges, then closes all three.
 */
async function replicateAndConverge(primary: Db, dir: string, stream: string, n: number, prefix: string, connection?: Record<string, unknown>): Promise<void> {
  const link = { servers: server!.url, stream, ...(connection === undefined ? {} : { connection }) };
  const publisher = await replicate(primary, link);
  await writeMix(primary, n, prefix);
  const replica = await follow(path.join(dir, 'replica'), { ...link, open: REPLICA_OPEN });
  await converge(primary, replica, publisher);
  await replica.close();
  await publisher.close();
  await primary.close();
}

if (serverBinary === undefined) {
  console.log('replication tests SKIPPED: nats-server not found (looked at $NATS_SERVER, /usr/sbin, /usr/bin, /usr/local/bin); install the Debian package nats-server');
} else {
  test.before(async () => {
    server = await startServer();
  });
  test.after(async () => {
    if (server !== undefined) await stopServer(server);
  });

  test('a replica of a 4-shard primary converges key by key at the primary sequence; its writes are refused with READ_ONLY', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'), PRIMARY)) as Db;
      await writeMix(primary, 120, 'a');
      const publisher = await replicate(primary, { servers: server!.url, stream });
      const replica = await follow(path.join(dir, 'replica'), { servers: server!.url, stream, open: REPLICA_OPEN });
      await converge(primary, replica);
      await writeMix(primary, 300, 'b');
      await converge(primary, replica, publisher);
      assert.ok((await replica.db.get('acount')) !== undefined, 'merges replicated');
      assert.is(publisher.lag, 0n);

      await expectCode(replica.db.put('k', 'v'), 'READ_ONLY');
      await expectCode(replica.db.del('k'), 'READ_ONLY');
      await expectCode(replica.db.batch([{ type: 'put', key: 'k', value: 'v' }]), 'READ_ONLY');
      await expectCode(replica.db.merge('k', 1n), 'READ_ONLY');
      await expectCode(replica.db.clear(), 'READ_ONLY');
      await expectCode(replica.db.transaction(() => 1), 'READ_ONLY');
      assert.is(replica.db.readOnly, true);
      assert.is(primary.readOnly, false);
      // The replica's own position is not one of its keys.
      const keys = (await contents(replica.db)).map((e) => e.split('=')[0]!);
      assert.ok(keys.every((k) => !k.includes('stratadb')), 'no internal key shows');
      assert.is(await replica.db.get(Buffer.from('\xff\xffstratadb:replica:applied', 'latin1')), undefined);
      await writeMix(primary, 30, 'c');
      await converge(primary, replica, publisher);

      await replica.close();
      await replica.closed;
      await publisher.close();
      await publisher.closed;
      await primary.close();
    }));

  test('writes grouped into messages: many small writes and large ones among them arrive whole, each in order, no message over 256 KiB unless one write alone is', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'), PRIMARY)) as Db;
      const publisher = await replicate(primary, { servers: server!.url, stream });
      const replica = await follow(path.join(dir, 'replica'), { servers: server!.url, stream, open: REPLICA_OPEN });
      const big = (i: number) => Buffer.alloc(i % 2 === 0 ? 200_000 : 700_000, i);
      // All in flight at once, so the feed has them at hand together.
      await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 50 === 7 ? primary.put(`big${i}`, big(i)) : primary.put(`s${i}`, `v${i}`))));
      await converge(primary, replica, publisher);
      const nc = await connect({ servers: server!.url });
      const jsm = await nc.jetstreamManager();
      const { first_seq, last_seq } = (await jsm.streams.info(stream)).state;
      let grouped = 0;
      for (let q = first_seq; q <= last_seq; q++) {
        const data = (await jsm.streams.getMessage(stream, { seq: q })).data;
        const message = decodeMessage(data, `sequence ${q}`);
        if (message.changes.length > 1) grouped++;
        if (data.length > 300_000) assert.is(message.changes.length, 1, `message ${q} of ${data.length} bytes holds one write`);
      }
      assert.ok(grouped > 0, 'small writes share messages');
      assert.ok(last_seq - first_seq + 1 < 400, `fewer messages (${last_seq - first_seq + 1}) than writes`);
      await nc.close();
      await replica.close();
      await publisher.close();
      await primary.close();
    }));

  test('waitFor() resolves once the write is applied, rejects on abort and on bad input', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'))) as Db;
      const publisher = await replicate(primary, { servers: server!.url, stream });
      const replica = await follow(path.join(dir, 'replica'), { servers: server!.url, stream });
      const target = primary.sequence + 1n;
      let done = false;
      const waiting = replica.waitFor(target).then(() => (done = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.is(done, false, 'not before the write');
      const seq = await primary.put('k', 'v');
      assert.is(seq, target);
      await waiting;
      assert.equal(await replica.db.get('k'), Buffer.from('v'));
      const ac = new AbortController();
      const aborted = replica.waitFor(seq + 1000n, { signal: ac.signal });
      ac.abort(new Error('gave up'));
      try {
        await aborted;
        assert.unreachable('aborted');
      } catch (err) {
        assert.is((err as Error).message, 'gave up');
      }
      await expectCode(replica.waitFor(-1n), 'INVALID_ARGUMENT');
      await expectCode(replica.waitFor('3' as unknown as bigint), 'INVALID_ARGUMENT');
      const pending = expectCode(replica.waitFor(seq + 1000n), 'CLOSED');
      await replica.close();
      await pending;
      await publisher.close();
      await primary.close();
    }));

  test('follow() as the first call of a fresh process applies the stream (it loads the checksum itself)', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'))) as Db;
      const publisher = await replicate(primary, { servers: server!.url, stream });
      // Longer than the checksum's JavaScript path takes (64 bytes): the first message, which
      // follow() reads before it opens the replica, needs the WebAssembly one.
      await primary.put('k', 'fresh'.repeat(30));
      const seq = await primary.put('k2', 'process'.repeat(30));
      while (publisher.acknowledged < seq) await new Promise((r) => setTimeout(r, 20));
      await publisher.close();
      const module = new URL('../src/replication.js', import.meta.url).href;
      const child = [
        `import { follow } from ${JSON.stringify(module)};`,
        `const r = await follow(${JSON.stringify(path.join(dir, 'replica'))}, { servers: ${JSON.stringify(server!.url)}, stream: ${JSON.stringify(stream)} });`,
        `await r.waitFor(${seq}n);`,
        `console.log(String(await r.db.get('k2')), String(r.applied));`,
        `await r.close();`,
      ].join('\n');
      // Asynchronous: this process runs the nats-server's pipes meanwhile.
      const proc = spawn(process.execPath, ['--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      const status = await new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      clearTimeout(timer);
      assert.is(status, 0, `exit ${status}: ${err}`);
      assert.is(out.trim(), `${'process'.repeat(30)} ${seq}`);
      await primary.close();
    }));

  test('a primary restarted resumes above its acknowledged sequence: nothing lost, nothing published twice', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const at = path.join(dir, 'primary');
      let primary = (await open(at, PRIMARY)) as Db;
      let publisher = await replicate(primary, { servers: server!.url, stream });
      await writeMix(primary, 100, 'a');
      const replica = await follow(path.join(dir, 'replica'), { servers: server!.url, stream, open: REPLICA_OPEN });
      await converge(primary, replica, publisher);
      await publisher.close();
      const acknowledged = publisher.acknowledged;
      await writeMix(primary, 50, 'b'); // written while nothing publishes
      await primary.close();

      primary = (await open(at, PRIMARY)) as Db;
      publisher = await replicate(primary, { servers: server!.url, stream });
      assert.ok(publisher.acknowledged >= acknowledged, 'resumes from the recorded position');
      await writeMix(primary, 50, 'c');
      await converge(primary, replica, publisher);
      assert.equal(await storedWrites(stream), await feedWrites(primary), 'each write stored once');
      await replica.close();
      await publisher.close();
      await primary.close();
    }));

  test('a primary killed with SIGKILL while publishing resumes after a restart: nothing lost, nothing stored twice', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const at = path.join(dir, 'primary');
      const childFile = fileURLToPath(new URL('./replication-primary-child.js', import.meta.url));
      const child = spawn(process.execPath, [childFile, at, server!.url, stream], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const take = (d: Buffer) => {
          output += d.toString();
          const acks = [...output.matchAll(/acknowledged (\d+)/g)];
          if (acks.length > 0 && Number(acks[acks.length - 1]![1]) > 600) resolve();
        };
        child.stdout!.on('data', take);
        child.stderr!.on('data', take);
        child.on('exit', () => reject(new Error(`the child exited: ${output}`)));
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const primary = (await open(at, PRIMARY)) as Db;
      const publisher = await replicate(primary, { servers: server!.url, stream });
      const replica = await follow(path.join(dir, 'replica'), { servers: server!.url, stream, open: REPLICA_OPEN });
      try {
        await primary.put('after', 'restart');
        await converge(primary, replica, publisher);
        assert.equal(await replica.db.get('count'), await primary.get('count'));
        assert.equal(await storedWrites(stream), await feedWrites(primary), 'each write stored once, though some were published again');
      } finally {
        // Also when an assertion failed: a connection left open kept the file's process alive.
        await replica.close();
        await publisher.close();
        await primary.close();
      }
    }));

  test("a restart after a run that died with a later shard's message stored and an earlier one's lost publishes each write once", () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'), PRIMARY)) as Db;
      let publisher = await replicate(primary, { servers: server!.url, stream });
      await writeMix(primary, 30, 'a');
      await untilAcknowledged(publisher, primary.sequence);
      await publisher.close();
      // What the dead run had in flight: writes of several shards, of which only the messages
      // of one shard, not the one holding the first write, reached the stream.
      const from = Number(primary.sequence);
      await writeMix(primary, 24, 'b');
      let changes: BatchChange[] = [];
      for (let i = 0; ; i++) {
        changes = [];
        const feed = changesAsBatches(primary, { since: BigInt(from), live: false });
        for (let got = await feed.nextMany(); got !== undefined; got = await feed.nextMany()) changes.push(...got);
        const first = changes[0]!;
        const last = changes[changes.length - 1]!;
        // The last write in the stored shard: the new run skips to the very end.
        if (last.batch !== undefined && first.shard !== last.shard) break;
        await primary.put(`z${i}`, 'v');
      }
      const storedShard = changes[changes.length - 1]!.shard!;
      const stored = changes.filter((c) => c.batch !== undefined && c.shard === storedShard) as ChangeToSend[];
      assert.ok(stored.length > 2 && stored[0]!.seq > from + 1, 'a shard whose messages follow a lost write');
      const identity = primary.identity;
      const nc = await connect({ servers: server!.url });
      const js = nc.jetstream();
      // Two writes a message: the new run groups them otherwise, under other ids.
      for (let i = 0; i < stored.length; i += 2) {
        const part = stored.slice(i, i + 2);
        const bytes = encodeMessage(Buffer.from(identity, 'hex'), from, part);
        await js.publish(shardSubject(stream, storedShard), bytes, { msgID: messageId(identity, part[0]!.seq, part[part.length - 1]!.seq) });
      }
      await nc.close();
      publisher = await replicate(primary, { servers: server!.url, stream });
      const replica = await follow(path.join(dir, 'replica'), { servers: server!.url, stream, open: REPLICA_OPEN });
      try {
        await converge(primary, replica, publisher);
        assert.equal(await storedWrites(stream), await feedWrites(primary), 'each write stored once');
        await primary.put('after', 'restart');
        await converge(primary, replica, publisher);
      } finally {
        await replica.close();
        await publisher.close();
        await primary.close();
      }
    }));

  test('a replica closed and reopened applies every write exactly once', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'), PRIMARY)) as Db;
      const publisher = await replicate(primary, { servers: server!.url, stream });
      const at = path.join(dir, 'replica');
      let replica = await follow(at, { servers: server!.url, stream, open: REPLICA_OPEN });
      await writeMix(primary, 200, 'a');
      await converge(primary, replica);
      await replica.close();
      await writeMix(primary, 200, 'b');
      replica = await follow(at, { servers: server!.url, stream, open: REPLICA_OPEN });
      await converge(primary, replica, publisher);
      // Counters kept by merges would be off if any write were applied twice.
      assert.equal(await replica.db.get('acount'), await primary.get('acount'));
      assert.equal(await replica.db.get('bcount'), await primary.get('bcount'));
      await replica.close();
      await publisher.close();
      await primary.close();
    }));

  test('a replica whose power is cut in the middle of applying resumes from what survived and applies every write exactly once', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'), PRIMARY)) as Db;
      const publisher = await replicate(primary, { servers: server!.url, stream });
      const at = path.join(dir, 'replica');
      const faults = new FaultInjectingFileSystem();
      let replica = await follow(at, { servers: server!.url, stream, open: { ...REPLICA_OPEN, fs: faults } });
      await writeMix(primary, 120, 'a');
      await converge(primary, replica);
      const before = replica.applied;
      // The replica writes without sync: the cut takes back what its logs had not synced.
      faults.cutPowerAfter(40, undefined, { keepUnsynced: (_file, unsynced) => Math.floor(unsynced / 2) });
      // A message holds many writes: write until the replica's 40 file operations are done.
      let cut = false;
      const whenCut = faults.whenPowerCut().then(() => (cut = true));
      for (let round = 0; !cut; round++) {
        await writeMix(primary, 60, `b${round}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await whenCut;
      // Writes the dead replica cannot have applied, whenever the cut fell.
      await writeMix(primary, 60, 'after');
      await expectCode(replica.closed, 'IO_ERROR');
      await replica.close().catch(() => {});
      // What survived, read before follow() applies more (it applies at once, and fast).
      const survivor = (await open(at, REPLICA_OPEN)) as Db;
      const stored = await survivor.get(APPLIED_KEY);
      await survivor.close();
      const survived = stored === undefined ? 0 : decodeApplied(stored, at).seq;
      assert.ok(survived > 0 && survived < Number(primary.sequence), `the cut took back some applied writes, not all (${survived} survived, ${before} before the cut)`);
      replica = await follow(at, { servers: server!.url, stream, open: REPLICA_OPEN });
      assert.ok(replica.applied >= BigInt(survived), 'the replica resumes from what survived');
      await converge(primary, replica, publisher);
      assert.equal(await replica.db.get('acount'), await primary.get('acount'), 'no merge applied twice');
      for (let round = 0; (await primary.get(`b${round}count`)) !== undefined; round++) {
        assert.equal(await replica.db.get(`b${round}count`), await primary.get(`b${round}count`), 'no merge applied twice');
      }
      await replica.close();
      await publisher.close();
      await primary.close();
    }));

  test('a tampered message and a message of another database stop the replica with CORRUPTION naming the stream sequence', () =>
    withTempDir(async (dir) => {
      for (const forgery of ['tampered', 'another database'] as const) {
        const stream = nextStream();
        const primary = (await open(path.join(dir, `primary-${forgery}`))) as Db;
        const publisher = await replicate(primary, { servers: server!.url, stream });
        const replica = await follow(path.join(dir, `replica-${forgery}`), { servers: server!.url, stream });
        await primary.put('a', '1');
        await converge(primary, replica);
        const nc: NatsConnection = await connect({ servers: server!.url });
        const seq = Number(primary.sequence) + 1;
        const entries = [{ kind: ValueKind.Put, key: Buffer.from('evil'), value: Buffer.from('x') }];
        const identity = Buffer.from(forgery === 'tampered' ? primary.identity : 'ab'.repeat(16), 'hex');
        const bytes = encodeMessage(identity, Number(primary.sequence), [{ seq, prev: Number(primary.sequence), entries }]);
        if (forgery === 'tampered') bytes[bytes.length - 6]! ^= 0x01; // a byte of the value
        const ack = await nc.jetstream().publish(`${stream}.shard.0`, bytes);
        const err = await expectCode(replica.closed, 'CORRUPTION');
        assert.match(err.message, `sequence ${ack.seq}`);
        assert.is(await replica.db.get('evil'), undefined, 'never applied');
        await expectCode(replica.waitFor(BigInt(seq)), 'CORRUPTION');
        await nc.close();
        await replica.close().catch(() => {});
        await publisher.close();
        await primary.close();
      }
    }));

  test('a new replica bootstraps from the uploaded checkpoint once the stream no longer holds the first writes', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'), PRIMARY)) as Db;
      const publisher = await replicate(primary, { servers: server!.url, stream });
      const nc = await connect({ servers: server!.url });
      const jsm = await nc.jetstreamManager();
      /** Waits until JetStream acknowledged every write so far; resolves to the stream's last message. */
      const published = async () => {
        while (publisher.acknowledged < primary.sequence) await new Promise((r) => setTimeout(r, 10));
        return (await jsm.streams.info(stream)).state.last_seq;
      };
      // A message holds many writes: purges cut at stream sequences known to follow a write.
      await writeMix(primary, 100, 'a');
      const afterA = await published();
      await writeMix(primary, 50, 'a2');
      await published();
      // Purged before any checkpoint: a new replica cannot start.
      await jsm.streams.purge(stream, { seq: afterA + 1 });
      await expectCode(follow(path.join(dir, 'too-late'), { servers: server!.url, stream, open: REPLICA_OPEN }), 'OUT_OF_RANGE');

      const covered = await publisher.checkpoint();
      assert.ok(covered >= 1n);
      const coveredUpTo = await published();
      await writeMix(primary, 100, 'b');
      await published();
      // Every message the checkpoint covers is dropped: the replica then needs the checkpoint.
      await jsm.streams.purge(stream, { seq: coveredUpTo + 1 });
      const replica = await follow(path.join(dir, 'replica'), { servers: server!.url, stream, open: REPLICA_OPEN });
      await converge(primary, replica, publisher);
      await writeMix(primary, 20, 'c');
      await converge(primary, replica, publisher);
      // Writes after the checkpoint dropped as well: a new replica cannot start.
      await jsm.streams.purge(stream, { keep: 0 });
      await writeMix(primary, 10, 'd');
      await published();
      await expectCode(follow(path.join(dir, 'gap'), { servers: server!.url, stream, open: REPLICA_OPEN }), 'OUT_OF_RANGE');
      await converge(primary, replica, publisher);
      // An existing replica whose next write was dropped while it was stopped.
      await replica.close();
      await writeMix(primary, 5, 'e');
      const afterE = await published();
      await writeMix(primary, 5, 'e2');
      await published();
      await jsm.streams.purge(stream, { seq: afterE + 1 });
      await expectCode(follow(path.join(dir, 'replica'), { servers: server!.url, stream, open: REPLICA_OPEN }), 'OUT_OF_RANGE');
      await nc.close();
      await publisher.close();
      await primary.close();
    }));

  test('the first replicate() of a database whose logs no longer reach its first write starts from an uploaded checkpoint', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'), { ...PRIMARY, changeRetention: { bytes: 0 } })) as Db;
      await writeMix(primary, 200, 'a');
      await primary.flush();
      assert.ok(primary.stats().changeRetention.oldestSequence > 0, 'the first writes are no longer in the logs');
      await replicateAndConverge(primary, dir, stream, 50, 'b');
    }));

  test('bad options reject with INVALID_ARGUMENT; a connection error names no secret', () =>
    withTempDir(async (dir) => {
      const db = (await open(path.join(dir, 'db'))) as Db;
      const url = server!.url;
      await expectCode(replicate(db, {} as never), 'INVALID_ARGUMENT');
      await expectCode(replicate(db, { servers: url, stream: 'a.b' }), 'INVALID_ARGUMENT');
      await expectCode(replicate(db, { servers: [], stream: 's' }), 'INVALID_ARGUMENT');
      await expectCode(replicate(db, { servers: url, stream: 's', replicas: 0 }), 'INVALID_ARGUMENT');
      await expectCode(replicate(db, { servers: url, stream: 's', checkpointEveryMs: -1 }), 'INVALID_ARGUMENT');
      await expectCode(replicate(db, { servers: url, stream: 's', nope: 1 } as never), 'INVALID_ARGUMENT');
      await expectCode(replicate(db, { servers: url, stream: 's', connection: 'x' } as never), 'INVALID_ARGUMENT');
      await expectCode(follow('', { servers: url, stream: 's' }), 'INVALID_ARGUMENT');
      await expectCode(follow(path.join(dir, 'r'), { servers: url, stream: 's', identity: 'xyz' }), 'INVALID_ARGUMENT');
      await expectCode(follow(path.join(dir, 'r'), { servers: url, stream: 's', open: 3 } as never), 'INVALID_ARGUMENT');
      // A folder that holds an ordinary database is not a replica.
      const stream = nextStream();
      const publisher = await replicate(db, { servers: url, stream });
      await db.put('k', 'v');
      const other = (await open(path.join(dir, 'other'))) as Db;
      await other.put('x', 'y');
      await other.close();
      await expectCode(follow(path.join(dir, 'other'), { servers: url, stream }), 'INVALID_ARGUMENT');
      await publisher.close();

      const closedPort = await freePort();
      const err = await expectCode(replicate(db, { servers: `nats://alice:s3cr3t-pw@127.0.0.1:${closedPort}`, stream: 's', connection: { token: 'tok-s3cr3t' } }), 'IO_ERROR');
      assert.not.match(err.message, 's3cr3t');
      assert.not.match(String(err.stack), 's3cr3t');
      assert.is(err.cause, undefined);
      await db.close();
    }));

  test('stratadb replicate and stratadb follow run until SIGINT; the password comes from a file and is never printed', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primaryDir = path.join(dir, 'primary');
      const db = (await open(primaryDir)) as Db;
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, `v${i}`);
      const seq = db.sequence;
      await db.close();
      const bin = fileURLToPath(new URL('../../bin/stratadb.js', import.meta.url));
      const passwordFile = path.join(dir, 'pw');
      fs.writeFileSync(passwordFile, 'not-used-s3cr3t\n');
      /** Runs the command until its output has `ready`, then SIGINTs it; resolves to its exit code and output. */
      const run = (args: string[], ready: RegExp) =>
        new Promise<{ code: number | null; output: string }>((resolve) => {
          const child = spawn(process.execPath, [bin, ...args, '--servers', server!.url, '--stream', stream, '--status-every-ms', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
          let output = '';
          let sent = false;
          const take = (d: Buffer) => {
            output += d.toString();
            if (!sent && ready.test(output)) {
              sent = true;
              child.kill('SIGINT');
            }
          };
          child.stdout!.on('data', take);
          child.stderr!.on('data', take);
          child.on('exit', (code) => resolve({ code, output }));
        });
      const primary = await run(['replicate', primaryDir], new RegExp(`acknowledged ${seq} lag 0`));
      assert.is(primary.code, 0, primary.output);
      const replicaDir = path.join(dir, 'replica');
      const replica = await run(['follow', replicaDir, '--user', 'u', '--password-file', passwordFile], new RegExp(`applied ${seq}`));
      // The server asks for no password: the client sends it anyway, and the server accepts.
      assert.not.match(replica.output, 's3cr3t');
      assert.is(replica.code, 0, replica.output);
      const check = await open(replicaDir);
      assert.equal((await check.get('k7'))?.toString(), 'v7');
      await check.close();
    }));

  test('connection options a worker thread cannot take (a function) still publish, from the publisher\'s own thread: a replica converges', () =>
    withTempDir(async (dir) => {
      const stream = nextStream();
      const primary = (await open(path.join(dir, 'primary'), PRIMARY)) as Db;
      await replicateAndConverge(primary, dir, stream, 90, 'f', { reconnectDelayHandler: () => 100 });
    }));

  test('the publishing thread runs backgroundNice steps below the application (Linux: per thread); the event loop thread keeps its priority', async () => {
    if (process.platform !== 'linux') return;
    const base = os.getPriority();
    for (const nice of [7, 0]) {
      await withTempDir(async (dir) => {
        const primary = (await open(path.join(dir, 'primary'), { ...PRIMARY, backgroundNice: nice })) as Db;
        const before = new Set(threadNices().keys());
        const publisher = await replicate(primary, { servers: server!.url, stream: nextStream() });
        try {
          await writeMix(primary, 60, 'n');
          const lowered = [...threadNices()].filter(([tid, n]) => !before.has(tid) && n !== base);
          if (nice > 0) assert.equal(lowered.map(([, n]) => n), [base + nice], `one new thread at nice ${base + nice}: ${JSON.stringify(lowered)}`);
          else assert.equal(lowered, [], 'every new thread at the application priority');
          assert.is(threadNices().get(process.pid), base, 'the main thread keeps its priority');
          const seq = primary.sequence;
          const deadline = Date.now() + 10_000;
          while (publisher.acknowledged < seq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
          assert.is(publisher.acknowledged, seq, 'published from the lowered thread');
        } finally {
          await publisher.close();
          await primary.close();
        }
      });
    }
  });

  test('a replica closed after its server restarted leaves no timer running (the process can exit)', () =>
    withTempDir(async (dir) => {
      // A server of its own, restarted on the same port and store.
      const own = await startServer();
      const port = Number(own.url.split(':').pop());
      const stream = nextStream();
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      let restarted: Server | undefined;
      try {
        const primary = (await open(path.join(dir, 'primary'), PRIMARY)) as Db;
        const publisher = await replicate(primary, { servers: own.url, stream });
        await writeMix(primary, 60, 'a');
        const seq = primary.sequence;
        while (publisher.acknowledged < seq) await new Promise((r) => setTimeout(r, 10));
        await publisher.close();
        await primary.close();
        const before = timers();
        const replica = await follow(path.join(dir, 'replica'), { servers: own.url, stream, open: REPLICA_OPEN });
        await replica.waitFor(seq);
        const exited = new Promise((r) => own.process.once('exit', r));
        own.process.kill('SIGKILL');
        await exited;
        await new Promise((r) => setTimeout(r, 2500));
        const child = spawn(serverBinary!, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', own.storeDir], { stdio: ['ignore', 'ignore', 'ignore'] });
        restarted = { url: own.url, process: child, storeDir: own.storeDir };
        for (let i = 0; i < 200 && !(await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
        // Long enough for the client to see its consumer gone (missed heartbeats, 1 s apart).
        await new Promise((r) => setTimeout(r, 2500));
        await replica.close();
        await new Promise((r) => setTimeout(r, 1500));
        assert.ok(timers() <= before, `${timers()} timers after close, ${before} before follow()`);
      } finally {
        await stopServer(restarted ?? own);
      }
    }));

  test.run();
}
