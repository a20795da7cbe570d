// Merge operators: how a key's Merge entries (ValueKind.Merge, each one operand) combine with
// the value beneath them. A database has at most one operator, chosen at open and recorded by
// name in every shard's MANIFEST (a reopen with another one is refused): the bytes of the
// operands mean something only to the operator that wrote them.
//
// Reads, iterators and compactions apply a key's operands in sequence order, oldest first, on
// top of its newest Put below them (or of nothing, after a Delete or at the bottom):
//   value = fullMerge(key, base | undefined, [operand_oldest, ..., operand_newest])
// Compaction may first fold consecutive operands into one with partialMerge, which must
// then satisfy fullMerge(k, b, [...xs, ...ys]) = fullMerge(k, b, [...xs, partialMerge(k, ys)])
// for every split; an operator that cannot fold a run returns undefined and its operands are
// kept as they are. Both functions must be pure and deterministic: the same operands give the
// same bytes on every thread, at every read, before and after a compaction.
//
// Built in:
// - 'add': a signed 64-bit counter. The value and every operand are 8 bytes, little-endian,
//   two's complement. A missing value counts as 0, and so does a value that is not 8 bytes (a
//   put of something else under the key); sums wrap around modulo 2^64 (as int64 arithmetic
//   in C does, without the undefined behaviour). db.merge() also takes the operand as a
//   bigint in [-2^63, 2^63) or a safe-integer number.
// - 'lww': a last-writer-wins register. An operand is an 8-byte big-endian timestamp followed
//   by the payload; the operand with the highest timestamp wins, ties broken by the payload's
//   bytes (unsigned, a shorter prefix first): the winner is the greatest operand in plain
//   byte order, so replicas that apply one set of operands in any order agree. A read returns
//   the winning operand whole, timestamp included. A Put under the key takes part as one more
//   operand when it is at least 8 bytes long, and is ignored otherwise.
// - user-defined: `{ module, export }`, the URL of an ES module and the name of its export, an
//   object `{ name, fullMerge, partialMerge? }`. The URL (not the function) is what crosses to
//   the compaction worker threads, which import the module themselves; `name` is recorded.

import { compareBytes } from './bytes.js';
import { invalidArgument } from './errors.js';

export interface MergeOperator {
  /** Recorded in the database; a reopen must name the same operator. */
  readonly name: string;
  /** The value of `key`: `operands` (oldest first, at least one) applied on top of `existing`. */
  fullMerge(key: Uint8Array, existing: Uint8Array | undefined, operands: readonly Uint8Array[]): Uint8Array;
  /** One operand equivalent to `operands` (oldest first, at least two), or undefined when there is none. */
  partialMerge?(key: Uint8Array, operands: readonly Uint8Array[]): Uint8Array | undefined;
  /**
   * Built-ins only: converts what db.merge() was given into an operand, or throws
   * INVALID_ARGUMENT. Absent: the operand is any key-like value (bytes or a string).
   */
  toOperand?(input: unknown, what: string): Uint8Array;
}

/**
 * Which operator, as plain data: what the options resolve to and what crosses postMessage to
 * the worker threads (each loads the operator from it with loadMergeOperator()).
 */
export type MergeOperatorSpec = { builtin: 'add' | 'lww' } | { module: string; export: string };

export const BUILTIN_MERGE_OPERATORS = ['add', 'lww'] as const;

/** The spec that option `mergeOperator` describes; INVALID_ARGUMENT when it describes none. */
export function toMergeOperatorSpec(v: unknown, name: string): MergeOperatorSpec | undefined {
  if (v === undefined) return undefined;
  if (v === 'add' || v === 'lww') return { builtin: v };
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'module' && k !== 'export') throw invalidArgument(`unknown option ${name}.${k}; known: module, export`);
    const module = o['module'] instanceof URL ? o['module'].href : o['module'];
    const exported = o['export'] ?? 'default';
    if (typeof module !== 'string' || !URL.canParse(module)) {
      throw invalidArgument(`option ${name}.module must be an absolute URL (a string or a URL, such as import.meta.resolve('./my-op.js')), got ${String(module)}`);
    }
    if (typeof exported !== 'string' || exported.length === 0) throw invalidArgument(`option ${name}.export must be a non-empty string`);
    return { module, export: exported };
  }
  throw invalidArgument(`option ${name} must be 'add', 'lww' or { module, export }, got ${String(v)}`);
}

