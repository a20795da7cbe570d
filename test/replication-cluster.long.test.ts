// Replication (stratadb/replication) against real NATS servers on 127.0.0.1 (test/nats-harness.ts):
// a 3-node JetStream cluster with the stream replicated 3 ways, and a single server that
// requires a user and password over TLS. The write mix is test/replication-workload.ts' WriteMix
// on a 4-shard primary: puts, deletes, batches (many across shards), merges of 1 into 16
// counters (a change applied twice shows as a wrong count) and range clears.
//
// - 100k writes converge on a replica key by key, at the primary's last sequence number;
// - kill -9 of the stream's JetStream leader during the writes: the replica still converges,
//   nothing acknowledged is lost, nothing is applied twice;
// - the primary and the replica, each a child process (test/replication-child.ts), SIGKILLed
//   at random moments, several rounds: after each, the replica holds exactly what the
//   primary held at the replica's applied sequence (the primary's change feed replayed into an
//   oracle up to there), `applied` never goes back, every acknowledged write survived; at the
//   end both resume and converge;
// - a new replica bootstraps from the checkpoint in the object store and the stream tail left
//   after the messages the checkpoint covers were purged;
// - over TLS with user and password: a wrong password fails with an error that names neither
//   password, and no secret shows in stats() or the handles; right credentials replicate;
// - a copy of the stream with one message's bytes changed is refused with CORRUPTION naming
//   the stream sequence of that message, and nothing after it is applied; so is the first
//   message of another database (another identity) appended to a copy of the stream.
//
//   STRATA_REPL_WRITES=N   writes in the convergence test (default 100000)
//   STRATA_REPL_ROUNDS=N   SIGKILL rounds (default 5)
//   STRATA_REPL_SEED=N     seed of the write mix and the kill moments (default 1)
//
// Skips, printing why, only when nats-server is not installed (.ci/run installs it).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { fileURLToPath } from 'node:url';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { open, StrataError, type Database } from '../src/index.js';
import { follow, replicate, type Replica } from '../src/replication.js';
import { APPLIED_KEY, decodeApplied } from '../src/replication/index.js';
import { envInt, onLines, Rng, withTempDir } from './helpers.js';
import { clientTls, findNatsServer, makeTls, NO_NATS_SERVER, startCluster, startNats } from './nats-harness.js';
import { assertSameEntries, COUNTERS, dump, Oracle, PRIMARY_OPTIONS, REPLICA_OPTIONS, waitUntil, WriteMix } from './replication-workload.js';

const CHILD = fileURLToPath(new URL('./replication-child.js', import.meta.url));
const WRITES = envInt('STRATA_REPL_WRITES') ?? 100_000;
const ROUNDS = envInt('STRATA_REPL_ROUNDS') ?? 5;
const SEED = envInt('STRATA_REPL_SEED') ?? 1;
/** How long replication may take to catch up after the writes end, at most. */
const CATCH_UP_MS = 180_000;

type AnyDb = Database<Buffer, Buffer>;

/** Waits until JetStream acknowledged `seq` and the replica applied it; then both hold the same entries. */
async function assertConverged(primary: AnyDb, publisher: { acknowledged: bigint }, replica: Replica, seq: bigint, what: string, mix?: WriteMix): Promise<void> {
  await waitUntil(`${what}: publisher.acknowledged`, () => publisher.acknowledged, seq, CATCH_UP_MS);
  await waitUntil(`${what}: replica.applied (JetStream acknowledged ${publisher.acknowledged})`, () => replica.applied, seq, CATCH_UP_MS);
  await replica.waitFor(seq, { signal: AbortSignal.timeout(1000) });
  assert.is(replica.applied, seq, `${what}: the replica applied exactly up to the primary's last write`);
  const [ours, theirs] = [await dump(replica.db), await dump(primary)];
  if (mix !== undefined) await assertCountersAcknowledged(primary, replica.db as unknown as AnyDb, ours, theirs, mix, what);
  assertSameEntries(ours, theirs, `${what}: the replica at ${seq}`);
}

