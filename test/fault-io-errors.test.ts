// Errors of the real file system's calls (src/base/fs.ts) reach the caller as one IO_ERROR
// with the operating system's errno: on every error path, closing a descriptor included, and
// never with a code that is not an errno. A descriptor closed behind the file's back makes the
// next call on it fail with EBADF, as a failing close(2) or flock(2) would.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ioError } from '../src/base/index.js';
import { NodeFileSystem } from '../src/index.js';
import { expectCode, withTempDir } from './helpers.js';

/** The descriptor of this process open on `file`; fails unless there is exactly one. */
function descriptorOf(file: string): number {
  const fds = fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false; // the directory listing's own descriptor, gone already
    }
  });
  assert.is(fds.length, 1, `one descriptor open on ${file}`);
  return Number(fds[0]);
}

test("a readable file whose close(2) fails throws IO_ERROR with the OS's errno", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, 'table');
    fs.writeFileSync(file, 'bytes');
    const readable = new NodeFileSystem().openReadable(file);
    fs.closeSync(descriptorOf(file));
    const err = await expectCode(() => readable.close(), 'IO_ERROR', 'close() of a descriptor closed behind its back');
    assert.is(err.errno, 'EBADF');
  });
});

test("releasing a lock whose flock(2) and close(2) fail rejects with IO_ERROR and the OS's errno", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, 'LOCK');
    const lock = await new NodeFileSystem().lock(file);
    fs.closeSync(descriptorOf(file));
    const err = await expectCode(() => lock.release(), 'IO_ERROR', 'release() of a lock whose descriptor was closed behind its back');
    assert.is(err.errno, 'EBADF');
    await lock.release();
  });
});

test('an error whose code is Node\'s own (ERR_...), not an errno, is wrapped as IO_ERROR with errno EIO', () => {
  const cause = Object.assign(new Error('Initiated Worker with invalid execArgv flags'), { code: 'ERR_WORKER_INVALID_EXEC_ARGV' });
  const err = ioError('flush', '/db', cause);
  assert.is(err.code, 'IO_ERROR');
  assert.is(err.errno, 'EIO');
  assert.is(ioError('write', '/db/1.log', Object.assign(new Error('no space'), { code: 'ENOSPC' })).errno, 'ENOSPC');
});

test.run();
