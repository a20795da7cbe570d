/**
 * FaultInjectingFileSystem: a FileSystem for crash tests, yours and stratadb's own. It passes
 * every call to a real FileSystem (NodeFileSystem by default) and remembers what a power cut
 * would keep; it can also fail a chosen call with an errno or tear a write.
 *
 * The model of durability (as RocksDB's FaultInjectionTestFS):
 * - File contents. Files grow by appends. Each file has `syncedBytes`: the bytes appended
 *   when a WritableFile.sync() that resolved was called. Files this object did not create
 *   count as synced whole. appendAndSync() is an append, then a sync (two calls in `ops`).
 * - File length. preallocate() makes a file longer with zeros past its appended bytes, and
 *   trimToSize() cuts those zeros off; either is durable at the next sync(), which records the
 *   file's length as `syncedLength`. Appends into preallocated zeros that were never synced
 *   are zeros again after a power cut.
 * - Directory entries. Every create (createWritable, lock of a new file, link), rename, unlink,
 *   mkdir and removeDir is logged as an un-synced operation of its directory (for a rename: the directory of
 *   the destination). syncDir(dir) makes the operations logged in `dir` before the call
 *   durable: they leave the log.
 * - powerCut() makes the directory tree look as a power cut would leave it: it replays the log
 *   backwards, undoing each operation
 *     create  → the file is removed (a file it truncated comes back; for a link: the new
 *               name goes, the file keeps its other names)
 *     rename  → the file goes back to its old name (a file it replaced comes back)
 *     unlink  → the file comes back
 *     mkdir   → the directory is removed, with everything in it
 *     rmdir   → the (empty) directory comes back
 *   then cuts every file back to its syncedBytes (zeros up to its syncedLength, if that is
 *   longer). A file that comes back has the bytes it held
 *   durably when it was unlinked or replaced: they are kept in memory until the operation is
 *   durable (this is for tests with files of megabytes, not gigabytes).
 *   With the option keepUnsynced, a file keeps that many of its unsynced bytes besides (the
 *   kernel may have written some back before the power went): a torn tail, then.
 * - tearNextWrite(atByte): the next append writes only its first `atByte` bytes, and those
 *   bytes, with everything before them in the file, reach the disk (the kernel was writing the
 *   file back when the power went); then the power is cut.
 *
 * After a power cut this object is dead for good: every call on it, or on a file or lock it
 * handed out, fails with IO_ERROR (errno EIO), its descriptors are closed and its locks
 * released. Reopen the directory with a new FaultInjectingFileSystem, or with the real one;
 * whatever the old database instance still runs cannot touch the disk any more.
 *
 * Faults are thrown as NodeFileSystem throws an operating-system error: a StrataError with
 * code IO_ERROR whose `errno` is the injected code (ENOSPC, EIO, ...) and whose `cause` is an
 * Error with that `.code`, as node:fs gives it.
 *
 * With `{ syncs: 'simulated' }` sync() and syncDir() only move the model's marks and reach no
 * disk: what a power cut keeps is the same (the model decides it, not the disk), and a test
 * that syncs often runs many times faster. A machine that really loses power then keeps less.
 *
 * REQUIRES: the wrapped FileSystem keeps files at their real paths (NodeFileSystem, or a
 * wrapper of it): powerCut() rewrites them with node:fs.
 */

import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { invalidArgument, ioError, NodeFileSystem, StrataError, type FileLock, type FileSystem, type RandomAccessFile, type WritableFile } from '../base/index.js';

/**
 * The calls of FileSystem, WritableFile (append, sync, close, preallocate, trimToSize;
 * appendAndSync is recorded as append then sync), RandomAccessFile (read, close) and FileLock
 * (release).
 */
export type FsOpName =
  | 'createWritable'
  | 'openReadable'
  | 'readFile'
  | 'rename'
  | 'unlink'
  | 'syncDir'
  | 'mkdir'
  | 'readdir'
  | 'exists'
  | 'lock'
  | 'append'
  | 'sync'
  | 'close'
  | 'read'
  | 'release'
  | 'preallocate'
  | 'trimToSize'
  | 'syncFile'
  | 'link'
  | 'removeDir';

/**
 * One call, as the trace records it: its name, its path (a rename's source; `to` its
 * destination), and `fault`: the errno injected into it, 'TORN' for a torn append, or
 * 'POWER_CUT' for the call the power went off at.
 */