/**
 * Each merge counter, read with get() and in a full scan on both sides, against the merges of 1
 * the primary acknowledged (all of them, once the mix's writes returned): a failure says which
 * side, and which way of reading, is off.
 */
async function assertCountersAcknowledged(primary: AnyDb, replica: AnyDb, replicaScan: Map<string, Buffer>, primaryScan: Map<string, Buffer>, mix: WriteMix, what: string): Promise<void> {
  const n = (v: Buffer | undefined) => (v === undefined ? 0n : v.readBigInt64LE(0));
  const rows: string[] = [];
  let wrong = false;
  for (let i = 0; i < COUNTERS; i++) {
    const key = `m/${i}`;
    const acknowledged = BigInt(mix.merges.get(key) ?? 0);
    const seen = [n(await primary.get(key)), n(primaryScan.get(key)), n(await replica.get(key)), n(replicaScan.get(key))];
    if (seen.some((v) => v !== acknowledged)) wrong = true;
    rows.push(`${key}: acknowledged ${acknowledged}; primary get ${seen[0]}, scan ${seen[1]}; replica get ${seen[2]}, scan ${seen[3]}`);
  }
  if (wrong) assert.unreachable(`${what}: merge counters off\n  ${rows.join('\n  ')}`);
}

/**
 * Runs `body` with `defer(close)`: whatever happens, the closers run afterwards, last first
 * (a publisher before its database, everything before the cluster). A closer's failure fails
 * the test only when the body passed.
 */
async function scoped<T>(body: (defer: (close: () => Promise<unknown>) => void) => Promise<T>): Promise<T> {
  const closers: (() => Promise<unknown>)[] = [];
  let result: T;
  try {
    result = await body((close) => closers.push(close));
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => {});
    throw err;
  }
  for (const close of closers.reverse()) await close();
  return result;
}

/** Each counter holds the merges acknowledged into it: none lost, none applied twice. */
async function assertCounters(db: AnyDb, mix: WriteMix, reference: AnyDb, what: string): Promise<void> {
  for (let i = 0; i < COUNTERS; i++) {
    const key = `m/${i}`;
    const [ours, theirs] = [await db.get(key), await reference.get(key)];
    assert.ok(mix.merges.has(key) ? ours !== undefined : ours === undefined, `${what}: counter ${key}`);
    assert.equal(ours, theirs, `${what}: counter ${key} on the replica and on the primary`);
  }
}

