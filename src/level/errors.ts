// The adapter's errors. abstract-level callers branch on `code` (an uppercase LEVEL_* string);
// where stratadb has a code with a Level counterpart, the adapter rethrows it under that code
// and keeps the StrataError as `cause`. Codes without a counterpart (INVALID_ARGUMENT,
// NOT_FOUND, NOT_SUPPORTED, CLOSED, CONFLICT) reach the caller as the StrataError itself: they
// are stable uppercase codes too. (abstract-level has no transactions or conditional writes,
// so the adapter's own calls never meet CONFLICT; it is listed for completeness.)

import { StrataError, type ErrorCode } from '../index.js';

export type LevelErrorCode =
  | 'LEVEL_LOCKED'
  | 'LEVEL_CORRUPTION'
  | 'LEVEL_IO_ERROR'
  | 'LEVEL_INVALID_KEY'
  | 'LEVEL_INVALID_VALUE'
  | 'LEVEL_ABORTED'
  | 'LEVEL_DATABASE_NOT_OPEN';

export class LevelError extends Error {
  readonly code: LevelErrorCode;

  constructor(code: LevelErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LevelError';
    this.code = code;
  }
}

/** An iterator read whose `signal` fired. Named AbortError, as the web platform's. */
export class AbortError extends LevelError {
  constructor() {
    super('LEVEL_ABORTED', 'the read was aborted through its signal');
    this.name = 'AbortError';
  }
}

const LEVEL_CODE: Partial<Record<ErrorCode, LevelErrorCode>> = {
  LOCKED: 'LEVEL_LOCKED',
  CORRUPTION: 'LEVEL_CORRUPTION',
  IO_ERROR: 'LEVEL_IO_ERROR',
};

/** The error to hand to abstract-level for `err`: a LevelError where a Level code exists. */
export function toLevelError(err: unknown): unknown {
  if (!(err instanceof StrataError)) return err;
  const code = LEVEL_CODE[err.code];
  return code === undefined ? err : new LevelError(code, err.message, { cause: err });
}

/** For `promise.catch(rethrow)`: rejects with toLevelError(err). */
export function rethrow(err: unknown): never {
  throw toLevelError(err);
}
