// `stratadb replicate <dir>` and `stratadb follow <dir>`: replication (src/replication.ts) as
// long-running commands. Both open the database (taking its LOCK), print one status line at
// the start and then every --status-every-ms, and run until SIGINT or SIGTERM, when they close
// cleanly. Secrets come from files (--password-file, --token-file, --creds), never from the
// command line, and are never printed.

import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { open, StrataError, type OpenOptions } from '../index.js';
import { follow, replicate, type FollowOptions, type ReplicateOptions } from '../replication.js';
import { loadNats, shownServer } from '../replication/index.js';

export const REPLICATION_COMMANDS = ['replicate', 'follow'] as const;
type ReplicationCommand = (typeof REPLICATION_COMMANDS)[number];

const USAGE: Record<ReplicationCommand, string[]> = {
  replicate: [
    'usage: stratadb replicate <dir> --servers URL[,URL...] --stream NAME [options]',
    '',
    'Publishes the durable writes of the database in <dir> to the JetStream stream NAME (created',
    'if missing) until SIGINT or SIGTERM; resumes above the position it recorded. Opens the',
    'database: no other process may have it open.',
    '',
    '  --replicas N               the stream\'s replicas when it is created (default 1; 3 in a cluster)',
    '  --checkpoint-every-ms MS   upload a checkpoint for new replicas this often (default: once at start',
    '                             when needed)',
  ],
  follow: [
    'usage: stratadb follow <dir> --servers URL[,URL...] --stream NAME [options]',
    '',
    'Keeps the replica in <dir> (created, from a checkpoint when the stream needs it) applying',
    'the stream NAME until SIGINT or SIGTERM. Other processes cannot open it meanwhile.',
    '',
    '  --identity HEX             follow only the primary with this identity (db.identity)',
  ],
};

const COMMON = [
  '  --shards N                 shards of a new database (open() option shards)',
  '  --merge-operator add|lww   the database\'s merge operator (open() option mergeOperator)',
  '  --tls-ca FILE              TLS: trust this CA (PEM); with --tls-cert/--tls-key, a client certificate',
  '  --user NAME --password-file FILE   user and password (the first line of FILE)',
  '  --token-file FILE          a token (the first line of FILE)',
  '  --creds FILE               a NATS credentials file (JWT and NKey seed)',
  '  --status-every-ms MS       print a status line this often (default 10000; 0: never)',
];

const OPTIONS = {
  servers: { type: 'string' },
  stream: { type: 'string' },
  replicas: { type: 'string' },
  'checkpoint-every-ms': { type: 'string' },
  identity: { type: 'string' },
  shards: { type: 'string' },
  'merge-operator': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  'token-file': { type: 'string' },
  creds: { type: 'string' },
  'status-every-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const replicationUsage = (name: ReplicationCommand) => [...USAGE[name], ...COMMON];

export interface ReplicationIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Resolves when the command should stop (SIGINT/SIGTERM in the real program). */
  stopped: Promise<void>;
}