if (findNatsServer() === undefined) {
  console.log(`replication-cluster.long.test: ${NO_NATS_SERVER}`);
} else {
  test(`${WRITES} writes (puts, deletes, batches across 4 shards, merges, clears) converge on a replica of a 3-way stream, key by key at the same sequence`, () =>
    withTempDir((dir) =>
      scoped(async (defer) => {
        const cluster = await startCluster(3);
        defer(() => cluster.stop());
        const primary = (await open(path.join(dir, 'primary'), PRIMARY_OPTIONS)) as unknown as AnyDb;
        defer(() => primary.close());
        const publisher = await replicate(primary, { servers: cluster.urls, stream: 'converge', replicas: 3 });
        defer(() => publisher.close());
        const replica = await follow(path.join(dir, 'replica'), { servers: cluster.urls, stream: 'converge', open: REPLICA_OPTIONS });
        defer(() => replica.close());
        const mix = new WriteMix(new Rng(SEED), 'c');
        const started = Date.now();
        const last = await mix.run(primary, WRITES, 64, false);
        const wrote = Date.now() - started;
        await assertConverged(primary, publisher, replica, last, 'after the writes', mix);
        console.log(`  ${WRITES} writes in ${wrote} ms; the replica at ${last} after ${Date.now() - started} ms`);
        await assertCounters(replica.db as unknown as AnyDb, mix, primary, 'converged');
        const refused = await replica.db.put('x', 'y').then(() => undefined, (err: unknown) => err);
        assert.instance(refused, StrataError);
        assert.is((refused as StrataError).code, 'READ_ONLY', 'the replica refuses writes');
      })));

  test('kill -9 of the stream leader during the writes: the replica converges, nothing acknowledged lost, nothing applied twice', () =>
    withTempDir((dir) =>
      scoped(async (defer) => {
        const cluster = await startCluster(3);
        defer(() => cluster.stop());
        const primary = (await open(path.join(dir, 'primary'), PRIMARY_OPTIONS)) as unknown as AnyDb;
        defer(() => primary.close());
        const publisher = await replicate(primary, { servers: cluster.urls, stream: 'failover', replicas: 3 });
        defer(() => publisher.close());
        const replica = await follow(path.join(dir, 'replica'), { servers: cluster.urls, stream: 'failover', open: REPLICA_OPTIONS });
        defer(() => replica.close());
        const mix = new WriteMix(new Rng(SEED + 1), 'f');
        const writes = Math.max(3000, Math.floor(WRITES / 3));
        let killed: Promise<number> | undefined;
        let acknowledgedAtKill = 0n;
        let acknowledgedNeverBack = true;
        let lastAcknowledged = 0n;
        const watch = setInterval(() => {
          if (publisher.acknowledged < lastAcknowledged) acknowledgedNeverBack = false;
          lastAcknowledged = publisher.acknowledged;
        }, 5);
        defer(async () => clearInterval(watch));
        const last = await mix.run(primary, writes, 64, false, async (_seq, done) => {
          if (killed === undefined && done >= writes / 3 && publisher.acknowledged > 0n) {
            acknowledgedAtKill = publisher.acknowledged;
            killed = cluster.leaderOf('failover').then(async (leader) => {
              await cluster.kill(leader);
              return leader;
            });
          }
        });
        assert.ok(killed !== undefined, 'the leader was killed during the writes');
        const leader = await killed!;
        const next = await cluster.leaderOf('failover');
        assert.is.not(next, leader, 'another node leads the stream');
        console.log(`  killed n${leader}, the stream's leader, at acknowledged ${acknowledgedAtKill}; n${next} leads; ${writes} writes up to ${last}`);
        await assertConverged(primary, publisher, replica, last, `after killing n${leader}, the stream leader, at acknowledged ${acknowledgedAtKill}`, mix);
        await assertCounters(replica.db as unknown as AnyDb, mix, primary, 'after the failover');
        // The old leader comes back and catches up; replication goes on through it.
        await cluster.restart(leader);
        const more = await mix.run(primary, 2000, 16, false);
        await assertConverged(primary, publisher, replica, more, `after n${leader} came back`, mix);
        assert.ok(acknowledgedNeverBack, 'publisher.acknowledged never went back');
      })));

  test(`SIGKILL of the primary and the replica at random moments, ${ROUNDS} rounds: both resume, the replica equals the primary at the replica's applied sequence`, () =>
    withTempDir((dir) =>
      scoped(async (defer) => {
        const cluster = await startCluster(3);
        defer(() => cluster.stop());
        const primaryDir = path.join(dir, 'primary');
        const replicaDir = path.join(dir, 'replica');
        const oracle = await Oracle.open(path.join(dir, 'oracle'));
        defer(() => oracle.close());
        const rng = new Rng(SEED + 2);
        const stream = 'crash';
        let applied = 0n;
        let acknowledgedBefore = 0n;
        // The stream exists before the first round (follow() refuses a stream that does not), as
        // a primary that replicates before its replicas start makes it.
        const first = (await open(primaryDir, PRIMARY_OPTIONS)) as unknown as AnyDb;
        await (await replicate(first, { servers: cluster.urls, stream, replicas: 3 })).close();
        await first.close();
        for (let round = 1; round <= ROUNDS; round++) {
          const acked: bigint[] = [];
          let acknowledged = 0n;
          let highestApplied = 0n;
          const p = runChild(['primary', primaryDir, cluster.urls.join(','), stream, String(SEED * 1000 + round), `r${round}`], (line) => {
            if (line.startsWith('A ')) acked.push(BigInt(line.slice(2)));
            else if (line.startsWith('K ')) acknowledged = BigInt(line.slice(2));
          });
          const r = runChild(['replica', replicaDir, cluster.urls.join(','), stream], (line) => {
            if (line.startsWith('Y ')) highestApplied = BigInt(line.slice(2));
          });
          // One round in four kills within the first 1.5 s of the children (while they open,
          // recover, connect); the others once both are ready, up to 2.5 s later.
          const [firstKilled, secondKilled] = rng.chance(0.5) ? [p, r] : [r, p];
          if (rng.chance(0.25)) await sleep(rng.range(100, 1500));
          else await Promise.race([Promise.all([p.ready, r.ready]), sleep(30_000)]).then(() => sleep(rng.range(0, 2500)));
          firstKilled.kill();
          await sleep(rng.range(0, 1000));
          secondKilled.kill();
          const [pr, rr] = await Promise.all([p.done, r.done]);
          console.log(
            `  round ${round}: primary ${pr.ready ? 'ready' : 'not ready'}, ${acked.length} writes acknowledged, JetStream acknowledged ${acknowledged}; ` +
              `replica ${rr.ready ? 'ready' : 'not ready'}, applied ${highestApplied} (killed ${firstKilled === p ? 'primary' : 'replica'} first)`,
          );
          assert.ok(acknowledged >= acknowledgedBefore || acknowledged === 0n, `round ${round}: JetStream's acknowledged sequence went back from ${acknowledgedBefore} to ${acknowledged}`);
          if (acknowledged > 0n) acknowledgedBefore = acknowledged;
          await scoped(async (deferInRound) => {
            // The primary: every acknowledged (synced) write survived the kill.
            const primary = (await open(primaryDir, PRIMARY_OPTIONS)) as unknown as AnyDb;
            deferInRound(() => primary.close());
            const seqs = new Set<bigint>();
            for await (const change of primary.changes({ since: 0n, live: false })) seqs.add(change.seq);
            for (const seq of acked) if (!seqs.has(seq)) assert.unreachable(`round ${round}: the primary lost its acknowledged write ${seq}`);
            // The replica: reopened by follow() and stopped at once, it holds the primary's state at its applied sequence.
            const replica = await follow(replicaDir, { servers: cluster.urls, stream, open: REPLICA_OPTIONS });
            await replica.close();
            assert.ok(replica.applied >= applied, `round ${round}: applied went back from ${applied} to ${replica.applied}`);
            assert.ok(replica.applied >= highestApplied, `round ${round}: applied ${replica.applied} after the restart, below ${highestApplied} reported before the kill`);
            applied = replica.applied;
            await oracle.advance(primary, applied);
            const reopened = (await open(replicaDir, REPLICA_OPTIONS)) as unknown as AnyDb;
            deferInRound(() => reopened.close());
            // Opened as a plain database, the replica shows its position key (follow() hides it):
            // it names the sequence the entries are at.
            const entries = await dump(reopened);
            const position = entries.get(APPLIED_KEY.toString('latin1'));
            if (position === undefined) assert.is(applied, 0n, `round ${round}: a replica that applied something stores its position`);
            else assert.is(BigInt(decodeApplied(position, 'replica').seq), applied, `round ${round}: the stored position is the applied sequence`);
            entries.delete(APPLIED_KEY.toString('latin1'));
            assertSameEntries(entries, await oracle.dump(), `round ${round}: the replica at its applied sequence ${applied}`);
          });
        }
        // Both resume: the primary publishes what it had not, the replica applies all of it.
        const primary = (await open(primaryDir, PRIMARY_OPTIONS)) as unknown as AnyDb;
        defer(() => primary.close());
        const publisher = await replicate(primary, { servers: cluster.urls, stream, replicas: 3 });
        defer(() => publisher.close());
        const replica = await follow(replicaDir, { servers: cluster.urls, stream, open: REPLICA_OPTIONS });
        defer(() => replica.close());
        const last = await new WriteMix(new Rng(SEED + 3), 'end').run(primary, 500, 16, true);
        await assertConverged(primary, publisher, replica, last, `after ${ROUNDS} rounds of kills`);
      })));

  test("a new replica bootstraps from the primary's checkpoint plus the stream's tail after the older messages were purged", () =>
    withTempDir((dir) =>
      scoped(async (defer) => {
        const stream = 'boot';
        const cluster = await startCluster(3);
        defer(() => cluster.stop());
        const primary = (await open(path.join(dir, 'primary'), PRIMARY_OPTIONS)) as unknown as AnyDb;
        defer(() => primary.close());
        const nc = await connect({ servers: cluster.urls });
        defer(() => nc.close());
        const publisher = await replicate(primary, { servers: cluster.urls, stream, replicas: 3 });
        defer(() => publisher.close());
        const mix = new WriteMix(new Rng(SEED + 5), 'boot');
        const before = await mix.run(primary, 5000, 32, false);
        await waitUntil('publisher.acknowledged', () => publisher.acknowledged, before, CATCH_UP_MS);
        const covered = await publisher.checkpoint();
        assert.ok(covered >= before, `the checkpoint covers ${covered}, at least the ${before} written before it`);
        await waitUntil('publisher.acknowledged', () => publisher.acknowledged, primary.sequence, CATCH_UP_MS);
        const jsm = await nc.jetstreamManager();
        const upTo = (await jsm.streams.info(stream)).state.last_seq;
        const after = await mix.run(primary, 3000, 32, false);
        await waitUntil('publisher.acknowledged', () => publisher.acknowledged, after, CATCH_UP_MS);
        // Every message the checkpoint covers goes: only the tail is left in the stream.
        await jsm.streams.purge(stream, { seq: upTo + 1 });
        const state = (await jsm.streams.info(stream)).state;
        assert.is(state.first_seq, upTo + 1, 'the stream starts after the checkpoint');
        const replica = await follow(path.join(dir, 'replica'), { servers: cluster.urls, stream, open: REPLICA_OPTIONS });
        defer(() => replica.close());
        await assertConverged(primary, publisher, replica, after, `a new replica from the checkpoint at ${covered} and stream messages ${upTo + 1}..${state.last_seq}`);
        await assertCounters(replica.db as unknown as AnyDb, mix, primary, 'bootstrapped');
      })));

  test("over TLS with user and password: a wrong password fails naming no secret; right ones replicate; a tampered message or another database's is refused with CORRUPTION naming its stream sequence", () =>
    withTempDir((dir) =>
      scoped(async (defer) => {
        const SECRET = 'pw-Zq81-correct-horse';
        const WRONG = 'pw-Xk47-wrong-staple';
        const tls = makeTls(path.join(dir, 'tls'));
        const server = await startNats({ tls, user: 'strata', password: SECRET });
        defer(() => server.stop());
        const primary = (await open(path.join(dir, 'primary'), PRIMARY_OPTIONS)) as unknown as AnyDb;
        defer(() => primary.close());
        const secure = (pass: string) => ({ servers: server.url, connection: { tls: clientTls(tls, false), user: 'strata', pass } });
        const assertNoSecret = (text: string, what: string) => {
          for (const s of [SECRET, WRONG]) assert.not.ok(text.includes(s), `${what} names a password:\n${text}`);
        };
        for (const [name, attempt] of [
          ['replicate()', () => replicate(primary, { ...secure(WRONG), stream: 'secure' })],
          ['follow()', () => follow(path.join(dir, 'refused'), { ...secure(WRONG), stream: 'secure', open: REPLICA_OPTIONS })],
        ] as const) {
          const err = await (attempt as () => Promise<unknown>)().then(
            () => assert.unreachable(`${name} with a wrong password should fail`),
            (e: unknown) => e,
          );
          assert.instance(err, Error, `${name} rejects with an Error`);
          const e = err as Error & { code?: string; cause?: unknown };
          assert.match(e.message, /auth/i, `${name}: the error says authentication failed: ${e.message}`);
          assertNoSecret(`${e.message}\n${e.stack ?? ''}\n${inspect(e, { depth: 8, showHidden: true })}\n${JSON.stringify(e)}`, `${name}'s error`);
          console.log(`  ${name} with a wrong password: ${e.code ?? ''} ${e.message}`);
        }
        const publisher = await replicate(primary, { ...secure(SECRET), stream: 'secure' });
        defer(() => publisher.close());
        const last = await new WriteMix(new Rng(SEED + 4), 's').run(primary, 2000, 16, false);
        const replica = await follow(path.join(dir, 'replica'), { ...secure(SECRET), stream: 'secure', open: REPLICA_OPTIONS });
        defer(() => replica.close());
        await assertConverged(primary, publisher, replica, last, 'over TLS');
        assertNoSecret(`${JSON.stringify(primary.stats(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`, "the primary's stats()");
        assertNoSecret(inspect(publisher, { depth: 8, showHidden: true }), 'the publisher');
        assertNoSecret(inspect(replica, { depth: 4, showHidden: true }), 'the replica');
        await publisher.close();

        const nc = await connect({ servers: server.url, tls: clientTls(tls, false), user: 'strata', pass: SECRET });
        defer(() => nc.close());
        /** Follows `stream` into a new replica; resolves to the error it stopped with (fails if it does not stop in 60 s). */
        const stopsWith = async (stream: string): Promise<{ err: unknown; applied: bigint }> => {
          const follower = await follow(path.join(dir, stream), { ...secure(SECRET), stream, open: REPLICA_OPTIONS });
          // Cleared once settled: a timer left would keep the suite's process alive for a minute.
          let timer: NodeJS.Timeout | undefined;
          try {
            const err = await Promise.race([
              follower.closed.then(() => new Error('the replica closed without an error'), (e: unknown) => e),
              new Promise<Error>((resolve) => (timer = setTimeout(() => resolve(new Error(`the replica did not stop within 60 s (applied ${follower.applied})`)), 60_000))),
            ]);
            return { err, applied: follower.applied };
          } finally {
            clearTimeout(timer);
            await follower.close().catch(() => {});
          }
        };

        // A copy of the stream with one message's bytes changed.
        const { tampered, total } = await copyStreams(nc, ['secure'], 'tampered', (seq, count) => seq === Math.ceil(count / 2));
        assert.ok(tampered > 0, 'a message was tampered with');
        const t = await stopsWith('tampered');
        assert.instance(t.err, StrataError, String(t.err));
        assert.is((t.err as StrataError).code, 'CORRUPTION', String(t.err));
        assert.match((t.err as Error).message, new RegExp(`\\b${tampered}\\b`), `the error names stream sequence ${tampered}: ${(t.err as Error).message}`);
        assert.ok(t.applied < last, `the replica stopped before the end (applied ${t.applied} of ${last}, tampered message ${tampered} of ${total})`);
        console.log(`  the tampered message ${tampered} of ${total}: ${(t.err as Error).message}`);

        // The stream's messages followed by another database's (more writes, so higher numbers).
        const other = (await open(path.join(dir, 'other'), PRIMARY_OPTIONS)) as unknown as AnyDb;
        defer(() => other.close());
        const otherPublisher = await replicate(other, { ...secure(SECRET), stream: 'other' });
        defer(() => otherPublisher.close());
        const otherLast = await new WriteMix(new Rng(SEED + 6), 'o').run(other, Number(last) + 200, 32, false);
        await waitUntil('the other publisher', () => otherPublisher.acknowledged, otherLast, CATCH_UP_MS);
        await otherPublisher.close();
        const { starts } = await copyStreams(nc, ['secure', 'other'], 'mixed');
        const foreign = starts[1]!;
        const m = await stopsWith('mixed');
        assert.instance(m.err, StrataError, String(m.err));
        assert.is((m.err as StrataError).code, 'CORRUPTION', String(m.err));
        assert.match((m.err as Error).message, new RegExp(`\\b${foreign}\\b`), `the error names stream sequence ${foreign}: ${(m.err as Error).message}`);
        assert.is(m.applied, last, "the replica applied the whole of its primary's stream and nothing of the other");
        console.log(`  another database's message at ${foreign}: ${(m.err as Error).message}`);
      })));
}

