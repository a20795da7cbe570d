/**
 * ReplicationReplica: a local database that applies a primary's writes from a JetStream
 * stream (follow(), src/replication.ts).
 *
 * Invariants:
 * 1. The replica's position (APPLIED_KEY, src/replication/positions.ts: the primary's identity,
 *    the highest write applied, a stream sequence up to which every message's writes are
 *    applied) is written as the last
 *    operation of the very batch that applies the writes it covers: after any crash the
 *    database holds the writes up to its position and none above, so each is applied once.
 *    Each batch is synced before the next is written: a power cut keeps a prefix of them.
 * 2. Writes are applied in the primary's order: a write applies once the write before it
 *    (its `prev`) is applied; one that arrives early (in another shard's message, or a publish
 *    retried after a later one) waits, at most MAX_WAITING of them. A write at or below the
 *    position, or at or below the last write taken into a group (one being written too), is
 *    skipped: each is taken once.
 * 3. A message whose checksum fails or whose identity is not the one the replica follows is
 *    never applied: the replica stops with CORRUPTION naming the stream sequence.
 * 4. A write of the primary (a put, a del, a whole batch across its shards) is in one message and
 *    lands in one batch of the replica, so reads never see part of it.
 * 5. The replica never sits idle while not closed: a consumer that stops delivering (its
 *    JetStream server died: the client reports missed heartbeats; it was deleted or lost;
 *    or, whatever the client reports, it delivered nothing for STALL_CHECK_MS while the stream
 *    holds messages past the last one read, never while a group is being written; or it
 *    skipped a message), or whose messages end,
 *    is stopped and made again from the position (REREAD_WINDOW before its stream sequence,
 *    as at a start; what is read again is skipped, invariant 2), retried until it is made,
 *    each attempt given up after OPEN_TIMEOUT_MS; a stream that no longer exists stops the
 *    replica with NOT_FOUND.
 * Steps: read the stream with a consumer of our own from REREAD_WINDOW messages before the
 * position's stream sequence (what a retried publish may have put behind it); decode and check
 * each message; collect the writes that apply; when the consumer has nothing more at hand and
 * no write read waits for an earlier one (else once the group's first write waited
 * GROUP_WAIT_MS), or a group is full, write the group and the new position as one batch (one
 * at a time), then answer waitFor().
 */

import { StrataError, ValueKind, invalidArgument, type BatchEntry } from './base/index.js';
import { type Database, type ReplicaAccess } from './database.js';
import {
  APPLIED_KEY,
  clientError,
  decodeApplied,
  decodeMessage,
  encodeApplied,
  isNotFound,
  MAX_CHANGES_PER_MESSAGE,
  MAX_MESSAGES_IN_FLIGHT,
  type JetStreamLink,
  type ReplicatedChange,
  type StreamSettings,
} from './replication/index.js';

/** Writes collected into one batch of the replica at most, and their bytes. */
const GROUP_CHANGES = 4096;
const GROUP_BYTES = 4 << 20;
/**
 * When the consumer has nothing more at hand but writes read wait for an earlier one (a
 * primary of several shards publishes a message a shard, and the next one is on its way), the
 * group is written once they follow on, or once its first write came this long ago. Written at
 * once, each message of such a flush made a synced group of a few writes, and a 4-shard replica
 * of a 4-shard primary lagged p50 67 ms at 20k writes/s (3 ms with one shard each).
 */
const GROUP_WAIT_MS = 5;
/** Messages the consumer holds at hand at most. */
const CONSUMER_MESSAGES = 64;
/** Writes that arrived before the write they follow, held at most (invariant 2): what two windows of publishes in flight hold. */
const MAX_WAITING = 2 * MAX_MESSAGES_IN_FLIGHT * MAX_CHANGES_PER_MESSAGE;
/** Messages read again before the position's stream sequence at a start (a publisher's messages in flight, twice). */
export const REREAD_WINDOW = 2 * MAX_MESSAGES_IN_FLIGHT;
/** The consumer's idle heartbeat; this many missed in a row make it again (invariant 5). */
const IDLE_HEARTBEAT_MS = 1000;
const RESTART_AFTER_MISSED = 2;
/** Wait between attempts to make the consumer again. */
const RETRY_MS = 500;
/**
 * How long making a consumer may take before the attempt is given up and made again (during
 * a change of stream leader the client's requests can wait long).
 */