export interface FsOp {
  op: FsOpName;
  path: string;
  to?: string;
  fault?: string;
}

/**
 * Which calls a rule applies to: a predicate, or the call names and a path pattern (a RegExp,
 * or a string the path must contain), both optional.
 */
export type OpMatcher = { op?: FsOpName | readonly FsOpName[]; path?: RegExp | string } | ((op: FsOp) => boolean);

/** The calls that can change what a power cut leaves: the crash points of a sweep. */
export const MUTATING_OPS: readonly FsOpName[] = ['createWritable', 'append', 'sync', 'rename', 'unlink', 'syncDir', 'mkdir', 'preallocate', 'trimToSize', 'syncFile', 'link', 'removeDir'];

/** Matches the calls in MUTATING_OPS. */
export const mutatingOps: OpMatcher = { op: MUTATING_OPS };

/** errno numbers of the codes tests inject, as node:fs reports them on Linux. */
const ERRNO_NUMBERS: Record<string, number> = { EIO: -5, ENOSPC: -28, EROFS: -30, EDQUOT: -122, EACCES: -13, EBADF: -9 };

interface FileNode {
  path: string;
  /** Appended bytes a power cut keeps. */
  syncedBytes: number;
  /** Bytes appended so far, for a file written through this object. */
  appendedBytes?: number;
  /** The length a power cut leaves at least, zeros past syncedBytes (see the model). */
  syncedLength: number;
}

/** A file's durable bytes, kept to bring it back when the unlink or rename that dropped it is undone. */
interface Saved {
  node: FileNode;
  bytes: Uint8Array;
}

type DirOp =
  | { kind: 'create'; seq: number; dir: string; path: string; node: FileNode; replaced: Saved | undefined }
  | { kind: 'rename'; seq: number; dir: string; from: string; to: string; node: FileNode; replaced: Saved | undefined }
  | { kind: 'unlink'; seq: number; dir: string; path: string; saved: Saved }
  | { kind: 'mkdir'; seq: number; dir: string; path: string }
  | { kind: 'rmdir'; seq: number; dir: string; path: string };

interface FailRule {
  match: OpMatcher | undefined;
  /** Matching calls still to let through before failing. */
  skip: number;
  /** Matching calls still to fail. */
  times: number;
  errno: string;
}

export interface PowerCutOptions {
  /**
   * How many bytes past its synced size each surviving file keeps, given its path and its
   * unsynced byte count (clamped to 0..unsynced). Default: none.
   */
  keepUnsynced?: (file: string, unsyncedBytes: number) => number;
}

export interface FaultInjectingOptions {
  /**
   * 'real' (default): sync() and syncDir() call the wrapped FileSystem. 'simulated': they only
   * update the model (faster; see above).
   */
  syncs?: 'real' | 'simulated';
}

/** What the file and lock handles need of their file system; kept off its public surface. */
interface Channel {
  readonly realSyncs: boolean;
  poweredOff(): boolean;
  /** Records a call and decides its fate (see #admit). */
  admit(op: FsOpName, file: string): void;
  /** Runs a call, counted in flight; `body` gets the byte a tear cuts an append at. */
  run<T>(op: FsOpName, file: string, body: (tearAt: number | undefined) => Promise<T>): Promise<T>;
  /** A torn append's prefix is on the disk: makes it durable and cuts the power. */
  tore(node: FileNode, size: number): void;
  forget(handle: FaultWritableFile | FaultReadableFile): void;
}

export class FaultInjectingFileSystem implements FileSystem {
  readonly #base: FileSystem;
  readonly #channel: Channel;
  /** Every path this object has touched → its file; paths not here are synced whole. */
  readonly #files = new Map<string, FileNode>();
  /** Un-synced directory operations, oldest first. */
  #dirLog: DirOp[] = [];
  #dirSeq = 0;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #writables = new Set<FaultWritableFile>();
  readonly #readables = new Set<FaultReadableFile>();
  readonly #locks = new Set<HeldLock>();
  #failRules: FailRule[] = [];
  #cutRule: { match: OpMatcher | undefined; remaining: number; options: PowerCutOptions } | undefined;
  #tearRule: { match: OpMatcher | undefined; atByte: number } | undefined;
  #dead = false;
  #cut: Promise<void> | undefined;
  #cutDone!: () => void;
  readonly #whenCut: Promise<void>;
  #faults = 0;
  readonly #ops: FsOp[] = [];

