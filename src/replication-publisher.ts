/**
 * ReplicationPublisher: a primary's durable change feed published to a JetStream stream
 * (replicate(), src/replication.ts).
 *
 * Invariants:
 * 1. Only durable changes are published (`changes({ durable: true })`): a power cut on the
 *    primary never takes back a write a replica may have applied.
 * 2. `acknowledged` is S when JetStream acknowledged every change at or below S, and S is a
 *    write's number (or the position a start began at): messages are published up to
 *    MAX_MESSAGES_IN_FLIGHT at a time, and S moves over the acknowledged prefix only, each
 *    message answering for the writes below the next one's first (see flush).
 * 3. The file REPLICATION-<stream> (src/replication/positions.ts) holds an acknowledged S,
 *    written durably; at its start a publisher resumes above it, and does not publish again
 *    what the last run stored after it (storedAfter: the writes that follow S move it, the
 *    ones beyond a write whose message was lost are skipped when the feed reaches them).
 *    Publishing a change again is harmless all the same: its message's id
 *    (identity:first-last) makes the stream drop it within its duplicate window, and a
 *    replica skips a change it applied, whatever the stream holds.
 * 4. The change feed keeps every change above the recorded position: a second feed, opened at
 *    that position and never read, holds the logs from there on (a feed pins the logs it has
 *    not read yet, README "Retention"); it is moved forward once a newer position is durable.
 *    Between a crash and the next replicate() the logs are kept by changeRetention alone.
 * Steps: open the feed above `acknowledged`; add each change to the group of its first
 * operation's shard; publish every group as one message (message-format.ts) on its shard's
 * subject when the feed has nothing more at hand (the end of what nextMany() gave) and no message
 * is unanswered (HOLD_WHILE_UNANSWERED), when an answer comes, or when a group is full,
 * waiting when MAX_MESSAGES_IN_FLIGHT publishes are unanswered; an answer moves `acknowledged`
 * (invariant 2) and starts a write of the position file unless one runs or waits (one at a
 * time, at most one every RECORD_INTERVAL_MS: the next takes the newest position). A failed
 * publish holds the feed, waits for every publish in flight, and sends every unanswered message
 * again (the same bytes and id) after a pause (100 ms, doubling up to 5 s), until all are
 * answered or close(); a failed feed starts again above `acknowledged` the same way.
 */

import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { NodeFileSystem, StrataError, ValueKind, withExpiry, type BatchEntry } from './base/index.js';
import { changesAsBatches, changesAsBytes, Database, type Change, type ChangeOp } from './database.js';
import {
  CHECKPOINT_OBJECT,
  checkpointBucket,
  clientError,
  closeLink,
  changeEncodedLength,
  type ChangeToSend,
  encodeMessage,
  MAX_CHANGES_PER_MESSAGE,
  MAX_MESSAGES_IN_FLIGHT,
  MESSAGE_TARGET_BYTES,
  MessageBuffers,
  isNotFound,
  messageId,
  packCheckpoint,
  PublishThread,
  decodeMessage,
  type PublishedPosition,
  readPosition,
  shardSubject,
  streamSubjects,
  writePosition,
  type JetStreamLink,
  type StreamSettings,
} from './replication/index.js';

const EMPTY = new Uint8Array(0);
const PUBLISH_TIMEOUT_MS = 10_000;
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 5_000;
/**
 * The position file is written at most once per this many ms (invariant 3): each write is two
 * fsyncs and moves the hold feed, and back to back they were about 35 a second at 200k
 * writes/s. A restart publishes again at most what was acknowledged in that time (about 40
 * messages at that rate: storedAfter() finds them in the stream, or the stream drops them).
 */
const RECORD_INTERVAL_MS = 100;
/**
 * A fill of the feed's that leaves no group full is published at once while fewer than this
 * many messages are unanswered (none), else held until an answer comes, as Nagle's algorithm
 * does: fuller messages where writes come fast, none held where they come slowly. Each message
 * costs the publishing thread, nats-server and the writers' thread about 360 µs of CPU besides
 * its bytes (600k writes as 2,488 messages took 1.0 µs of CPU a write more than as 823; held,
 * they went as 607-622, and the lag at 20k writes/s stayed at p50 3.0 ms).
 */
