// Loads the peer stores from bench/peers/node_modules, the benchmark's own folder: they are
// not dependencies of stratadb. `npm run bench:peers` (npm --prefix bench/peers install)
// installs them.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** bench/peers in the source tree; this file runs from dist/bench/stores. */
export const PEERS_DIR = fileURLToPath(new URL('../../../bench/peers/', import.meta.url));
export const PEERS_INSTALL_COMMAND = 'npm run bench:peers   (that is: npm --prefix bench/peers install)';

const requirePeer = createRequire(`${PEERS_DIR}package.json`);

export class PeerMissingError extends Error {
  constructor(packageName: string, cause: unknown) {
    super(`${packageName} is not installed in bench/peers (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)})`);
  }
}

/** The peer package's main export, or PeerMissingError. */
export function loadPeer<T>(packageName: string): T {
  try {
    return requirePeer(packageName) as T;
  } catch (err) {
    throw new PeerMissingError(packageName, err);
  }
}

/** The installed version of a peer package, or undefined when it is not installed. */
export function peerVersion(packageName: string): string | undefined {
  const file = `${PEERS_DIR}node_modules/${packageName}/package.json`;
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