  constructor(base: FileSystem = new NodeFileSystem(), options: FaultInjectingOptions = {}) {
    if (options.syncs !== undefined && options.syncs !== 'real' && options.syncs !== 'simulated') {
      throw invalidArgument(`option syncs must be 'real' or 'simulated', got ${String(options.syncs)}`);
    }
    this.#base = base;
    this.#whenCut = new Promise((resolve) => (this.#cutDone = resolve));
    this.#channel = {
      realSyncs: options.syncs !== 'simulated',
      poweredOff: () => this.#dead,
      admit: (op, file) => void this.#admit(op, file),
      run: (op, file, body) => this.#run(op, file, body),
      tore: (node, size) => {
        node.syncedBytes = Math.max(node.syncedBytes, size);
        void this.powerCut();
      },
      forget: (handle) => {
        this.#writables.delete(handle as FaultWritableFile);
        this.#readables.delete(handle as FaultReadableFile);
      },
    };
  }

  /** Every call made while the power was on, in order. */
  get ops(): readonly FsOp[] {
    return this.#ops;
  }

  /** Calls made while the power was on (the length of `ops`). */
  get opCount(): number {
    return this.#ops.length;
  }

  /** Calls failed by failAfter(), plus the tear, plus the call the power went off at. */
  get faultsInjected(): number {
    return this.#faults;
  }

  /** Whether the power is off (a cut has started). */
  get poweredOff(): boolean {
    return this.#dead;
  }

  /**
   * The `n`th following call that `match` accepts (every call by default) fails with `errno`,
   * and so do the `times - 1` matching calls after it (default 1; Infinity: until
   * clearFaults(), as a disk that stays full). A failed call does nothing. REQUIRES: n >= 1.
   */
  failAfter(n: number, errno = 'EIO', match?: OpMatcher, options: { times?: number } = {}): void {
    const times = options.times ?? 1;
    if (!Number.isInteger(n) || n < 1) throw invalidArgument(`failAfter: n must be an integer >= 1, got ${n}`);
    if (!/^E[A-Z0-9]+$/.test(errno)) throw invalidArgument(`failAfter: ${errno} is not an errno code`);
    if (!(times >= 1)) throw invalidArgument(`failAfter: times must be >= 1, got ${times}`);
    this.#failRules.push({ match, skip: n - 1, times, errno });
  }

  /**
   * The next append that `match` accepts writes only its first `atByte` bytes; those and
   * everything before them in the file reach the disk, the append fails with EIO, and the power
   * is cut (see whenPowerCut()).
   */
  tearNextWrite(atByte: number, match?: OpMatcher): void {
    if (!Number.isInteger(atByte) || atByte < 0) throw invalidArgument(`tearNextWrite: atByte must be an integer >= 0, got ${atByte}`);
    this.#tearRule = { match, atByte };
  }

  /**
   * Lets the next `n` calls that `match` accepts (every call by default) run, and cuts the
   * power at the one after: that call and every later one fail. Use mutatingOps to count crash
   * points. The cut completes asynchronously: await whenPowerCut().
   */
  cutPowerAfter(n: number, match?: OpMatcher, options: PowerCutOptions = {}): void {
    if (!Number.isInteger(n) || n < 0) throw invalidArgument(`cutPowerAfter: n must be an integer >= 0, got ${n}`);
    this.#cutRule = { match, remaining: n, options };
  }

  /** Forgets every pending failAfter(), tearNextWrite() and cutPowerAfter() (space came back). */
  clearFaults(): void {
    this.#failRules = [];
    this.#tearRule = undefined;
    this.#cutRule = undefined;
  }

  /**
   * Cuts the power now: refuses every call from here on, waits for the calls in flight, closes
   * every file and releases every lock, and leaves the directories as a power cut would (see
   * the model above). Idempotent: later calls return the first cut.
   */
  powerCut(options: PowerCutOptions = {}): Promise<void> {
    if (this.#cut === undefined) {
      this.#dead = true;
      this.#cut = this.#doCut(options).finally(() => this.#cutDone());
    }
    return this.#cut;
  }

  /** Resolves once a power cut, however it was started, has left the directories as it would. */
  whenPowerCut(): Promise<void> {
    return this.#whenCut;
  }

  // ------------------------------------------------------------------------------------------
  // FileSystem

  createWritable(file: string): Promise<WritableFile> {
    const p = path.resolve(file);
    return this.#run('createWritable', p, async () => {
      const replaced = this.#exists(p) ? this.#save(p) : undefined;
      const real = await this.#base.createWritable(p);
      const node: FileNode = { path: p, syncedBytes: 0, syncedLength: 0 };
      this.#files.set(p, node);
      this.#log({ kind: 'create', dir: path.dirname(p), path: p, node, replaced });
      const handle = new FaultWritableFile(this.#channel, real, node);
      this.#writables.add(handle);
      return handle;
    });
  }

  openReadable(file: string): RandomAccessFile {
    const p = path.resolve(file);
    this.#admit('openReadable', p);
    const handle = new FaultReadableFile(this.#channel, this.#base.openReadable(p));
    this.#readables.add(handle);
    return handle;
  }

  readFile(file: string): Promise<Uint8Array> {
    const p = path.resolve(file);
    return this.#run('readFile', p, () => this.#base.readFile(p));
  }

  rename(from: string, to: string): Promise<void> {
    const f = path.resolve(from);
    const t = path.resolve(to);
    return this.#run('rename', f, async () => {
      const node = this.#nodeAt(f);
      const replaced = this.#exists(t) ? this.#save(t) : undefined;
      await this.#base.rename(f, t);
      this.#files.delete(f);
      if (node !== undefined) {
        node.path = t;
        this.#files.set(t, node);
        this.#log({ kind: 'rename', dir: path.dirname(t), from: f, to: t, node, replaced });
      }
    }, t);
  }

  unlink(file: string): Promise<void> {
    const p = path.resolve(file);
    return this.#run('unlink', p, async () => {
      const saved = this.#exists(p) ? this.#save(p) : undefined;
      await this.#base.unlink(p);
      this.#files.delete(p);
      if (saved !== undefined) this.#log({ kind: 'unlink', dir: path.dirname(p), path: p, saved });
    });
  }

  /**
   * As link(2) through the wrapped FileSystem (which must have link()). The new name shares the
   * file: a power cut leaves it the bytes the file keeps under its first name, which should be
   * synced whole (stratadb links only finished tables).
   */
  link(existing: string, newPath: string): Promise<void> {
    const e = path.resolve(existing);
    const n = path.resolve(newPath);
    return this.#run('link', e, async () => {
      if (this.#base.link === undefined) throw injected('EPERM', 'link', e);
      await this.#base.link(e, n);
      const source = this.#nodeAt(e)!;
      const node: FileNode = { path: n, syncedBytes: source.syncedBytes, syncedLength: source.syncedLength };
      this.#files.set(n, node);
      this.#log({ kind: 'create', dir: path.dirname(n), path: n, node, replaced: undefined });
    }, n);
  }

  syncDir(dir: string): Promise<void> {
    const d = path.resolve(dir);
    return this.#run('syncDir', d, async () => {
      const upTo = this.#dirSeq;
      if (this.#channel.realSyncs) await this.#base.syncDir(d);
      this.#dirLog = this.#dirLog.filter((op) => op.dir !== d || op.seq >= upTo);
    });
  }

  /** As a WritableFile's sync() of everything appended to `file` so far, through any handle. */
  syncFile(file: string): Promise<void> {
    const p = path.resolve(file);
    return this.#run('syncFile', p, async () => {
      if (this.#channel.realSyncs) await this.#base.syncFile(p);
      const node = this.#nodeAt(p);
      if (node === undefined) return; // not written through this object: synced whole already
      node.syncedBytes = Math.max(node.syncedBytes, node.appendedBytes ?? node.syncedBytes);
      node.syncedLength = Math.max(node.syncedLength, nodeFs.statSync(p).size);
    });
  }

  mkdir(dir: string): Promise<void> {
    const d = path.resolve(dir);
    return this.#run('mkdir', d, async () => {
      const created: string[] = [];
      for (let at = d; !nodeFs.existsSync(at); at = path.dirname(at)) created.unshift(at);
      await this.#base.mkdir(d);
      for (const c of created) this.#log({ kind: 'mkdir', dir: path.dirname(c), path: c });
    });
  }

  /** As rmdir(2) through the wrapped FileSystem (which must have removeDir()). */
  removeDir(dir: string): Promise<void> {
    const d = path.resolve(dir);
    return this.#run('removeDir', d, async () => {
      if (this.#base.removeDir === undefined) throw injected('EPERM', 'removeDir', d);
      const existed = this.#exists(d);
      await this.#base.removeDir(d);
      if (existed) this.#log({ kind: 'rmdir', dir: path.dirname(d), path: d });
    });
  }

  readdir(dir: string): Promise<string[]> {
    const d = path.resolve(dir);
    return this.#run('readdir', d, () => this.#base.readdir(d));
  }

  exists(file: string): Promise<boolean> {
    const p = path.resolve(file);
    return this.#run('exists', p, () => this.#base.exists(p));
  }

  lock(file: string): Promise<FileLock> {
    const p = path.resolve(file);
    return this.#run('lock', p, async () => {
      const isNew = !this.#exists(p);
      const real = await this.#base.lock(p);
      if (isNew) {
        const node: FileNode = { path: p, syncedBytes: 0, syncedLength: 0 };
        this.#files.set(p, node);
        this.#log({ kind: 'create', dir: path.dirname(p), path: p, node, replaced: undefined });
      }
      const held: HeldLock = { real, released: false };
      this.#locks.add(held);
      return {
        release: () => {
          // After a power cut the lock is already released: releasing it again is a no-op.
          if (held.released || this.#dead) return Promise.resolve();
          return this.#run('release', p, async () => {
            held.released = true;
            this.#locks.delete(held);
            await real.release();
          });
        },
      };
    });
  }

  // ------------------------------------------------------------------------------------------
  // Internals shared with the file handles

  /**
   * Records call `op` and decides its fate before it runs: throws IO_ERROR when the power is
   * off, when the call cuts the power, or when a failAfter() rule picks it. Returns the byte a
   * tearNextWrite() tears it at (appends only), else undefined.
   */
  #admit(op: FsOpName, file: string, to?: string): number | undefined {
    if (this.#dead) throw powerOff(op, file);
    const call: FsOp = to === undefined ? { op, path: file } : { op, path: file, to };
    this.#ops.push(call);
    const cut = this.#cutRule;
    if (cut !== undefined && matches(cut.match, call)) {
      if (cut.remaining === 0) {
        call.fault = 'POWER_CUT';
        this.#faults++;
        void this.powerCut(cut.options);
        throw powerOff(op, file);
      }
      cut.remaining--;
    }
    for (const rule of this.#failRules) {
      if (rule.times <= 0 || !matches(rule.match, call)) continue;
      if (rule.skip > 0) {
        rule.skip--;
        continue;
      }
      rule.times--;
      call.fault = rule.errno;
      this.#faults++;
      throw injected(rule.errno, op, file);
    }
    const tear = this.#tearRule;
    if (op === 'append' && tear !== undefined && matches(tear.match, call)) {
      this.#tearRule = undefined;
      call.fault = 'TORN';
      this.#faults++;
      return tear.atByte;
    }
    return undefined;
  }

  #run<T>(op: FsOpName, file: string, body: (tearAt: number | undefined) => Promise<T>, to?: string): Promise<T> {
    let tearAt: number | undefined;
    try {
      tearAt = this.#admit(op, file, to);
    } catch (err) {
      return Promise.reject(err);
    }
    const done = body(tearAt);
    const tracked = done.catch(() => undefined);
    this.#inFlight.add(tracked);
    void tracked.then(() => this.#inFlight.delete(tracked));
    return done;
  }

  #log(op: DistributiveOmit<DirOp, 'seq'>): void {
    this.#dirLog.push({ ...op, seq: this.#dirSeq++ } as DirOp);
  }

  #exists(p: string): boolean {
    return nodeFs.existsSync(p);
  }

  /** The file at `p`, tracked from now on; undefined when there is none. */
  #nodeAt(p: string): FileNode | undefined {
    let node = this.#files.get(p);
    if (node === undefined && this.#exists(p)) {
      const size = nodeFs.statSync(p).size;
      node = { path: p, syncedBytes: size, syncedLength: size };
      this.#files.set(p, node);
    }
    return node;
  }

  /** The durable bytes of the file at `p` (which exists). */
  #save(p: string): Saved {
    const node = this.#nodeAt(p)!;
    const bytes = Buffer.alloc(Math.max(node.syncedBytes, node.syncedLength));
    const fd = nodeFs.openSync(p, 'r');
    try {
      let at = 0;
      while (at < node.syncedBytes) {
        const n = nodeFs.readSync(fd, bytes, at, node.syncedBytes - at, at);
        if (n === 0) break;
        at += n;
      }
    } finally {
      nodeFs.closeSync(fd);
    }
    return { node, bytes };
  }

  async #doCut(options: PowerCutOptions): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
    for (const f of this.#writables) await f.closeReal();
    for (const f of this.#readables) f.closeReal();
    this.#writables.clear();
    this.#readables.clear();
    for (const held of this.#locks) {
      held.released = true;
      await held.real.release().catch(() => undefined);
    }
    this.#locks.clear();
    for (let i = this.#dirLog.length - 1; i >= 0; i--) this.#undo(this.#dirLog[i]!);
    this.#dirLog = [];
    for (const [p, node] of this.#files) {
      let length: number;
      try {
        length = nodeFs.statSync(p).size;
      } catch {
        continue;
      }
      const appended = node.appendedBytes ?? length;
      const unsynced = appended - node.syncedBytes;
      const kept = unsynced <= 0 ? 0 : Math.max(0, Math.min(unsynced, Math.floor(options.keepUnsynced?.(p, unsynced) ?? 0) || 0));
      const keptBytes = Math.min(appended, node.syncedBytes + kept);
      const keptLength = Math.max(keptBytes, node.syncedLength);
      if (appended > keptBytes && keptLength > keptBytes) zeroRange(p, keptBytes, Math.min(appended, keptLength));
      if (length !== keptLength) nodeFs.truncateSync(p, keptLength);
    }
    this.#files.clear();
  }

  #undo(op: DirOp): void {
    switch (op.kind) {
      case 'create':
        nodeFs.rmSync(op.path, { force: true });
        if (this.#files.get(op.path) === op.node) this.#files.delete(op.path);
        if (op.replaced !== undefined) this.#restore(op.path, op.replaced);
        return;
      case 'rename':
        if (this.#exists(op.to)) {
          nodeFs.renameSync(op.to, op.from);
          if (this.#files.get(op.to) === op.node) this.#files.delete(op.to);
          op.node.path = op.from;
          this.#files.set(op.from, op.node);
        }
        if (op.replaced !== undefined) this.#restore(op.to, op.replaced);
        return;
      case 'unlink':
        this.#restore(op.path, op.saved);
        return;
      case 'rmdir':
        nodeFs.mkdirSync(op.path, { recursive: true });
        return;
      case 'mkdir':
        nodeFs.rmSync(op.path, { recursive: true, force: true });
        for (const p of [...this.#files.keys()]) if (p.startsWith(op.path + path.sep)) this.#files.delete(p);
        return;
    }
  }

  #restore(p: string, saved: Saved): void {
    nodeFs.writeFileSync(p, saved.bytes);
    saved.node.path = p;
    saved.node.syncedBytes = saved.bytes.length;
    saved.node.syncedLength = saved.bytes.length;
    delete saved.node.appendedBytes;
    this.#files.set(p, saved.node);
  }
}

interface HeldLock {
  readonly real: FileLock;
  released: boolean;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

class FaultWritableFile implements WritableFile {
  readonly #fs: Channel;
  readonly #real: WritableFile;
  readonly #node: FileNode;
  /** The real file's length: its size, or more after preallocate(). */
  #length = 0;
  #closed = false;

  constructor(fs: Channel, real: WritableFile, node: FileNode) {
    this.#fs = fs;
    this.#real = real;
    this.#node = node;
  }

  get path(): string {
    return this.#real.path;
  }

  get size(): number {
    return this.#real.size;
  }

  append(chunks: Uint8Array | readonly Uint8Array[]): Promise<void> {
    return this.#fs.run('append', this.path, async (tearAt) => {
      try {
        if (tearAt === undefined) return await this.#real.append(chunks);
        const whole = Buffer.concat(chunks instanceof Uint8Array ? [chunks] : (chunks as Uint8Array[]));
        const prefix = whole.subarray(0, Math.min(tearAt, whole.length));
        try {
          if (prefix.length > 0) await this.#real.append(prefix);
        } finally {
          this.#fs.tore(this.#node, this.#real.size);
        }
        throw powerOff('append', this.path);
      } finally {
        this.#node.appendedBytes = this.#real.size;
        this.#length = Math.max(this.#length, this.#real.size);
      }
    });
  }

  sync(): Promise<void> {
    return this.#fs.run('sync', this.path, async () => {
      const size = this.#real.size;
      const length = this.#length;
      if (this.#fs.realSyncs) await this.#real.sync();
      this.#node.syncedBytes = Math.max(this.#node.syncedBytes, size);
      this.#node.syncedLength = length;
    });
  }

  async appendAndSync(chunks: Uint8Array | readonly Uint8Array[]): Promise<void> {
    await this.append(chunks);
    await this.sync();
  }

  preallocate(length: number): Promise<boolean> {
    return this.#fs.run('preallocate', this.path, async () => {
      const done = (await this.#real.preallocate?.(length)) ?? false;
      if (done) this.#length = Math.max(this.#length, length);
      return done;
    });
  }

  trimToSize(): Promise<void> {
    return this.#fs.run('trimToSize', this.path, async () => {
      await this.#real.trimToSize?.();
      this.#length = this.#real.size;
    });
  }

  close(): Promise<void> {
    // After a power cut the descriptor is already closed: closing again is a no-op.
    if (this.#closed || this.#fs.poweredOff()) return Promise.resolve();
    return this.#fs.run('close', this.path, async () => {
      this.#closed = true;
      this.#fs.forget(this);
      await this.#real.close();
    });
  }

  /** Closes the real descriptor at a power cut. */
  async closeReal(): Promise<void> {
    this.#closed = true;
    await this.#real.close().catch(() => undefined);
  }
}

