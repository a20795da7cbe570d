// Transactions across SIGKILL: a child (test/bank-crash-child.ts) runs 200 concurrent writers
// doing random transfers between 1,000 accounts with db.transaction(); this process kills it
// at a random moment, reopens the database and checks that
// - the total of the balances is unchanged;
// - every balance equals the replay of the transfers whose records are there (each transfer
//   writes its record in the same batch as both balances), so no transfer is torn and no
//   update was lost to a concurrent one;
// - every acknowledged transfer is there;
// then starts the next round on the same directory. With 1 shard, and with 4, where most
// transfers span shards and commit in two phases.
//
//   STRATA_CRASH_SEED=N     another seed (default 1)
//   STRATA_CRASH_ROUNDS=N   rounds per test (default 4)

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { open } from '../src/index.js';
import { ACCOUNTS, START_BALANCE } from './bank-crash-child.js';
import { crashOptions, envInt, onLines, Rng, withTempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./bank-crash-child.js', import.meta.url));
const SEED = envInt('STRATA_CRASH_SEED') ?? 1;
const ROUNDS = envInt('STRATA_CRASH_ROUNDS') ?? 4;
const CHILD_TIMEOUT_MS = 30_000;

/** Runs one child and SIGKILLs it after `killAfterAcks` acknowledged transfers; returns them. */
function runChild(dir: string, round: number, seed: number, shards: number, killAfterAcks: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(round), String(seed), String(shards)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: string[] = [];
    let stderr = '';
    let failure: unknown;
    let killed = false;
    const killNow = () => {
      if (!killed) child.kill('SIGKILL');
      killed = true;
    };
    const timeout = setTimeout(() => {
      failure ??= new Error(`the child was not killed within ${CHILD_TIMEOUT_MS} ms (${acked.length} acks)`);
      killNow();
    }, CHILD_TIMEOUT_MS);
    onLines(child.stdout, (line) => {
      if (line.startsWith('T ')) acked.push(line.slice(2));
      else if (line !== 'R') failure ??= new Error(`unexpected line from the child: ${JSON.stringify(line)}`);
      if (acked.length >= killAfterAcks) killNow();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => (failure ??= err));
    child.on('close', (code, signal) => {
      clearTimeout(timeout);
      if (failure === undefined && signal !== 'SIGKILL') failure = new Error(`the child exited with ${code ?? signal} before it was killed:\n${stderr}`);
      if (failure !== undefined) reject(failure);
      else resolve(acked);
    });
  });
}

/** Reopens `dir` and checks the bank against the transfer records; returns how many there are. */
async function verify(dir: string, acked: ReadonlySet<string>, what: string): Promise<number> {
  const db = await open(dir, crashOptions(64 * 1024));
  try {
    const replay = new Array<number>(ACCOUNTS).fill(START_BALANCE);
    const records = new Set<string>();
    for await (const [k, v] of db.iterator({ prefix: 't/' })) {
      const [from, to, amount] = v.toString().split(' ').map(Number) as [number, number, number];
      replay[from]! -= amount;
      replay[to]! += amount;
      records.add(k.toString().slice(2));
    }
    let total = 0;
    let accounts = 0;
    for await (const [k, v] of db.iterator({ prefix: 'acct/' })) {
      const i = Number(k.toString().slice(5));
      const balance = Number(v.toString());
      if (balance !== replay[i]) throw new Error(`${what}: account ${i} holds ${balance}; the ${records.size} transfers recorded make it ${replay[i]}`);
      total += balance;
      accounts++;
    }
    if (accounts === 0 && records.size === 0) return 0; // killed before the accounts were opened
    assert.is(accounts, ACCOUNTS, `${what}: every account is there`);
    assert.is(total, ACCOUNTS * START_BALANCE, `${what}: the total is unchanged`);
    for (const id of acked) if (!records.has(id)) throw new Error(`${what}: acknowledged transfer ${id} is missing`);
    return records.size;
  } finally {
    await db.close();
  }
}

async function bankRounds(shards: number, seedOffset: number): Promise<void> {
  const rng = new Rng(SEED * 1000 + seedOffset);
  await withTempDir(async (dir) => {
    const acked = new Set<string>();
    let transfers = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const id of await runChild(dir, round, rng.u32(), shards, rng.range(50, 3000))) acked.add(id);
      transfers = await verify(dir, acked, `${shards} shard(s), round ${round} (STRATA_CRASH_SEED=${SEED})`);
    }
    assert.ok(acked.size > 0 && transfers >= acked.size, 'transfers were acknowledged and are all there');
  });
}

test('a bank of 1,000 accounts keeps its total and every balance across SIGKILLs of 200 concurrent transaction writers', async () => {
  await bankRounds(1, 1);
});

test('4 shards: transfers across shards stay whole and exact across SIGKILLs', async () => {
  await bankRounds(4, 2);
});

test.run();
