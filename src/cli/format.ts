// How the CLI prints: aligned tables for people, JSON (protobuf's canonical form) with --json.

import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate } from "../client/timing.js";
import type { Timestamp } from "@bufbuild/protobuf/wkt";

export function table(rows: ReadonlyArray<Readonly<Record<string, string>>>, columns: readonly string[]): string {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => r[c] ?? "")))].join("\n");
}

export function json<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): string {
  return JSON.stringify(toJson(schema, message, { alwaysEmitImplicit: false }));
}

export function time(t: Timestamp | undefined): string {
  return t ? timestampDate(t).toISOString() : "";
}

export function seconds(d: { seconds: bigint; nanos: number } | undefined): string {
  if (!d) return "";
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
