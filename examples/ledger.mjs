#!/usr/bin/env node
// A ledger on stratadb: event sourcing with an exactly-once projection (CQRS).
//
//   node examples/ledger.mjs DIR [--events N] [--kill-after N]
//
// Commands append events (event/<id> → {type, account, amount}); the write's sequence number
// is the event's place in the history. A projection follows the change feed and keeps the
// read model (balance/<account>). Exactly once: it writes each event's effect and its
// position (projection/position = the event's sequence number) in ONE batch, so after a crash
// it resumes from the position stored with the effects it last applied: no event is applied
// twice, none skipped. A rebuild replays the events from sequence 0 into memory and must agree
// with the projection's balances.
//
// --kill-after N: the process SIGKILLs itself after projecting N events (a crash in the middle
// of catching up); run it again without the flag and it resumes where the batches left off.
// Prints "projection agrees with a rebuild from 0" and exits 0, or exits 1 on a disagreement.

import { open } from 'stratadb';

const args = process.argv.slice(2);
const dir = args[0];
if (dir === undefined) {
  console.error('usage: node examples/ledger.mjs DIR [--events N] [--kill-after N]');
  process.exit(2);
}
const flag = (name, fallback) => {
  const at = args.indexOf(name);
  return at < 0 ? fallback : Number(args[at + 1]);
};
const events = flag('--events', 500);
const killAfter = flag('--kill-after', Infinity);

const ACCOUNTS = ['alice', 'bob', 'carol', 'dave'];
const POSITION = 'projection/position';

// Four shards: an event and its projection's batch may land in different shards; the feed
// still delivers every write once, in sequence order.
const db = await open(dir, { shards: 4 });

/** Commands: validate, then append the event. Resolves to the event's sequence number. */
let nextId = Number((await db.get('command/next-id'))?.toString() ?? '0');
function deposit(account, amount) {
  const id = String(nextId++).padStart(8, '0');
  // The id counter goes in the same batch as the event, so a crash loses neither alone.
  return db.batch([
    { type: 'put', key: `event/${id}`, value: JSON.stringify({ type: 'deposited', account, amount }) },
    { type: 'put', key: 'command/next-id', value: String(nextId) },
  ]);
}
function withdraw(account, amount) {
  const id = String(nextId++).padStart(8, '0');
  return db.batch([
    { type: 'put', key: `event/${id}`, value: JSON.stringify({ type: 'withdrew', account, amount }) },
    { type: 'put', key: 'command/next-id', value: String(nextId) },
  ]);
}

/** The event a change carries, if it carries one (the projection's own writes do not). */
function eventOf(change) {
  const op = change.ops.find((o) => o.type === 'put' && o.key.toString().startsWith('event/'));
  return op && JSON.parse(op.value.toString());
}

const effect = (event) => (event.type === 'deposited' ? event.amount : -event.amount);

/** The projection: follows the feed from its stored position; ends once it reached `until`. */
async function project(until) {
  const stored = await db.get(POSITION);
  const since = stored === undefined ? 0n : BigInt(stored.toString());
  if (since >= until) return 0;
  let applied = 0;
  for await (const change of db.changes({ since })) {
    const event = eventOf(change);
    if (event !== undefined) {
      const key = `balance/${event.account}`;
      const balance = Number((await db.get(key))?.toString() ?? '0');
      // Effect and position in one batch: both survive a crash, or neither does.
      await db.batch([
        { type: 'put', key, value: String(balance + effect(event)) },
        { type: 'put', key: POSITION, value: String(change.seq) },
      ]);
      if (++applied >= killAfter) process.kill(process.pid, 'SIGKILL');
    }
    if (change.seq >= until) break;
  }
  return applied;
}

/** Rebuild: every event from sequence 0, folded in memory. */
async function rebuild() {
  const balances = new Map();
  for await (const change of db.changes({ since: 0n, live: false })) {
    const event = eventOf(change);
    if (event !== undefined) balances.set(event.account, (balances.get(event.account) ?? 0) + effect(event));
  }
  return balances;
}

let last = 0n;
for (let i = 0; i < events; i++) {
  const account = ACCOUNTS[i % ACCOUNTS.length];
  last = await (i % 3 === 2 ? withdraw(account, 1 + (i % 5)) : deposit(account, 10 + (i % 7)));
}
const applied = await project(last);
const rebuilt = await rebuild();
let agrees = true;
for (const account of ACCOUNTS) {
  const projected = Number((await db.get(`balance/${account}`))?.toString() ?? '0');
  const expected = rebuilt.get(account) ?? 0;
  console.log(`${account.padEnd(6)} projected ${String(projected).padStart(7)}   rebuilt ${String(expected).padStart(7)}`);
  if (projected !== expected) agrees = false;
}
console.log(`events in the log: ${nextId}; projected this run: ${applied}; position ${(await db.get(POSITION))?.toString()}`);
await db.close();
if (!agrees) {
  console.log('projection DISAGREES with a rebuild from 0');
  process.exit(1);
}
console.log('projection agrees with a rebuild from 0');
