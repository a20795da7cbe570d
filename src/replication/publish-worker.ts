// The worker thread of PublishThread (publish-thread.ts): its own connection to JetStream, on
// which it publishes the messages the primary's main thread hands it and answers each with
// the stream sequence JetStream stored it at, or the client's error, scrubbed of every secret
// (nats-client.ts) before it leaves the thread.
//
// Messages in (from PublishThread):  { type: 'publish', id, subject, msgId, bytes, timeoutMs }
//                                    (bytes: a view of shared memory, message-buffers.ts)
//                                    { type: 'close' }: drains the connection, then ends.
// Messages out:                      { type: 'ready' } once connected, or
//                                    { type: 'failed', message } (then it ends);
//                                    { type: 'answer', id, seq } or { type: 'answer', id, message, code }.

import { parentPort, workerData } from 'node:worker_threads';
import { lowerThisThread, type ThreadPriority } from '../base/index.js';
import { closeLink, connectJetStream, type JetStreamLink, type StreamSettings } from './connection.js';
import { scrub } from './nats-client.js';

export interface PublishRequest {
  type: 'publish';
  id: number;
  subject: string;
  msgId: string;
  bytes: Uint8Array;
  timeoutMs: number;
}

export type PublishWorkerAnswer =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'answer'; id: number; seq: number }
  | { type: 'answer'; id: number; seq?: undefined; message: string; code: string | undefined };

/** What the thread is started with. */
export interface PublishWorkerData {
  settings: StreamSettings;
  /** Lowered by the thread itself before it connects (PublishThread.start). */
  priority: ThreadPriority;
}

const port = parentPort!;
const { settings, priority } = workerData as PublishWorkerData;
lowerThisThread(priority);
const say = (answer: PublishWorkerAnswer) => port.postMessage(answer);

let link: JetStreamLink;
try {
  link = await connectJetStream(settings);
} catch (err) {
  say({ type: 'failed', message: (err as Error).message });
  port.close();
  process.exit(0);
}
port.on('message', (m: PublishRequest | { type: 'close' }) => {
  if (m.type === 'close') {
    void closeLink(link).finally(() => port.close());
    return;
  }
  // A copy of the bytes, which may be shared memory the publisher writes again once this
  // message is answered: the client keeps what it is given until it writes it out
  // (message-buffers.ts, invariant 2).
  link.js.publish(m.subject, m.bytes.slice(), { msgID: m.msgId, timeout: m.timeoutMs }).then(
    (ack) => say({ type: 'answer', id: m.id, seq: ack.seq }),
    (err: unknown) => {
      const code = (err as { code?: unknown } | null)?.code;
      const text = err instanceof Error ? err.message : String(err);
      say({ type: 'answer', id: m.id, message: scrub(text, settings.secrets), code: typeof code === 'string' ? scrub(code, settings.secrets) : undefined });
    },
  );
});
say({ type: 'ready' });