const HOLD_WHILE_UNANSWERED = 1;
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

/** A message published and not yet answered (see #publishFrom). */
interface Slot {
  /** Every write up to it is acknowledged once this message and those before it are answered. */
  covers: number;
  answered: boolean;
  /** The stream sequence JetStream stored it at, once answered. */
  streamSeq: number;
  subject: string;
  id: string;
  bytes: Uint8Array;
}

export class ReplicationPublisher {
  readonly #db: AnyDatabase;
  readonly #settings: PublisherSettings;
  readonly #link: JetStreamLink;
  readonly #identity: Uint8Array;
  readonly #files = new NodeFileSystem();
  #acknowledged: number;
  /** The stream sequence of the last message `acknowledged` needed (0: not known). */
  #acknowledgedStreamSeq = 0;
  /** Writes above `acknowledged` the last run stored in the stream (storedAfter): skipped, not published again. */
  #storedBeyond = new Set<number>();
  /** The position the file holds (invariant 3) and the hold feed starts at (invariant 4). */
  #recorded: number;
  #hold: AsyncIterableIterator<Change> | undefined;
  /** Where messages are published (publish-thread.ts); undefined: on #link, on this thread. */
  #thread: PublishThread | undefined;
  /** The memory messages are encoded into, shared with #thread, taken back once answered. */
  readonly #buffers = new MessageBuffers();
  #recording: Promise<void> | undefined;
  /** Set while the next write of the position file waits for RECORD_INTERVAL_MS to pass. */
  #recordTimer: NodeJS.Timeout | undefined;
  #lastRecordAt = -Infinity;
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
    let since: number | undefined;
    let publisher: ReplicationPublisher;
    if (recorded === undefined) {
      // First start: from the database's first write if the logs still hold it, else from a
      // checkpoint that new replicas start from.
      since = db.stats().changeRetention.oldestSequence === 0 ? 0 : undefined;
      publisher = new ReplicationPublisher(db, settings, link, since ?? 0);
      if (since === undefined) since = await publisher.#uploadCheckpoint();
      publisher.#acknowledged = since;
      publisher.#recorded = since;
      await writePosition(files, db.location, settings.stream, { acknowledged: since, streamSeq: 0 });
    } else {
      // What the last run stored after its recorded position is not published again.
      const { position: found, beyond } = await storedAfter(link, settings, db.identity, recorded);
      if (found.acknowledged > recorded.acknowledged) await writePosition(files, db.location, settings.stream, found);
      since = found.acknowledged;
      publisher = new ReplicationPublisher(db, settings, link, since);
      publisher.#acknowledgedStreamSeq = found.streamSeq;
      publisher.#storedBeyond = beyond;
    }
    // Throws OUT_OF_RANGE when the logs no longer reach back to the position.
    publisher.#hold = changesAsBytes(db, { since: BigInt(since), durable: true, live: true, maxBuffered: 1 });
    // A worker that cannot connect where this thread could: publish from here. The worker runs
    // option backgroundNice below the application's threads, as compactions do: where the cores
    // are all busy, the writers go first (README "Replication", the replication bench).
    publisher.#thread = await PublishThread.start(settings, Database.backgroundNice(db)).catch(() => undefined);
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
        clearTimeout(this.#recordTimer);
        this.#stop.abort();
        await this.#running;
        await this.#checkpoints;
        await this.#recording;
        await this.#record().catch(() => {});
        await this.#hold?.return?.();
        await this.#thread?.close();
        await closeLink(this.#link);
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
    const signal = this.#stop.signal;
    const feed = changesAsBatches(this.#db, { since: BigInt(since), durable: true, live: true, signal, maxBuffered: 4 * MAX_CHANGES_PER_MESSAGE });
    /** Messages published and not yet answered, in publish order: the answered prefix moves `acknowledged`. */
    const window: Slot[] = [];
    const inFlight = new Set<Promise<void>>();
    /** Each shard's writes not yet published (see flush and the end of a fill below). */
    const groups = new Map<number, { changes: ChangeToSend[]; bytes: number }>();
    /**
     * The highest write published since `since`, or skipped as stored by the last run (a
     * message's `before`, message-format.ts: every write above it is in this message or a later
     * one, which a skipped write, in an earlier message, is not).
     */
    let published = since;
    /** Writes above `since` the last run stored (storedAfter): not published again. */
    const skipped = this.#storedBeyond;
    for (const seq of skipped) if (seq <= since) skipped.delete(seq);
    /** The highest write skipped since the last flush: acknowledged with the writes around it. */
    let skippedHigh = 0;
    /** Set while unanswered messages are sent again after a failed publish. */
    let resending: Promise<void> | undefined;
    const { js } = this.#link;
    /** Publishes `slot`'s message; resolves once JetStream answered it (marked in the slot). */
    const publishOnce = (slot: Slot) => {
      const thread = this.#thread;
      const stored =
        thread !== undefined && !thread.stopped
          ? thread.publish(slot.subject, slot.id, slot.bytes, PUBLISH_TIMEOUT_MS)
          : // A copy: the client keeps what it is given until it writes it out (MessageBuffers invariant 2).
            js.publish(slot.subject, slot.bytes.slice(), { msgID: slot.id, timeout: PUBLISH_TIMEOUT_MS }).then((ack) => ack.seq);
      return stored.then((seq) => {
        slot.answered = true;
        slot.streamSeq = seq;
      });
    };
    const send = (slot: Slot) => {
      const answer = publishOnce(slot).then(
        () => this.#advance(window),
        (err: unknown) => {
          resending ??= resend(err).finally(() => {
            resending = undefined;
            if (groups.size > 0) flush();
          });
        },
      );
      inFlight.add(answer);
      void answer.finally(() => {
        inFlight.delete(answer);
        // Groups held back while publishes were unanswered (see the end of a fill below).
        if (groups.size > 0 && inFlight.size < HOLD_WHILE_UNANSWERED) flush();
      });
    };
    /**
     * After a failed publish: once nothing is in flight, sends every unanswered message again,
     * the same bytes under the same id (the stream drops those it stored), after a pause
     * (FIRST_PAUSE_MS doubling up to LONGEST_PAUSE_MS), until all are answered or close().
     */
    const resend = async (err: unknown) => {
      let pauseMs = FIRST_PAUSE_MS;
      for (;;) {
        this.#lastError = clientError(`publishing to stream ${this.#settings.stream}`, err, this.#settings.secrets).message;
        await Promise.allSettled([...inFlight]);
        if (window.every((slot) => slot.answered)) return;
        await pause(pauseMs, signal);
        if (signal.aborted) return;
        pauseMs = Math.min(pauseMs * 2, LONGEST_PAUSE_MS);
        const failed: unknown[] = [];
        await Promise.all(window.filter((slot) => !slot.answered).map((slot) => publishOnce(slot).catch((e: unknown) => void failed.push(e))));
        this.#advance(window);
        if (failed.length === 0) return;
        err = failed[0];
      }
    };
    /** Publishes `changes` (one shard's) as one message; its answer acknowledges every write up to `covers`. */
    const publish = (shard: number, changes: ChangeToSend[], covers: number) => {
      const slot: Slot = {
        covers,
        answered: false,
        streamSeq: 0,
        subject: shardSubject(this.#settings.stream, shard),
        id: messageId(this.#db.identity, changes[0]!.seq, changes[changes.length - 1]!.seq),
        bytes: this.#buffers.share(encodeMessage(this.#identity, published, changes, (length) => this.#buffers.scratch(length))),
      };
      published = Math.max(published, changes[changes.length - 1]!.seq);
      window.push(slot);
      send(slot);
    };
    /**
     * Publishes every shard's group, the one whose first write is lowest first. Once the groups
     * up to one are answered, every write below the next group's first is (each write of the
     * flush is in one of its groups), and once all are, the flush's highest write is: that
     * next write's `prev`, or the highest, is what a message acknowledges, a write's number as
     * a resumed feed needs it (its first change follows the position).
     */
    const flush = () => {
      if (resending !== undefined || signal.aborted || groups.size === 0) return;
      const pending = [...groups].sort((a, b) => a[1].changes[0]!.seq - b[1].changes[0]!.seq);
      groups.clear();
      // Every write up to a skipped one was delivered before it: in these groups, in earlier
      // messages, or skipped too (stored).
      let highest = skippedHigh;
      skippedHigh = 0;
      for (const [, g] of pending) highest = Math.max(highest, g.changes[g.changes.length - 1]!.seq);
      for (let i = 0; i < pending.length; i++) {
        const [shard, group] = pending[i]!;
        publish(shard, group.changes, i + 1 < pending.length ? pending[i + 1]![1].changes[0]!.prev : highest);
      }
      // Encoded: let go of the changes. A group's array that lived across a turn of the event
      // loop (while publishes in flight were waited for) ends up in V8's old generation; a dead
      // one there still holds its changes for every collection of the young generation until
      // the next full collection, so each change was copied to the old generation too (87-95 MB
      // for 600k writes, 21-25 MB with the arrays emptied here; three times the full collections).
      for (const [, group] of pending) group.changes.length = 0;
    };
    try {
      for (let changes = await feed.nextMany(); changes !== undefined; changes = await feed.nextMany()) {
        for (const change of changes) {
          if (skipped.size > 0 && skipped.delete(change.seq)) {
            published = Math.max(published, change.seq);
            skippedHigh = change.seq;
            continue;
          }
          let send: ChangeToSend;
          let shard: number;
          if (change.batch !== undefined) {
            // The feed's object as it is: { seq, prev, batch } and fields the encoding ignores.
            send = change as ChangeToSend;
            shard = change.shard!;
          } else {
            const entries = entriesOf(change.ops);
            send = { seq: change.seq, prev: change.prev, entries };
            shard = entries.length === 0 ? 0 : Database.shardOfKey(this.#db, entries[0]!.key);
          }
          const bytes = changeEncodedLength(send);
          let group = groups.get(shard);
          if (group !== undefined && group.bytes + bytes > MESSAGE_TARGET_BYTES && resending === undefined) {
            // A message stays under the target unless one write alone is larger (README: max_payload).
            flush();
            group = groups.get(shard);
          }
          if (group === undefined) groups.set(shard, (group = { changes: [], bytes: 0 }));
          group.changes.push(send);
          group.bytes += bytes;
          if (resending === undefined && (group.changes.length >= MAX_CHANGES_PER_MESSAGE || group.bytes >= MESSAGE_TARGET_BYTES)) flush();
          while ((inFlight.size >= MAX_MESSAGES_IN_FLIGHT || resending !== undefined) && !signal.aborted) await (resending ?? Promise.race(inFlight));
        }
        // The feed has nothing more at hand: publish now, so that no change waits for the next
        // turn of the event loop in a group (where a collection of the young generation would
        // copy it; the scavenges of a 600k-write run took 312 ms against 222 ms without replication).
        // Unless HOLD_WHILE_UNANSWERED publishes are unanswered: then the groups gather more
        // writes until one is answered (or a group is full), as Nagle's algorithm does.
        if (inFlight.size < HOLD_WHILE_UNANSWERED) flush();
        if (skippedHigh > 0 && groups.size === 0) {
          // This fill ended in skipped writes only: the last message, once it and those before
          // it are answered, acknowledges them too; with none unanswered, they are now.
          const last = window.at(-1);
          if (last !== undefined) last.covers = Math.max(last.covers, skippedHigh);
          else if (inFlight.size === 0 && resending === undefined && skippedHigh > this.#acknowledged) {
            this.#acknowledged = skippedHigh;
            this.#scheduleRecord();
          }
          skippedHigh = 0;
        }
        // This array lives on while the next nextMany() waits for a sync (see flush()).
        changes.length = 0;
      }
    } finally {
      await feed.return();
      await Promise.allSettled([...inFlight]);
      await resending;
    }
  }

  /** Moves `acknowledged` over the answered prefix of `window` (invariant 2) and records it. */
  #advance(window: Slot[]): void {
    let n = 0;
    while (n < window.length && window[n]!.answered) {
      this.#acknowledgedStreamSeq = Math.max(this.#acknowledgedStreamSeq, window[n]!.streamSeq);
      n++;
    }
    if (n === 0) return;
    this.#acknowledged = window[n - 1]!.covers;
    // Answered: nothing sends these bytes again (MessageBuffers invariant 1).
    for (const slot of window.splice(0, n)) this.#buffers.give(slot.bytes);
    this.#lastError = undefined;
    this.#scheduleRecord();
  }

  /**
   * Starts a write of the position file (invariant 3) unless one runs or waits, at most one
   * every RECORD_INTERVAL_MS; each write schedules the next while `acknowledged` moved on.
   */
  #scheduleRecord(): void {
    if (this.#recording !== undefined || this.#recordTimer !== undefined || this.#recorded >= this.#acknowledged || this.#closing !== undefined) return;
    const wait = Math.max(0, this.#lastRecordAt + RECORD_INTERVAL_MS - performance.now());
    this.#recordTimer = setTimeout(() => {
      this.#recordTimer = undefined;
      this.#recording = this.#record().then(
        () => {
          this.#recording = undefined;
          this.#scheduleRecord();
        },
        (err: unknown) => {
          this.#recording = undefined;
          this.#failure = err instanceof StrataError ? err : new StrataError('IO_ERROR', `recording the replication position: ${String(err)}`, { errno: 'EIO' });
          void this.close();
        },
      );
    }, wait);
    this.#recordTimer.unref();
  }

  /** Writes the newest acknowledged position if it moved, then moves the hold (invariants 3, 4). */
  async #record(): Promise<void> {
    if (this.#recorded >= this.#acknowledged) return;
    this.#lastRecordAt = performance.now();
    const position = this.#acknowledged;
    await writePosition(this.#files, this.#db.location, this.#settings.stream, { acknowledged: position, streamSeq: this.#acknowledgedStreamSeq });
    this.#recorded = position;
    if (this.#db.closed) return;
    const old = this.#hold;
    this.#hold = changesAsBytes(this.#db, { since: BigInt(position), durable: true, live: true, maxBuffered: 1 });
    await old?.return?.();
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

/** Messages read at most after a restart, looking for what the last run stored (storedAfter). */
const TAIL_SCAN_LIMIT = 4096;

/**
 * After a restart, what the last run stored after `recorded`: `position`, `recorded` moved over
 * the writes that follow it in the prev chain and that messages of this database stored after
 * the recorded one hold; and `beyond`, the writes above `position` that such messages hold too
 * (the last run died while a flush's messages went out: one shard's message stored, an earlier
 * one's not, so the chain stops at a write that is missing). Neither is published again: in
 * messages grouped otherwise, the stream would not see them as duplicates. Reads the stream
 * from 2 * MAX_MESSAGES_IN_FLIGHT messages before the recorded stream sequence (from its first
 * message when none was recorded; a message published earlier can be stored later) to its end,
 * TAIL_SCAN_LIMIT messages at most; `recorded` and nothing beyond when that is not possible.
 */
async function storedAfter(link: JetStreamLink, s: PublisherSettings, identity: string, recorded: PublishedPosition): Promise<{ position: PublishedPosition; beyond: Set<number> }> {
  const beyond = new Set<number>();
  let state;
  try {
    state = (await link.jsm.streams.info(s.stream)).state;
  } catch {
    return { position: recorded, beyond };
  }
  const from = Math.max(state.first_seq, recorded.streamSeq + 1 - 2 * MAX_MESSAGES_IN_FLIGHT);
  if (state.messages === 0 || state.last_seq - from >= TAIL_SCAN_LIMIT) return { position: recorded, beyond };
  /** The writes found, by the write each follows. */
  const following = new Map<number, { seq: number; streamSeq: number }>();
  for (let q = from; q <= state.last_seq; q++) {
    let message;
    try {
      message = decodeMessage((await link.jsm.streams.getMessage(s.stream, { seq: q })).data, `stream ${s.stream} sequence ${q}`);
    } catch {
      continue; // purged, or not a message of ours: a write it held is published again
    }
    if (message.identity !== identity) continue;
    for (const c of message.changes) if (c.seq > recorded.acknowledged && !following.has(c.prev)) following.set(c.prev, { seq: c.seq, streamSeq: q });
  }
  let position = recorded;
  for (let n = following.get(position.acknowledged); n !== undefined; n = following.get(n.seq)) {
    position = { acknowledged: n.seq, streamSeq: Math.max(position.streamSeq, n.streamSeq) };
  }
  for (const { seq } of following.values()) if (seq > position.acknowledged) beyond.add(seq);
  return { position, beyond };
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
