// The one error class of stratadb. Callers branch on `code`, which is stable across
// versions; messages are free text and may change.

export type ErrorCode =
  | 'INVALID_ARGUMENT' // the caller broke a documented precondition; nothing was written
  | 'CLOSED' // the database, iterator or snapshot was closed or released
  | 'LOCKED' // another handle, in this process or another, owns the directory
  | 'CORRUPTION' // bytes on disk failed a check; the message names file and offset
  | 'IO_ERROR' // the operating system failed a call; `errno` holds its code
  | 'NOT_SUPPORTED' // a format version or feature this build does not know
  | 'NOT_FOUND' // a database directory that does not exist with createIfMissing: false
  | 'OUT_OF_RANGE' // a change feed's `since` is older than the logs still retained
  | 'CONFLICT' // a transaction's reads or a conditional write's condition no longer held; nothing was written
  | 'READ_ONLY'; // a write through a database that only a replication stream may change (a replica); nothing was written

export class StrataError extends Error {
  readonly code: ErrorCode;
  /** The operating system's error code (for example `ENOSPC`) when code is IO_ERROR. */
  readonly errno: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; errno?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StrataError';
    this.code = code;
    this.errno = options.errno;
  }
}

export const invalidArgument = (message: string): StrataError =>
  new StrataError('INVALID_ARGUMENT', message);

export const closedError = (what: string): StrataError =>
  new StrataError('CLOSED', `${what} is closed`);

export const conflictError = (message: string): StrataError => new StrataError('CONFLICT', message);

/** Bytes read from `file` at `offset` failed the check described by `what`. */
export const corruption = (file: string, offset: number, what: string): StrataError =>
  new StrataError('CORRUPTION', `${file}@${offset}: ${what}`);

/**
 * The operating system's error code that `err` carries (node:fs and the addon set `code`, such
 * as ENOSPC), or undefined: Node's own codes (ERR_INVALID_ARG_TYPE, ...) are not errnos.
 */
export function osErrno(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * Wraps an error thrown by a file-system call as IO_ERROR; keeps the errno for callers that
 * branch on it. An IO_ERROR passes through; another StrataError (a CLOSED file, a short read)
 * keeps its own errno, or EIO: its code is not an errno. So does a cause without an errno.
 */
export function ioError(op: string, path: string, cause: unknown): StrataError {
  if (cause instanceof StrataError && cause.code === 'IO_ERROR') return cause;
  const errno = (cause instanceof StrataError ? cause.errno : osErrno(cause)) ?? 'EIO';
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new StrataError('IO_ERROR', `${op} ${path}: ${detail}`, { cause, errno });
}

/** Trips only on a bug in stratadb itself, never on caller input or disk contents. */
export function invariant(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`stratadb invariant violated: ${what}`);
}
