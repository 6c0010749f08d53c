// Structured JSON logs (pino). Secrets never reach this logger: callers pass redacted summaries.

import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "tokenpool" },
    redact: { paths: ["apiPassword", "*.apiPassword", "password", "*.password"], censor: "[redacted]" },
  });
}
