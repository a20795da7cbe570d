// stratadb's benchmark suite: db_bench's workloads on stratadb and, in the same run, on RocksDB,
// LevelDB, LMDB and SQLite. Each workload runs on each store in a process of its own, in a
// temporary directory removed at the end. Prints a line per run and tables at the end, and
// writes every figure to a JSON file and a chart to an SVG file.
//
//   npm run bench                                  (everything, defaults: a few minutes)
//   npm run bench -- --workloads fillrandom,readrandom --stores stratadb,rocksdb --num 200000
//   node dist/bench/run.js --svg docs/bench.svg    (the README's chart)
//
// Steps: parse flags; find which peers are installed (bench/peers); plan the workloads
// (plan.ts); run workload by workload, store by store, so that the stores of one workload run
// close together in time on a noisy machine; print; write JSON and SVG; remove the directory.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JobResult } from './lib/job.js';
import { parseOptions, USAGE, type BenchOptions } from './lib/options.js';
import { displayOrder, jobFor, planWorkloads, syncOpsFor } from './lib/plan.js';
import { Progress } from './lib/progress.js';
import { allRatios, checkTargets, feedTargets, sustainedTargets, type RunResults } from './lib/results.js';
import { killCurrentJob, runInChild } from './lib/runner.js';
import { renderSvg } from './lib/svg.js';
import { detailTable, eventLoopTable, formatCount, markdownTables, resultLine, sustainedTable, targetsTable, throughputTable } from './lib/table.js';
import { isInstalled, PEERS_INSTALL_COMMAND, STORE_NAMES, STORES, type StoreName } from './stores/index.js';