const OPEN_TIMEOUT_MS = 10_000;
/** The pull requests' expiry. */
const CONSUMER_EXPIRES_MS = 5_000;
/** A consumer given up (or left by a replica that died) is deleted by its server after this long unused. */
const CONSUMER_INACTIVE_MS = 30_000;
/**
 * How often the replica checks that its consumer delivers: if no message came since the last
 * check while the stream holds messages past the last one read, the consumer is given up and made
 * again (invariant 5), whatever the client reported (it reports nothing when no pull was
 * outstanding as its server died).
 */
const STALL_CHECK_MS = 3000;

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class ReplicationReplica<K = Buffer, V = Buffer> {
  readonly #access: ReplicaAccess<K, V>;
  readonly #settings: StreamSettings;
  readonly #link: JetStreamLink;
  /** Which consumer may apply: a consumer given up for a stall stops at its next message. */
  #generation = 0;
  /** Messages read, and the highest stream sequence read: a stall shows as neither moving. */
  #received = 0;
  #lastStreamSeq = 0;
  /** Whether #applyGroup() is writing a group (not a stall, however long it takes). */
  #applying = false;
  /** The primary's identity this replica follows; undefined until a new replica applies its first message. */
  #identity: string | undefined;
  #applied: number;
  #appliedStreamSeq: number;
  /** The highest write taken into a group: applied, being written, or in #group (invariant 2). */
  #taken: number;
  /** Writes that apply, in order, not yet written (invariant 2). */
  #group: ReplicatedChange[] = [];
  #groupBytes = 0;
  #groupStreamSeq = 0;
  /** When the group's first write was taken (performance.now()). */
  #groupStartedAt = 0;
  /** Writes the group GROUP_WAIT_MS after its first write, if nothing else did. */
  #groupTimer: NodeJS.Timeout | undefined;
  /** #applyGroup() calls, one after the other. */
  #applyChain: Promise<void> = Promise.resolve();
  /** Early writes by the number of the write they follow (invariant 2). */
  readonly #waiting = new Map<number, { change: ReplicatedChange; streamSeq: number }>();
  #waiters: Waiter[] = [];
  #messages: import('nats').ConsumerMessages | undefined;
  /** The stream sequence the first start read from: where a restart reads from while nothing is applied. */
  #from = 1;
  /** Set when the consumer reported that the stream is gone (invariant 5). */
  #streamGone = false;
  #consuming: Promise<void> = Promise.resolve();
  #failure: StrataError | undefined;
  #closing: Promise<void> | undefined;
  readonly #closed: Promise<void>;
  #settleClosed!: (err?: StrataError) => void;

  constructor(access: ReplicaAccess<K, V>, settings: StreamSettings, link: JetStreamLink, identity: string | undefined) {
    this.#access = access;
    this.#settings = settings;
    this.#link = link;
    const stored = access.hiddenValue();
    const position = stored === undefined ? undefined : decodeApplied(stored, access.db.location);
    if (position !== undefined && identity !== undefined && position.identity !== identity) {
      throw invalidArgument(`${access.db.location} follows database ${position.identity}, not ${identity}`);
    }
    this.#identity = position?.identity ?? identity;
    this.#applied = position?.seq ?? 0;
    this.#taken = this.#applied;
    this.#appliedStreamSeq = position?.streamSeq ?? 0;
    this.#closed = new Promise<void>((resolve, reject) => {
      this.#settleClosed = (err) => (err === undefined ? resolve() : reject(err));
    });
    this.#closed.catch(() => {});
  }

  get db(): Database<K, V> {
    return this.#access.db;
  }

  get applied(): bigint {
    return BigInt(this.#applied);
  }

  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Where the stream must be read from: its first message, or REREAD_WINDOW before the position's. */
  startStreamSeq(firstSeq: number): number {
    return this.#appliedStreamSeq === 0 ? firstSeq : Math.max(firstSeq, this.#appliedStreamSeq + 1 - REREAD_WINDOW);
  }

  /**
   * Whether a stream whose first message (stream sequence `firstStreamSeq`) has `before`
   * `firstBefore` (message-format.ts: it and the later messages bring every write above it) can
   * still bring this replica every write after its position: false when messages after the
   * position's were dropped and the first left brings only writes above a later one.
   */
  canContinueFrom(firstStreamSeq: number, firstBefore: number): boolean {
    return firstBefore <= this.#applied || firstStreamSeq <= this.#appliedStreamSeq + 1;
  }

  /** Starts consuming from stream sequence `from`; rejects if the consumer cannot be made. */
  async start(from: number): Promise<void> {
    this.#from = Math.max(1, from);
    let messages;
    try {
      messages = await this.#openWithin(this.#from);
    } catch (err) {
      throw clientError(`reading stream ${this.#settings.stream}`, err, this.#settings.secrets);
    }
    this.#consuming = this.#run(messages).catch((err: unknown) => this.#fail(err));
  }

  /**
   * A new consumer of the stream from stream sequence `from`, delivering. Throws the client's
   * error. A plain pull consumer, made and made again by the replica alone (invariant 5): the
   * client's ordered consumer remakes itself, and one remaking itself when it was stopped (its
   * server restarted a moment before) left a heartbeat timer running that kept a closed
   * replica's process alive. Like an ordered consumer's: no acknowledgements, in memory, one
   * replica, deleted by its server once unused for CONSUMER_INACTIVE_MS.
   */
  async #open(from: number): Promise<import('nats').ConsumerMessages> {
    const { js, jsm, nats } = this.#link;
    const stream = this.#settings.stream;
    const info = await jsm.consumers.add(stream, {
      ack_policy: nats.AckPolicy.None,
      deliver_policy: nats.DeliverPolicy.StartSequence,
      opt_start_seq: from,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nats.nanos(CONSUMER_INACTIVE_MS),
    });
    const consumer = await js.consumers.get(stream, info.name);
    return consumer.consume({ max_messages: CONSUMER_MESSAGES, idle_heartbeat: IDLE_HEARTBEAT_MS, expires: CONSUMER_EXPIRES_MS });
  }

  /** #open(from), given up after OPEN_TIMEOUT_MS (a consumer made after that is stopped). Throws. */
  async #openWithin(from: number): Promise<import('nats').ConsumerMessages> {
    const opening = this.#open(from);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`making a consumer took over ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS);
    });
    try {
      return await Promise.race([opening, late]);
    } catch (err) {
      void opening.then((m) => m.stop(), () => {});
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Consumes until the replica closes, making the consumer again whenever it stops (invariant 5). */
  async #run(first: import('nats').ConsumerMessages): Promise<void> {
    let messages = first;
    for (;;) {
      this.#messages = messages;
      this.#watch(messages);
      const generation = ++this.#generation;
      await Promise.race([this.#consume(messages, generation), this.#stalled(messages, generation)]);
      // A consumer given up may still be iterating: its generation tells it to stop.
      this.#generation++;
      await this.#applyGroup();
      if (this.#closing !== undefined) return;
      if (this.#streamGone) throw new StrataError('NOT_FOUND', `stream ${this.#settings.stream} no longer exists`);
      for (;;) {
        try {
          messages = await this.#openWithin(this.startStreamSeq(this.#from));
          break;
        } catch (err) {
          if (this.#closing !== undefined) return;
          if (isNotFound(err)) throw new StrataError('NOT_FOUND', `stream ${this.#settings.stream} no longer exists`);
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
          if (this.#closing !== undefined) return;
        }
      }
      if (this.#closing !== undefined) {
        messages.stop();
        return;
      }
    }
  }

  /** Stops `messages` when the client reports that its consumer no longer delivers (invariant 5). */
  #watch(messages: import('nats').ConsumerMessages): void {
    void (async () => {
      for await (const status of await messages.status()) {
        const stalled =
          (status.type === 'heartbeats_missed' && Number(status.data) >= RESTART_AFTER_MISSED) ||
          status.type === 'consumer_deleted' ||
          status.type === 'consumer_not_found' ||
          status.type === 'stream_not_found';
        if (stalled) {
          if (status.type === 'stream_not_found') this.#streamGone = true;
          messages.stop();
          return;
        }
      }
    })().catch(() => {});
  }

  waitFor(seq: bigint | number, options?: { signal?: AbortSignal }): Promise<void> {
    let target: number;
    if (typeof seq === 'bigint' && seq >= 0n && seq <= BigInt(Number.MAX_SAFE_INTEGER)) target = Number(seq);
    else if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0) target = seq;
    else return Promise.reject(invalidArgument(`waitFor() takes a sequence number (a non-negative integer), got ${typeof seq === 'bigint' ? `${seq}n` : String(seq)}`));
    if (options !== undefined && (options === null || typeof options !== 'object')) return Promise.reject(invalidArgument('waitFor() options must be an object'));
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) return Promise.reject(invalidArgument('option signal must be an AbortSignal'));
    if (target <= this.#applied) return Promise.resolve();
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closing !== undefined) return Promise.reject(new StrataError('CLOSED', 'the replica is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        seq: target,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        clearTimeout(this.#groupTimer);
        this.#messages?.stop();
        await this.#consuming;
        await this.#link.nc.close().catch(() => {});
        const closed = new StrataError('CLOSED', 'the replica is closed');
        for (const w of this.#waiters.splice(0)) w.reject(this.#failure ?? closed);
        await this.#access.db.close();
        this.#settleClosed(this.#failure);
      })();
    }
    return this.#closing;
  }

  /**
   * Resolves (and stops `messages`) once the consumer of `generation` delivered nothing for a
   * whole STALL_CHECK_MS while the stream holds messages past the last one read; never while a
   * group is being applied.
   */
  #stalled(messages: import('nats').ConsumerMessages, generation: number): Promise<void> {
    return new Promise((resolve) => {
      let seen = this.#received;
      const timer = setInterval(() => {
        if (generation !== this.#generation || this.#closing !== undefined) {
          clearInterval(timer);
          return;
        }
        if (this.#received !== seen || this.#applying) {
          seen = this.#received;
          return;
        }
        void this.#link.jsm.streams.info(this.#settings.stream).then(
          (info) => {
            // A request answered late (the servers changing leaders) may be answered in the
            // middle of a group's write, while the consumer waits for it: not a stall.
            if (generation !== this.#generation || this.#applying || this.#received !== seen || info.state.last_seq <= this.#lastStreamSeq) return;
            clearInterval(timer);
            messages.stop();
            resolve();
          },
          () => {}, // the servers are changing leaders: look again at the next check
        );
      }, STALL_CHECK_MS);
      timer.unref();
    });
  }

  async #consume(messages: import('nats').ConsumerMessages, generation: number): Promise<void> {
    const stream = this.#settings.stream;
    // A consumer numbers what it delivers 1, 2, ...: a number skipped is a message lost on the
    // way (a pull cut off by a reconnect), and the consumer is made again from the position.
    let delivered = 0;
    for await (const m of messages) {
      if (this.#closing !== undefined || generation !== this.#generation) break;
      if (m.info.deliverySequence !== ++delivered) {
        messages.stop();
        break;
      }
      this.#received++;
      this.#lastStreamSeq = Math.max(this.#lastStreamSeq, m.seq);
      const where = `stream ${stream} sequence ${m.seq}`;
      let message;
      try {
        message = decodeMessage(m.data, where);
        if (this.#identity !== undefined && message.identity !== this.#identity) {
          throw new StrataError('CORRUPTION', `${where}: a write of database ${message.identity}; this replica follows ${this.#identity}`);
        }
      } catch (err) {
        // The writes before it were checked: they are applied, and nothing after it.
        await this.#applyGroup();
        throw err;
      }
      for (const change of message.changes) this.#offer(change, message.identity, m.seq, where);
      if (this.#group.length >= GROUP_CHANGES || this.#groupBytes >= GROUP_BYTES) await this.#applyGroup();
      else if (m.info.pending === 0 && this.#group.length > 0) {
        const waited = performance.now() - this.#groupStartedAt;
        if (this.#waiting.size === 0 || waited >= GROUP_WAIT_MS) await this.#applyGroup();
        else this.#groupTimer ??= setTimeout(() => this.#groupTimeUp(), GROUP_WAIT_MS - waited);
      }
    }
    if (generation === this.#generation) await this.#applyGroup();
  }

  /** Adds `change` to the group if it applies next, keeps it if it is early (invariant 2). */
  #offer(change: ReplicatedChange, identity: string, streamSeq: number, where: string): void {
    const last = this.#taken;
    if (change.seq <= last) return;
    if (change.prev > last) {
      if (this.#waiting.has(change.prev)) return;
      if (this.#waiting.size >= MAX_WAITING) {
        throw new StrataError('OUT_OF_RANGE', `${where}: ${MAX_WAITING} writes wait for the write after ${last}, which the stream does not hold (bootstrap the replica again)`);
      }
      this.#waiting.set(change.prev, { change, streamSeq });
      return;
    }
    if (this.#identity === undefined) {
      if (change.prev !== 0) throw new StrataError('OUT_OF_RANGE', `${where}: a new replica needs the primary's first write or a checkpoint`);
      this.#identity = identity;
    }
    this.#take(change, streamSeq);
    // Early writes that now follow on.
    for (let next = this.#waiting.get(change.seq); next !== undefined; next = this.#waiting.get(next.change.seq)) {
      this.#waiting.delete(next.change.prev);
      this.#take(next.change, next.streamSeq);
    }
  }

  #take(change: ReplicatedChange, streamSeq: number): void {
    if (this.#group.length === 0) this.#groupStartedAt = performance.now();
    this.#group.push(change);
    this.#taken = change.seq;
    for (const e of change.entries) this.#groupBytes += e.key.length + e.value.length + 8;
    if (streamSeq > this.#groupStreamSeq) this.#groupStreamSeq = streamSeq;
  }

  /** The group waited GROUP_WAIT_MS with nothing more read: written as it is. */
  #groupTimeUp(): void {
    this.#groupTimer = undefined;
    if (this.#closing !== undefined || this.#failure !== undefined) return;
    this.#applyGroup().catch((err: unknown) => this.#fail(err));
  }

  /** Writes the group (#applyNow), after any write of a group still under way. */
  #applyGroup(): Promise<void> {
    const run = this.#applyChain.then(() => this.#applyNow());
    this.#applyChain = run.catch(() => {});
    return run;
  }

  /** Writes the group and the position in one batch (invariant 1), then answers waitFor(). */
  async #applyNow(): Promise<void> {
    clearTimeout(this.#groupTimer);
    this.#groupTimer = undefined;
    if (this.#group.length === 0) return;
    const group = this.#group;
    const seq = group[group.length - 1]!.seq;
    // Every write of the messages up to the position's stream sequence is applied: a message
    // with a write still waiting lies above it.
    let streamSeq = Math.max(this.#groupStreamSeq, this.#appliedStreamSeq);
    for (const w of this.#waiting.values()) streamSeq = Math.min(streamSeq, w.streamSeq - 1);
    const entries: BatchEntry[] = [];
    for (const change of group) for (const e of change.entries) entries.push(e);
    entries.push({ kind: ValueKind.Put, key: APPLIED_KEY, value: encodeApplied({ identity: this.#identity!, seq, streamSeq }) });
    this.#group = [];
    this.#groupBytes = 0;
    // Synced: the shards of a replica lose their unsynced tails independently in a power cut, so
    // without it a later group could survive where an earlier one did not (invariant 1 needs
    // every group below a surviving position to survive too).
    this.#applying = true;
    try {
      await this.#access.apply(entries, true);
    } finally {
      this.#applying = false;
    }
    this.#applied = seq;
    this.#appliedStreamSeq = streamSeq;
    const ready = this.#waiters.filter((w) => w.seq <= seq);
    if (ready.length > 0) {
      this.#waiters = this.#waiters.filter((w) => w.seq > seq);
      for (const w of ready) w.resolve();
    }
  }

  #fail(err: unknown): void {
    if (this.#closing !== undefined && err instanceof StrataError && err.code === 'CLOSED') return;
    this.#failure = clientError(`applying stream ${this.#settings.stream}`, err, this.#settings.secrets);
    this.#messages?.stop();
    for (const w of this.#waiters.splice(0)) w.reject(this.#failure);
    this.#settleClosed(this.#failure);
  }
}
