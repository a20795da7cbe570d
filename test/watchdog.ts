// Runs a test workload in a worker thread, watched from the test's own thread, so that a hang
// fails the test instead of hanging the suite.
//
// A timer in the workload's own thread catches a call that never settles while the event loop
// turns (a promise nobody resolves), but not a call that starves the event loop (a loop of
// microtasks or a synchronous loop that never ends): then no timer of that thread fires again.
// So the workload runs in a worker and posts a heartbeat every HEARTBEAT_MS and a line before
// each step; the test's thread terminates the worker (which stops even a busy loop) when the
// heartbeats stop for `stallMs` or the whole run exceeds `deadlineMs`, and fails naming the
// last steps the workload began.
//
// The workload module calls workload(body) at its top level; body gets the test's data and a
// progress(line) function, and resolves when the run passed (it throws to fail).

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const HEARTBEAT_MS = 200;

type Message = { kind: 'beat' } | { kind: 'step'; line: string } | { kind: 'done'; summary: string } | { kind: 'failed'; error: string };

export interface WatchOptions {
  /** The heartbeats may pause this long before the event loop counts as stuck. */
  stallMs: number;
  /** The whole run may take this long. */
  deadlineMs: number;
  /** Named in failure messages: "seed 3 on 4 shards". */
  what: string;
}

/** Runs the workload module `url` in a worker with `data`; resolves with its summary, rejects when it fails or stops moving. */
export function runWatched(url: URL, data: unknown, o: WatchOptions): Promise<string> {
  const worker = new Worker(url, { workerData: data });
  const recent: string[] = [];
  let lastBeat = Date.now();
  const started = Date.now();
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, summary = ''): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      // terminate() also stops a worker whose event loop is starved, and the threads it started.
      void worker.terminate().finally(() => (err ? reject(err) : resolve(summary)));
    };
    const lastSteps = () => (recent.length === 0 ? 'no step began' : `the last steps begun:\n    ${recent.join('\n    ')}`);
    const watch = setInterval(() => {
      const now = Date.now();
      if (now - lastBeat > o.stallMs) {
        finish(new Error(`${o.what}: the workload's event loop stood still for ${now - lastBeat} ms (starved: no timer of its thread fired); ${lastSteps()}`));
      } else if (now - started > o.deadlineMs) {
        finish(new Error(`${o.what}: the workload did not finish within ${o.deadlineMs} ms; ${lastSteps()}`));
      }
    }, HEARTBEAT_MS);
    worker.on('message', (m: Message) => {
      lastBeat = Date.now();
      if (m.kind === 'step') {
        recent.push(m.line);
        if (recent.length > 12) recent.shift();
      } else if (m.kind === 'done') finish(undefined, m.summary);
      else if (m.kind === 'failed') finish(new Error(m.error));
    });
    worker.on('error', (err) => finish(new Error(`${o.what}: the workload's thread died: ${String(err.stack ?? err)}; ${lastSteps()}`)));
    worker.on('exit', (code) => finish(new Error(`${o.what}: the workload's thread exited (${code}) before it reported; ${lastSteps()}`)));
  });
}

/**
 * The worker side: runs `body`, posting heartbeats, steps and the outcome to the watching
 * thread. Does nothing on the main thread, where the test imports the module for its exports.
 */
export function workload<D>(body: (data: D, progress: (line: string) => void) => Promise<string>): void {
  if (isMainThread || parentPort === null) return;
  const port = parentPort;
  const post = (m: Message) => port.postMessage(m);
  const beat = setInterval(() => post({ kind: 'beat' }), HEARTBEAT_MS);
  body(workerData as D, (line) => post({ kind: 'step', line })).then(
    (summary) => post({ kind: 'done', summary }),
    (err: unknown) => post({ kind: 'failed', error: String((err as Error)?.stack ?? err) }),
  ).finally(() => clearInterval(beat));
}
