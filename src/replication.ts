// stratadb/replication: a primary's durable change feed shipped through NATS JetStream, and
// read replicas that apply it. The JetStream client (npm `nats`, v2) is an optional peer
// dependency, loaded when replicate() or follow() first runs.
//
//   replicate(db, options) → Publisher   src/replication-publisher.ts (what it promises)
//   follow(dir, options)   → Replica     src/replication-replica.ts, bootstrap below
//   the bytes on the wire and on disk    src/replication/ (message, positions, checkpoint archive)
//
// README "Replication" says what is guaranteed and how to run it.

import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { invalidArgument, loadChecksum, NodeFileSystem, StrataError, ValueKind } from './base/index.js';
import { openReplica, type Database, type OpenOptions } from './database.js';
import { ReplicationPublisher } from './replication-publisher.js';
import { ReplicationReplica } from './replication-replica.js';
import {
  APPLIED_KEY,
  CHECKPOINT_OBJECT,
  checkpointBucket,
  clientError,
  connectJetStream,
  decodeMessage,
  encodeApplied,
  isNotFound,
  streamSettings,
  unpackCheckpoint,
  type JetStreamLink,
  type StreamSettings,
} from './replication/index.js';

/** How to reach JetStream: shared by replicate() and follow(). */
export interface StreamOptions {
  /** The NATS servers, e.g. 'nats://127.0.0.1:4222' (several: the client picks and fails over). */
  servers: string | string[];
  /** The JetStream stream's name: 1 to 64 letters, digits, '-' and '_'. */
  stream: string;
  /**
   * Passed unchanged to the client's `connect()`: tls, user, pass, token, authenticator, ...
   * (`servers` comes from the option above; reconnection is unlimited unless set here).
   */
  connection?: Record<string, unknown>;
}

export interface ReplicateOptions extends StreamOptions {
  /** The stream's replicas when replicate() creates it (1, or 3 in a 3-node cluster; 1 to 5). Default 1. */
  replicas?: number;
  /** Uploads a bootstrap checkpoint every this many ms (0 or absent: only on request). */
  checkpointEveryMs?: number;
}

export interface FollowOptions extends StreamOptions {
  /** Options for the replica's own open() (shards, encodings, mergeOperator, ...). */
  open?: OpenOptions;
  /** The identity (db.identity, 32 hex digits) of the primary to follow; default: the stream's. */
  identity?: string;
}

export interface Publisher {
  /** The highest sequence number of the primary up to which JetStream acknowledged every write. */
  readonly acknowledged: bigint;
  /** The primary's sequence minus `acknowledged` (0 once the database is closed). */
  readonly lag: bigint;
  /** While publishing is being retried: the last error (no secret in it); else undefined. */
  readonly lastError: string | undefined;
  /** Settles when publishing stops: resolves after close(), rejects with what stopped it (CLOSED when the database closed, OUT_OF_RANGE, IO_ERROR on the position file). */
  readonly closed: Promise<void>;
  /** Uploads a checkpoint for new replicas; resolves to the sequence number it covers. */
  checkpoint(): Promise<bigint>;
  /** Stops publishing, waits for the publishes in flight, records the position, disconnects. Does not close the database. */
  close(): Promise<void>;
}

export interface Replica<K = Buffer, V = Buffer> {
  /** The replica's database: reads work; writes reject with READ_ONLY. */
  readonly db: Database<K, V>;
  /** The highest sequence number of the primary applied here (every write up to it, none above). */
  readonly applied: bigint;
  /** Resolves once `applied` >= seq; rejects with the replica's failure, CLOSED, or the signal's reason. */
  waitFor(seq: bigint | number, options?: { signal?: AbortSignal }): Promise<void>;
  /** Settles when the replica stops: resolves after close(), rejects with the error that stopped it (CORRUPTION, ...). */
  readonly closed: Promise<void>;
  /** Stops consuming and closes the database. */
  close(): Promise<void>;
}

const REPLICATE_NAMES = ['replicas', 'checkpointEveryMs'] as const;
const FOLLOW_NAMES = ['open', 'identity'] as const;

/**
 * Starts publishing `db`'s durable changes to the stream `options.stream` (created if
 * missing). Resolves once connected and publishing. INVALID_ARGUMENT for bad options;
 * IO_ERROR (no secret in its message) when JetStream cannot be reached; OUT_OF_RANGE when the
 * database no longer retains the writes above its recorded position.
 */
