// stratadb/replication: a primary's durable change feed shipped through NATS JetStream, and
// read replicas that apply it. The JetStream client (npm `nats`, v2) is an optional peer
// dependency, loaded when replicate() or follow() first runs.

import { StrataError, type Database } from './index.js';

/** How to reach JetStream: shared by replicate() and follow(). */
export interface StreamOptions {
  /** The NATS servers, e.g. 'nats://127.0.0.1:4222' (several: the client picks and fails over). */
  servers: string | string[];
  /** The JetStream stream's name: letters, digits, '-' and '_'. */
  stream: string;
  /**
   * Passed unchanged to the client's `connect()`: tls, user, pass, token, authenticator, ...
   * `servers` is set from the option above.
   */
  connection?: Record<string, unknown>;
}

export interface ReplicateOptions extends StreamOptions {
  /** The stream's replicas when replicate() creates it (1 or 3 in a cluster; 1 to 5). Default 1. */
  replicas?: number;
  /** Uploads a bootstrap checkpoint every this many ms (0 or absent: only on request). */
  checkpointEveryMs?: number;
}

export interface FollowOptions extends StreamOptions {
  /** Options for the replica's own open() (shards, encodings, memtableBytes, ...). */
  open?: Record<string, unknown>;
}

export interface Publisher {
  /** The highest sequence number of the primary that JetStream acknowledged. */
  readonly acknowledged: bigint;
  /** The primary's durable sequence minus `acknowledged`. */
  readonly lag: bigint;
  /** Uploads a checkpoint for new replicas; resolves to the sequence number it covers. */
  checkpoint(): Promise<bigint>;
  /** Stops publishing, waits for the publishes in flight, disconnects. Does not close the database. */
  close(): Promise<void>;
}

export interface Replica<K = Buffer, V = Buffer> {
  /** The replica's database: reads work; writes reject with READ_ONLY. */
  readonly db: Database<K, V>;
  /** The highest sequence number of the primary applied here. */
  readonly applied: bigint;
  /** Resolves once `applied` >= seq. */
  waitFor(seq: bigint | number, options?: { signal?: AbortSignal }): Promise<void>;
  /** Settles when the replica stops: resolves after close(), rejects with the error that stopped it. */
  readonly closed: Promise<void>;
  /** Stops consuming and closes the database. */
  close(): Promise<void>;
}

/** Starts publishing `db`'s durable changes to the stream `options.stream`. */
export async function replicate(db: Database<unknown, unknown, never, never>, options: ReplicateOptions): Promise<Publisher> {
  void db;
  void options;
  throw new StrataError('NOT_SUPPORTED', 'replicate() is not built yet');
}

/** Opens (or creates) the replica database at `dir` and applies the stream to it. */
export async function follow(dir: string, options: FollowOptions): Promise<Replica> {
  void dir;
  void options;
  throw new StrataError('NOT_SUPPORTED', 'follow() is not built yet');
}