function describeMachine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; ${os.platform()} ${os.release()}`;
}

function notesFor(options: BenchOptions): string[] {
  const has = (...names: string[]) => names.some((n) => options.workloads.includes(n as BenchOptions['workloads'][number]));
  const notes = [`16-byte keys ("%016d"), ${options.valueBytes}-byte values that compress to about half; ${options.inFlight} operations in flight unless said otherwise.`];
  if (has('readrandom', 'seekrandom', 'readwhilewriting', 'deleterandom')) {
    notes.push(`readrandom, seekrandom, readwhilewriting and deleterandom run ${options.reads.toLocaleString('en-US')} operations (--reads); readseq reads every entry once.`);
  }
  if (has('fillsync')) {
    const runs = options.syncWriters.map((w) => `${syncOpsFor(options, w).toLocaleString('en-US')} with ${w} writer${w === 1 ? '' : 's'}`);
    notes.push(`fillsync runs fewer puts (db_bench: num/1000; here longer, past V8's warm-up): ${runs.join(', ')}.`);
  }
  if (options.maxSeconds > 0) {
    notes.push(`A run stops after ${options.maxSeconds} s (--max-seconds) and reports on the operations it did (marked * in the table); the reads then see fewer keys.`);
  }
  if (has('readrandom', 'readseq', 'seekrandom', 'readwhilewriting')) {
    notes.push('Reads run on the database fillrandom made (each key once), opened afresh in a new process; the page cache is left warm.');
  }
  notes.push(
    "Peers get stratadb's memory budgets where they have the knobs: 64 MiB write buffer and 32 MiB block cache (RocksDB, LevelDB), 32 MiB page cache (SQLite); LMDB uses the OS page cache.",
    'Disk bytes are write_bytes less cancelled_write_bytes of /proc/self/io (pages deleted before writeback never reach the disk) from the first operation through close(); sizes are allocated blocks (du) after close.',
    'One run on a possibly shared machine: compare ratios within a run, and rerun before trusting a small difference.',
  );
  if (has('changes')) {
    notes.push(
      `changes: fillrandom in four phases of ${formatCount(options.num / 2)} puts on one database, without a live change feed, with, with, without; ops/s are the writers' with the feed. Only stratadb has a feed to run it on (the table says why not each peer).`,
    );
  }
  if (has('sustained')) {
    notes.push(`sustained: ${formatCount(options.sustainedNum)} random puts (--sustained-num), then compactRange over everything; its ops/s are the fill's; it runs whole, whatever --max-seconds says.`);
  }
  if (options.shards > 1) notes.push(`stratadb runs with ${options.shards} shards (--shards).`);
  return notes;
}

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  const requested: StoreName[] = options.stores ?? [...STORE_NAMES];
  const missing = requested.filter((s) => !isInstalled(s));
  const stores = requested.filter((s) => isInstalled(s));
  if (missing.length > 0) {
    const names = missing.map((s) => STORES[s].info.packageName).join(', ');
    const then = stores.length > 0 ? `Running ${stores.join(', ')} without them.` : 'Nothing else to run.';
    process.stdout.write(`Not installed: ${names}. To compare with them, install the peers once:\n  ${PEERS_INSTALL_COMMAND}\n${then}\n\n`);
  }
  if (stores.length === 0) return 1;

  mkdirSync(options.baseDir, { recursive: true });
  const root = mkdtempSync(join(options.baseDir, 'stratadb-bench-'));
  const removeRoot = () => {
    if (!options.keep) rmSync(root, { recursive: true, force: true });
  };
  const onSignal = () => {
    void killCurrentJob().finally(() => {
      removeRoot();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const plan = planWorkloads(options);
    const shown = displayOrder(plan);
    const notes = notesFor(options);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const jsonPath = resolve(options.jsonPath ?? join(os.tmpdir(), `stratadb-bench-${stamp}.json`));
    const svgPath = resolve(options.svgPath ?? join(os.tmpdir(), `stratadb-bench-${stamp}.svg`));
    const started = new Date();

    process.stdout.write(
      `stratadb bench: ${shown.map((p) => p.id).join(', ')}\n` +
        `stores: ${stores.map((s) => `${STORES[s].info.label} ${STORES[s].info.version}`).join(', ')}\n` +
        `machine: ${describeMachine()}\n` +
        `${formatCount(options.num)} puts per write workload, ${formatCount(options.reads)} reads per read workload; in ${root}\n` +
        notes.map((n) => `- ${n}\n`).join('') +
        '\n',
    );

    const results: JobResult[] = [];
    const failures: RunResults['failures'] = [];
    const progress = new Progress(plan.length * stores.length);
    const mainFailed = new Set<StoreName>();
    const mainKeys = new Map<StoreName, number>();
    for (const p of plan) {
      for (const store of stores) {
        const dir = join(root, store, p.db === 'fresh' ? p.id : 'main');
        if (p.db === 'main' && mainFailed.has(store)) {
          failures.push({ store, id: p.id, error: 'skipped: the database fillrandom makes failed' });
          progress.finishJob();
          continue;
        }
        if (p.workload === 'transfer' && !STORES[store].info.transactions.supported) {
          progress.line(`${p.id.padEnd(16)} ${store.padEnd(8)} not run: ${STORES[store].info.transactions.how}`);
          progress.finishJob();
          continue;
        }
        if (p.into === true && !STORES[store].info.getInto.supported) {
          progress.line(`${p.id.padEnd(16)} ${store.padEnd(8)} not run: ${STORES[store].info.getInto.how}`);
          progress.finishJob();
          continue;
        }
        if (p.workload === 'changes' && !STORES[store].info.changeFeed.supported) {
          progress.line(`${p.id.padEnd(16)} ${store.padEnd(8)} not run: ${STORES[store].info.changeFeed.how}`);
          progress.finishJob();
          continue;
        }
        mkdirSync(dirname(dir), { recursive: true });
        progress.startJob(`${p.id} ${store}`, p.ops);
        try {
          const job = jobFor(p, store, dir, options, mainKeys.get(store) ?? 0);
          const result = await runInChild(job, (done, total) => progress.jobProgress(done, total));
          results.push(result);
          if (p.db === 'main') mainKeys.set(store, result.liveKeys);
          progress.line(p.setup ? `(setup) ${resultLine(result)}` : resultLine(result));
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          failures.push({ store, id: p.id, error: message });
          if (p.workload === 'fillrandom') mainFailed.add(store);
          progress.line(`${p.id.padEnd(16)} ${store.padEnd(8)} FAILED: ${message.split('\n')[0]}`);
        }
        progress.finishJob();
        if (p.db === 'fresh' && !options.keep) rmSync(dir, { recursive: true, force: true });
      }
    }
    progress.stop();

    const storeInfos = stores.map((s) => STORES[s].info);
    const targets = checkTargets(results);
    process.stdout.write(
      `\nThroughput, operations per second (in brackets: stratadb's ops/s over the peer's; *: stopped by the time limit)\n${throughputTable(shown, storeInfos, results)}\n` +
        `\nEvery figure (latency per operation unless the JSON says otherwise; WA: disk bytes written / user bytes written; SA: size on disk / live user bytes)\n${detailTable(shown, storeInfos, results)}\n` +
        (eventLoopTable(shown, storeInfos, results) === '' ? '' : `\nThe event loop during reads (a 1 ms timer; getloop gives the loop no turn of its own)\n${eventLoopTable(shown, storeInfos, results)}\n`) +
        `\nTargets\n${targetsTable(targets)}\n`,
    );
    const sustainedRows = sustainedTable(storeInfos, results);
    if (sustainedRows !== '') process.stdout.write(`\nsustained (WA: disk bytes written by fill, compactRange and close / user bytes; peak RSS: getrusage, in brackets sampled every 100 ms)\n${sustainedRows}\n`);
    const sustainedChecks = sustainedTargets(results);
    if (sustainedChecks.length > 0) process.stdout.write(`\nTargets of issue 19 (sustained writes, memory)\n${sustainedChecks.map((c) => `- ${c.target}: ${c.value} — ${c.met ? 'met' : 'NOT met'}`).join('\n')}\n`);
    const feedChecks = feedTargets(results);
    if (feedChecks.length > 0) process.stdout.write(`\nTargets of issue 15 (the change feed)\n${feedChecks.map((c) => `- ${c.target}: ${c.value} — ${c.met ? 'met' : 'NOT met'}`).join('\n')}\n`);
    if (failures.length > 0) {
      process.stdout.write(`\nFailed runs:\n${failures.map((f) => `- ${f.id} ${f.store}: ${f.error}`).join('\n')}\n`);
    }

    const run: RunResults = {
      meta: {
        started: started.toISOString(),
        finished: new Date().toISOString(),
        node: process.version,
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        cpus: os.cpus()[0]?.model.trim() ?? 'unknown',
        cores: os.cpus().length,
        memoryBytes: os.totalmem(),
        options: { ...options },
        stores: storeInfos,
        notes,
      },
      workloads: shown,
      results,
      failures,
      ratios: allRatios(results, shown.map((p) => p.id), stores),
      targets,
      feedTargets: feedTargets(results),
      sustainedTargets: sustainedChecks,
    };
    mkdirSync(dirname(jsonPath), { recursive: true });
    writeFileSync(jsonPath, `${JSON.stringify(run, null, 2)}\n`);
    const title = `stratadb ${STORES.stratadb.info.version} and its peers: db_bench workloads`;
    const subtitle = `${formatCount(options.num)} ops, 16-byte keys, ${options.valueBytes}-byte values; ${describeMachine()}; ${started.toISOString().slice(0, 10)}`;
    mkdirSync(dirname(svgPath), { recursive: true });
    writeFileSync(svgPath, renderSvg(shown, storeInfos, results, { title, subtitle }));
    process.stdout.write(`\nJSON: ${jsonPath}\nSVG:  ${svgPath}\n`);
    if (options.markdownPath !== undefined) {
      const markdownPath = resolve(options.markdownPath);
      mkdirSync(dirname(markdownPath), { recursive: true });
      writeFileSync(markdownPath, markdownTables(shown, storeInfos, results, targets));
      process.stdout.write(`Markdown: ${markdownPath}\n`);
    }
    if (options.keep) process.stdout.write(`Databases kept in ${root}\n`);
    return failures.length > 0 ? 1 : 0;
  } finally {
    removeRoot();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