export async function replicate(db: Database<unknown, unknown, never, never>, options: ReplicateOptions): Promise<Publisher> {
  const settings = streamSettings(options, 'replicate options', REPLICATE_NAMES);
  const o = options as unknown as Record<string, unknown>;
  const replicas = o['replicas'] ?? 1;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw invalidArgument(`option replicas must be an integer from 1 to 5, got ${String(replicas)}`);
  const every = o['checkpointEveryMs'] ?? 0;
  if (typeof every !== 'number' || !Number.isInteger(every) || every < 0 || every > 2 ** 31 - 1) throw invalidArgument(`option checkpointEveryMs must be an integer from 0 to 2^31-1, got ${String(every)}`);
  if (db === null || typeof db !== 'object' || typeof db.identity !== 'string') throw invalidArgument('replicate() takes an open Database');
  if (db.closed) throw new StrataError('CLOSED', 'database is closed');
  if (db.readOnly) throw invalidArgument('replicate() takes a primary: this database is a replica');
  const link = await connectJetStream(settings);
  try {
    return await ReplicationPublisher.start(db, { ...settings, replicas, checkpointEveryMs: every }, link);
  } catch (err) {
    await link.nc.close().catch(() => {});
    throw clientError(`replicating to stream ${settings.stream}`, err, settings.secrets);
  }
}

/**
 * Opens (or creates) the replica database at `dir` and applies the stream to it. A new replica
 * starts from the primary's first write, or from the checkpoint in the stream's object store
 * when the stream no longer holds that write. INVALID_ARGUMENT for bad options or a `dir` that
 * holds a database that is not a replica; OUT_OF_RANGE when neither the stream nor a
 * checkpoint reaches back to what the replica needs. K and V: the replica's key and value types,
 * as the encodings in `options.open` decode them (Buffer by default).
 */
export async function follow<K = Buffer, V = Buffer>(dir: string, options: FollowOptions): Promise<Replica<K, V>> {
  if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0')) throw invalidArgument('follow() takes a directory: a non-empty string');
  const settings = streamSettings(options, 'follow options', FOLLOW_NAMES);
  const o = options as unknown as Record<string, unknown>;
  const identity = o['identity'];
  if (identity !== undefined && (typeof identity !== 'string' || !/^[0-9a-f]{32}$/.test(identity))) throw invalidArgument('option identity must be 32 lowercase hex digits (db.identity)');
  const openOptions = o['open'];
  if (openOptions !== undefined && (openOptions === null || typeof openOptions !== 'object' || Array.isArray(openOptions))) throw invalidArgument('option open must be an object (open() options)');
  const location = path.resolve(dir);
  // Messages are checked (xxh32) before open() runs, which would load it: follow() may be the process's first call.
  await loadChecksum();
  const link = await connectJetStream(settings);
  let replica: ReplicationReplica<Buffer, Buffer> | undefined;
  try {
    const info = await streamState(link, settings);
    if (await isNew(location)) await bootstrapIfNeeded(link, settings, info, location, openOptions as OpenOptions | undefined, identity as string | undefined);
    const access = await openReplica(location, openOptions as OpenOptions | undefined, APPLIED_KEY);
    try {
      replica = new ReplicationReplica(access, settings, link, identity as string | undefined);
      if (replica.applied === 0n && holdsAKey(access.db)) {
        throw invalidArgument(`${location} holds a database that is not a replica (follow() needs a new folder or a replica's)`);
      }
      if (info.messages > 0 && replica.applied > 0n) {
        const first = await firstMessage(link, settings, info);
        if (!replica.canContinueFrom(first.streamSeq, first.before)) {
          throw new StrataError('OUT_OF_RANGE', `stream ${settings.stream} no longer holds the write after ${replica.applied} (its first message follows ${first.before}): delete ${location} to bootstrap the replica again`);
        }
      }
      await replica.start(replica.startStreamSeq(info.firstSeq));
    } catch (err) {
      await access.db.close().catch(() => {});
      throw err;
    }
    return replica as unknown as Replica<K, V>;
  } catch (err) {
    await link.nc.close().catch(() => {});
    throw clientError(`following stream ${settings.stream}`, err, settings.secrets);
  }
}

