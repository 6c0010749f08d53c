// Reads a TypeScript tree's relative imports as text, for the architecture tests: which files there
// are, and which files each one imports (resolved to absolute paths).

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "../..");

export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? (e.name === "node_modules" ? [] : sourceFiles(full)) : e.name.endsWith(".ts") ? [full] : [];
  });
}

/** Relative module specifiers of static imports, re-exports, side-effect imports and import() (type-only ones count too). */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)) specs.push(m[1] as string);
  for (const m of text.matchAll(/^\s*import\s+"(\.[^"]+)"/gm)) specs.push(m[1] as string);
  for (const m of text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g)) specs.push(m[1] as string);
  return specs;
}

/** Every relative import of every file below `dir`: the importing file and the absolute path it names. */
export function importEdges(dir: string): { readonly file: string; readonly spec: string; readonly target: string }[] {
  return sourceFiles(dir).flatMap((file) =>
    importsOf(readFileSync(file, "utf8")).map((spec) => ({ file, spec, target: path.resolve(path.dirname(file), spec) })),
  );
}
