// The door to the JetStream client (npm `nats`, v2): loaded on first use, since it is an
// optional peer dependency, and the one place its errors become StrataErrors.
//
// Credentials: connection options (user, pass, token, a credentials file's contents through an
// authenticator, ...) go to the client unchanged. The client's errors can carry them (a server
// URL with user:password in it), so no client error is passed on as it is, not even as a
// `cause`: its text is copied with every URL's user information and every secret string of
// the connection options replaced by '***'.

import { StrataError } from '../base/index.js';

export type Nats = typeof import('nats');

/** Loads the client; NOT_SUPPORTED when it is not installed. */
export async function loadNats(): Promise<Nats> {
  try {
    return await import('nats');
  } catch {
    throw new StrataError('NOT_SUPPORTED', 'stratadb/replication needs the JetStream client: npm install nats@2');
  }
}

/** Option names whose string values are secrets (at any depth of the connection options). */
const SECRET_NAMES = /pass|token|secret|seed|nkey|jwt|creds|key|cert|auth/i;

/** The strings of `connection` that must never be shown: every string under a secret's name, and the user names. */
export function secretsOf(connection: Record<string, unknown> | undefined, servers: readonly string[]): string[] {
  const out: string[] = [];
  const visit = (v: unknown, name: string, depth: number) => {
    if (depth > 4) return;
    if (typeof v === 'string' && v.length >= 3 && (SECRET_NAMES.test(name) || name === 'user')) out.push(v);
    else if (v instanceof Uint8Array && v.length >= 3) out.push(Buffer.from(v).toString('utf8'));
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) visit(x, k, depth + 1);
  };
  visit(connection, '', 0);
  for (const s of servers) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/\s]+)@/i.exec(s);
    if (m !== null) out.push(...m[1]!.split(':').filter((x) => x.length > 0).map((x) => decodeURIComponent(x)), m[1]!);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** `text` without URL user information and without any of `secrets`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]+@/gi, '$1***@');
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

/** A server URL as it may be shown: without its user information. */
export const shownServer = (url: string) => scrub(url, []);

/**
 * The StrataError for a client error met while doing `what`: IO_ERROR (errno EIO) whose
 * message is the client's code and text, scrubbed. A StrataError passes through.
 */
export function clientError(what: string, err: unknown, secrets: readonly string[]): StrataError {
  if (err instanceof StrataError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const text = err instanceof Error ? err.message : String(err);
  const detail = typeof code === 'string' && code.length > 0 && !text.includes(code) ? `${code}: ${text}` : text;
  return new StrataError('IO_ERROR', scrub(`${what}: ${detail}`, secrets), { errno: 'EIO' });
}
