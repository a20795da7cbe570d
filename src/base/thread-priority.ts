/**
 * Background threads below the application's: a thread lowers its own priority (nice value)
 * once, at its start, by a step from the priority of the thread that started it. Only on Linux,
 * where setpriority(2) with pid 0 changes the calling thread alone; elsewhere (macOS, Windows)
 * the nice value is the process's, and lowering it would lower the application's threads too.
 * An unprivileged thread cannot raise its priority again, so a thread lowered stays lowered.
 * Users: the compaction pool's threads (src/compaction/pool.ts, invariant 6) and replicate()'s
 * publishing thread (src/replication/publish-thread.ts).
 */

import * as os from 'node:os';

/** Where a background thread starts from: its starter's nice value and the step below it. */
export interface ThreadPriority {
  /** Steps below `base` (0: the same priority). */
  nice: number;
  /** The starting thread's nice value; undefined where the system does not say. */
  base: number | undefined;
}

/** `nice` steps below the calling thread, to hand to a thread it starts. */
export function priorityBelowThisThread(nice: number): ThreadPriority {
  let base: number | undefined;
  try {
    base = os.getPriority();
  } catch {
    base = undefined;
  }
  return { nice, base };
}

/** Run in the started thread, before its first job: lowers it as `priority` says, where it can. */
export function lowerThisThread({ nice, base }: ThreadPriority): void {
  if (nice === 0 || base === undefined || process.platform !== 'linux') return;
  try {
    // Pid 0: this thread alone (Linux).
    os.setPriority(0, Math.min(19, base + nice));
  } catch {
    // Refused (a sandbox, or a system without per-thread priorities): run as started.
  }
}
