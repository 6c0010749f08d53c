// Builds what the bench runs: tokenpool exactly as production does (`npm run build` → dist/src), and
// the baseline servers (bench/load/servers) with the same compiler and settings, into dist/bench.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function run(command: string, args: readonly string[], cwd = ROOT): void {
  const r = spawnSync(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
}

export function build(): void {
  run("npm", ["run", "build", "--silent"]);
  run(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "bench/load/tsconfig.servers.json"]);
}

/** Another checkout's tokenpool, built as production builds it (its own dist/src). */
export function buildTree(tree: string): void {
  run("npm", ["run", "build", "--silent"], tree);
}
