// Online backup of a running server's lmdb data dir: one consistent snapshot (mdb_copy semantics).
// Usage: node --import tsx scripts/lmdb-backup.ts <data-dir> <backup-file> [--compact]; see docs/STORAGE.md.

import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { open } from "lmdb";
import { DATA_FILE } from "../src/store/lmdb/lmdb-env.js";

const { positionals, values } = parseArgs({ allowPositionals: true, options: { compact: { type: "boolean", default: false } } });
const [dataDir, target] = positionals;
if (!dataDir || !target) {
  process.stderr.write("usage: lmdb-backup <data-dir> <backup-file> [--compact]\n");
  process.exit(2);
}
const source = join(dataDir, DATA_FILE);
if (!existsSync(source)) {
  process.stderr.write(`lmdb-backup: no ${DATA_FILE} in ${dataDir}\n`);
  process.exit(1);
}
if (existsSync(target)) {
  process.stderr.write(`lmdb-backup: ${target} exists; refusing to overwrite it\n`);
  process.exit(1);
}
const started = performance.now();
// A reader alongside the server: lmdb lets other processes read while one writes, and the copy sees
// exactly one committed state whatever the server commits meanwhile.
const env = open({ path: source, noSubdir: true, readOnly: true, maxDbs: 4 });
try {
  await env.backup(target, values.compact);
} finally {
  await env.close();
}
const bytes = statSync(target).size;
process.stdout.write(`lmdb-backup: ${source} -> ${target} (${(bytes / 1e6).toFixed(1)} MB, ${Math.round(performance.now() - started)} ms)\n`);
