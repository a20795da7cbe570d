// What stratadb/replication (src/replication.ts) keeps on disk and sends over the wire, each
// format documented at the top of its owner, and the door to the JetStream client.
export { decodeMessage, encodeMessage, messageId, MESSAGE_VERSION, type ReplicationMessage } from './message-format.js';
export { APPLIED_KEY, decodeApplied, encodeApplied, positionFileName, readPosition, writePosition, type AppliedPosition } from './positions.js';
export { packCheckpoint, unpackCheckpoint, type ArchiveHeader } from './checkpoint-archive.js';
export { clientError, loadNats, scrub, secretsOf, shownServer, type Nats } from './nats-client.js';
export { CHECKPOINT_OBJECT, checkpointBucket, connectJetStream, isNotFound, shardSubject, streamSettings, streamSubjects, type JetStreamLink, type StreamSettings } from './connection.js';
