/**
 * ReplicationPublisher: a primary's durable change feed published to a JetStream stream
 * (replicate(), src/replication.ts).
 *
 * Invariants:
 * 1. Only durable changes are published (`changes({ durable: true })`): a power cut on the
 *    primary never takes back a write a replica may have applied.
 * 2. `acknowledged` is S when JetStream acknowledged every change at or below S (changes are
 *    published up to MAX_IN_FLIGHT at a time; S moves over the acknowledged prefix only).
 * 3. The file REPLICATION-<stream> (src/replication/positions.ts) holds an acknowledged S,
 *    written durably; at its start a publisher resumes above it. Publishing a change again is
 *    harmless: its message id (identity:seq) makes the stream drop it within its duplicate
 *    window, and a replica skips a change it applied, whatever the stream holds.
 * 4. The change feed keeps every change above the recorded position: a second feed, opened at
 *    that position and never read, holds the logs from there on (a feed pins the logs it has
 *    not read yet, README "Retention"); it is moved forward once a newer position is durable.
 *    Between a crash and the next replicate() the logs are kept by changeRetention alone.
 * Steps: open the feed above `acknowledged`; for each change, encode it (message-format.ts)
 * and publish it on the subject of its first operation's shard, waiting when MAX_IN_FLIGHT
 * publishes are unanswered; an answer moves `acknowledged` (invariant 2) and starts a write of
 * the position file unless one runs (one at a time: the next takes the newest position). A
 * failed publish stops the feed, waits for every publish in flight, and starts again above
 * `acknowledged` after a pause (100 ms, doubling up to 5 s), until close().
 */

import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { NodeFileSystem, StrataError, ValueKind, withExpiry, type BatchEntry } from './base/index.js';
import { changesAsBytes, Database, type Change, type ChangeOp } from './database.js';
import {
  CHECKPOINT_OBJECT,
  checkpointBucket,
  clientError,
  encodeMessage,
  isNotFound,
  messageId,
  packCheckpoint,
  readPosition,
  shardSubject,
  streamSubjects,
  writePosition,
  type JetStreamLink,
  type StreamSettings,
} from './replication/index.js';

const EMPTY = new Uint8Array(0);
/** Publishes unanswered at most. */
const MAX_IN_FLIGHT = 256;
const PUBLISH_TIMEOUT_MS = 10_000;
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 5_000;
/** The stream's duplicate window when replicate() creates it. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** Folders of checkpoints being uploaded, under the database's folder. */
const CHECKPOINT_FOLDER_PREFIX = '.replication-checkpoint-';

type AnyDatabase = Database<unknown, unknown, never, never>;

export interface PublisherSettings extends StreamSettings {
  replicas: number;
  checkpointEveryMs: number;
}

/** A change's operations as write-batch entries, as the primary stored them. */
export function entriesOf(ops: readonly ChangeOp[]): BatchEntry[] {
  return ops.map((op): BatchEntry => {
    switch (op.type) {
      case 'put':
        return op.expiresAt === undefined ? { kind: ValueKind.Put, key: op.key, value: op.value! } : { kind: ValueKind.PutWithExpiry, key: op.key, value: withExpiry(op.value!, op.expiresAt) };
      case 'del':
        return { kind: ValueKind.Delete, key: op.key, value: EMPTY };
      case 'merge':
        return { kind: ValueKind.Merge, key: op.key, value: op.value! };
      case 'clear':
        return { kind: ValueKind.RangeDelete, key: op.key, value: op.end ?? EMPTY };
    }
  });
}

export class ReplicationPublisher {
  readonly #db: AnyDatabase;
  readonly #settings: PublisherSettings;
  readonly #link: JetStreamLink;
  readonly #identity: Uint8Array;
  readonly #files = new NodeFileSystem();
  #acknowledged: number;
  /** The position the file holds (invariant 3) and the hold feed starts at (invariant 4). */
  #recorded: number;
  #hold: AsyncIterableIterator<Change> | undefined;
  #recording: Promise<void> | undefined;
  #stop = new AbortController();
  #running: Promise<void> = Promise.resolve();
  #checkpoints: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #failure: StrataError | undefined;
  #lastError: string | undefined;
  #closing: Promise<void> | undefined;
  readonly #closed: Promise<void>;
  #settleClosed!: (err?: StrataError) => void;

