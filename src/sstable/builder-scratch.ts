// BuilderScratch: the buffers a table builder needs for the whole of a table (its bloom filter
// hashes, its staging buffer), kept from one table to the next by a thread that builds many
// (a compaction worker: src/compaction/worker.ts), instead of left to the garbage collector.
//
// Why: they live as long as a table takes to build, so the young generation's collections do
// not free them, and a worker's small heap seldom needs a major collection: about 6 MB of them
// a flush of a 64 MiB memtable piled up in each worker (30–47 MB of ArrayBuffers before a
// collection, measured with process.memoryUsage() after each job). A 3M-put fill peaked at
// 276–277 MB of RSS with them kept here against 285–301 MB without.
//
// Ownership passes with each call: a builder takes them when it starts and gives them back
// when it finished its table, so two builders at once (one takes, the other allocates) never
// share a buffer. A builder that fails gives nothing back. What is kept is bounded: buffers
// grown past the sizes below (a table of millions of tiny entries, a staged 64 MiB value) are
// left to the collector, so that a worker does not hold them for the rest of its life.

/** The largest hash array kept (a million keys), and the largest staging buffer. */
const MAX_HASHES = 1 << 20;
const MAX_STAGING_BYTES = 4 << 20;

export class BuilderScratch {
  #hashes: Uint32Array | undefined;
  #staging: Buffer | undefined;

  /** The hash array kept, if any (its contents are arbitrary). */
  takeHashes(): Uint32Array | undefined {
    const hashes = this.#hashes;
    this.#hashes = undefined;
    return hashes;
  }

  /** The staging buffer kept, if any (its contents are arbitrary). */
  takeStaging(): Buffer | undefined {
    const staging = this.#staging;
    this.#staging = undefined;
    return staging;
  }

  /** Keeps what a builder that finished its table no longer uses (the larger hash array wins). */
  give(hashes: Uint32Array, staging: Buffer | undefined): void {
    if (hashes.length <= MAX_HASHES && (this.#hashes === undefined || hashes.length > this.#hashes.length)) this.#hashes = hashes;
    if (staging !== undefined && staging.length <= MAX_STAGING_BYTES) this.#staging = staging;
  }
}
