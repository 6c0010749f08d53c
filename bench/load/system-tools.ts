// The Debian tools the bench drives (h2load, wrk, redis-server, python3-flask): installed with
// apt-get install -y only when missing, so a prepared machine is never touched.

import { spawnSync } from "node:child_process";

export const PYTHON = "/usr/bin/python3";

interface Tool {
  readonly name: string;
  readonly debianPackage: string;
  readonly present: () => boolean;
}

const onPath = (bin: string) => (): boolean => spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;

const TOOLS: readonly Tool[] = [
  { name: "h2load", debianPackage: "nghttp2-client", present: onPath("h2load") },
  { name: "wrk", debianPackage: "wrk", present: onPath("wrk") },
  { name: "redis-server", debianPackage: "redis-server", present: onPath("redis-server") },
  // Debian's Flask for Debian's python3, not whatever a virtualenv or pyenv puts first on PATH.
  { name: "python3-flask", debianPackage: "python3-flask", present: () => spawnSync(PYTHON, ["-c", "import flask"], { stdio: "ignore" }).status === 0 },
];

function aptGet(args: readonly string[]): boolean {
  const r = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return r.status === 0;
}

/** Installs whatever is missing; throws with the package names when that is impossible. */
export function ensureSystemTools(log: (line: string) => void): void {
  const missing = TOOLS.filter((t) => !t.present());
  if (missing.length === 0) {
    log(`tools: ${TOOLS.map((t) => t.name).join(", ")} present`);
    return;
  }
  const packages = missing.map((t) => t.debianPackage);
  log(`tools: installing ${packages.join(" ")} (apt-get install -y)`);
  // A fresh machine may have no package lists yet: update once, only if the first try fails.
  if (!aptGet(["install", "-y", "-qq", ...packages]) && !(aptGet(["update", "-qq"]) && aptGet(["install", "-y", "-qq", ...packages]))) {
    throw new Error(`could not install ${packages.join(" ")}; install them (apt-get install -y ${packages.join(" ")}) and run again`);
  }
  const still = TOOLS.filter((t) => !t.present());
  if (still.length > 0) throw new Error(`still missing after install: ${still.map((t) => t.name).join(", ")}`);
}
