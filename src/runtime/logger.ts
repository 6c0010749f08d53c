// The one logging interface every layer writes to (pino's shape, so a pino logger is one), and the
// production logger behind it. Secrets never reach it: callers pass redacted summaries.

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

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "tokenpool" },
    redact: { paths: ["apiPassword", "*.apiPassword", "password", "*.password"], censor: "[redacted]" },
  });
}
