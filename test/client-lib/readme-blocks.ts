// The fenced code blocks of one README section, by language: the README tests run them as written.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../harness/server-process.js";

export function sectionBlocks(heading: string): Record<string, string[]> {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section ${heading}`);
  const end = readme.indexOf("\n## ", start + 1);
  const blocks: Record<string, string[]> = {};
  for (const m of readme.slice(start, end < 0 ? undefined : end).matchAll(/```(\w+)\n([\s\S]*?)```/g)) (blocks[m[1]!] ??= []).push(m[2]!);
  return blocks;
}

/** The section's TypeScript blocks: the Node example first, the browser one (it says so on line 1) second. */
export function clientExamples(): { node: string; browser: string; count: number } {
  const ts = sectionBlocks("Client library and CLI").ts ?? [];
  const browser = ts.filter((b) => b.startsWith("// In a browser"));
  const node = ts.filter((b) => !b.startsWith("// In a browser"));
  if (browser.length !== 1 || node.length !== 1) throw new Error(`expected one Node and one browser example, found ${node.length} and ${browser.length}`);
  return { node: node[0]!, browser: browser[0]!, count: ts.length };
}
