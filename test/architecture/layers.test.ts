// Holds src/ to its layering: every import points to the same layer or a lower one, so the core and
// config know nothing of storage, storage nothing of transport, and so on up to main.ts.

import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { importsOf, REPO, sourceFiles } from "./imports.js";

const SRC = path.join(REPO, "src");

/** Lowest first. A folder not listed here fails the test until it is given a place. */
const LAYERS: Readonly<Record<string, number>> = {
  core: 0,
  config: 0,
  runtime: 1,
  store: 2,
  service: 3,
  transport: 4,
  ops: 5,
  server: 6,
  "main.ts": 7,
};

/**
 * Layers outside that order: each may import only the folders listed (and gen/, packages). The client
 * library ships to users, so it knows nothing of the server's code; the CLI is built on it alone.
 */
const ISOLATED: Readonly<Record<string, readonly string[]>> = {
  client: ["client"],
  cli: ["cli", "client"],
};

function layerOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0] as string;
}

describe("src layering", () => {
  const files = sourceFiles(SRC);

  it("knows the layer of every file", () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.map(layerOf).filter((l) => LAYERS[l] === undefined && ISOLATED[l] === undefined)).toEqual([]);
  });

  it("imports only from the same layer or lower ones", () => {
    const upward: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        const target = path.resolve(path.dirname(file), spec);
        if (!target.startsWith(SRC + path.sep)) continue; // gen/ and packages sit below everything
        const to = layerOf(target);
        const allowed = ISOLATED[from];
        if (allowed) {
          if (!allowed.includes(to)) upward.push(`${path.relative(SRC, file)} → ${spec}`);
          continue;
        }
        if (ISOLATED[to]) upward.push(`${path.relative(SRC, file)} → ${spec}`); // the server never builds on its clients
        else if ((LAYERS[to] ?? Infinity) > (LAYERS[from] ?? -Infinity)) upward.push(`${path.relative(SRC, file)} → ${spec}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("keeps the client library and the CLI apart from the server's layers", () => {
    const clientFiles = files.filter((f) => layerOf(f) === "client");
    expect(clientFiles.length).toBeGreaterThan(3);
    for (const file of clientFiles)
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        const target = path.resolve(path.dirname(file), spec);
        if (target.startsWith(SRC + path.sep)) expect(layerOf(target), `${path.relative(SRC, file)} → ${spec}`).toBe("client");
      }
  });

  it("would catch an upward import", () => {
    expect(importsOf('import type { Logger } from "../server/logger.js";\nexport { x } from "./y.js";')).toEqual(["../server/logger.js", "./y.js"]);
  });
});
