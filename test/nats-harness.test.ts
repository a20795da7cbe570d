// The NATS test harness (test/nats-harness.ts) against the real nats-server: a single server
// and a 3-node cluster each take a JetStream publish and acknowledge it, a duplicate message id
// is dropped, a stream survives a restart and a killed stream leader is replaced; TLS with
// user and password refuses a wrong password and a plaintext client. Skips (printing why) only
// when nats-server is not installed.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { clientTls, findNatsServer, makeTls, NO_NATS_SERVER, startCluster, startNats } from './nats-harness.js';
import { withTempDir } from './helpers.js';

const encoder = new TextEncoder();

/** Connects, runs `body`, and closes the connection whatever happens. */
async function withConnection<T>(options: ConnectionOptions, body: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ maxReconnectAttempts: -1, reconnectTimeWait: 200, ...options });
  try {
    return await body(nc);
  } finally {
    await nc.close();
  }
}

/** Creates `stream` on subject `<stream>.x` with `replicas`, publishes one message with id `id`; its ack. */
async function publishOne(nc: NatsConnection, stream: string, replicas: number, id: string) {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: stream, subjects: [`${stream}.x`], num_replicas: replicas });
  return nc.jetstream().publish(`${stream}.x`, encoder.encode('hello'), { msgID: id });
}

if (findNatsServer() === undefined) {
  console.log(`nats-harness.test: ${NO_NATS_SERVER}`);
} else {
  test('a single server acknowledges a publish, drops a duplicate id and keeps the stream across a restart', async () => {
    const server = await startNats();
    try {
      assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
      await withConnection({ servers: server.url }, async (nc) => {
        const ack = await publishOne(nc, 'one', 1, 'm1');
        assert.is(ack.seq, 1);
        assert.is(ack.duplicate, false);
        const again = await nc.jetstream().publish('one.x', encoder.encode('hello'), { msgID: 'm1' });
        assert.is(again.duplicate, true, 'the same message id within the window is a duplicate');
        assert.is(again.seq, 1);
      });
      await server.kill();
      assert.is(server.running, false);
      await server.restart();
      await withConnection({ servers: server.url }, async (nc) => {
        const info = await (await nc.jetstreamManager()).streams.info('one');
        assert.is(info.state.messages, 1, 'the stream kept its message across kill -9 and restart');
      });
      assert.ok(fs.existsSync(server.storeDir));
    } finally {
      await server.stop();
    }
    assert.not.ok(fs.existsSync(server.storeDir), 'stop() removes the store');
    assert.is(server.running, false);
  });

  test('a server requiring user and password over TLS refuses a wrong password and a client without TLS', () =>
    withTempDir(async (dir) => {
      const tls = makeTls(path.join(dir, 'tls'));
      const server = await startNats({ tls, user: 'strata', password: 'right-horse-battery' });
      try {
        assert.match(server.url, /^tls:\/\//);
        await withConnection({ servers: server.url, tls: clientTls(tls, false), user: 'strata', pass: 'right-horse-battery' }, async (nc) => {
          assert.is((await publishOne(nc, 'secure', 1, 'a')).seq, 1);
        });
        const refused = async (options: ConnectionOptions) => {
          try {
            const nc = await connect({ servers: server.url, maxReconnectAttempts: 0, timeout: 5000, ...options });
            await nc.close();
          } catch (err) {
            return err as Error & { code?: string };
          }
          throw new Error('the connection should have been refused');
        };
        const wrong = await refused({ tls: clientTls(tls, false), user: 'strata', pass: 'wrong-staple' });
        assert.is(wrong.code, 'AUTHORIZATION_VIOLATION', String(wrong));
        // A client that does not trust the test CA refuses the server's certificate.
        const untrusted = await refused({ user: 'strata', pass: 'right-horse-battery', tls: {} });
        assert.ok(untrusted instanceof Error);
      } finally {
        await server.stop();
      }
    }));

  test('a 3-node cluster replicates a stream 3 ways and elects a new leader when the leader is killed', async () => {
    const cluster = await startCluster(3);
    try {
      assert.is(cluster.urls.length, 3);
      const meta = await cluster.metaLeader();
      assert.ok(meta >= 0 && meta < 3);
      await withConnection({ servers: cluster.urls }, async (nc) => {
        const ack = await publishOne(nc, 'three', 3, 'm1');
        assert.is(ack.seq, 1);
        const info = await (await nc.jetstreamManager()).streams.info('three');
        assert.is(info.config.num_replicas, 3);
        const leader = await cluster.leaderOf('three');
        assert.is(cluster.servers[leader]!.name, info.cluster?.leader, 'leaderOf agrees with the client');
        await cluster.kill(leader);
        const next = await cluster.leaderOf('three');
        assert.is.not(next, leader, 'a running node leads after the kill');
        const ack2 = await nc.jetstream().publish('three.x', encoder.encode('after'), { msgID: 'm2' });
        assert.is(ack2.seq, 2);
        await cluster.restart(leader);
        assert.ok(cluster.servers[leader]!.running);
      });
    } finally {
      await cluster.stop();
    }
    for (const s of cluster.servers) assert.not.ok(fs.existsSync(s.storeDir), `${s.name}'s store is removed`);
  });
}

test.run();