/** The operator `spec` names: a built-in, or the user's module imported (INVALID_ARGUMENT when it is not one). */
export async function loadMergeOperator(spec: MergeOperatorSpec): Promise<MergeOperator> {
  if ('builtin' in spec) return spec.builtin === 'add' ? ADD : LWW;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec.module)) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`merge operator module ${spec.module} could not be imported: ${(err as Error).message}`);
  }
  const op = mod[spec.export] as Partial<MergeOperator> | undefined;
  const where = `merge operator ${spec.module}#${spec.export}`;
  if (typeof op !== 'object' || op === null) throw invalidArgument(`${where} is not an object { name, fullMerge, partialMerge? }`);
  const { name, fullMerge, partialMerge } = op;
  if (typeof name !== 'string' || name.length === 0) throw invalidArgument(`${where} has no name (a non-empty string)`);
  if ((BUILTIN_MERGE_OPERATORS as readonly string[]).includes(name)) throw invalidArgument(`${where} is named ${JSON.stringify(name)}, the name of a built-in operator`);
  if (typeof fullMerge !== 'function') throw invalidArgument(`${where} has no fullMerge function`);
  if (partialMerge !== undefined && typeof partialMerge !== 'function') throw invalidArgument(`${where}: partialMerge is not a function`);
  return {
    name,
    fullMerge: (key, existing, operands) => checkResult(where, fullMerge.call(op, key, existing, operands)),
    ...(partialMerge === undefined
      ? {}
      : { partialMerge: (key: Uint8Array, operands: readonly Uint8Array[]) => {
          const r = partialMerge.call(op, key, operands);
          return r === undefined ? undefined : checkResult(where, r);
        } }),
  };
}

function checkResult(where: string, r: unknown): Uint8Array {
  // A bug of the operator, not of the caller's input; it surfaces on the read or compaction
  // that ran it.
  if (!(r instanceof Uint8Array)) throw new TypeError(`${where} returned ${typeof r}, not a Uint8Array`);
  return r;
}

/**
 * The value of a key whose newest visible versions are Merge entries: `operandsNewestFirst`
 * (as a reader walking down the versions collects them) applied on top of `base`.
 */
export function resolveOperands(op: MergeOperator, key: Uint8Array, base: Uint8Array | undefined, operandsNewestFirst: Uint8Array[]): Uint8Array {
  return op.fullMerge(key, base, operandsNewestFirst.slice().reverse());
}

// --- 'add' ------------------------------------------------------------------------------------

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function readInt64(bytes: Uint8Array | undefined): bigint {
  if (bytes === undefined || bytes.length !== 8) return 0n;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, true);
}

function int64Bytes(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt.asIntN(64, n), true);
  return out;
}

const ADD: MergeOperator = {
  name: 'add',
  fullMerge(_key, existing, operands) {
    let sum = readInt64(existing);
    for (const o of operands) sum += readInt64(o);
    return int64Bytes(sum);
  },
  partialMerge(_key, operands) {
    let sum = 0n;
    for (const o of operands) sum += readInt64(o);
    return int64Bytes(sum);
  },
  toOperand(input, what) {
    if (typeof input === 'bigint') {
      if (input < INT64_MIN || input > INT64_MAX) throw invalidArgument(`${what} ${input}n is outside the signed 64-bit range of the 'add' operator`);
      return int64Bytes(input);
    }
    if (typeof input === 'number') {
      if (!Number.isSafeInteger(input)) throw invalidArgument(`${what} must be a safe integer for the 'add' operator, got ${input}`);
      return int64Bytes(BigInt(input));
    }
    if (input instanceof Uint8Array) {
      if (input.length !== 8) throw invalidArgument(`${what} must be 8 bytes (a little-endian int64) for the 'add' operator, got ${input.length}`);
      return input;
    }
    throw invalidArgument(`${what} for the 'add' operator must be a bigint, a safe integer or 8 bytes`);
  },
};

// --- 'lww' ------------------------------------------------------------------------------------

const LWW_TIMESTAMP_BYTES = 8;

function greatest(operands: readonly Uint8Array[], start: Uint8Array | undefined): Uint8Array | undefined {
  let best = start;
  for (const o of operands) if (best === undefined || compareBytes(o, best) > 0) best = o;
  return best;
}

const LWW: MergeOperator = {
  name: 'lww',
  fullMerge(_key, existing, operands) {
    const base = existing !== undefined && existing.length >= LWW_TIMESTAMP_BYTES ? existing : undefined;
    return greatest(operands, base)!;
  },
  partialMerge(_key, operands) {
    return greatest(operands, undefined);
  },
  toOperand(input, what) {
    if (!(input instanceof Uint8Array)) throw invalidArgument(`${what} for the 'lww' operator must be a Uint8Array (timestamp and payload)`);
    const bytes = input;
    if (bytes.length < LWW_TIMESTAMP_BYTES) throw invalidArgument(`${what} for the 'lww' operator must start with an 8-byte big-endian timestamp, got ${bytes.length} bytes`);
    return bytes;
  },
};
