// Real NATS servers for the replication tests and bench: one JetStream server, or a 3-node
// JetStream cluster, on 127.0.0.1 only, on free ports, each with its config file, store
// directory and log file in a temp directory of its own that stop() removes. TLS certificates
// (a CA, a server certificate for 127.0.0.1/localhost, a client certificate) are made by
// `openssl` into a directory the caller gives: nothing secret is committed.
//
//   const server = await startNats({ tls: makeTls(dir), user: 'u', password: 'p' });
//   const cluster = await startCluster(3);
//   await cluster.leaderOf('orders');          // index of the node leading the stream
//   await cluster.kill(i); await cluster.restart(i);
//
// No module state: every server belongs to the object that started it. A server is also
// SIGKILLed when this process exits, and by a guard process when this process is SIGKILLed
// (test/run.js kills a hung test file so), so that no server outlives its test.
//
// Readiness: a server counts as started once its monitoring port (-m, on 127.0.0.1) answers
// /healthz with 200, which nats-server 2.9 gives only once JetStream is up and, in a cluster,
// in contact with a meta leader.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where nats-server is looked for after PATH (the Debian package installs it in /usr/sbin). */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin', '/sbin'];
/** A server that does not answer /healthz within this long failed to start. */
const START_TIMEOUT_MS = 30_000;
/** stop() sends SIGTERM and waits this long before SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;

/** The nats-server binary (PATH first, then /usr/sbin and the like), or undefined when there is none. */
export function findNatsServer(): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter((d) => d !== ''), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'nats-server');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** What a test prints when it skips for want of a server (.ci/run installs the Debian package). */
export const NO_NATS_SERVER =
  'SKIPPED: nats-server was not found on PATH nor in /usr/sbin; install the Debian package nats-server (.ci/run does when it runs as root)';

// ---------------------------------------------------------------------------------------------
// TLS material