/**
 * Copies every message of the streams `from`, one after the other, into a new stream `to`
 * (subjects renamed from each one's prefix), headers and all, flipping one byte of the
 * message `tamper` picks (by its sequence number in `to`). Resolves to that message's sequence
 * number (0: none), where each source's messages start in `to`, and the count.
 */
async function copyStreams(nc: NatsConnection, from: string[], to: string, tamper: (seq: number, total: number) => boolean = () => false): Promise<{ tampered: number; starts: number[]; total: number }> {
  const jsm = await nc.jetstreamManager();
  const infos = await Promise.all(from.map((name) => jsm.streams.info(name)));
  const total = infos.reduce((n, info) => n + info.state.messages, 0);
  const renamed = (name: string, subject: string) => (subject.startsWith(name) ? to + subject.slice(name.length) : subject);
  await jsm.streams.add({ name: to, subjects: (infos[0]!.config.subjects ?? []).map((s) => renamed(from[0]!, s)), num_replicas: 1 });
  const js = nc.jetstream();
  let tampered = 0;
  let next = 1;
  const starts: number[] = [];
  for (const info of infos) {
    starts.push(next);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(info.config.name, { seq });
      const data = Uint8Array.from(m.data);
      if (tamper(next, total)) {
        assert.ok(data.length > 0, `message ${seq} has a payload to tamper with`);
        data[Math.floor(data.length / 2)]! ^= 0x01;
        tampered = next;
      }
      const h = natsHeaders();
      for (const [k, values] of m.header ?? []) for (const v of values) h.append(k, v);
      const ack = await js.publish(renamed(info.config.name, m.subject), data, { headers: h });
      assert.is(ack.seq, next++, 'the copy numbers its messages one after the other');
    }
  }
  return { tampered, starts, total };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface ChildHandle {
  kill(): void;
  /** Resolves when the child says "R" (never, if it does not). */
  ready: Promise<void>;
  /** Settles once the child is gone: whether it said "R" first. Rejects when it exits by itself. */
  done: Promise<{ ready: boolean }>;
}

/** Starts test/replication-child.js with `args`; `onLine` sees each line it writes. */
function runChild(args: string[], onLine: (line: string) => void): ChildHandle {
  const child: ChildProcess = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ready = false;
  let killed = false;
  let stderr = '';
  let said: () => void;
  const readyPromise = new Promise<void>((resolve) => (said = resolve));
  onLines(child.stdout!, (line) => {
    if (line === 'R') {
      ready = true;
      said();
    }
    onLine(line);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<{ ready: boolean }>((resolve, reject) => {
    child.on('close', (code, signal) => {
      if (killed && signal === 'SIGKILL') resolve({ ready });
      else reject(new Error(`the ${args[0]} child exited with ${code ?? signal} before it was killed:\n${stderr}`));
    });
  });
  done.catch(() => {}); // awaited later; an early exit must not be an unhandled rejection meanwhile
  return {
    kill: () => {
      killed = true;
      child.kill('SIGKILL');
    },
    ready: readyPromise,
    done,
  };
}

test.run();
