#!/usr/bin/env node
// stratadb's command line: the database tools (verify, dump, stats) and the benchmark.
//
//   npx stratadb verify <dir>          every checksum, the MANIFEST against the files (read-only)
//   npx stratadb dump <dir|file>       the live version, or a table's, WAL's or MANIFEST's records
//   npx stratadb stats <dir>           levels, entries, WAL bytes
//   npx stratadb changes <dir>         the change feed of a closed database (--since N, --json)
//   npx stratadb checkpoint <dir> <dest>        an openable copy as of one moment
//   npx stratadb backup <dir> <backupDir>       an incremental backup (--list, --purge-old K)
//   npx stratadb restore <backupDir> <dest>     restore a backup (--id N) into a new directory
//   npx stratadb reshard <dir> --shards M       change a closed database's shard count
//   npx stratadb replicate <dir> --servers URL --stream NAME   publish its writes to NATS JetStream
//   npx stratadb follow <dir> --servers URL --stream NAME      keep a read replica from the stream
//   npx stratadb bench [flags]         the benchmark suite, as npm run bench (stratadb bench --help)
//   npx stratadb help

const command = process.argv[2];
const tools = () => import(new URL('../dist/src/tools/index.js', import.meta.url).href);

const TOOLS = ['verify', 'dump', 'stats', 'changes', 'checkpoint', 'backup', 'restore', 'reshard'];

const REPLICATION = ['replicate', 'follow'];

if (command === 'help' && REPLICATION.includes(process.argv[3])) {
  const { replicationUsage } = await import(new URL('../dist/src/tools/replication.js', import.meta.url).href);
  for (const line of replicationUsage(process.argv[3])) console.log(line);
} else if (REPLICATION.includes(command)) {
  const { runReplicationTool } = await import(new URL('../dist/src/tools/replication.js', import.meta.url).href);
  const stopped = new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const code = await runReplicationTool(command, process.argv.slice(3), { out: console.log, err: console.error, stopped });
  // Exits once the tool closed everything: the nats client (2.x) can leave a consumer's 1 s
  // idle-heartbeat interval running after its connection closed, which would keep the
  // process alive (stdout and stderr are synchronous here: nothing printed is lost).
  process.exit(code);
} else if (TOOLS.includes(command)) {
  const { main } = await tools();
  process.exitCode = await main(process.argv.slice(2));
} else if (command === 'bench') {
  const suite = new URL('../dist/bench/run.js', import.meta.url);
  if ((await import('node:fs')).existsSync(suite)) {
    const { main } = await import(suite.href);
    process.exitCode = await main(process.argv.slice(3));
  } else {
    console.error('stratadb bench runs from a clone of the repository: npm install && npm run bench:peers && npx stratadb bench');
    process.exitCode = 2;
  }
} else if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
  const { main } = await tools();
  // `stratadb help dump` is the dump command's help: pass the topic on.
  process.exitCode = await main(command === undefined ? ['help'] : process.argv.slice(2));
} else {
  console.error(`stratadb: unknown command ${command}; try: stratadb help`);
  process.exitCode = 2;
}