function integer(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new StrataError('INVALID_ARGUMENT', `--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

const firstLine = (file: string) => fs.readFileSync(file, 'utf8').split(/\r?\n/)[0]!;

/** The client's connect() options from the flags; secrets read from their files. */
async function connectionOf(v: Record<string, string | boolean | undefined>): Promise<Record<string, unknown>> {
  const c: Record<string, unknown> = {};
  const s = (name: string) => v[name] as string | undefined;
  if (s('tls-ca') !== undefined || s('tls-cert') !== undefined) {
    const tls: Record<string, string> = {};
    if (s('tls-ca') !== undefined) tls['caFile'] = s('tls-ca')!;
    if (s('tls-cert') !== undefined) tls['certFile'] = s('tls-cert')!;
    if (s('tls-key') !== undefined) tls['keyFile'] = s('tls-key')!;
    c['tls'] = tls;
  }
  if (s('user') !== undefined) c['user'] = s('user');
  if (s('password-file') !== undefined) c['pass'] = firstLine(s('password-file')!);
  if (s('token-file') !== undefined) c['token'] = firstLine(s('token-file')!);
  if (s('creds') !== undefined) {
    const nats = await loadNats();
    c['authenticator'] = nats.credsAuthenticator(fs.readFileSync(s('creds')!));
  }
  return c;
}

/** Runs `stratadb replicate|follow args...`; resolves to the exit code. */
export async function runReplicationTool(name: ReplicationCommand, args: readonly string[], io: ReplicationIO): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    io.err(`stratadb ${name}: ${(err as Error).message}`);
    io.err(USAGE[name][0]!);
    return 2;
  }
  if (values['help'] === true) {
    for (const line of replicationUsage(name)) io.out(line);
    return 0;
  }
  const servers = (values['servers'] as string | undefined)?.split(',').filter((x) => x.length > 0);
  const stream = values['stream'] as string | undefined;
  if (positionals.length !== 1 || servers === undefined || stream === undefined) {
    io.err(`stratadb ${name}: <dir>, --servers and --stream are required`);
    io.err(USAGE[name][0]!);
    return 2;
  }
  const dir = positionals[0]!;
  try {
    const statusEveryMs = integer(values['status-every-ms'] as string | undefined, 'status-every-ms', 0) ?? 10_000;
    const openOptions: Record<string, unknown> = {};
    const shards = integer(values['shards'] as string | undefined, 'shards', 1);
    if (shards !== undefined) openOptions['shards'] = shards;
    if (values['merge-operator'] !== undefined) openOptions['mergeOperator'] = values['merge-operator'];
    const connection = await connectionOf(values);
    const shown = servers.map(shownServer).join(',');
    let status: () => string;
    let stop: () => Promise<void>;
    let failed: Promise<void>;
    if (name === 'replicate') {
      const db = await open(dir, openOptions as OpenOptions);
      const options: ReplicateOptions = { servers, stream, connection };
      const replicas = integer(values['replicas'] as string | undefined, 'replicas', 1);
      if (replicas !== undefined) options.replicas = replicas;
      const every = integer(values['checkpoint-every-ms'] as string | undefined, 'checkpoint-every-ms', 0);
      if (every !== undefined) options.checkpointEveryMs = every;
      const publisher = await replicate(db, options).catch(async (err: unknown) => {
        await db.close();
        throw err;
      });
      io.out(`replicating ${db.location} (identity ${db.identity}) to stream ${stream} at ${shown}`);
      status = () => `acknowledged ${publisher.acknowledged} lag ${publisher.lag}${publisher.lastError === undefined ? '' : ` retrying: ${publisher.lastError}`}`;
      stop = async () => {
        await publisher.close();
        await db.close();
      };
      failed = publisher.closed;
    } else {
      const options: FollowOptions = { servers, stream, connection, open: openOptions as OpenOptions };
      if (values['identity'] !== undefined) options.identity = values['identity'] as string;
      const replica = await follow(dir, options);
      io.out(`following stream ${stream} at ${shown} into ${replica.db.location}`);
      status = () => `applied ${replica.applied}`;
      stop = () => replica.close();
      failed = replica.closed;
    }
    io.out(status());
    const timer = statusEveryMs > 0 ? setInterval(() => io.out(status()), statusEveryMs) : undefined;
    let code = 0;
    await Promise.race([io.stopped, failed.then(() => {}, (err: unknown) => {
      io.err(`stratadb ${name}: ${(err as Error).message}`);
      code = 1;
    })]);
    if (timer !== undefined) clearInterval(timer);
    await stop().catch((err: unknown) => {
      io.err(`stratadb ${name}: ${(err as Error).message}`);
      code = 1;
    });
    if (code === 0) io.out(status());
    return code;
  } catch (err) {
    io.err(`stratadb ${name}: ${err instanceof StrataError ? `${err.code}: ` : ''}${(err as Error).message}`);
    return err instanceof StrataError && err.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}
