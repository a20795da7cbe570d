// The one loader of the native addon (native/stratadb_io.c, built by node-gyp at install into
// build/Release/stratadb_io.node). Each call in `native` is undefined when the addon is missing,
// fails to load, reports another ABI version, or is turned off by STRATADB_NATIVE; its callers
// (src/base/fs.ts) then take the JavaScript fallback. Nothing else imports the addon.
//
// STRATADB_NATIVE, read once at load:
//   unset or "1"   every call the addon has
//   "0"            none: the fallback everywhere, as where the addon cannot build
//   "a,b"          only the calls named (for benchmarks that weigh one call at a time)

import { createRequire } from 'node:module';
import { constants } from 'node:os';

/** The version of the addon's exports this loader speaks; native/stratadb_io.c's ABI_VERSION. */
const ABI_VERSION = 1;
const ADDON_PATH = '../../../build/Release/stratadb_io.node';

export interface NativeCalls {
  /** pwritev(2) of every chunk at `position`, then fdatasync(2): one thread-pool job. */
  appendAndSync(fd: number, chunks: readonly Uint8Array[], position: number): Promise<number>;
  /** fallocate(2) mode 0: allocates and extends the file to at least offset + length. */
  fallocate(fd: number, offset: number, length: number): Promise<void>;
}

export type NativeCallName = keyof NativeCalls;
export const NATIVE_CALL_NAMES: readonly NativeCallName[] = ['appendAndSync', 'fallocate'];

export interface NativeIoStatus {
  /** 'loaded': the addon is in use (for the calls in `calls`); otherwise why it is not. */
  readonly addon: 'loaded' | 'disabled' | 'missing' | 'abi-mismatch';
  /** The native calls in use; every other call runs its JavaScript fallback. */
  readonly calls: readonly NativeCallName[];
  /** Why the addon is not in use, when it is not (a load error's message). */
  readonly reason?: string;
}

interface Addon extends NativeCalls {
  abiVersion: number;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * The addon's errors carry a numeric `errno`; give them the `code` node:fs errors have (ENOSPC,
 * EBADF, ...) so that ioError() keeps it.
 */
function withCode(err: unknown): unknown {
  const errno = (err as { errno?: unknown } | null)?.errno;
  if (err instanceof Error && typeof errno === 'number') Object.assign(err, { code: errnoNames.get(errno) ?? 'EIO' });
  return err;
}

/** The addon's call `name`, its errors given their errno's name as `code`. */
function wrap(addon: Addon, name: NativeCallName): unknown {
  const call = addon[name] as (...args: unknown[]) => unknown;
  return (...args: unknown[]) => {
    try {
      const result = call(...args);
      return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(withCode(err))) : result;
    } catch (err) {
      throw withCode(err);
    }
  };
}

function load(): { calls: Partial<NativeCalls>; status: NativeIoStatus } {
  const setting = process.env['STRATADB_NATIVE']?.trim() ?? '';
  if (setting === '0') return { calls: {}, status: { addon: 'disabled', calls: [], reason: 'STRATADB_NATIVE=0' } };
  const wanted = setting === '' || setting === '1' ? NATIVE_CALL_NAMES : NATIVE_CALL_NAMES.filter((n) => setting.split(',').includes(n));
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (err) {
    return { calls: {}, status: { addon: 'missing', calls: [], reason: err instanceof Error ? err.message : String(err) } };
  }
  if (addon.abiVersion !== ABI_VERSION) {
    const reason = `the addon speaks ABI ${String(addon.abiVersion)}, this build ${ABI_VERSION}: rebuild it (npm install)`;
    return { calls: {}, status: { addon: 'abi-mismatch', calls: [], reason } };
  }
  const calls: Partial<Record<NativeCallName, unknown>> = {};
  for (const name of wanted) if (typeof addon[name] === 'function') calls[name] = wrap(addon, name);
  return { calls: calls as Partial<NativeCalls>, status: { addon: 'loaded', calls: Object.keys(calls) as NativeCallName[] } };
}

const loaded = load();

/** The native calls in use; an undefined call means: use the JavaScript fallback. */
export const native: Readonly<Partial<NativeCalls>> = loaded.calls;

/** Which native calls are in use, for stats, tests and benchmarks. */
export const nativeIo: NativeIoStatus = loaded.status;
