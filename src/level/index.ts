// stratadb/level: stratadb as an abstract-level (v3) database, for code written against
// `level` or `classic-level`. Needs the optional peer dependency abstract-level.
//
//   import { StrataLevel } from 'stratadb/level';
//   const db = new StrataLevel('./data', { valueEncoding: 'json' });
export { StrataLevel, type StrataLevelOptions } from './strata-level.js';
export { StrataSnapshot } from './snapshot.js';
export { LevelError, type LevelErrorCode } from './errors.js';
