// The fuzz run of test/fuzz.test.ts, in a worker thread watched by test/watchdog.ts (see
// fuzz.test.ts for what it checks).
//
// Each call's arguments come with what the documentation says about them: a valid argument
// has a meaning (the bytes a key stands for), an invalid one must make the call fail with
// INVALID_ARGUMENT and change nothing, and a few the documentation leaves open ("either") may
// do both, with a known meaning when they succeed. Every call runs under CALL_DEADLINE_MS.

import { open, Snapshot, StrataError, type Database, type DatabaseIterator, type ErrorCode } from '../src/index.js';
import { removeDir, makeTempDir, Rng, show, SortedModel, assertEntries, type RangeOptions } from './helpers.js';
import { workload } from './watchdog.js';

export interface FuzzData {
  seed: number;
  ops: number;
  shards: number;
  /** Kinds of input not to generate (FUZZ_AVOID in fuzz.test.ts). */
  avoid: readonly Avoidable[];
}

/**
 * Inputs of known defects (those of issue 13, and nextv() counts that are not counts), which
 * a run can leave out (FUZZ_AVOID) to look past a defect not yet fixed. Leaving one out
 * checks less; it changes no expectation.
 */
export const AVOIDABLE = ['unknown-names', 'surrogates', 'detached', 'overlap', 'forged', 'scribble', 'nextv-count'] as const;
export type Avoidable = (typeof AVOIDABLE)[number];

/** A call that takes longer than this while the event loop turns has hung. */
const CALL_DEADLINE_MS = 15_000;

const OP_WEIGHTS = {
  put: 20,
  del: 6,
  batch: 8,
  burst: 4,
  get: 14,
  iterate: 8,
  openIterator: 3,
  stepIterator: 10,
  closeIterator: 2,
  snapshot: 3,
  release: 2,
  flush: 1,
  compactRange: 1,
  overlap: 0.5,
  stats: 1,
  reopen: 0.6,
} as const;
type OpName = keyof typeof OP_WEIGHTS;

/**
 * An argument and what it must do: `valid` (succeed, meaning `bytes` when it is a key or
 * value), `invalid` (fail with INVALID_ARGUMENT) or `either` (meaning `bytes` if accepted).
 */
interface Arg {
  value: unknown;
  verdict: 'valid' | 'invalid' | 'either';
  bytes: Buffer | undefined;
  label: string;
}

const valid = (value: unknown, bytes: Buffer | undefined, label: string): Arg => ({ value, verdict: 'valid', bytes, label });
const invalid = (value: unknown, label: string): Arg => ({ value, verdict: 'invalid', bytes: undefined, label });
const either = (value: unknown, bytes: Buffer | undefined, label: string): Arg => ({ value, verdict: 'either', bytes, label });

/** An absent bound (or compactRange end) given as undefined is no bound: valid. */
const absentOk = (a: Arg): Arg => (a.value === undefined ? valid(undefined, undefined, a.label) : a);

/** What a call may do: succeed (when ok) or fail with one of `codes`. */
interface Expect {
  ok: boolean;
  codes: ErrorCode[];
}

/** The combined expectation of a call's arguments: any invalid one fails it, an open question stays open. */
function expectOf(args: readonly Arg[], closedToo = false): Expect {
  const codes: ErrorCode[] = closedToo ? ['CLOSED'] : [];
  if (args.some((a) => a.verdict === 'invalid')) return { ok: false, codes: [...codes, 'INVALID_ARGUMENT'] };
  if (args.some((a) => a.verdict === 'either')) return { ok: true, codes: [...codes, 'INVALID_ARGUMENT'] };
  return { ok: true, codes };
}

const MAX_KEY_BYTES = 64 * 1024;
const ALPHABET = [0x00, 0x61, 0x62, 0xff];
const UNKNOWN_NAMES = ['synk', 'limt', 'snapshott', 'revers', 'gtee', 'Sync', 'lte ', 'extra'];

function detached(bytes: Buffer): Uint8Array {
  const view = new Uint8Array(bytes);
  structuredClone(view, { transfer: [view.buffer] });
  return view;
}

interface TakenSnapshot {
  snap: Snapshot;
  model: SortedModel;
  label: string;
}

interface OpenIterator {
  it: DatabaseIterator;
  entries: [Buffer, Buffer][];
  reverse: boolean;
  limit: number;
  pos: number;
  returned: number;
  label: string;
  snapshot: TakenSnapshot | undefined;
}

class FuzzRun {
  readonly rng: Rng;
  model = new SortedModel();
  db!: Database;
  /** Another database, whose snapshots are no good for this one. */
  other!: Database;
  snapshots: TakenSnapshot[] = [];
  iterators: OpenIterator[] = [];
  /** Snapshots taken from earlier instances of the database (released by their close()). */
  stale: Snapshot[] = [];
  opIndex = 0;
  readonly counts = new Map<string, number>();

