// Folding merge operands in a compaction. Within one stripe (job.ts: the versions of a key
// that no reader tells apart), only the stripe's newest version is ever read, and its value is
// what the operator makes of the stripe's operands, newest first, down to a Put or Delete:
//   - a run of operands that reaches a Put or Delete in the same stripe becomes one Put (full
//     merge), at the newest operand's seq; the Put or Delete and everything older in the
//     stripe go (rule 1);
//   - a run that ends with the key, when nothing of the key lies below the output (the
//     tombstone rule's test), becomes one Put too: nothing is beneath it;
//   - any other run (the stripe ends first, or older versions may lie below the output)
//     stays a Merge: one operand (partial merge) at the newest seq, or every operand with its
//     own seq when the operator cannot fold them.
// Runs never cross a stripe: a snapshot between two operands keeps seeing its own value.

import { copyBytes, invariant, ValueKind, type MergeOperator, type SeqNum } from '../base/index.js';

/** An entry to write, for the key of the run. */
export interface FoldedEntry {
  seq: SeqNum;
  kind: ValueKind;
  value: Uint8Array;
}

export class MergeFold {
  readonly #op: MergeOperator | undefined;
  /** Operands of the run, newest first, with their seqs (copies: the cursor moves on). */
  #operands: Uint8Array[] = [];
  #seqs: SeqNum[] = [];
  #stripe = -1;
  /** Operands folded away (no longer stored). */
  folded = 0;

  constructor(op: MergeOperator | undefined) {
    this.#op = op;
  }

  /** Whether a run is open. */
  get active(): boolean {
    return this.#operands.length > 0;
  }

  /** The stripe of the open run. */
  get stripe(): number {
    return this.#stripe;
  }

  /** Opens a run with the newest version of its stripe, a Merge. REQUIRES: no run open. */
  start(stripe: number, seq: SeqNum, operand: Uint8Array): void {
    invariant(this.#op !== undefined, 'a merge operand in a compaction without a merge operator');
    this.#stripe = stripe;
    this.#operands = [copyBytes(operand)];
    this.#seqs = [seq];
  }

  /**
   * The next older version of the run's key in the run's stripe. A Merge joins the run
   * (undefined returned); a Put or Delete closes it as one Put, returned.
   */
  add(key: Uint8Array, seq: SeqNum, kind: ValueKind, value: Uint8Array): FoldedEntry | undefined {
    if (kind === ValueKind.Merge) {
      this.#operands.push(copyBytes(value));
      this.#seqs.push(seq);
      return undefined;
    }
    // The run's operands become one entry, and the Put or Delete goes with them.
    this.folded += this.#operands.length;
    return this.#resolve(key, kind === ValueKind.Put ? value : undefined);
  }

  /** Closes the run at the end of its stripe: `bottom` when nothing older of the key exists anywhere. */
  finish(key: Uint8Array, bottom: boolean): FoldedEntry[] {
    const n = this.#operands.length;
    if (bottom) {
      this.folded += n - 1;
      return [this.#resolve(key, undefined)];
    }
    const seqs = this.#seqs;
    const operands = this.#operands;
    this.#operands = [];
    if (n === 1) return [{ seq: seqs[0]!, kind: ValueKind.Merge, value: operands[0]! }];
    const folded = this.#op!.partialMerge?.(key, operands.slice().reverse());
    if (folded !== undefined) {
      this.folded += n - 1;
      return [{ seq: seqs[0]!, kind: ValueKind.Merge, value: folded }];
    }
    return operands.map((value, i) => ({ seq: seqs[i]!, kind: ValueKind.Merge, value }));
  }

  #resolve(key: Uint8Array, base: Uint8Array | undefined): FoldedEntry {
    const operands = this.#operands;
    this.#operands = [];
    const value = this.#op!.fullMerge(key, base, operands.reverse());
    return { seq: this.#seqs[0]!, kind: ValueKind.Put, value };
  }
}
