// The replica's consumer loop (src/replication-replica.ts) against a JetStream link of this
// file's own making, so that the moments that matter come in the order the test chooses:
// no nats-server needed. What a real server cannot be made to do on cue:
// - a stream-info request sent while the consumer was idle and answered only while a group is
//   being written (a JetStream API request waits seconds through a change of stream leader)
//   must not give up the consumer in the middle of that write: a consumer made again then read
//   the writes of the group still being written and wrote them a second time (CI once saw the
//   merge counters of the replication cluster test's failover run come out 4-12 high).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadChecksum, ValueKind, type BatchEntry } from '../src/base/index.js';
import { encodeMessage } from '../src/replication/index.js';
import { ReplicationReplica } from '../src/replication-replica.js';

await loadChecksum();

const IDENTITY = Buffer.alloc(16, 7);
/** src/replication-replica.ts' interval between stall checks. */
const STALL_CHECK_MS = 3000;

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A stream message as the client delivers it: the writes `seqs` (each following the one before). */
function message(streamSeq: number, deliverySequence: number, pending: number, seqs: number[]) {
  const changes = seqs.map((seq) => ({ seq, prev: seq - 1, entries: [{ kind: ValueKind.Put, key: Buffer.from(`k${seq}`), value: Buffer.from(`v${seq}`) }] }));
  return { seq: streamSeq, data: encodeMessage(IDENTITY, seqs[0]! - 1, changes), info: { deliverySequence, pending } };
}

/** A stream message of writes given as [seq, prev] (a primary of several shards: a message a shard). */
function messageOf(streamSeq: number, deliverySequence: number, pending: number, writes: [number, number][]) {
  const changes = writes.map(([seq, prev]) => ({ seq, prev, entries: [{ kind: ValueKind.Put, key: Buffer.from(`k${seq}`), value: Buffer.from(`v${seq}`) }] }));
  return { seq: streamSeq, data: encodeMessage(IDENTITY, writes[0]![1], changes), info: { deliverySequence, pending } };
}

/** A consumer's messages: what the test pushes, until stop(). */
class FakeMessages {
  readonly #queue: unknown[] = [];
  #wake: (() => void) | undefined;
  stopped = false;

  push(m: unknown): void {
    this.#queue.push(m);
    this.#wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.#wake?.();
  }

  async status(): Promise<AsyncIterable<never>> {
    return { [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => {}) }) };
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this.stopped) return;
      if (this.#queue.length > 0) {
        yield this.#queue.shift();
        continue;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** The link: each consumer made is recorded with the stream sequence it starts at; stream-info requests wait for the test. */
function fakeLink() {
  const consumers: { messages: FakeMessages }[] = [];
  const infoRequests: ((lastSeq: number) => void)[] = [];
  const link = {
    nats: { AckPolicy: { None: 'none' }, DeliverPolicy: { StartSequence: 'by_start_sequence' }, nanos: (ms: number) => ms * 1e6 },
    nc: { close: async () => {} },
    jsm: {
      consumers: { add: async () => ({ name: `c${consumers.length}` }) },
      streams: { info: () => new Promise((resolve) => infoRequests.push((lastSeq) => resolve({ state: { last_seq: lastSeq } }))) },
    },
    js: {
      consumers: {
        get: async () => ({
          consume: () => {
            const messages = new FakeMessages();
            consumers.push({ messages });
            return messages;
          },
        }),
      },
    },
  };
  return { link, consumers, infoRequests };
}

/** The replica's database: each group written is recorded; a write waits for `gate` while one is set. */
function fakeAccess() {
  const written: number[] = [];
  /** The writes of each group written. */
  const groups: number[][] = [];
  const state = { gate: undefined as Promise<void> | undefined, writing: deferred() };
  const access = {
    db: { close: async () => {}, location: '/nowhere' },
    hiddenValue: () => undefined,
    apply: async (entries: BatchEntry[]) => {
      state.writing.resolve();
      if (state.gate !== undefined) await state.gate;
      const group: number[] = [];
      for (const e of entries) {
        const key = Buffer.from(e.key).toString();
        if (key.startsWith('k')) group.push(Number(key.slice(1)));
      }
      written.push(...group);
      groups.push(group);
      return 0n;
    },
  };
  return { access, written, groups, state };
}

const until = async (what: string, ready: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > end) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

test('a stall check answered while a group is being written leaves the consumer be: no write applied twice', async () => {
  const { link, consumers, infoRequests } = fakeLink();
  const { access, written, state } = fakeAccess();
  const replica = new ReplicationReplica(access as never, { stream: 's', secrets: [] } as never, link as never, undefined);
  await replica.start(1);
  const first = consumers[0]!.messages;

  // The replica asks for the stream's state while its consumer is idle; the answer waits.
  await until('a stall check', () => infoRequests.length > 0);
  // A message comes; its group is written, slowly.
  const gate = deferred();
  state.gate = gate.promise;
  first.push(message(1, 1, 0, [1, 2, 3]));
  await state.writing.promise;
  // The next check sees that a message was read (and sends no request); from then on the
  // count of messages read stands still while the write lasts.
  await new Promise((resolve) => setTimeout(resolve, STALL_CHECK_MS + 500));
  // The answer to the first request comes now, in the middle of the write: the stream holds more.
  for (const answer of infoRequests.splice(0)) answer(10);
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Had the consumer been given up, a new one would read stream sequence 1 again; deliver that
  // to whichever consumer reads now, as the server would.
  const reading = consumers.at(-1)!;
  if (reading.messages !== first) reading.messages.push(message(1, 1, 0, [1, 2, 3]));
  await new Promise((resolve) => setTimeout(resolve, 100));
  state.gate = undefined;
  gate.resolve();
  await until('the first group written', () => replica.applied === 3n);
  consumers.at(-1)!.messages.push(message(2, 2, 0, [4, 5]));
  await until('the second message applied', () => replica.applied === 5n);
  await replica.close();
  assert.equal(written, [1, 2, 3, 4, 5], 'each write applied once, in order');
  assert.is(consumers.length, 1, 'the consumer was not given up');
});

test('the messages of one flush of a sharded primary are written as one group once their writes follow on, and a write whose predecessor never comes is written after a short wait', async () => {
  const { link, consumers } = fakeLink();
  const { access, groups } = fakeAccess();
  const replica = new ReplicationReplica(access as never, { stream: 's', secrets: [] } as never, link as never, undefined);
  await replica.start(1);
  const messages = consumers[0]!.messages;
  // Shard 0 held writes 1 and 3, shard 1 writes 2 and 4. When the first message is read the
  // stream holds nothing more yet (pending 0): write 3 waits for write 2, and a group of write 1
  // alone would be one synced write more for every message of every flush.
  messages.push(messageOf(1, 1, 0, [[1, 0], [3, 2]]));
  messages.push(messageOf(2, 2, 0, [[2, 1], [4, 3]]));
  await until('the flush applied', () => replica.applied === 4n);
  assert.equal(groups, [[1, 2, 3, 4]], 'one group');
  // A message whose other half never comes (its publisher died in between): what follows on is
  // written all the same, a few milliseconds later, with no message after it to trigger it.
  messages.push(messageOf(3, 3, 0, [[5, 4], [7, 6]]));
  await until('write 5 applied without a message after it', () => replica.applied === 5n);
  assert.equal(groups, [[1, 2, 3, 4], [5]]);
  messages.push(messageOf(4, 4, 0, [[6, 5], [8, 7]]));
  await until('the rest applied', () => replica.applied === 8n);
  assert.equal(groups, [[1, 2, 3, 4], [5], [6, 7, 8]]);
  await replica.close();
});

test.run();
