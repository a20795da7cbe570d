// MessageBuffers: the memory a replication publisher encodes its messages into, shared with
// its publishing thread (publish-thread.ts) and used again once a message is answered.
//
// A message crosses to the worker by postMessage. A plain Uint8Array is cloned there, and V8's
// serializer took about 180 µs for a message of 113 KB on this machine (a fresh buffer for each
// message, then the clone into the worker: about 0.4 µs of the main thread a replicated write);
// a view of a SharedArrayBuffer crosses in about 2 µs and is not copied. A fresh
// SharedArrayBuffer costs about as much as the clone, so they are kept and used again.
//
// Invariants:
// 1. A buffer is given back (give()) only once its message was answered (JetStream stored it,
//    so nothing will send its bytes again) and is written again only after that. The answer
//    comes from the one attempt to send it in flight (the publisher sends again only once every
//    publish in flight has settled), which copied the bytes before it was sent (2).
// 2. Whoever hands the bytes on to the NATS client copies them first (publish-worker.ts, and
//    the publisher publishing on its own connection): the client keeps references to what it
//    was given until it writes it out, perhaps after a reconnect, long after an answer.
// 3. Bounded: at most FREE_BUFFERS buffers wait for a message; the others are let go. A
//    message larger than BUFFER_BYTES (one write larger than the target) gets memory of its own.

import { MESSAGE_TARGET_BYTES } from './message-format.js';

/** A message ends before it would pass MESSAGE_TARGET_BYTES of writes (a write larger alone excepted): this holds one with its heads. */
const BUFFER_BYTES = MESSAGE_TARGET_BYTES + 64 * 1024;
const FREE_BUFFERS = 8;

export class MessageBuffers {
  readonly #free: SharedArrayBuffer[] = [];
  /** Plain memory a message is encoded in before share() (see scratch()). */
  #scratch = new Uint8Array(0);

  /**
   * `length` bytes of plain memory, the same each call (valid until the next): a message is
   * encoded here, then copied into shared memory by share() in one call. Encoded straight into
   * shared memory, each write's copy was a copy V8 makes with relaxed atomics, into memory last
   * touched a message or more before: about 2% of a replicating primary's main thread, against
   * one copy of the whole message.
   */
  scratch(length: number): Uint8Array {
    // A message larger than a buffer (one write over the target) gets memory of its own, not kept.
    if (length > BUFFER_BYTES) return new Uint8Array(length);
    if (this.#scratch.length === 0) this.#scratch = new Uint8Array(BUFFER_BYTES);
    return this.#scratch.subarray(0, length);
  }

  /** A copy of `bytes` in shared memory (take()). */
  share(bytes: Uint8Array): Uint8Array {
    const out = this.take(bytes.length);
    out.set(bytes);
    return out;
  }

  /** `length` bytes to encode a message into, a view of shared memory. */
  take(length: number): Uint8Array {
    if (length > BUFFER_BYTES) return new Uint8Array(new SharedArrayBuffer(length));
    return new Uint8Array(this.#free.pop() ?? new SharedArrayBuffer(BUFFER_BYTES), 0, length);
  }

  /** Takes back the buffer of an answered message (invariant 1). */
  give(bytes: Uint8Array): void {
    const buffer = bytes.buffer;
    if (buffer instanceof SharedArrayBuffer && buffer.byteLength === BUFFER_BYTES && this.#free.length < FREE_BUFFERS) this.#free.push(buffer);
  }
}
