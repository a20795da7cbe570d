// What stratadb/replication (src/replication.ts) keeps on disk and sends over the wire, each
// format documented at the top of its owner, and the door to the JetStream client.
export {
  changeEncodedLength,
  decodeMessage,
  encodeMessage,
  MAX_CHANGES_PER_MESSAGE,
  MAX_MESSAGES_IN_FLIGHT,
  MESSAGE_TARGET_BYTES,
  messageId,
  MESSAGE_VERSION,
  type ChangeToSend,
  type ReplicatedChange,
  type ReplicationMessage,
} from './message-format.js';
export { APPLIED_KEY, decodeApplied, encodeApplied, positionFileName, readPosition, writePosition, type AppliedPosition, type PublishedPosition } from './positions.js';
export { packCheckpoint, unpackCheckpoint, type ArchiveHeader } from './checkpoint-archive.js';
export { clientError, loadNats, scrub, secretsOf, shownServer, type Nats } from './nats-client.js';
export { CHECKPOINT_OBJECT, checkpointBucket, closeLink, connectJetStream, isNotFound, shardSubject, streamSettings, streamSubjects, type JetStreamLink, type StreamSettings } from './connection.js';
export { MessageBuffers } from './message-buffers.js';
export { PublishThread } from './publish-thread.js';
