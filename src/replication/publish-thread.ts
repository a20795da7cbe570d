// PublishThread: a replication publisher's publishes, made on a worker thread of their own
// (publish-worker.ts) with its own connection to JetStream, so that the client's work a
// message (copying it into its send buffer, the socket write, the answer's parse) is not done
// on the primary's main thread, where the writers are. The message's bytes cross as a view of
// shared memory (message-buffers.ts: not cloned); the caller keeps them, to send again after a
// failure, and the worker copies them before the client sees them.
//
// Not used, and start() says so (undefined), where the connection options cannot be sent to
// a worker (an `authenticator` function, for example): the caller then publishes on its own
// connection. start() rejects when the worker cannot connect; a worker that stops later fails
// what it had not answered and every later publish (`stopped` says so), and the caller goes
// back to its own connection.

import { Worker } from 'node:worker_threads';
import { priorityBelowThisThread } from '../base/index.js';
import type { StreamSettings } from './connection.js';
import type { PublishRequest, PublishWorkerAnswer, PublishWorkerData } from './publish-worker.js';

const WORKER_URL = new URL('./publish-worker.js', import.meta.url).href;
/** How long close() lets the worker drain its connection before it is stopped. */
const CLOSE_MS = 6_000;

interface Pending {
  resolve(seq: number): void;
  reject(err: Error): void;
}

export class PublishThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  /** Set once the worker stopped: every publish fails with it. */
  #stopped: Error | undefined;
  readonly #exited: Promise<void>;

  private constructor(worker: Worker) {
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: PublishWorkerAnswer) => {
      if (m.type !== 'answer') return;
      const pending = this.#pending.get(m.id);
      if (pending === undefined) return;
      this.#pending.delete(m.id);
      if (m.seq !== undefined) pending.resolve(m.seq);
      else pending.reject(Object.assign(new Error(m.message), { code: m.code }));
    });
    worker.on('error', (err) => this.#stop(new Error(`the publishing thread failed: ${err.message}`)));
    void this.#exited.then(() => this.#stop(new Error('the publishing thread stopped')));
  }

  /**
   * A thread connected as `settings` say, running `nice` steps below this one (Linux:
   * src/base/thread-priority.ts), or undefined when the settings cannot be sent to a worker.
   * Rejects with the connection's error (scrubbed) when the worker cannot connect.
   */
  static async start(settings: StreamSettings, nice: number): Promise<PublishThread | undefined> {
    try {
      structuredClone(settings);
    } catch {
      return undefined;
    }
    const workerData: PublishWorkerData = { settings, priority: priorityBelowThisThread(nice) };
    const worker = new Worker(`import(${JSON.stringify(WORKER_URL)})`, { eval: true, workerData });
    const first = await new Promise<PublishWorkerAnswer | Error>((resolve) => {
      worker.once('message', resolve);
      worker.once('error', resolve);
      worker.once('exit', () => resolve(new Error('the publishing thread ended before it connected')));
    });
    if (first instanceof Error || first.type !== 'ready') {
      await worker.terminate();
      throw Object.assign(new Error(first instanceof Error ? first.message : first.type === 'failed' ? first.message : 'the publishing thread did not connect'), { code: 'EIO' });
    }
    return new PublishThread(worker);
  }

  /** Whether the worker stopped (publish() fails): the caller publishes on its own connection. */
  get stopped(): boolean {
    return this.#stopped !== undefined;
  }

  /** Publishes `bytes` as message `msgId` on `subject`; resolves to its stream sequence, or rejects with the client's error. */
  publish(subject: string, msgId: string, bytes: Uint8Array, timeoutMs: number): Promise<number> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    const id = this.#nextId++;
    return new Promise<number>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const request: PublishRequest = { type: 'publish', id, subject, msgId, bytes, timeoutMs };
      this.#worker.postMessage(request);
    });
  }

  /** Lets the worker drain and close its connection (CLOSE_MS at most), then ends it. */
  async close(): Promise<void> {
    if (this.#stopped === undefined) this.#worker.postMessage({ type: 'close' });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_MS)));
    await Promise.race([this.#exited, late]);
    clearTimeout(timer);
    await this.#worker.terminate();
    this.#stop(new Error('the publishing thread is closed'));
  }

  #stop(err: Error): void {
    this.#stopped ??= err;
    for (const pending of this.#pending.values()) pending.reject(this.#stopped);
    this.#pending.clear();
  }
}
