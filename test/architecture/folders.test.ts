// Holds the folders outside src/ to their roles: scripts/ holds command-line entry points that nothing
// imports; test/harness/ is the one part of test/ that benches may use, and it leans only on src/ and
// gen/, so a bench never pulls in test internals; src/ knows nothing of tests, benches or scripts.

import path from "node:path";
import { describe, expect, it } from "vitest";
import { importEdges, REPO } from "./imports.js";

const dir = (name: string): string => path.join(REPO, name);
const inside = (target: string, folder: string): boolean => target === folder || target.startsWith(folder + path.sep);
const show = (e: { file: string; spec: string }): string => `${path.relative(REPO, e.file)} → ${e.spec}`;

/** The imports below `from` that break `allowed`. */
function violations(from: string, allowed: (target: string) => boolean): string[] {
  return importEdges(dir(from))
    .filter((e) => !allowed(e.target))
    .map(show);
}

describe("folder roles", () => {
  it("sees the imports it judges", () => {
    expect(importEdges(dir("test")).length).toBeGreaterThan(100);
    expect(importEdges(dir("bench")).some((e) => inside(e.target, dir("test/harness")))).toBe(true);
  });

  it("test/ never imports scripts/ (entry points; what they share lives in test/)", () => {
    expect(violations("test", (t) => !inside(t, dir("scripts")))).toEqual([]);
  });

  it("bench/ imports from test/ only test/harness/", () => {
    expect(violations("bench", (t) => !inside(t, dir("test")) || inside(t, dir("test/harness")))).toEqual([]);
  });

  it("bench/ never imports scripts/", () => {
    expect(violations("bench", (t) => !inside(t, dir("scripts")))).toEqual([]);
  });

  it("test/harness/ leans only on src/, gen/ and itself", () => {
    expect(violations("test/harness", (t) => ["src", "gen", "test/harness"].some((f) => inside(t, dir(f))))).toEqual([]);
  });

  it("src/ imports nothing from test/, bench/ or scripts/", () => {
    expect(violations("src", (t) => !["test", "bench", "scripts"].some((f) => inside(t, dir(f))))).toEqual([]);
  });

  it("would catch a forbidden import", () => {
    const target = path.resolve(dir("test/crash"), "../../scripts/crash-test.js");
    expect(inside(target, dir("scripts"))).toBe(true);
    expect(inside(path.resolve(dir("bench/load"), "../../test/harness-old/x.js"), dir("test/harness"))).toBe(false);
  });
});