function holdsAKey(db: Database<unknown, unknown>): boolean {
  const it = db.iterator({ limit: 1 });
  try {
    return it.nextSync() !== undefined;
  } finally {
    it.closeSync();
  }
}

interface StreamState {
  firstSeq: number;
  messages: number;
}

async function streamState(link: JetStreamLink, s: StreamSettings): Promise<StreamState> {
  try {
    const info = await link.jsm.streams.info(s.stream);
    return { firstSeq: info.state.first_seq, messages: info.state.messages };
  } catch (err) {
    if (isNotFound(err)) throw new StrataError('NOT_FOUND', `stream ${s.stream} does not exist (replicate() creates it)`);
    throw clientError(`stream ${s.stream}`, err, s.secrets);
  }
}

/** The stream's first message: its stream sequence and the write every write it and the later messages bring follows. */
async function firstMessage(link: JetStreamLink, s: StreamSettings, state: StreamState): Promise<{ streamSeq: number; before: number }> {
  let first;
  try {
    first = await link.jsm.streams.getMessage(s.stream, { seq: state.firstSeq });
  } catch (err) {
    throw clientError(`stream ${s.stream}`, err, s.secrets);
  }
  return { streamSeq: first.seq, before: decodeMessage(first.data, `stream ${s.stream} sequence ${first.seq}`).before };
}

/** Whether `dir` holds nothing yet (missing or empty). */
async function isNew(dir: string): Promise<boolean> {
  try {
    return (await fsp.readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/**
 * For a new replica at `dir`: when the stream's first message does not follow on from an
 * empty database (its `before` is not 0) or the stream is empty and a checkpoint exists, writes
 * the stream's checkpoint to `dir` as a replica at the checkpoint's sequence. Crash-safe: the
 * replica is made under a temporary name (checkpoint unpacked, position written, closed) and
 * renamed to `dir`.
 */
async function bootstrapIfNeeded(link: JetStreamLink, s: StreamSettings, state: StreamState, dir: string, openOptions: OpenOptions | undefined, identity: string | undefined): Promise<void> {
  let needs = 0;
  if (state.messages > 0) {
    needs = (await firstMessage(link, s, state)).before;
    if (needs === 0) return;
  }
  let store;
  let info;
  try {
    store = await link.js.views.os(checkpointBucket(s.stream));
    info = await store.info(CHECKPOINT_OBJECT);
  } catch (err) {
    throw clientError(`the checkpoints of stream ${s.stream}`, err, s.secrets);
  }
  if (info === null) {
    if (state.messages === 0) return;
    throw new StrataError('OUT_OF_RANGE', `stream ${s.stream} no longer holds the primary's first writes, and no checkpoint was uploaded (publisher.checkpoint())`);
  }
  const sequence = Number(info.metadata?.['sequence'] ?? -1);
  if (sequence < needs) {
    throw new StrataError('OUT_OF_RANGE', `stream ${s.stream} starts after sequence ${needs}, and its checkpoint covers only up to ${sequence}: upload a newer one (publisher.checkpoint())`);
  }
  const parent = path.dirname(dir);
  await fsp.mkdir(parent, { recursive: true });
  const temp = `${dir}.bootstrap-${randomBytes(6).toString('hex')}.tmp`;
  const files = new NodeFileSystem();
  try {
    const got = await store.get(CHECKPOINT_OBJECT);
    if (got === null) throw new StrataError('OUT_OF_RANGE', `stream ${s.stream}: the checkpoint was removed while being read`);
    const header = await unpackCheckpoint(files, got.data, temp);
    const transferError = await got.error;
    if (transferError !== null && transferError !== undefined) throw new StrataError('CORRUPTION', `checkpoint of stream ${s.stream}: ${clientError('reading', transferError, s.secrets).message}`);
    if (identity !== undefined && header.identity !== identity) throw invalidArgument(`the checkpoint of stream ${s.stream} is of database ${header.identity}, not ${identity}`);
    const access = await openReplica(temp, openOptions, APPLIED_KEY);
    try {
      await access.apply([{ kind: ValueKind.Put, key: APPLIED_KEY, value: encodeApplied({ identity: header.identity, seq: header.sequence, streamSeq: 0 }) }], true);
    } finally {
      await access.db.close();
    }
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rename(temp, dir);
    await files.syncDir(parent);
  } catch (err) {
    await fsp.rm(temp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}
