// The README's configuration table is what users read; it must list every option with the flag,
// environment variables and default the server really uses, so a new option cannot go undocumented.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { optionList } from "../../src/config/config.js";

interface Row {
  readonly env: string[];
  readonly shownDefault: string;
}

function readmeRows(): Map<string, Row> {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const rows = new Map<string, Row>();
  for (const line of readme.split("\n")) {
    const m = /^\| `--([a-z-]+)` \| ([^|]*) \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    const env = [...m[2]!.matchAll(/`([A-Z_]+)`/g)].map((e) => e[1]!);
    rows.set(m[1]!, { env, shownDefault: m[3]!.trim() });
  }
  return rows;
}

describe("README configuration table", () => {
  const rows = readmeRows();

  it.each(optionList().map((o) => [o.flag, o] as const))("documents --%s as the server reads it", (_flag, option) => {
    const row = rows.get(option.flag);
    expect(row, `README has no row for --${option.flag}`).toBeDefined();
    expect(row!.env).toEqual([...option.env]);
    expect(row!.shownDefault).toBe(option.shownDefault);
  });

  it("lists no option the server does not have", () => {
    const known = new Set(optionList().map((o) => o.flag));
    expect([...rows.keys()].filter((flag) => !known.has(flag))).toEqual([]);
  });
});
