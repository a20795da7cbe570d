// Where the tools write, and how they render keys, values and sizes.
//
// Every report line goes through Output.emit(json, text): in text mode the text line is
// written, with --json the object, as one line of JSON. Diagnostics that are not part of the
// report (usage errors, a directory that cannot be read) go to the error writer as text in
// both modes.

import { StrataError } from '../base/index.js';

/** Where main() writes; each call receives one line without its newline. */
export interface ToolIO {
  out?: (line: string) => void;
  err?: (line: string) => void;
}

/** Thrown by emit() once stdout is gone (EPIPE, as with `stratadb dump x.sst | head`). */
class OutputClosed extends Error {}

let stdoutErrorsHandled = false;

/**
 * Writes to process.stdout until the reader goes away. Without an 'error' listener an EPIPE
 * would crash the process; with it, the next line finds the stream destroyed and stops the
 * report.
 */
function stdoutWriter(): (line: string) => void {
  if (!stdoutErrorsHandled) {
    stdoutErrorsHandled = true;
    process.stdout.on('error', () => {});
  }
  return (line) => {
    if (process.stdout.destroyed) throw new OutputClosed('stdout closed');
    process.stdout.write(`${line}\n`);
  };
}

export class Output {
  readonly json: boolean;
  readonly #out: (line: string) => void;
  readonly #err: (line: string) => void;

  constructor(io: ToolIO, json: boolean) {
    this.json = json;
    this.#out = io.out ?? stdoutWriter();
    this.#err = io.err ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** A report item: `json` as one line with --json, else the line or lines of `text`. */
  emit(json: Record<string, unknown>, text: string | readonly string[]): void {
    if (this.json) this.#out(JSON.stringify(json));
    else if (typeof text === 'string') this.#out(text);
    else for (const line of text) this.#out(line);
  }

  /** A text line in text mode only (headings, blank lines); nothing with --json. */
  text(line: string): void {
    if (this.json) return;
    this.#out(line);
  }

  /** A diagnostic on the error writer. */
  error(line: string): void {
    this.#err(line);
  }

  static isClosedError(err: unknown): boolean {
    return err instanceof OutputClosed;
  }
}

// Printable: valid UTF-8 with no control, unassigned, private-use or surrogate code points,
// so that the text shown (JSON-quoted) is the bytes stored and nothing else.
const NOT_PRINTABLE = /[\p{Cc}\p{Cn}\p{Co}\p{Cs}]/u;

/** The text of `bytes` when printable; `partial` allows a character cut at the end. */
function printable(bytes: Uint8Array, partial: boolean): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: partial });
  } catch {
    return undefined;
  }
  return NOT_PRINTABLE.test(text) ? undefined : text;
}

const toHex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** A byte string for JSON output: its UTF-8 text when printable, else its hex. */
export interface JsonBytes {
  utf8?: string;
  hex?: string;
  /** The full length in bytes. */
  length: number;
  /** Present when only the first maxBytes were rendered. */
  truncated?: true;
}

/** `bytes` for JSON, cut after `maxBytes` (default: never). */
export function bytesJson(bytes: Uint8Array, maxBytes = Infinity): JsonBytes {
  const cut = bytes.length > maxBytes;
  const shown = cut ? bytes.subarray(0, maxBytes) : bytes;
  const text = printable(shown, cut);
  const out: JsonBytes = text === undefined ? { hex: toHex(shown), length: bytes.length } : { utf8: text, length: bytes.length };
  if (cut) out.truncated = true;
  return out;
}

/** `bytes` for text output: "quoted text" when printable, else 0x-hex; cut after `maxBytes`. */
export function bytesText(bytes: Uint8Array, maxBytes = Infinity): string {
  const cut = bytes.length > maxBytes;
  const shown = cut ? bytes.subarray(0, maxBytes) : bytes;
  const text = printable(shown, cut);
  const body = text === undefined ? `0x${toHex(shown)}` : JSON.stringify(text);
  return cut ? `${body}… (${bytes.length} bytes)` : body;
}

/** A size for people: bytes below 1 KiB, else KiB/MiB/GiB with one decimal. */
export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes / 1024;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n.toFixed(1)} ${units[u]}`;
}

/** "1 entry" / "3 entries". */
export function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The message of a thrown value; a StrataError that is not CORRUPTION keeps its code in front.
 * The tools read only files they have just listed or found named, so a file not found has
 * been deleted meanwhile: by a process that has the database open, most likely.
 */
export function reasonOf(err: unknown): string {
  if (err instanceof StrataError) {
    if (err.errno === 'ENOENT') return `${err.code}: ${err.message} (deleted while being read: is the database open in another process?)`;
    return err.code === 'CORRUPTION' ? err.message : `${err.code}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}
