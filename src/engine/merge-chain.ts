// Reading through merge operands: a key whose newest visible version is a Merge entry has the
// value its operator makes of every operand down to the newest Put or Delete beneath them (or
// to the bottom). The read paths (Engine's point reads, DbIterator in both directions) hand
// the versions they meet to the helpers here, so the rule lives in one place.

import { copyBytes, invariant, resolveOperands, ValueKind, type MergeOperator, type SeqNum } from '../base/index.js';

/** One stored version of a key, as the point-read path finds it. */
export interface FoundVersion {
  seq: SeqNum;
  kind: ValueKind;
  value: Uint8Array;
}

function operatorOf(op: MergeOperator | undefined): MergeOperator {
  // Open refuses a database that records an operator when none is given, and merge() refuses
  // to write without one: a Merge entry with no operator is a bug.
  invariant(op !== undefined, 'a merge operand in a database without a merge operator');
  return op;
}

/**
 * The value of `key` whose newest visible version `newest` is a Merge: as a Put at the newest
 * operand's seq. `below(s)` finds the newest version at or below s, whatever its kind.
 * Operands are copied: the views a lookup returns need not outlive the next one.
 */
export function resolveMergeChain(
  op: MergeOperator | undefined,
  key: Uint8Array,
  newest: FoundVersion,
  below: (seq: SeqNum) => FoundVersion | undefined,
): FoundVersion {
  const operator = operatorOf(op);
  const operands = [copyBytes(newest.value)];
  let base: Uint8Array | undefined;
  for (let seq = newest.seq; seq > 0; ) {
    const v = below(seq - 1);
    if (v === undefined || v.kind === ValueKind.Delete) break;
    if (v.kind === ValueKind.Put) {
      base = v.value;
      break;
    }
    operands.push(copyBytes(v.value));
    seq = v.seq;
  }
  return { seq: newest.seq, kind: ValueKind.Put, value: resolveOperands(operator, key, base, operands) };
}

/**
 * A user key's visible versions, fed to it in either order, resolved to its value:
 * forward (newest first) the first Put or Delete ends the chain; in reverse (oldest first) a
 * Put or Delete restarts it. REQUIRES: one direction per use between reset()s.
 */
export class MergeCollector {
  readonly #op: MergeOperator | undefined;
  /** In the order added. */
  #operands: Uint8Array[] = [];
  #base: Uint8Array | undefined;
  #done = false;

  constructor(op: MergeOperator | undefined) {
    this.#op = op;
  }

  reset(): void {
    this.#operands = [];
    this.#base = undefined;
    this.#done = false;
  }

  /** Forward: feeds the next older version; returns true once the chain is complete (ignore the rest). */
  addOlder(kind: ValueKind, value: Uint8Array): boolean {
    if (this.#done) return true;
    if (kind === ValueKind.Merge) {
      this.#operands.push(copyBytes(value));
      return false;
    }
    if (kind === ValueKind.Put) this.#base = copyBytes(value);
    this.#done = true;
    return true;
  }

  /** Reverse: feeds the next newer version. */
  addNewer(kind: ValueKind, value: Uint8Array): void {
    if (kind === ValueKind.Merge) {
      this.#operands.push(copyBytes(value));
      return;
    }
    this.#operands = [];
    this.#base = kind === ValueKind.Put ? copyBytes(value) : undefined;
  }

  /** The value, forward: the operands were added newest first. */
  resolveNewestFirst(key: Uint8Array): Buffer {
    return Buffer.from(resolveOperands(operatorOf(this.#op), key, this.#base, this.#operands));
  }

  /** The value, in reverse: the operands were added oldest first. */
  resolveOldestFirst(key: Uint8Array): Buffer {
    return Buffer.from(operatorOf(this.#op).fullMerge(key, this.#base, this.#operands));
  }
}
