// Progress while the bench runs: cli-progress bars on stderr (only when stderr is a terminal),
// one for the whole run and one for the job running now. Lines that report a finished job go
// above the bars when both streams are the terminal, else to stdout.

import * as cliProgress from 'cli-progress';

export class Progress {
  readonly #bars: cliProgress.MultiBar | undefined;
  readonly #overall: cliProgress.SingleBar | undefined;
  #job: cliProgress.SingleBar | undefined;
  /** When the job's first operation was reported, and how many were done then. */
  #first: { ms: number; done: number } | undefined;

  constructor(jobs: number) {
    if (!process.stderr.isTTY) return;
    this.#bars = new cliProgress.MultiBar(
      {
        stream: process.stderr,
        format: '{label} {bar} {percentage}% | {value}/{total} {unit} | {detail}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: true,
        fps: 5,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.#overall = this.#bars.create(jobs, 0, { label: 'all workloads     '.slice(0, 18), unit: 'runs', detail: '' });
  }

  /** A new job starts: `label` names it, `total` counts its operations. */
  startJob(label: string, total: number): void {
    if (this.#bars === undefined) return;
    this.#job?.stop();
    if (this.#job !== undefined) this.#bars.remove(this.#job);
    this.#job = this.#bars.create(total, 0, { label: label.padEnd(18).slice(0, 18), unit: 'ops', detail: 'opening' });
    this.#first = undefined;
    this.#overall?.update({ detail: label });
  }

  jobProgress(done: number, total: number): void {
    if (this.#job === undefined) return;
    const now = performance.now();
    if (this.#first === undefined) this.#first = { ms: now, done };
    const seconds = (now - this.#first.ms) / 1000;
    const rate = seconds > 0.2 ? `${Math.round((done - this.#first.done) / seconds).toLocaleString('en-US')} ops/s` : '';
    this.#job.setTotal(total);
    this.#job.update(Math.min(done, total), { detail: rate });
  }

  finishJob(): void {
    this.#overall?.increment();
  }

  /** Prints one line (above the bars when they are on the same terminal). */
  line(text: string): void {
    if (this.#bars !== undefined && process.stdout.isTTY) this.#bars.log(`${text}\n`);
    else process.stdout.write(`${text}\n`);
  }

  stop(): void {
    this.#bars?.stop();
  }
}