  constructor(
    readonly data: FuzzData,
    readonly dir: string,
    readonly otherDir: string,
    readonly progress: (line: string) => void,
  ) {
    this.rng = new Rng(data.seed);
  }

  /** Generates inputs of this kind (true unless FUZZ_AVOID names it). */
  may(kind: Avoidable): boolean {
    return !this.data.avoid.includes(kind);
  }

  get options() {
    return { shards: this.data.shards, memtableBytes: 65536, l0CompactionTrigger: 2, levelBaseBytes: 128 * 1024, targetFileBytes: 64 * 1024, compactionWorkers: this.data.seed % 2 } as const;
  }

  // -------------------------------------------------------------------------------------------
  // Arguments

  keyBytes(): Buffer {
    const keys = this.model.keys();
    if (keys.length > 0 && this.rng.chance(0.5)) return this.rng.pick(keys);
    const len = this.rng.range(0, 5);
    const k = Buffer.alloc(len);
    for (let i = 0; i < len; i++) k[i] = this.rng.pick(ALPHABET);
    return k;
  }

  /** Valid bytes, passed in one of the accepted shapes. */
  passBytes(bytes: Buffer, what: string): Arg {
    const rng = this.rng;
    const r = rng.float();
    // A copy: the caller's buffer may be changed after the call (see issueWrite).
    if (r < 0.5) return valid(Buffer.from(bytes), bytes, `${what} ${show(bytes)}`);
    if (r < 0.65) {
      // An offset view into a larger ArrayBuffer.
      const ab = new ArrayBuffer(bytes.length + 8);
      const view = new Uint8Array(ab, 3, bytes.length);
      view.set(bytes);
      return valid(view, bytes, `${what} ${show(bytes)} as a view at offset 3`);
    }
    if (r < 0.75) {
      const view = new Uint8Array(new SharedArrayBuffer(bytes.length + 4), 2, bytes.length);
      view.set(bytes);
      return valid(view, bytes, `${what} ${show(bytes)} over a SharedArrayBuffer`);
    }
    if (r < 0.85) return valid(new Uint8Array(bytes), bytes, `${what} ${show(bytes)} as a Uint8Array`);
    // A string whose UTF-8 encoding is these bytes, when there is one.
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) return valid(text, bytes, `${what} '${text}'`);
    return valid(Buffer.from(bytes), bytes, `${what} ${show(bytes)}`);
  }

  /** A key: valid four times out of five; otherwise of a wrong type or size, or an open question. */
  key(what = 'key'): Arg {
    const rng = this.rng;
    if (rng.chance(0.8)) return this.passBytes(this.keyBytes(), what);
    return this.oddInput(what, MAX_KEY_BYTES);
  }

  value(): Arg {
    const rng = this.rng;
    if (rng.chance(0.85)) {
      const r = rng.float();
      const bytes = r < 0.05 ? Buffer.alloc(0) : r < 0.08 ? rng.bytes(rng.range(100_000, 1_200_000)) : rng.bytes(rng.range(1, 400));
      return this.passBytes(bytes, 'value');
    }
    return this.oddInput('value', Infinity);
  }

  /** An input outside the common path: wrong types, sizes at and over `maxBytes`, odd strings and views. */
  oddInput(what: string, maxBytes: number): Arg {
    const rng = this.rng;
    let odd: (() => Arg)[] = [
      () => invalid(rng.int(100), `${what} a number`),
      () => invalid(null, `${what} null`),
      () => invalid(undefined, `${what} undefined`),
      () => invalid({}, `${what} {}`),
      () => invalid([1, 2], `${what} an array`),
      () => invalid(true, `${what} true`),
      () => invalid(10n, `${what} a bigint`),
      () => invalid(Symbol('k'), `${what} a symbol`),
      () => invalid(new DataView(new ArrayBuffer(4)), `${what} a DataView`),
      () => invalid(new Uint16Array([0x6161]), `${what} a Uint16Array`),
      () => invalid(new Uint8ClampedArray([0x61]), `${what} a Uint8ClampedArray`),
      () => invalid(new ArrayBuffer(2), `${what} an ArrayBuffer`),
      () => valid('é😀', Buffer.from('é😀', 'utf8'), `${what} 'é😀' (a surrogate pair)`),
    ];
    if (this.may('surrogates')) {
      odd.push(
        () => invalid(`a\uD800`, `${what} 'a\\uD800' (a lone high surrogate)`),
        () => invalid(`\uDFFFb`, `${what} '\\uDFFFb' (a lone low surrogate)`),
      );
    }
    if (this.may('detached')) {
      odd.push(() => either(detached(this.keyBytes()), Buffer.alloc(0), `${what} a Uint8Array over a detached ArrayBuffer`));
    }
    if (maxBytes !== Infinity) {
      odd.push(
        () => {
          const bytes = Buffer.alloc(maxBytes, 0x61);
          return valid(Buffer.from(bytes), bytes, `${what} of exactly ${maxBytes} bytes`);
        },
        () => invalid(Buffer.alloc(maxBytes + 1 + rng.int(1000), 0x62), `${what} over ${maxBytes} bytes`),
        // 3 UTF-8 bytes a character: short as a string, long as bytes.
        () => invalid('€'.repeat(Math.ceil(maxBytes / 3) + 1), `${what} a string of ${Math.ceil(maxBytes / 3) + 1} '€' (over ${maxBytes} UTF-8 bytes)`),
      );
    }
    return rng.pick(odd)();
  }

  writeOptions(): Arg {
    const rng = this.rng;
    const r = rng.float();
    if (r < 0.6) return valid(undefined, undefined, 'no options');
    if (r < 0.7) return valid({}, undefined, '{}');
    if (r < 0.74) return valid({ sync: true }, undefined, '{ sync: true }');
    if (r < 0.8) return valid({ sync: false }, undefined, '{ sync: false }');
    if (r < 0.82) return either(null, undefined, 'null options');
    const bad: Arg[] = [invalid({ sync: 'yes' }, "{ sync: 'yes' }"), invalid({ sync: 1 }, '{ sync: 1 }'), invalid('sync', "options 'sync'"), invalid(5, 'options 5')];
    if (this.may('unknown-names')) bad.push(invalid({ synk: true }, '{ synk: true }'), invalid({ sync: true, [rng.pick(UNKNOWN_NAMES)]: 1 }, '{ sync: true } and an unknown name'));
    return rng.pick(bad);
  }

  /** The snapshot option's value, when one is given, and the model it reads. */
  snapshotOption(): { arg: Arg; model: SortedModel; closed: boolean } | undefined {
    const rng = this.rng;
    const r = rng.float();
    if (r < 0.55) return undefined;
    if (r < 0.8 && this.snapshots.length > 0) {
      const s = rng.pick(this.snapshots);
      return { arg: valid(s.snap, undefined, `the snapshot ${s.label}`), model: s.model, closed: false };
    }
    const bad: (() => { arg: Arg; model: SortedModel; closed: boolean })[] = [
      () => ({ arg: invalid({ sequence: 1 }, 'a plain object as snapshot'), model: this.model, closed: false }),
      () => ({ arg: invalid(null, 'snapshot null'), model: this.model, closed: false }),
      () => ({ arg: invalid(this.other.snapshot(), 'a snapshot of another database'), model: this.model, closed: false }),
      () => {
        const s = this.db.snapshot();
        s.release();
        return { arg: valid(s, undefined, 'a released snapshot'), model: this.model, closed: true };
      },
    ];
    if (this.may('forged')) {
      bad.push(() => ({ arg: invalid(Object.create(Snapshot.prototype), 'a forged snapshot (Object.create(Snapshot.prototype))'), model: this.model, closed: false }));
    }
    if (this.stale.length > 0) {
      // A snapshot of an earlier instance: released by its close(), and not this instance's.
      bad.push(() => ({ arg: invalid(rng.pick(this.stale), 'a snapshot of the instance before the last reopen'), model: this.model, closed: true }));
    }
    return rng.pick(bad)();
  }

  /** Read options: `{ snapshot }`, nothing, or something wrong. */
  readOptions(): { arg: Arg; model: SortedModel; closed: boolean } {
    const rng = this.rng;
    const snap = this.snapshotOption();
    const r = rng.float();
    if (r < 0.08 && this.may('unknown-names')) return { arg: invalid({ snapshott: snap?.arg.value ?? 1 }, '{ snapshott } (a misspelt name)'), model: this.model, closed: false };
    if (r < 0.1) return { arg: invalid('latest', "options 'latest'"), model: this.model, closed: false };
    if (r < 0.12) return { arg: either(null, undefined, 'null options'), model: this.model, closed: false };
    if (snap === undefined) return { arg: valid(rng.chance(0.5) ? undefined : {}, undefined, 'no snapshot'), model: this.model, closed: false };
    return { arg: { ...snap.arg, value: { snapshot: snap.arg.value } }, model: snap.model, closed: snap.closed };
  }

  // -------------------------------------------------------------------------------------------
  // Calls and their outcomes

  /** Runs `call` under the deadline; returns its result, or the error it failed with. */
  async attempt<T>(call: () => T | Promise<T>, what: string): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`hung: ${what} did not settle within ${CALL_DEADLINE_MS} ms (the event loop kept turning)`)), CALL_DEADLINE_MS);
    });
    try {
      const value = await Promise.race([Promise.resolve().then(call), deadline]);
      return { ok: true, value };
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('hung: ')) throw error;
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Checks an outcome against `expect`; true when the call succeeded. */
  judge(outcome: { ok: true } | { ok: false; error: unknown }, expect: Expect, what: string): boolean {
    const wanted = [...(expect.ok ? ['success'] : []), ...(expect.codes.length > 0 ? [`a StrataError with code ${expect.codes.join(' or ')}`] : [])].join(' or ');
    if (outcome.ok) {
      if (!expect.ok) throw new Error(`${what} succeeded; expected ${wanted}`);
      return true;
    }
    const err = outcome.error;
    if (!(err instanceof StrataError)) throw new Error(`${what} failed with ${String((err as Error)?.stack ?? err)}; expected ${wanted}`);
    if (!expect.codes.includes(err.code)) throw new Error(`${what} failed with ${err.code} (${err.message}); expected ${wanted}`);
    return false;
  }

  async call<T>(call: () => T | Promise<T>, expect: Expect, what: string): Promise<{ ok: true; value: T } | { ok: false }> {
    const outcome = await this.attempt(call, what);
    return this.judge(outcome, expect, what) ? (outcome as { ok: true; value: T }) : { ok: false };
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  /**
   * Issues one write (put, del or batch) without awaiting it; returns its promise and what it
   * does to the model if it succeeds. Now and then changes the caller's buffers right after the
   * call: the write is what they held when it was called.
   */
  issueWrite(kind: 'put' | 'del' | 'batch'): { promise: () => Promise<unknown>; expect: Expect; apply: (m: SortedModel) => void; label: string; keys: Buffer[] } {
    const rng = this.rng;
    const opts = this.writeOptions();
    const scribble = (args: Arg[]) => {
      if (!rng.chance(0.15) || !this.may('scribble')) return;
      for (const a of args) if (a.value instanceof Uint8Array && a.value.length > 0) a.value.fill(0x7a);
    };
    if (kind === 'put' || kind === 'del') {
      const key = this.key();
      const value = kind === 'put' ? this.value() : undefined;
      const args = value ? [key, value, opts] : [key, opts];
      const label = `${kind}(${key.label}${value ? `, ${value.label}` : ''}, ${opts.label})`;
      const p = kind === 'put' ? this.db.put(key.value as never, value!.value as never, opts.value as never) : this.db.del(key.value as never, opts.value as never);
      scribble([key, ...(value ? [value] : [])]);
      return {
        promise: () => p,
        expect: expectOf(args),
        apply: (m) => (value ? m.set(key.bytes!, value.bytes!) : m.delete(key.bytes!)),
        label,
        keys: key.bytes ? [key.bytes] : [],
      };
    }
    const ops: { type: string; key: Arg; value: Arg | undefined; extra?: Arg }[] = [];
    const n = rng.range(0, 8);
    for (let i = 0; i < n; i++) {
      if (rng.chance(0.75)) ops.push({ type: 'put', key: this.key(), value: this.value() });
      else ops.push({ type: 'del', key: this.key(), value: undefined });
    }
    let shapeArg: Arg | undefined;
    const raw: unknown[] = ops.map((o) => (o.type === 'put' ? { type: o.type, key: o.key.value, value: o.value!.value } : { type: o.type, key: o.key.value }));
    let payload: unknown = raw;
    const r = rng.float();
    if (r < 0.03) {
      payload = rng.pick([null, 'ops', { length: 1, 0: { type: 'put', key: 'a', value: 'b' } }, 7]);
      shapeArg = invalid(payload, 'operations that are not an array');
    } else if (r < 0.1 && raw.length > 0) {
      const at = rng.int(raw.length);
      const broken = rng.pick<[unknown, string]>([
        [null, 'a null operation'],
        [{ type: 'PUT', key: 'a', value: 'b' }, "type 'PUT'"],
        [{ type: 'put', key: 'a' }, 'a put without a value'],
        [{ type: 'put', key: 'a', vlaue: 'b' }, "a put with 'vlaue' for value (so without a value)"],
        [{ type: 'merge', key: 'a', value: 'b' }, "type 'merge'"],
        [{ key: 'a', value: 'b' }, 'an operation without a type'],
      ]);
      raw[at] = broken[0];
      shapeArg = invalid(payload, `operation ${at} is ${broken[1]}`);
    }
    const args: Arg[] = [...ops.flatMap((o) => (o.value ? [o.key, o.value] : [o.key])), opts, ...(shapeArg ? [shapeArg] : [])];
    const label = `batch of ${ops.length} [${ops.map((o) => `${o.type} ${o.key.label}${o.value ? ` = ${o.value.label}` : ''}`).join('; ')}]${shapeArg ? ` where ${shapeArg.label}` : ''}, ${opts.label}`;
    const p = this.db.batch(payload as never, opts.value as never);
    scribble(ops.flatMap((o) => (o.value ? [o.key, o.value] : [o.key])));
    return {
      promise: () => p,
      expect: expectOf(args),
      apply: (m) => {
        for (const o of ops) if (o.value) m.set(o.key.bytes!, o.value.bytes!);
        else m.delete(o.key.bytes!);
      },
      label,
      keys: ops.flatMap((o) => (o.key.bytes ? [o.key.bytes] : [])),
    };
  }

  async write(kind: 'put' | 'del' | 'batch'): Promise<string> {
    const w = this.issueWrite(kind);
    if ((await this.call(w.promise, w.expect, w.label)).ok) w.apply(this.model);
    else {
      // A failed write changed nothing.
      for (const k of w.keys) {
        const got = this.db.getSync(k);
        const want = this.model.get(k);
        if (!(got === undefined ? want === undefined : want !== undefined && got.equals(want))) {
          throw new Error(`after the failed ${w.label}: getSync(${show(k)}) gives ${show(got)}, expected ${show(want)} (this call failed, so it changed nothing, or an earlier call stored what the model does not hold)`);
        }
      }
    }
    return w.label;
  }

  /** The iterator options to try: mostly a valid range, sometimes with one thing wrong. */
  iteratorOptions(): { arg: Arg; range: RangeOptions; model: SortedModel; closed: boolean; snapshot: TakenSnapshot | undefined } {
    const rng = this.rng;
    const o: Record<string, unknown> = {};
    const range: RangeOptions = {};
    const parts: string[] = [];
    const args: Arg[] = [];
    const bound = (lower: boolean) => {
      const name = lower ? (rng.chance(0.5) ? 'gt' : 'gte') : rng.chance(0.5) ? 'lt' : 'lte';
      const k = rng.chance(0.9) ? this.passBytes(this.keyBytes(), name) : absentOk(this.oddInput(name, MAX_KEY_BYTES));
      o[name] = k.value;
      if (k.bytes !== undefined) range[name as 'gt'] = k.bytes;
      args.push(k);
      parts.push(k.label);
    };
    if (rng.chance(0.6)) bound(true);
    if (rng.chance(0.6)) bound(false);
    if (rng.chance(0.4)) {
      o['reverse'] = true;
      range.reverse = true;
      parts.push('reverse');
    }
    const r = rng.float();
    if (r < 0.08) range.limit = o['limit'] = -1;
    else if (r < 0.12) range.limit = o['limit'] = 0;
    else if (r < 0.15) o['limit'] = Infinity;
    else if (r < 0.4) range.limit = o['limit'] = rng.range(1, 20);
    if (o['limit'] !== undefined) parts.push(`limit: ${String(o['limit'])}`);
    const snap = this.snapshotOption();
    let snapshot: TakenSnapshot | undefined;
    if (snap) {
      o['snapshot'] = snap.arg.value;
      args.push(snap.arg);
      parts.push(snap.arg.label);
      snapshot = this.snapshots.find((s) => s.snap === snap.arg.value);
    }
    // One thing wrong, now and then.
    if (rng.chance(0.15)) {
      const wrong = rng.pick<[string, unknown, string]>([
        ...(this.may('unknown-names')
          ? ([
              ['limt', 5, 'limt: 5 (a misspelt name)'],
              ['revers', true, 'revers: true (a misspelt name)'],
              [rng.pick(UNKNOWN_NAMES), 1, 'an unknown name'],
              ['gt', null, 'gt: null'],
              ['lte', null, 'lte: null'],
            ] as [string, unknown, string][])
          : []),
        ['limit', -2, 'limit: -2'],
        ['limit', 1.5, 'limit: 1.5'],
        ['limit', NaN, 'limit: NaN'],
        ['limit', '5', "limit: '5'"],
        ['limit', -Infinity, 'limit: -Infinity'],
        ['reverse', 'yes', "reverse: 'yes'"],
        ['reverse', 1, 'reverse: 1'],
      ]);
      o[wrong[0]] = wrong[1];
      args.push(invalid(wrong[1], wrong[2]));
      parts.push(wrong[2]);
    } else if (rng.chance(0.04) && (o['gt'] !== undefined || o['lt'] !== undefined)) {
      if (o['gt'] !== undefined) o['gte'] = o['gt'];
      else o['lte'] = o['lt'];
      args.push(invalid(undefined, 'both bounds of one side'));
      parts.push('and the other bound of that side too');
    }
    const e = expectOf(args);
    const verdict = e.ok ? (e.codes.length ? 'either' : 'valid') : 'invalid';
    return {
      arg: { value: o, verdict, bytes: undefined, label: `{ ${parts.join(', ')} }` },
      range,
      model: snap?.model ?? this.model,
      closed: snap?.closed ?? false,
      snapshot,
    };
  }

  async openIterator(): Promise<{ it: OpenIterator | undefined; label: string }> {
    const rng = this.rng;
    let o = this.iteratorOptions();
    if (rng.chance(0.03)) {
      const [value, label, verdict] = rng.pick<[unknown, string, 'invalid' | 'either']>([
        ['gte', "options 'gte'", 'invalid'],
        [null, 'options null', 'either'],
        [[], 'options []', 'either'],
      ]);
      o = { ...o, arg: { value, verdict, bytes: undefined, label }, range: {}, model: this.model, closed: false, snapshot: undefined };
    }
    const label = `iterator(${o.arg.label})`;
    const expect = expectOf([o.arg], o.closed);
    if (o.closed) expect.ok = false;
    const got = await this.call(() => this.db.iterator(o.arg.value as never), expect, label);
    if (!got.ok) return { it: undefined, label };
    const limit = o.range.limit === undefined || o.range.limit < 0 ? Infinity : o.range.limit;
    return {
      it: { it: got.value, entries: o.model.range({ ...o.range, limit: -1 }), reverse: o.range.reverse ?? false, limit, pos: 0, returned: 0, label: `${label} at op ${this.opIndex}`, snapshot: o.snapshot },
      label,
    };
  }

  modelNext(m: OpenIterator): [Buffer, Buffer] | undefined {
    if (m.returned >= m.limit) return undefined;
    const e = m.entries[m.pos];
    if (e === undefined) return undefined;
    m.pos++;
    m.returned++;
    return e;
  }

  modelSeek(m: OpenIterator, target: Buffer): void {
    let at = 0;
    while (at < m.entries.length) {
      const c = Buffer.compare(m.entries[at]![0], target);
      if (m.reverse ? c <= 0 : c >= 0) break;
      at++;
    }
    m.pos = at;
  }

  /** One call on an open iterator: next, nextSync, nextv (with a good or bad count), seek (good or bad target). */
  async stepIterator(m: OpenIterator): Promise<string> {
    const rng = this.rng;
    const r = rng.float();
    if (r < 0.3) {
      const sync = rng.chance(0.5);
      const got = await this.call(() => (sync ? m.it.nextSync() : m.it.next()), expectOf([]), `${m.label}: ${sync ? 'nextSync' : 'next'}()`);
      const want = this.modelNext(m);
      if (got.ok) assertEntries(got.value ? [got.value] : [], want ? [want] : [], `${m.label}: ${sync ? 'nextSync' : 'next'}()`);
      return `${sync ? 'nextSync' : 'next'}() on ${m.label}`;
    }
    if (r < 0.6) {
      const n = rng.float() < 0.8 || !this.may('nextv-count') ? valid(rng.range(0, 8), undefined, '') : rng.pick([invalid(-1, ''), invalid('3', ''), invalid(NaN, ''), invalid(1.5, ''), invalid(null, ''), invalid(undefined, ''), either(Infinity, undefined, '')]);
      const what = `${m.label}: nextv(${typeof n.value === 'string' ? `'${n.value}'` : String(n.value)})`;
      const got = await this.call(() => m.it.nextv(n.value as number), expectOf([n]), what);
      if (got.ok) {
        const want: [Buffer, Buffer][] = [];
        for (let e; want.length < (n.value as number) && (e = this.modelNext(m)) !== undefined; ) want.push(e);
        assertEntries(got.value, want, what);
      }
      return what;
    }
    if (r < 0.9) {
      const target = this.key('seek target');
      const what = `${m.label}: seek(${target.label})`;
      const got = await this.call(() => m.it.seek(target.value as never), expectOf([target]), what);
      if (got.ok) this.modelSeek(m, target.bytes!);
      return what;
    }
    const what = `${m.label}: close()`;
    await this.closeIterator(m);
    return what;
  }

  async closeIterator(m: OpenIterator): Promise<void> {
    this.iterators.splice(this.iterators.indexOf(m), 1);
    await this.call(() => m.it.close(), expectOf([]), `${m.label}: close()`);
    await this.call(() => m.it.close(), expectOf([]), `${m.label}: close() a second time`);
    const after = this.rng.pick<[() => unknown, string]>([
      [() => m.it.next(), 'next()'],
      [() => m.it.nextSync(), 'nextSync()'],
      [() => m.it.nextv(2), 'nextv(2)'],
      [() => m.it.seek('a'), "seek('a')"],
    ]);
    await this.call(after[0], { ok: false, codes: ['CLOSED'] }, `${m.label}: ${after[1]} after close()`);
  }

  async step(name: OpName): Promise<string> {
    const rng = this.rng;
    switch (name) {
      case 'put':
      case 'del':
      case 'batch':
        return this.write(name);
      case 'burst': {
        // Concurrent writes take effect in call order.
        const writes: ReturnType<FuzzRun['issueWrite']>[] = [];
        for (let i = rng.range(2, 10); i > 0; i--) writes.push(this.issueWrite(rng.pick(['put', 'put', 'del', 'batch'] as const)));
        const outcomes = await Promise.all(writes.map((w) => this.attempt(w.promise, w.label)));
        outcomes.forEach((o, i) => {
          if (this.judge(o, writes[i]!.expect, `${writes[i]!.label} (concurrent write ${i} of ${writes.length})`)) writes[i]!.apply(this.model);
        });
        return `${writes.length} concurrent writes`;
      }
      case 'get': {
        const key = this.key();
        const ro = this.readOptions();
        const sync = rng.chance(0.4);
        const what = `${sync ? 'getSync' : 'get'}(${key.label}, ${ro.arg.label})`;
        const expect = expectOf([key, ro.arg], ro.closed);
        if (ro.closed) expect.ok = false;
        const got = await this.call(() => (sync ? this.db.getSync(key.value as never, ro.arg.value as never) : this.db.get(key.value as never, ro.arg.value as never)), expect, what);
        if (got.ok) {
          const want = ro.model.get(key.bytes!);
          const same = got.value === undefined || want === undefined ? got.value === want : Buffer.compare(got.value, want) === 0;
          if (!same) throw new Error(`${what}: got ${show(got.value)}, expected ${show(want)}`);
        }
        return what;
      }
      case 'iterate': {
        const { it, label } = await this.openIterator();
        if (it === undefined) return label;
        const got: [Buffer, Buffer][] = [];
        await this.call(async () => {
          for await (const e of it.it) got.push(e);
        }, expectOf([]), `${label}: reading to the end`);
        const want: [Buffer, Buffer][] = [];
        for (let e = this.modelNext(it); e !== undefined; e = this.modelNext(it)) want.push(e);
        assertEntries(got, want, label);
        return `${label}: ${got.length} entries`;
      }
      case 'openIterator': {
        if (this.iterators.length >= 4) return 'skip';
        const { it, label } = await this.openIterator();
        if (it) this.iterators.push(it);
        return label;
      }
      case 'stepIterator': {
        if (this.iterators.length === 0) return 'skip';
        return this.stepIterator(rng.pick(this.iterators));
      }
      case 'closeIterator': {
        if (this.iterators.length === 0) return 'skip';
        const m = rng.pick(this.iterators);
        await this.closeIterator(m);
        return `close ${m.label}`;
      }
      case 'snapshot': {
        if (this.snapshots.length >= 5) return 'skip';
        const got = await this.call(() => this.db.snapshot(), expectOf([]), 'snapshot()');
        if (got.ok) this.snapshots.push({ snap: got.value, model: this.model.clone(), label: `of op ${this.opIndex}` });
        return 'snapshot()';
      }
      case 'release': {
        if (this.snapshots.length === 0) return 'skip';
        const s = rng.pick(this.snapshots);
        this.snapshots.splice(this.snapshots.indexOf(s), 1);
        await this.call(() => s.snap.release(), expectOf([]), `release() of the snapshot ${s.label}`);
        await this.call(() => s.snap.release(), expectOf([]), `release() of the snapshot ${s.label} a second time`);
        // An iterator opened on it keeps reading at it.
        return `release the snapshot ${s.label}`;
      }
      case 'flush':
        await this.call(() => this.db.flush(), expectOf([]), 'flush()');
        return 'flush()';
      case 'compactRange': {
        const start = rng.chance(0.4) ? valid(undefined, undefined, 'undefined') : absentOk(this.key('start'));
        const end = rng.chance(0.4) ? valid(undefined, undefined, 'undefined') : absentOk(this.key('end'));
        const what = `compactRange(${start.label}, ${end.label})`;
        await this.call(() => this.db.compactRange(start.value as never, end.value as never), expectOf([start, end]), what);
        return what;
      }
      case 'overlap': {
        if (!this.may('overlap')) return 'skip';
        // Maintenance calls that overlap: two compactRange() calls, or a flush() and a
        // compactRange() a few milliseconds apart.
        const gapMs = rng.int(8);
        const first = rng.pick(['flush', 'compactRange'] as const);
        const what = `${first}() and compactRange() ${gapMs} ms apart`;
        const a = this.db[first]();
        await new Promise((resolve) => setTimeout(resolve, gapMs));
        const b = this.db.compactRange();
        await this.call(() => Promise.all([a, b]), expectOf([]), what);
        return what;
      }
      case 'stats': {
        const got = await this.call(() => this.db.stats(), expectOf([]), 'stats()');
        if (got.ok && got.value.openIterators !== this.iterators.length) {
          throw new Error(`stats().openIterators is ${got.value.openIterators}, expected ${this.iterators.length}`);
        }
        return 'stats()';
      }
      case 'reopen':
        return this.reopen();
    }
  }

  /**
   * Closes the database (with iterators and snapshots open), checks that every call on the old
   * instance fails with CLOSED, tries opens that must fail, reopens and checks everything.
   */
  async reopen(): Promise<string> {
    const rng = this.rng;
    const iterators = this.iterators;
    const old = this.db;
    this.iterators = [];
    this.stale.push(...this.snapshots.map((s) => s.snap));
    if (this.stale.length > 8) this.stale.splice(0, this.stale.length - 8);
    this.snapshots = [];
    await this.call(() => old.close(), expectOf([]), 'close()');
    await this.call(() => old.close(), expectOf([]), 'close() a second time');
    for (const m of iterators) await this.call(() => m.it.next(), { ok: false, codes: ['CLOSED'] }, `${m.label}: next() after the database closed`);
    const afterClose = rng.pick<[() => unknown, string]>([
      [() => old.put('a', 'b'), 'put()'],
      [() => old.del('a'), 'del()'],
      [() => old.batch([{ type: 'del', key: 'a' }]), 'batch()'],
      [() => old.get('a'), 'get()'],
      [() => old.getSync('a'), 'getSync()'],
      [() => old.iterator(), 'iterator()'],
      [() => old.snapshot(), 'snapshot()'],
      [() => old.flush(), 'flush()'],
      [() => old.compactRange(), 'compactRange()'],
      [() => old.stats(), 'stats()'],
    ]);
    await this.call(afterClose[0], { ok: false, codes: ['CLOSED'] }, `${afterClose[1]} after close()`);
    if (rng.chance(0.5)) {
      const otherShards = this.data.shards === 1 ? 4 : 1;
      const [location, options, label] = rng.pick<[string, unknown, string]>([
        [this.dir, { ...this.options, memtableByte: 65536 }, '{ memtableByte } (a misspelt name)'],
        ...(this.may('forged')
          ? ([
              [this.dir, { ...this.options, fs: {} }, 'fs: {}'],
              [`${this.dir}\0x`, this.options, 'a location with a NUL byte'],
            ] as [string, unknown, string][])
          : []),
        [this.dir, { ...this.options, shards: otherShards }, `shards: ${otherShards} (not the recorded count)`],
        [this.dir, { ...this.options, shards: 0 }, 'shards: 0'],
        [this.dir, { ...this.options, errorIfExists: true }, 'errorIfExists: true'],
        [this.dir, { ...this.options, sync: 'yes' }, "sync: 'yes'"],
        [this.dir, { ...this.options, memtableBytes: 1000 }, 'memtableBytes: 1000'],
        [this.dir, 'fast', "options 'fast'"],
      ]);
      await this.call(() => open(location, options as never), { ok: false, codes: ['INVALID_ARGUMENT'] }, `open() with ${label}`);
    }
    const reopened = await this.call(() => open(this.dir, this.options), expectOf([]), 'open()');
    if (!reopened.ok) throw new Error('unreachable');
    this.db = reopened.value;
    await this.call(() => open(this.dir, this.options), { ok: false, codes: ['LOCKED'] }, 'a second open() of the open directory');
    await this.checkAll('after reopen');
    return 'close and reopen';
  }

  async checkAll(when: string): Promise<void> {
    const scan = await this.call(async () => {
      const got: [Buffer, Buffer][] = [];
      for await (const e of this.db.iterator()) got.push(e);
      return got;
    }, expectOf([]), `a full scan ${when}`);
    if (scan.ok) assertEntries(scan.value, this.model.range(), `a full scan ${when}`);
    for (const k of this.model.keys()) {
      const got = this.db.getSync(k);
      if (got === undefined || !got.equals(this.model.get(k)!)) throw new Error(`getSync(${show(k)}) ${when}: got ${show(got)}, expected ${show(this.model.get(k))}`);
    }
  }

  async run(): Promise<string> {
    this.db = await open(this.dir, this.options);
    this.other = await open(this.otherDir, { memtableBytes: 65536, compactionWorkers: 0 });
    try {
      for (this.opIndex = 0; this.opIndex < this.data.ops; this.opIndex++) {
        const name = this.rng.weighted(OP_WEIGHTS);
        this.progress(`#${this.opIndex} ${name}`);
        let done: string;
        try {
          done = await this.step(name);
        } catch (err) {
          (err as Error).message = `op ${this.opIndex} (${name}): ${(err as Error).message}`;
          throw err;
        }
        if (done !== 'skip') this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
      }
      this.progress('the final reopen');
      await this.reopen();
      const stats = this.db.stats();
      return `${this.model.size} keys, ${stats.flushes} flushes, ${stats.compactions} compactions; ${[...this.counts].map(([k, n]) => `${k} ${n}`).join(', ')}`;
    } finally {
      // After a failure, close() may hang too: that must not hide the failure.
      await this.attempt(() => this.db.close(), 'close() after the run').catch(() => undefined);
      await this.attempt(() => this.other.close(), 'close() of the other database').catch(() => undefined);
    }
  }
}

workload<FuzzData>(async (data, progress) => {
  const dir = makeTempDir('strata-fuzz-');
  const otherDir = makeTempDir('strata-fuzz-other-');
  try {
    return await new FuzzRun(data, dir, otherDir, progress).run();
  } finally {
    if (process.env['STRATA_KEEP_DIRS']) console.error(`kept ${dir}`);
    else {
      removeDir(dir);
      removeDir(otherDir);
    }
  }
});
