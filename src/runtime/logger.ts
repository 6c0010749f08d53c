// The one logging interface every layer writes to (pino's shape, so a pino logger is one), and the
// production logger behind it, on stderr: JSON lines, or one readable line per entry when stderr is a
// terminal (a person watches it). Secrets never reach it: callers pass redacted summaries.

import { pino } from "pino";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** Lets a hot path skip building fields for a line that would be dropped. */
  isLevelEnabled(level: LogLevel): boolean;
}

/**
 * The log goes to stderr, and `pretty` defaults to "stderr is a terminal": the rule looks at the stream
 * the lines go to, so machines get JSON and people get lines. stdout stays free for what a program may
 * want to read (--help, the generated password).
 */
export function createLogger(level: string, pretty: boolean = process.stderr.isTTY === true): Logger {
  const options = {
    level,
    base: { service: "tokenpool" },
    redact: { paths: ["apiPassword", "*.apiPassword", "password", "*.password"], censor: "[redacted]" },
  };
  // Formatting pino's own JSON line keeps redaction and serializers exactly as in production.
  // Synchronous like pino's default stdout, so the last lines before process.exit() are not lost.
  return pretty ? pino(options, { write: (line: string) => void process.stderr.write(prettyLine(line)) }) : pino(options, pino.destination({ dest: 2, sync: true }));
}

const LEVELS: Readonly<Record<number, string>> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** `12:00:01.234 INFO  message key=value …` from one pino JSON line (left as is if it is not one). */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { level, time, msg, pid: _pid, hostname: _host, service: _service, ...rest } = entry;
  const when = typeof time === "number" ? new Date(time).toISOString().slice(11, 23) : "";
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return `${[when, (LEVELS[level as number] ?? String(level)).padEnd(5), msg ?? "", ...fields].filter((p) => p !== "").join(" ")}\n`;
}