  private constructor(db: AnyDatabase, settings: PublisherSettings, link: JetStreamLink, acknowledged: number) {
    this.#db = db;
    this.#settings = settings;
    this.#link = link;
    this.#identity = Buffer.from(db.identity, 'hex');
    this.#acknowledged = acknowledged;
    this.#recorded = acknowledged;
    this.#closed = new Promise<void>((resolve, reject) => {
      this.#settleClosed = (err) => (err === undefined ? resolve() : reject(err));
    });
    this.#closed.catch(() => {});
  }

  /** Connects the stream (created if missing), finds where to resume, and starts publishing. */
  static async start(db: AnyDatabase, settings: PublisherSettings, link: JetStreamLink): Promise<ReplicationPublisher> {
    await ensureStream(link, settings);
    await removeLeftCheckpoints(db.location);
    const files = new NodeFileSystem();
    const recorded = await readPosition(files, db.location, settings.stream);
    let since = recorded;
    let publisher: ReplicationPublisher;
    if (since === undefined) {
      // First start: from the database's first write if the logs still hold it, else from a
      // checkpoint that new replicas start from.
      since = db.stats().changeRetention.oldestSequence === 0 ? 0 : undefined;
      publisher = new ReplicationPublisher(db, settings, link, since ?? 0);
      if (since === undefined) since = await publisher.#uploadCheckpoint();
      publisher.#acknowledged = since;
      publisher.#recorded = since;
      await writePosition(files, db.location, settings.stream, since);
    } else {
      publisher = new ReplicationPublisher(db, settings, link, since);
    }
    // Throws OUT_OF_RANGE when the logs no longer reach back to the position.
    publisher.#hold = changesAsBytes(db, { since: BigInt(since), durable: true, live: true, maxBuffered: 1 });
    publisher.#running = publisher.#run();
    if (settings.checkpointEveryMs > 0) {
      publisher.#timer = setInterval(() => void publisher.checkpoint().catch(() => {}), settings.checkpointEveryMs);
      publisher.#timer.unref();
    }
    return publisher;
  }

  get acknowledged(): bigint {
    return BigInt(this.#acknowledged);
  }

  get lag(): bigint {
    if (this.#db.closed) return 0n;
    const behind = this.#db.sequence - BigInt(this.#acknowledged);
    return behind > 0n ? behind : 0n;
  }

  /** The last publish error (scrubbed), while publishing is being retried; undefined once a publish succeeds. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  get closed(): Promise<void> {
    return this.#closed;
  }

  checkpoint(): Promise<bigint> {
    if (this.#closing !== undefined) return Promise.reject(new StrataError('CLOSED', 'the publisher is closed'));
    const run = this.#checkpoints.then(() => this.#uploadCheckpoint()).then(BigInt);
    this.#checkpoints = run.catch(() => {});
    return run;
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        if (this.#timer !== undefined) clearInterval(this.#timer);
        this.#stop.abort();
        await this.#running;
        await this.#checkpoints;
        await this.#recording;
        await this.#record().catch(() => {});
        await this.#hold?.return?.();
        await this.#link.nc.drain().catch(() => this.#link.nc.close());
        this.#settleClosed(this.#failure);
      })();
    }
    return this.#closing;
  }

  /** Publishes until close() or a failure that retrying cannot mend (invariant steps). */
  async #run(): Promise<void> {
    let pauseMs = FIRST_PAUSE_MS;
    while (!this.#stop.signal.aborted) {
      const before = this.#acknowledged;
      try {
        await this.#publishFrom(this.#acknowledged);
        return;
      } catch (err) {
        if (this.#stop.signal.aborted) return;
        const e = clientError(`publishing to stream ${this.#settings.stream}`, err, this.#settings.secrets);
        if (e.code !== 'IO_ERROR') {
          // CLOSED (the database closed), OUT_OF_RANGE, ...: retrying cannot mend it.
          this.#failure = e;
          void this.close();
          return;
        }
        this.#lastError = e.message;
        if (this.#acknowledged > before) pauseMs = FIRST_PAUSE_MS;
        await pause(pauseMs, this.#stop.signal);
        pauseMs = Math.min(pauseMs * 2, LONGEST_PAUSE_MS);
      }
    }
  }

  async #publishFrom(since: number): Promise<void> {
    const failed = new AbortController();
    const signal = AbortSignal.any([this.#stop.signal, failed.signal]);
    const feed = changesAsBytes(this.#db, { since: BigInt(since), durable: true, live: true, signal, maxBuffered: 1000 });
    /** Publishes in flight, in publish order: the prefix of answered ones moves `acknowledged`. */
    const window: { seq: number; answered: boolean }[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let prev = since;
    const { js } = this.#link;
    try {
      for await (const change of feed) {
        const seq = Number(change.seq);
        const entries = entriesOf(change.ops);
        const shard = entries.length === 0 ? 0 : Database.shardOfKey(this.#db, entries[0]!.key);
        const message = encodeMessage(this.#identity, seq, prev, entries);
        prev = seq;
        const slot = { seq, answered: false };
        window.push(slot);
        const publish = js.publish(shardSubject(this.#settings.stream, shard), message, { msgID: messageId(this.#db.identity, seq), timeout: PUBLISH_TIMEOUT_MS }).then(
          () => {
            slot.answered = true;
            this.#advance(window);
          },
          (err: unknown) => {
            failure ??= err;
            failed.abort();
          },
        );
        inFlight.add(publish);
        void publish.finally(() => inFlight.delete(publish));
        while (inFlight.size >= MAX_IN_FLIGHT && failure === undefined) await Promise.race(inFlight);
        if (failure !== undefined) break;
      }
    } finally {
      await Promise.allSettled([...inFlight]);
    }
    if (failure !== undefined) throw failure;
  }

  /** Moves `acknowledged` over the answered prefix of `window` (invariant 2) and records it. */
  #advance(window: { seq: number; answered: boolean }[]): void {
    let n = 0;
    while (n < window.length && window[n]!.answered) n++;
    if (n === 0) return;
    this.#acknowledged = window[n - 1]!.seq;
    window.splice(0, n);
    this.#lastError = undefined;
    if (this.#recording === undefined) {
      this.#recording = this.#record().then(
        () => (this.#recording = undefined),
        (err: unknown) => {
          this.#recording = undefined;
          this.#failure = err instanceof StrataError ? err : new StrataError('IO_ERROR', `recording the replication position: ${String(err)}`, { errno: 'EIO' });
          void this.close();
        },
      );
    }
  }

  /** Writes the newest acknowledged position, again while it moved meanwhile, then moves the hold (invariants 3, 4). */
  async #record(): Promise<void> {
    while (this.#recorded < this.#acknowledged) {
      const position = this.#acknowledged;
      await writePosition(this.#files, this.#db.location, this.#settings.stream, position);
      this.#recorded = position;
      if (this.#db.closed) continue;
      const old = this.#hold;
      this.#hold = changesAsBytes(this.#db, { since: BigInt(position), durable: true, live: true, maxBuffered: 1 });
      await old?.return?.();
    }
  }

  /** Takes a checkpoint, uploads it to the stream's object store, and resolves to its sequence. */
  async #uploadCheckpoint(): Promise<number> {
    const db = this.#db;
    const folder = path.join(db.location, `${CHECKPOINT_FOLDER_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      const sequence = Number(await db.checkpoint(folder));
      const { js } = this.#link;
      try {
        const store = await js.views.os(checkpointBucket(this.#settings.stream), { replicas: this.#settings.replicas });
        await store.put(
          { name: CHECKPOINT_OBJECT, metadata: { sequence: String(sequence), identity: db.identity } },
          packCheckpoint(folder, { identity: db.identity, sequence }),
        );
      } catch (err) {
        throw clientError(`uploading a checkpoint for stream ${this.#settings.stream}`, err, this.#settings.secrets);
      }
      return sequence;
    } finally {
      await fsp.rm(folder, { recursive: true, force: true });
    }
  }
}

/** Creates the stream when it does not exist. */
async function ensureStream(link: JetStreamLink, s: PublisherSettings): Promise<void> {
  try {
    await link.jsm.streams.info(s.stream);
    return;
  } catch (err) {
    if (!isNotFound(err)) throw clientError(`stream ${s.stream}`, err, s.secrets);
  }
  try {
    await link.jsm.streams.add({
      name: s.stream,
      subjects: [streamSubjects(s.stream)],
      num_replicas: s.replicas,
      storage: link.nats.StorageType.File,
      duplicate_window: link.nats.nanos(DUPLICATE_WINDOW_MS),
    });
  } catch (err) {
    throw clientError(`creating stream ${s.stream}`, err, s.secrets);
  }
}

/** Removes the checkpoint folders an upload cut short by a crash left in `dir`. */
async function removeLeftCheckpoints(dir: string): Promise<void> {
  for (const name of await fsp.readdir(dir)) {
    if (name.startsWith(CHECKPOINT_FOLDER_PREFIX)) await fsp.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
