// RecordBuffer: records framed (record-format.ts) straight into one growing buffer, so that a
// group commit of many small batches costs no allocation and no copy per record: the caller
// encodes each payload in place, and the group reaches the log as one contiguous write. Once
// that write is done, reset() lets the next group use the same memory.

import { invariant, viewOf } from '../base/index.js';
import { MAX_RECORD_PAYLOAD_BYTES, putRecordHeader, RECORD_HEADER_BYTES } from './record-format.js';

const INITIAL_BYTES = 64 * 1024;

export class RecordBuffer {
  #bytes: Uint8Array;
  #used = 0;
  /** Offset of the record begun and not yet sealed, or -1. */
  #open = -1;
  #openLength = 0;
  #finished = false;

  constructor(initialBytes = INITIAL_BYTES) {
    this.#bytes = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes of the records framed so far. */
  get byteLength(): number {
    return this.#used;
  }

  /** The buffer records are framed in; replaced when it grows, so fetch it after begin(). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /**
   * Starts a record with a payload of `payloadLength` bytes and returns the payload's offset
   * in `bytes`. REQUIRES: no record open, payloadLength <= MAX_RECORD_PAYLOAD_BYTES (checked).
   */
  begin(payloadLength: number): number {
    invariant(this.#open < 0 && !this.#finished, 'RecordBuffer.begin with a record open or after finish');
    invariant(payloadLength <= MAX_RECORD_PAYLOAD_BYTES, 'log record payload too large');
    const need = this.#used + RECORD_HEADER_BYTES + payloadLength;
    if (need > this.#bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#bytes.length * 2));
      grown.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = grown;
    }
    this.#open = this.#used;
    this.#openLength = payloadLength;
    this.#used = need;
    return this.#open + RECORD_HEADER_BYTES;
  }

  /** Writes the header of the open record, whose payload the caller has filled in. */
  seal(type: number): void {
    invariant(this.#open >= 0, 'RecordBuffer.seal without begin');
    const start = this.#open;
    const payloadAt = start + RECORD_HEADER_BYTES;
    putRecordHeader(this.#bytes, start, type, viewOf(this.#bytes, payloadAt, payloadAt + this.#openLength));
    this.#open = -1;
  }

  /**
   * Drops the open record, as if begin() had not been called: for an encoder that threw part
   * way, so that one bad record does not leave the buffer unusable for every later one.
   */
  abandon(): void {
    invariant(this.#open >= 0, 'RecordBuffer.abandon without begin');
    this.#used = this.#open;
    this.#open = -1;
  }

  /** The framed records, handed over for one append; the buffer takes no more records. */
  finish(): Uint8Array {
    invariant(this.#open < 0, 'RecordBuffer.finish with a record open');
    this.#finished = true;
    return this.#bytes.subarray(0, this.#used);
  }

  /** Bytes the buffer holds without growing. */
  get capacity(): number {
    return this.#bytes.length;
  }

  /**
   * Empties a finished buffer for new records. REQUIRES: nothing reads what finish() returned
   * any more (its append has completed).
   */
  reset(): void {
    invariant(this.#finished, 'RecordBuffer.reset before finish');
    this.#used = 0;
    this.#open = -1;
    this.#finished = false;
  }
}
