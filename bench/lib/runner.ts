// Runs one Job in a child process of its own (dist/bench/lib/child.js) and collects its
// result. The child's stdout and stderr are kept and shown only if it fails.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, Job, JobResult } from './job.js';
import { childExecArgv } from './child-args.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

let current: ChildProcess | undefined;

/** Ends the job running now, if any (on Ctrl-C); resolves once its process has exited. */
export function killCurrentJob(): Promise<void> {
  const child = current;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export function runInChild(job: Job, onProgress: (done: number, total: number) => void): Promise<JobResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: childExecArgv() });
    current = child;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    let result: JobResult | undefined;
    let failure: string | undefined;
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') onProgress(message.done, message.total);
      else if (message.type === 'result') result = message.result;
      else failure = message.message;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      current = undefined;
      if (result !== undefined) resolve(result);
      else {
        const why = failure ?? `the child exited with ${signal ?? `code ${code}`}`;
        reject(new Error(`${job.store} ${job.id}: ${why}${output ? `\n${output.trim()}` : ''}`));
      }
    });
    child.send(job);
  });
}
