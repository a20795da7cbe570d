// stratadb/testing: test your application's crash behaviour. A FaultInjectingFileSystem,
// passed as the `fs` option, remembers what was synced; powerCut() leaves the directory as a
// power cut would, and failAfter() / tearNextWrite() inject disk-full, I/O errors and torn
// writes. The durability model is documented at the top of fault-fs.ts.
//
//   import { open } from 'stratadb';
//   import { FaultInjectingFileSystem } from 'stratadb/testing';
//
//   const fs = new FaultInjectingFileSystem();
//   const db = await open(dir, { fs });
//   await db.put('a', '1', { sync: true });      // durable
//   await db.put('b', '2');                      // written, not synced
//   await fs.powerCut();                         // 'b' is gone; so is every un-synced file, rename, unlink
//   const again = await open(dir);               // the real fs (or a new FaultInjectingFileSystem)
//   await again.get('a');                        // '1'
//
//   fs.failAfter(1, 'ENOSPC', { op: 'append', path: /\.log$/ }, { times: Infinity }); // the disk is full
//   fs.tearNextWrite(7, { path: /\.log$/ });     // the next WAL append stops after 7 bytes, then the power goes
//   fs.cutPowerAfter(k, mutatingOps);            // a crash-point sweep: cut after the kth call that changes the disk
export {
  FaultInjectingFileSystem,
  type FaultInjectingOptions,
  type PowerCutOptions,
  MUTATING_OPS,
  mutatingOps,
  type FsOp,
  type FsOpName,
  type OpMatcher,
} from './fault-fs.js';