/** Paths of PEM files made by makeTls(). */
export interface TlsFiles {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** The nats client's `tls` connection option for these files (CA always; the client certificate when `withCertificate`). */
export function clientTls(tls: TlsFiles, withCertificate = true): { caFile: string; certFile?: string; keyFile?: string } {
  return withCertificate ? { caFile: tls.ca, certFile: tls.clientCert, keyFile: tls.clientKey } : { caFile: tls.ca };
}

/**
 * Makes, in `dir` (created if missing), a CA, a server certificate for 127.0.0.1 and localhost
 * and a client certificate, all signed by the CA, valid for two days, on P-256 keys.
 * REQUIRES: openssl on PATH (throws naming it otherwise).
 */
export function makeTls(dir: string): TlsFiles {
  fs.mkdirSync(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => {
    try {
      execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === 'ENOENT') throw new Error('makeTls: openssl is not on PATH (Debian package openssl)');
      throw new Error(`makeTls: openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
    }
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...key, '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=stratadb test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name: string, cn: string, extensions: string) => {
    fs.writeFileSync(f(`${name}.ext`), extensions);
    openssl('req', ...key, '-keyout', f(`${name}-key.pem`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial',
      '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n');
  leaf('client', 'stratadb test client', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  return { dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server-key.pem'), clientCert: f('client.pem'), clientKey: f('client-key.pem') };
}

// ---------------------------------------------------------------------------------------------
// Servers

export interface NatsOptions {
  /** Clients must speak TLS with this server certificate. */
  tls?: TlsFiles;
  /** With tls: clients must also present a certificate the CA signed. */
  verifyClients?: boolean;
  /** Clients must log in with this user and password. */
  user?: string;
  password?: string;
  /** Clients must present this token (not with user). */
  token?: string;
  /** Limits of JetStream's file store, bytes (default 1 GiB). */
  maxFileStore?: number;
}

export interface NatsServer {
  /** nats://127.0.0.1:PORT (tls:// when the server requires TLS). */
  readonly url: string;
  readonly port: number;
  /** The monitoring port (/healthz, /jsz, /varz). */
  readonly monitorPort: number;
  readonly storeDir: string;
  /** server_name in the config (n0, n1, ... in a cluster). */
  readonly name: string;
  readonly configFile: string;
  readonly logFile: string;
  /** The process id while it runs, else undefined. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM, waits for the exit (SIGKILL after 10 s), and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL now (kill -9) and wait for the exit; the store stays for a restart(). */
  kill(): Promise<void>;
  /** Starts it again on the same ports, config and store (stops it first when it runs); resolves once it is healthy. */
  restart(): Promise<void>;
  /** The parsed JSON of a monitoring endpoint, e.g. monitor('/jsz?accounts=true&streams=true'). */
  monitor(pathAndQuery: string): Promise<unknown>;
}

/** Free TCP ports on 127.0.0.1, all held open together while chosen so that none repeats. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<net.Server>((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** A string as a NATS config value (the format takes JSON strings). */
const q = (s: string) => JSON.stringify(s);

interface NodeSpec {
  name: string;
  dir: string;
  port: number;
  monitorPort: number;
  cluster?: { name: string; port: number; routes: number[] };
}

function configText(spec: NodeSpec, o: NatsOptions): string {
  const lines = [
    `server_name: ${q(spec.name)}`,
    `listen: "127.0.0.1:${spec.port}"`,
    `http: "127.0.0.1:${spec.monitorPort}"`,
    `log_file: ${q(path.join(spec.dir, 'server.log'))}`,
    `jetstream {`,
    `  store_dir: ${q(path.join(spec.dir, 'store'))}`,
    `  max_memory_store: 268435456`,
    `  max_file_store: ${o.maxFileStore ?? 1024 * 1024 * 1024}`,
    `}`,
  ];
  if (o.user !== undefined || o.password !== undefined) {
    if (o.user === undefined || o.password === undefined) throw new Error('startNats: user and password go together');
    if (o.token !== undefined) throw new Error('startNats: a token or a user, not both');
    lines.push(`authorization {`, `  user: ${q(o.user)}`, `  password: ${q(o.password)}`, `}`);
  } else if (o.token !== undefined) {
    lines.push(`authorization {`, `  token: ${q(o.token)}`, `}`);
  }
  if (o.tls !== undefined) {
    lines.push(
      `tls {`,
      `  cert_file: ${q(o.tls.serverCert)}`,
      `  key_file: ${q(o.tls.serverKey)}`,
      `  ca_file: ${q(o.tls.ca)}`,
      `  verify: ${o.verifyClients === true}`,
      `  timeout: 5`,
      `}`,
    );
  } else if (o.verifyClients === true) {
    throw new Error('startNats: verifyClients needs tls');
  }
  if (spec.cluster !== undefined) {
    lines.push(
      `cluster {`,
      `  name: ${q(spec.cluster.name)}`,
      `  listen: "127.0.0.1:${spec.cluster.port}"`,
      `  routes: [${spec.cluster.routes.map((p) => q(`nats-route://127.0.0.1:${p}`)).join(', ')}]`,
      `}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** The last `bytes` of a file, or '' when it is not there. */
function tail(file: string, bytes = 4000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function getJson(port: number, pathAndQuery: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { signal: AbortSignal.timeout(5000) });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${pathAndQuery} on 127.0.0.1:${port}: ${res.status} ${body.slice(0, 200)}`);
  return JSON.parse(body) as unknown;
}

/**
 * A process that SIGKILLs `pid` and removes `dir` when this process dies, however it dies: it
 * waits for the end of its stdin, a pipe that only this process holds. Unreferenced: it keeps
 * nothing alive. It is itself SIGKILLed when the server exits first.
 */
function guard(pid: number, dir: string): ChildProcess {
  const script = 'read _ignored; kill -9 "$0" 2>/dev/null; sleep 1; rm -rf "$1"';
  // detached: a session of its own, so that a kill of this process's whole group (`timeout`
  // does that) does not take the guard along before it could act.
  const g = spawn('/bin/sh', ['-c', script, String(pid), dir], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  g.unref();
  (g.stdin as unknown as { unref?: () => void }).unref?.();
  g.on('error', () => {});
  return g;
}

class Server implements NatsServer {
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  readonly name: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly #binary: string;
  readonly #dir: string;
  readonly #ownsDir: boolean;
  /** What the guard removes when this process dies: the server's directory, or the cluster's. */
  readonly #guardDir: string;
  #child: ChildProcess | undefined;
  #guard: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #onExit: (() => void) | undefined;
  #stopped = false;
  /** The tail of the running (or last) process's stderr. */
  #stderr = '';

  constructor(binary: string, spec: NodeSpec, o: NatsOptions, guardDir: string) {
    this.#binary = binary;
    this.#dir = spec.dir;
    this.#ownsDir = guardDir === spec.dir;
    this.#guardDir = guardDir;
    this.name = spec.name;
    this.port = spec.port;
    this.monitorPort = spec.monitorPort;
    this.url = `${o.tls !== undefined ? 'tls' : 'nats'}://127.0.0.1:${spec.port}`;
    this.storeDir = path.join(spec.dir, 'store');
    this.configFile = path.join(spec.dir, 'server.conf');
    this.logFile = path.join(spec.dir, 'server.log');
    fs.mkdirSync(this.storeDir, { recursive: true });
    fs.writeFileSync(this.configFile, configText(spec, o), { mode: 0o600 });
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Spawns the process; does not wait for it to be healthy (see healthy()). */
  spawn(): void {
    if (this.#stopped) throw new Error(`${this.name}: stopped for good`);
    if (this.#child !== undefined) throw new Error(`${this.name}: already running`);
    const child = spawn(this.#binary, ['-c', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (this.#stderr = (this.#stderr + chunk).slice(-4000)));
    this.#child = child;
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        if (this.#child === child) this.#child = undefined;
        this.#guard?.kill('SIGKILL');
        this.#guard = undefined;
        if (this.#onExit) process.off('exit', this.#onExit);
        resolve();
      });
      child.once('error', (err) => {
        this.#stderr += String(err);
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
    if (child.pid !== undefined) {
      this.#guard = guard(child.pid, this.#guardDir);
      this.#onExit = () => child.kill('SIGKILL');
      process.on('exit', this.#onExit);
    }
  }

  /** Resolves once /healthz answers 200; throws with the log's tail if the process exits or the time runs out. */
  async healthy(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (this.#child === undefined) throw new Error(`${this.name}: nats-server exited while starting:\n${this.#why()}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.monitorPort}/healthz`, { signal: AbortSignal.timeout(2000) });
        last = `${res.status} ${await res.text()}`;
        if (res.ok) return;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) throw new Error(`${this.name}: not healthy after ${timeoutMs} ms (last /healthz: ${last}):\n${this.#why()}`);
      await sleep(100);
    }
  }

  #why(): string {
    return `${this.#stderr}${tail(this.logFile)}`;
  }

  async start(): Promise<void> {
    this.spawn();
    await this.healthy();
  }

  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  async #terminate(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.#terminate();
    await this.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#terminate();
    if (this.#ownsDir) fs.rmSync(this.#dir, { recursive: true, force: true });
  }

  monitor(pathAndQuery: string): Promise<unknown> {
    return getJson(this.monitorPort, pathAndQuery);
  }
}

function requireBinary(): string {
  const binary = findNatsServer();
  if (binary === undefined) throw new Error(NO_NATS_SERVER);
  return binary;
}

/** One JetStream server on 127.0.0.1 on free ports, its store in a new temp directory; resolves once it is healthy. */
export async function startNats(options: NatsOptions = {}): Promise<NatsServer> {
  const binary = requireBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-nats-'));
  try {
    const [port, monitorPort] = (await freePorts(2)) as [number, number];
    const server = new Server(binary, { name: 'n0', dir, port, monitorPort }, options, dir);
    try {
      await server.start();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface NatsCluster {
  /** Every node's client URL, in node order (give them all to the client). */
  readonly urls: string[];
  readonly servers: NatsServer[];
  /** Index of the node that leads `stream` now (waits up to 20 s for one to be elected). */
  leaderOf(stream: string): Promise<number>;
  /** Index of the node that leads the JetStream meta group now (waits up to 20 s). */
  metaLeader(): Promise<number>;
  /** kill -9 node i; its store stays for restart(i). */
  kill(i: number): Promise<void>;
  /** Starts node i again (stops it first when it runs); resolves once it is healthy. */
  restart(i: number): Promise<void>;
  /** Stops every node and removes the cluster's directory. Idempotent. */
  stop(): Promise<void>;
}

interface JszStream {
  name: string;
  cluster?: { leader?: string };
}
interface Jsz {
  meta_cluster?: { leader?: string };
  account_details?: { stream_detail?: JszStream[] }[];
}

/** How long startCluster's leader lookups wait for an election. */
const ELECTION_MS = 60_000;

/**
 * A JetStream cluster of `n` nodes (n0..n{n-1}) on 127.0.0.1: client, route and monitoring
 * ports all free ones, every node routing to every other. Resolves once every node is healthy
 * and reports a meta leader.
 */
export async function startCluster(n = 3, options: NatsOptions = {}): Promise<NatsCluster> {
  const binary = requireBinary();
  if (!Number.isInteger(n) || n < 1) throw new Error(`startCluster: ${n} nodes`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-nats-cluster-'));
  const servers: Server[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(servers.map((s) => s.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  };
  const deadlineFor = (ms: number) => Date.now() + ms;
  /** The index of the running node named `name`, else -1 (a killed leader may still be named a while). */
  const nodeIndex = (name: string | undefined) => servers.findIndex((s) => s.name === name && s.running);
  /**
   * Asks the live nodes in turn until `pick` finds an answer, for ELECTION_MS at most: an
   * election after a kill -9 took over 20 s once in a fresh-clone CI run on two busy cores
   * (the servers' own Raft timers, not the client's), so the wait is generous.
   */
  const ask = async (what: string, pathAndQuery: string, pick: (jsz: Jsz) => number): Promise<number> => {
    const deadline = deadlineFor(ELECTION_MS);
    let last = 'no node answered';
    for (;;) {
      for (const s of servers) {
        if (!s.running) continue;
        try {
          const i = pick((await s.monitor(pathAndQuery)) as Jsz);
          if (i >= 0) return i;
          last = `${s.name} knows no ${what}`;
        } catch (err) {
          last = `${s.name}: ${String(err)}`;
        }
      }
      if (Date.now() > deadline) throw new Error(`no ${what} within ${ELECTION_MS / 1000} s (${last})`);
      await sleep(200);
    }
  };
  try {
    const ports = await freePorts(3 * n);
    for (let i = 0; i < n; i++) {
      const clusterPorts = ports.slice(2 * n, 3 * n);
      const spec: NodeSpec = {
        name: `n${i}`,
        dir: path.join(root, `n${i}`),
        port: ports[i]!,
        monitorPort: ports[n + i]!,
        cluster: { name: 'strata', port: clusterPorts[i]!, routes: clusterPorts.filter((_, j) => j !== i) },
      };
      fs.mkdirSync(spec.dir);
      servers.push(new Server(binary, spec, options, root));
    }
    for (const s of servers) s.spawn();
    await Promise.all(servers.map((s) => s.healthy(60_000)));
    const metaLeader = () => ask('meta leader', '/jsz', (j) => nodeIndex(j.meta_cluster?.leader));
    await metaLeader();
    return {
      urls: servers.map((s) => s.url),
      servers,
      leaderOf: (stream) =>
        ask(`leader of stream ${stream}`, '/jsz?accounts=true&streams=true', (j) => {
          for (const account of j.account_details ?? []) {
            for (const s of account.stream_detail ?? []) if (s.name === stream) return nodeIndex(s.cluster?.leader);
          }
          return -1;
        }),
      metaLeader,
      kill: (i) => serverAt(servers, i).kill(),
      restart: (i) => serverAt(servers, i).restart(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function serverAt(servers: Server[], i: number): Server {
  const s = servers[i];
  if (s === undefined) throw new Error(`no node ${i} (of ${servers.length})`);
  return s;
}
