// What replicate() and follow() share: their options about the stream, checked once, and one
// connection to JetStream per handle.

import { invalidArgument } from '../base/index.js';
import { clientError, loadNats, secretsOf, type Nats } from './nats-client.js';

export interface StreamSettings {
  servers: string[];
  stream: string;
  connection: Record<string, unknown> | undefined;
  /** Strings never to be shown (secretsOf). */
  secrets: string[];
}

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Subjects of `stream`: one per shard of the primary. */
export const shardSubject = (stream: string, shard: number) => `${stream}.shard.${shard}`;
export const streamSubjects = (stream: string) => `${stream}.shard.*`;
/** The object store bucket of `stream`'s bootstrap checkpoints, and the object's name in it. */
export const checkpointBucket = (stream: string) => `${stream}-checkpoints`;
export const CHECKPOINT_OBJECT = 'checkpoint';

/**
 * Checks `options` (what: 'replicate options' or 'follow options'): known names only (`names`
 * adds the caller's own), servers, stream and connection well formed. INVALID_ARGUMENT
 * otherwise; no secret is quoted.
 */
export function streamSettings(options: unknown, what: string, names: readonly string[]): StreamSettings {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalidArgument(`${what} must be an object`);
  const known = ['servers', 'stream', 'connection', ...names];
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) throw invalidArgument(`unknown ${what.replace(/s$/, '')} ${JSON.stringify(name)}; known: ${known.join(', ')}`);
  }
  const o = options as Record<string, unknown>;
  const raw = o['servers'];
  const servers = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string' && s.length > 0)) {
    throw invalidArgument('option servers must be a server URL or a non-empty array of them');
  }
  const stream = o['stream'];
  if (typeof stream !== 'string' || !STREAM_NAME.test(stream)) {
    throw invalidArgument(`option stream must be a name of 1 to 64 letters, digits, '-' and '_', got ${typeof stream === 'string' ? JSON.stringify(stream) : typeof stream}`);
  }
  const connection = o['connection'];
  if (connection !== undefined && (connection === null || typeof connection !== 'object' || Array.isArray(connection))) {
    throw invalidArgument('option connection must be an object (the JetStream client\'s connect() options)');
  }
  const c = connection as Record<string, unknown> | undefined;
  return { servers: servers as string[], stream, connection: c, secrets: secretsOf(c, servers as string[]) };
}

export interface JetStreamLink {
  nats: Nats;
  nc: import('nats').NatsConnection;
  js: import('nats').JetStreamClient;
  jsm: import('nats').JetStreamManager;
}

/**
 * Connects (the connection options unchanged, the servers from `servers`; reconnecting without
 * a limit unless the options say otherwise). IO_ERROR, scrubbed, when it cannot.
 */
export async function connectJetStream(s: StreamSettings): Promise<JetStreamLink> {
  const nats = await loadNats();
  let nc: import('nats').NatsConnection;
  try {
    nc = await nats.connect({ maxReconnectAttempts: -1, ...s.connection, servers: s.servers });
  } catch (err) {
    throw clientError(`connecting to NATS for stream ${s.stream}`, err, s.secrets);
  }
  try {
    const jsm = await nc.jetstreamManager();
    return { nats, nc, js: nc.jetstream(), jsm };
  } catch (err) {
    await nc.close().catch(() => {});
    throw clientError(`JetStream for stream ${s.stream}`, err, s.secrets);
  }
}

/** Whether `err` (from the client) says that a stream or an object does not exist. */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: unknown } } | null;
  // 10059: JetStream's "stream not found" (the server's JSStreamNotFoundErr).
  return e?.api_error?.err_code === 10059 || String(e?.code) === '404';
}

/** How long closing a link waits for what it sent to reach the server before it just closes. */
const DRAIN_MS = 5000;

/** Drains `link`'s connection (what it sent reaches the server), for DRAIN_MS at most, then closes it. */
export async function closeLink(link: JetStreamLink): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)));
  await Promise.race([link.nc.drain().catch(() => {}), late]);
  clearTimeout(timer);
  if (!link.nc.isClosed()) await link.nc.close().catch(() => {});
}