class FaultReadableFile implements RandomAccessFile {
  readonly #fs: Channel;
  readonly #real: RandomAccessFile;
  #closed = false;

  constructor(fs: Channel, real: RandomAccessFile) {
    this.#fs = fs;
    this.#real = real;
  }

  get path(): string {
    return this.#real.path;
  }

  get size(): number {
    return this.#real.size;
  }

  read(offset: number, length: number): Uint8Array {
    this.#fs.admit('read', this.path);
    return this.#real.read(offset, length);
  }

  readAsync(offset: number, length: number): Promise<Uint8Array> {
    try {
      this.#fs.admit('read', this.path);
      return this.#real.readAsync?.(offset, length) ?? Promise.resolve(this.#real.read(offset, length));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#fs.forget(this);
    // After the power went off the close is not a call on the file system, but the descriptor
    // is closed here: the cut closes only the readers it still holds, and this one it forgot.
    if (this.#fs.poweredOff()) return this.closeReal();
    this.#fs.admit('close', this.path);
    this.#real.close();
  }

  /** Closes the real descriptor at a power cut. */
  closeReal(): void {
    this.#closed = true;
    try {
      this.#real.close();
    } catch {
      // Nothing to do about a failed close when the power is off.
    }
  }
}

function matches(match: OpMatcher | undefined, call: FsOp): boolean {
  if (match === undefined) return true;
  if (typeof match === 'function') return match(call);
  if (match.op !== undefined) {
    const ops: readonly FsOpName[] = typeof match.op === 'string' ? [match.op] : match.op;
    if (!ops.includes(call.op)) return false;
  }
  if (match.path !== undefined) {
    if (typeof match.path === 'string' ? !call.path.includes(match.path) : !match.path.test(call.path)) return false;
  }
  return true;
}

/** An error as node:fs gives it, wrapped as NodeFileSystem wraps it. */
function injected(errno: string, op: FsOpName, file: string): StrataError {
  const cause = Object.assign(new Error(`${errno}: injected fault, ${op} '${file}'`), {
    code: errno,
    errno: ERRNO_NUMBERS[errno] ?? -5,
    syscall: op,
    path: file,
  });
  return ioError(op, file, cause);
}

/** Writes zeros over [from, to) of `file`: appends that never reached the disk. */
function zeroRange(file: string, from: number, to: number): void {
  const fd = nodeFs.openSync(file, 'r+');
  try {
    const zeros = Buffer.alloc(Math.min(to - from, 1 << 20));
    for (let at = from; at < to; at += zeros.length) nodeFs.writeSync(fd, zeros, 0, Math.min(zeros.length, to - at), at);
  } finally {
    nodeFs.closeSync(fd);
  }
}

function powerOff(op: FsOpName, file: string): StrataError {
  const cause = Object.assign(new Error(`EIO: the power is off (FaultInjectingFileSystem), ${op} '${file}'`), { code: 'EIO', errno: -5, syscall: op, path: file });
  return ioError(op, file, cause);
}
