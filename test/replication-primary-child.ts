// A primary for test/replication.test.ts to SIGKILL: opens the database at argv[2] (4 shards),
// replicates it to the stream argv[4] at argv[3], and writes synced puts and batches until it
// is killed, printing "acknowledged N" as JetStream acknowledges.
import { open } from '../src/index.js';
import { replicate } from '../src/replication.js';

const [dir, servers, stream] = process.argv.slice(2) as [string, string, string];
const db = await open(dir, { shards: 4, mergeOperator: 'add' });
const publisher = await replicate(db, { servers, stream });
setInterval(() => console.log(`acknowledged ${publisher.acknowledged}`), 20);
for (let i = 0; ; i++) {
  const writes = [db.put(`k${i % 300}`, `v${i}`, { sync: true }), db.merge('count', 1n, { sync: true })];
  if (i % 5 === 0) writes.push(db.batch([{ type: 'put', key: `b${i}`, value: 'x' }, { type: 'del', key: `k${(i * 7) % 300}` }], { sync: true }));
  await Promise.all(writes);
}
