// The process test/bank-crash.test.ts kills: a bank of ACCOUNTS accounts and WRITERS
// concurrent writers, each doing random transfers with db.transaction() until it is killed.
// A transfer writes both balances and a record of itself, `t/<round>/<n>` = "from to amount",
// in one atomic batch, and is acknowledged on stdout ("T <round>/<n>") once it resolved.
//
//   node dist/test/bank-crash-child.js DIR ROUND SEED SHARDS
//
// Acknowledgments go out with fs.writeSync(1), as in crash-child.ts: a line still queued in
// this process when it is killed would be an acknowledgment lost.

import { open } from '../src/index.js';
import { acknowledge as say, crashOptions, Rng } from './helpers.js';

export const ACCOUNTS = 1000;
export const START_BALANCE = 1000;
const WRITERS = 200;

export const accountKey = (i: number) => `acct/${String(i).padStart(4, '0')}`;

const [dir, roundArg, seedArg, shardsArg] = process.argv.slice(2);
if (dir !== undefined && roundArg !== undefined && seedArg !== undefined && shardsArg !== undefined) await run(dir, roundArg, Number(seedArg), Number(shardsArg));

async function run(dir: string, round: string, seed: number, shards: number): Promise<void> {
  const rng = new Rng(seed);
  const db = await open(dir, { ...crashOptions(64 * 1024), shards });
  // One batch opens every account: after a kill, all of them exist or none.
  if ((await db.get(accountKey(0))) === undefined) {
    await db.batch(Array.from({ length: ACCOUNTS }, (_, i) => ({ type: 'put' as const, key: accountKey(i), value: String(START_BALANCE) })));
  }
  say('R');
  let next = 0;
  const writer = async (): Promise<never> => {
    for (;;) {
      const id = `${round}/${next++}`;
      const from = rng.int(ACCOUNTS);
      const to = (from + 1 + rng.int(ACCOUNTS - 1)) % ACCOUNTS;
      const amount = rng.range(1, 100);
      await db.transaction(async (tx) => {
        const a = Number((await tx.get(accountKey(from)))!.toString());
        const b = Number((await tx.get(accountKey(to)))!.toString());
        // Overdrafts are allowed: every transfer commits, so the checks see many.
        tx.put(accountKey(from), String(a - amount));
        tx.put(accountKey(to), String(b + amount));
        tx.put(`t/${id}`, `${from} ${to} ${amount}`);
      }, { retries: 1000 });
      say(`T ${id}`);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
}
