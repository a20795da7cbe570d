// The one door to the file system. Every file operation of the engine goes through a
// FileSystem, so that a test (or a user's crash test) can swap in one that injects faults or
// forgets what was never synced. Each method says what it guarantees about durability.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import { closedError, ioError, StrataError } from './errors.js';
import { native, warnFallbackOnce, type MappedFile } from './native.js';

export interface WritableFile {
  readonly path: string;
  /** Bytes appended so far. */
  readonly size: number;
  /**
   * Appends `chunks`, in order, at the end of the file with one write(2)/writev(2). Once it
   * resolves the bytes survive a crash of this process, not a power cut: that needs sync().
   * A rejected append may have written a prefix of the bytes. REQUIRES: no other append or
   * sync of this file in flight (the caller serializes).
   */
  append(chunks: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /** fdatasync(2): every byte appended before the call is durable once it resolves. */
  sync(): Promise<void>;
  /**
   * append() then sync(): resolves once the bytes are durable. With the native addon one trip
   * through the thread pool (pwritev(2) + fdatasync(2)) instead of two. A rejection may leave a
   * prefix written and nothing synced. REQUIRES: as append(). Optional: without it, callers
   * append then sync.
   */
  appendAndSync?(chunks: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /**
   * Extends the file with zeros to at least `length` bytes, allocated on the disk (fallocate(2)),
   * without moving `size`: appends go on at `size`, over the zeros. The new length is durable
   * after the next sync(). Resolves false, changing nothing, where the file or the platform
   * cannot allocate ahead. Optional: absent means the same as false.
   */
  preallocate?(length: number): Promise<boolean>;
  /**
   * Cuts the file back to `size`, dropping the zeros preallocate() added (ftruncate(2)).
   * Durable after the next sync(). Optional: required of a file whose preallocate() can succeed.
   */
  trimToSize?(): Promise<void>;
  /** Closes the descriptor. Does not sync. Idempotent. */
  close(): Promise<void>;
}

export interface RandomAccessFile {
  readonly path: string;
  /** Size of the file when it was opened. */
  readonly size: number;
  /**
   * The open descriptor, for native calls that read it directly (src/base/native.ts); absent
   * where every read must go through read(), as in a fault-injecting file system. Throws
   * CLOSED once the file is closed (its number may name another file by then).
   */
  readonly fd?: number;
  /**
   * Reads exactly `length` bytes at `offset` with pread(2) on the calling thread.
   * A short read throws CORRUPTION naming the file and offset.
   */
  read(offset: number, length: number): Uint8Array;
  /**
   * read() on libuv's thread pool, for reads of megabytes that would hold the event loop;
   * the same errors. Optional: where absent, those reads run read() instead. REQUIRES: the
   * file is not closed before the promise settles.
   */
  readAsync?(offset: number, length: number): Promise<Uint8Array>;
  /**
   * The file mapped into memory by the native addon (native.mapFile), made on the first call
   * and unmapped by close(); undefined where the addon cannot map it (absent, or mmap(2)
   * failed: then never tried again). Optional: a file system without it is read by read().
   * REQUIRES: the handle is not used after close().
   */
  mapped?(): MappedFile | undefined;
  /** Idempotent. */
  close(): void;
}

export interface FileLock {
  /** Releases the lock and closes the lock file. Idempotent. */
  release(): Promise<void>;
}

export interface FileSystem {
  /**
   * Creates `file` empty (truncating any file of that name) for appending. The new directory
   * entry is durable only after syncDir() of its directory.
   */
  createWritable(file: string): Promise<WritableFile>;
  /** Opens an existing file for positional reads. */
  openReadable(file: string): RandomAccessFile;
  /** The whole content of `file`. */
  readFile(file: string): Promise<Uint8Array>;
  /** Atomically replaces `to` with `from`. Durable only after syncDir() of the directory. */
  rename(from: string, to: string): Promise<void>;
  /** Removes `file`; a missing file is not an error. Durable only after syncDir(). */
  unlink(file: string): Promise<void>;
  /**
   * Makes `newPath` a second name of the existing file `existing` (link(2)); its bytes are the
   * same file's, durable as far as that file's are. The new name is durable only after
   * syncDir() of its directory. Fails (IO_ERROR with errno EXDEV, EPERM, ...) where the file
   * system cannot link: callers copy instead. Optional: absent means the same as failing.
   */
  link?(existing: string, newPath: string): Promise<void>;
  /** fsync(2) of a directory: creates, renames and unlinks in it before the call are durable. */
  syncDir(dir: string): Promise<void>;
  /**
   * fdatasync(2) of an existing file through a descriptor of its own: every byte written to it
   * before the call, by anyone, is durable once it resolves.
   */
  syncFile(file: string): Promise<void>;
  /** Creates `dir` and missing parents; an existing directory is not an error. */
  mkdir(dir: string): Promise<void>;
  /**
   * Removes the empty directory `dir` (rmdir(2)); a missing one is not an error. Durable only
   * after syncDir() of its parent. Optional: tools that clean up after themselves need it.
   */
  removeDir?(dir: string): Promise<void>;
  /** Names (not paths) of the entries of `dir`. */
  readdir(dir: string): Promise<string[]>;
  exists(file: string): Promise<boolean>;
  /**
   * Creates `file` if needed and takes an exclusive, non-blocking lock on it (flock(2), or
   * without the native addon an abstract Unix socket: see NodeFileSystem). Fails at once with
   * LOCKED when it is held, in this process or another.
   */
  lock(file: string): Promise<FileLock>;
}

class NodeWritableFile implements WritableFile {
  readonly path: string;
  #fd: number;
  #size = 0;
  /** The file's length: `size` plus the zeros preallocate() added past it. */
  #length = 0;
  #closed = false;

  constructor(file: string, fd: number) {
    this.path = file;
    this.#fd = fd;
  }

  get size(): number {
    return this.#size;
  }

  // Writes are positional (at `size`): the native pwritev moves no file offset, and a
  // preallocated file is longer than what was appended. A short write (the disk filled up part
  // way) goes on with the rest: the next write then fails with the operating system's errno
  // (ENOSPC), which the caller branches on. Only a write of nothing without an errno is EIO.
  append(chunks: Uint8Array | readonly Uint8Array[]): Promise<void> {
    // After close() the descriptor number may already name another file.
    if (this.#closed) return Promise.reject(closedError(this.path));
    let rest = nonEmpty(chunks instanceof Uint8Array ? [chunks] : chunks);
    if (rest.length === 0) return Promise.resolve();
    if (byteLength(rest) <= SYNC_APPEND_MAX_BYTES) return this.#appendNow(rest);
    return new Promise((resolve, reject) => {
      const done = (err: NodeJS.ErrnoException | null, written: number) => {
        if (err) return reject(ioError('write', this.path, err));
        this.#wrote(written);
        if (written === 0) return reject(ioError('write', this.path, new Error(`wrote nothing at ${this.#size} and got no errno`)));
        rest = afterBytes(rest, written);
        if (rest.length === 0) return resolve();
        if (this.#closed) return reject(closedError(this.path));
        writeAt();
      };
      const writeAt = () => {
        if (rest.length === 1) fs.write(this.#fd, rest[0]!, 0, rest[0]!.length, this.#size, done);
        else fs.writev(this.#fd, rest, this.#size, done);
      };
      writeAt();
    });
  }

  /**
   * An append of up to SYNC_APPEND_MAX_BYTES written in the call: a positional write into the
   * page cache costs less than handing it to the thread pool and back (measured: 2.4 µs against
   * 10–14 µs for 300 bytes; for a 1,000-put batch's 125 KB, the trip took about 400 µs on two
   * busy cores, the write about 100 µs), and it holds the event loop briefly (a 1 MiB write:
   * 0.15 ms, 1.6 ms at worst measured).
   */
  #appendNow(rest: Uint8Array[]): Promise<void> {
    try {
      while (rest.length > 0) {
        const written = rest.length === 1 ? fs.writeSync(this.#fd, rest[0]!, 0, rest[0]!.length, this.#size) : fs.writevSync(this.#fd, rest, this.#size);
        this.#wrote(written);
        if (written === 0) throw ioError('write', this.path, new Error(`wrote nothing at ${this.#size} and got no errno`));
        rest = afterBytes(rest, written);
      }
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof StrataError ? err : ioError('write', this.path, err));
    }
  }

  sync(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError(this.path));
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.#fd, (err) => (err ? reject(ioError('fdatasync', this.path, err)) : resolve()));
    });
  }

  async appendAndSync(chunks: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const list = chunks instanceof Uint8Array ? [chunks] : chunks;
    if (native.appendAndSync === undefined || this.#closed) {
      await this.append(list);
      return this.sync();
    }
    try {
      this.#wrote(await native.appendAndSync(this.#fd, list, this.#size));
    } catch (err) {
      const { written, syscall } = err as { written?: number; syscall?: string };
      this.#wrote(written ?? 0);
      throw ioError(syscall === 'fdatasync' ? 'fdatasync' : 'write', this.path, err);
    }
  }

  async preallocate(length: number): Promise<boolean> {
    if (this.#closed) throw closedError(this.path);
    if (native.fallocate === undefined) return false;
    if (length <= this.#length) return true;
    try {
      await native.fallocate(this.#fd, this.#length, length - this.#length);
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code;
      if (errno === 'EOPNOTSUPP' || errno === 'ENOSYS') return false;
      // A failure part way (ENOSPC) may have extended the file: let trimToSize() cut it.
      this.#length = length;
      throw ioError('fallocate', this.path, err);
    }
    this.#length = length;
    return true;
  }

  trimToSize(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError(this.path));
    if (this.#length === this.#size) return Promise.resolve();
    return new Promise((resolve, reject) => {
      fs.ftruncate(this.#fd, this.#size, (err) => {
        if (err) return reject(ioError('ftruncate', this.path, err));
        this.#length = this.#size;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve, reject) => {
      fs.close(this.#fd, (err) => (err ? reject(ioError('close', this.path, err)) : resolve()));
    });
  }

  #wrote(bytes: number): void {
    this.#size += bytes;
    this.#length = Math.max(this.#length, this.#size);
  }
}

/**
 * An append of at most this many bytes is written in the call, not on the thread pool. On the
 * main thread 1 MiB (a commit group is at most 4 MiB; here a 1 MiB write into the page cache
 * took 0.15 ms, 1.6 ms at worst). In a worker thread (tables written by flushes and
 * compactions) 64 KiB: a worker that wrote its table's chunks in the call, its event loop never
 * turning, kept about 45 MB more of its heap resident during a 1M-put fill.
 */
const SYNC_APPEND_MAX_BYTES = isMainThread ? 1024 * 1024 : 64 * 1024;

function byteLength(chunks: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const c of chunks) bytes += c.length;
  return bytes;
}

function nonEmpty(chunks: readonly Uint8Array[]): Uint8Array[] {
  return chunks.filter((c) => c.length > 0);
}

/** What is left of `chunks` (none empty) once their first `bytes` bytes are written. */
function afterBytes(chunks: Uint8Array[], bytes: number): Uint8Array[] {
  let i = 0;
  while (i < chunks.length && bytes >= chunks[i]!.length) bytes -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  if (bytes > 0) rest[0] = rest[0]!.subarray(bytes);
  return rest;
}

const readAt = promisify(fs.read);

class NodeRandomAccessFile implements RandomAccessFile {
  readonly path: string;
  readonly size: number;
  #fd: number;
  #closed = false;
  /** The mapping once made; null when it cannot be made. */
  #mapped: MappedFile | null | undefined;

  constructor(file: string, fd: number, size: number) {
    this.path = file;
    this.#fd = fd;
    this.size = size;
  }

  get fd(): number {
    if (this.#closed) throw closedError(this.path);
    return this.#fd;
  }

  read(offset: number, length: number): Uint8Array {
    if (this.#closed) throw closedError(this.path);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    try {
      while (done < length) {
        const n = fs.readSync(this.#fd, out, done, length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      throw ioError('read', this.path, err);
    }
    if (done !== length) {
      throw new StrataError('CORRUPTION', `${this.path}@${offset}: wanted ${length} bytes, file ends after ${done}`);
    }
    return out;
  }

  async readAsync(offset: number, length: number): Promise<Uint8Array> {
    if (this.#closed) throw closedError(this.path);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await readAt(this.#fd, out, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw ioError('read', this.path, err);
    }
    if (done !== length) {
      throw new StrataError('CORRUPTION', `${this.path}@${offset}: wanted ${length} bytes, file ends after ${done}`);
    }
    return out;
  }

  mapped(): MappedFile | undefined {
    if (this.#closed) throw closedError(this.path);
    if (this.#mapped === undefined) {
      const { mapFile, unmapFile } = native;
      try {
        this.#mapped = mapFile !== undefined && unmapFile !== undefined && this.size > 0 ? mapFile(this.#fd, this.size) : null;
      } catch {
        // No address space or a file system that cannot map: read() serves every read.
        this.#mapped = null;
      }
    }
    return this.#mapped ?? undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#mapped) native.unmapFile!(this.#mapped);
    try {
      fs.closeSync(this.#fd);
    } catch (err) {
      throw ioError('close', this.path, err);
    }
  }
}

/** The real file system, through node:fs. */
export class NodeFileSystem implements FileSystem {
  createWritable(file: string): Promise<WritableFile> {
    return new Promise((resolve, reject) => {
      fs.open(file, 'w', 0o644, (err, fd) => (err ? reject(ioError('create', file, err)) : resolve(new NodeWritableFile(file, fd))));
    });
  }

  openReadable(file: string): RandomAccessFile {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      throw ioError('open', file, err);
    }
    try {
      return new NodeRandomAccessFile(file, fd, fs.fstatSync(fd).size);
    } catch (err) {
      closeQuietly(fd);
      throw ioError('fstat', file, err);
    }
  }

  async readFile(file: string): Promise<Uint8Array> {
    try {
      return await fs.promises.readFile(file);
    } catch (err) {
      throw ioError('read', file, err);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      await fs.promises.rename(from, to);
    } catch (err) {
      throw ioError('rename', from, err);
    }
  }

  async unlink(file: string): Promise<void> {
    try {
      await fs.promises.unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('unlink', file, err);
    }
  }

  async link(existing: string, newPath: string): Promise<void> {
    try {
      await fs.promises.link(existing, newPath);
    } catch (err) {
      throw ioError('link', existing, err);
    }
  }

  syncDir(dir: string): Promise<void> {
    return syncPath(dir, 'fsync');
  }

  syncFile(file: string): Promise<void> {
    return syncPath(file, 'fdatasync');
  }

  async mkdir(dir: string): Promise<void> {
    try {
      await fs.promises.mkdir(dir, { recursive: true });
    } catch (err) {
      throw ioError('mkdir', dir, err);
    }
  }

  async removeDir(dir: string): Promise<void> {
    try {
      await fs.promises.rmdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('rmdir', dir, err);
    }
  }

  async readdir(dir: string): Promise<string[]> {
    try {
      return await fs.promises.readdir(dir);
    } catch (err) {
      throw ioError('readdir', dir, err);
    }
  }

  async exists(file: string): Promise<boolean> {
    try {
      await fs.promises.access(file);
      return true;
    } catch {
      return false;
    }
  }

  async lock(file: string): Promise<FileLock> {
    let fd: number;
    let id: { dev: bigint; ino: bigint };
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    } catch (err) {
      throw ioError('open', file, err);
    }
    try {
      id = fs.fstatSync(fd, { bigint: true });
    } catch (err) {
      closeQuietly(fd);
      throw ioError('fstat', file, err);
    }
    const { flock, funlock } = native;
    const useFlock = flock !== undefined && funlock !== undefined;
    if (useFlock) {
      try {
        flock(fd);
      } catch (err) {
        closeQuietly(fd);
        const errno = (err as NodeJS.ErrnoException).code;
        if (errno === 'EWOULDBLOCK' || errno === 'EAGAIN') throw lockedError(file);
        throw ioError('flock', file, err);
      }
    } else {
      warnFallbackOnce();
    }
    let socket: net.Server | undefined;
    try {
      socket = await listenOnLockName(lockSocketName(id), file);
    } catch (err) {
      // With flock held, the socket only keeps out processes running without the addon; a
      // socket the platform refuses (not a name in use) leaves flock alone to do the work.
      const taken = err instanceof StrataError && err.code === 'LOCKED';
      if (!useFlock || taken) {
        if (useFlock) unlockQuietly(fd);
        closeQuietly(fd);
        throw err;
      }
    }
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        // close(2) drops the flock too; an unlock error is reported only if the close succeeds.
        let unlockError: unknown;
        const server = socket;
        if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
        if (useFlock) {
          try {
            funlock(fd);
          } catch (err) {
            unlockError = ioError('flock', file, err);
          }
        }
        try {
          fs.closeSync(fd);
        } catch (err) {
          throw ioError('close', file, err);
        }
        if (unlockError !== undefined) throw unlockError;
      },
    };
  }
}

// The directory lock. With the native addon it is flock(2) on the LOCK file: the kernel drops
// it when the descriptor closes or the process dies, it holds between containers of one host
// that share the directory, and on NFS (Linux turns flock into a byte-range lock there).
//
// node:fs has no flock. Without the addon the lock is a listening Unix socket in Linux's
// abstract namespace, named after the LOCK file's device and inode (so that every path to the
// directory names the same lock). Binding a name is atomic, and the kernel frees it when the
// process dies, however it dies: there is no stale lock to take over and no pid that could be
// reused, as a lock file holding a pid would have. What it does not do: keep out a process in
// another network namespace (a container with its own network, sharing the directory) or on
// another machine (a network file system), nor stop any local user from holding the name
// (which makes open() fail with LOCKED, and corrupts nothing).
//
// With the addon both are taken, so that a process with the addon and one without keep each
// other out.

function lockSocketName(id: { dev: bigint; ino: bigint }): string {
  return `\0stratadb-lock/${id.dev}/${id.ino}`;
}

function lockedError(file: string): StrataError {
  return new StrataError('LOCKED', `${path.dirname(file)} is in use by another open database (lock ${file})`);
}

/** Binds and listens on `name`; LOCKED when someone holds it. Never keeps the process alive. */
function listenOnLockName(name: string, file: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    // Nobody is meant to connect; a connection is closed at once.
    const server = net.createServer((connection) => connection.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? lockedError(file) : ioError('listen', file, err));
    });
    // exclusive: in a cluster worker, listen() would otherwise share the primary's socket, and
    // two workers would both "hold" the lock.
    server.listen({ path: name, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

function unlockQuietly(fd: number): void {
  try {
    native.funlock?.(fd);
  } catch {
    // The close that follows drops the lock too.
  }
}

/** fsync(2) or fdatasync(2) of `p` (a directory, or a file) through a descriptor of its own. */
async function syncPath(p: string, call: 'fsync' | 'fdatasync'): Promise<void> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(p, 'r');
  } catch (err) {
    throw ioError('open', p, err);
  }
  try {
    await (call === 'fsync' ? handle.sync() : handle.datasync());
  } catch (err) {
    // The sync's error is the one to report; the descriptor is closed all the same.
    await handle.close().catch(() => undefined);
    throw ioError(call, p, err);
  }
  try {
    await handle.close();
  } catch (err) {
    throw ioError('close', p, err);
  }
}

/** Closes `fd` on a path that already fails with another error, which is the one to report. */
function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // that other error says what went wrong
  }
}
