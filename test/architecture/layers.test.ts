// Holds src/ to its layering: every import points to the same layer or a lower one, so the core and
// config know nothing of storage, storage nothing of transport, and so on up to main.ts.

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const SRC = path.resolve(import.meta.dirname, "../../src");

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

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith(".ts") ? [full] : [];
  });
}

/** Relative module specifiers of static imports and re-exports (type-only ones count too). */
function importsOf(text: string): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)) specs.push(m[1] as string);
  for (const m of text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g)) specs.push(m[1] as string);
  return specs;
}

function layerOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0] as string;
}

describe("src layering", () => {
  const files = sourceFiles(SRC);

  it("knows the layer of every file", () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.map(layerOf).filter((l) => LAYERS[l] === undefined)).toEqual([]);
  });

  it("imports only from the same layer or lower ones", () => {
    const upward: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        const target = path.resolve(path.dirname(file), spec);
        if (!target.startsWith(SRC + path.sep)) continue; // gen/ and packages sit below everything
        const to = layerOf(target);
        if ((LAYERS[to] ?? Infinity) > (LAYERS[from] ?? -Infinity)) upward.push(`${path.relative(SRC, file)} → ${spec}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("would catch an upward import", () => {
    expect(importsOf('import type { Logger } from "../server/logger.js";\nexport { x } from "./y.js";')).toEqual(["../server/logger.js", "./y.js"]);
  });
});
