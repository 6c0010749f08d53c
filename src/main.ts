// Process entry point: configuration, start-up summary, signals.

import { ConfigError, helpText, loadConfig, type Config } from "./config/config.js";
import { systemClock } from "./runtime/clock.js";
import { createLogger } from "./runtime/logger.js";
import { startServer } from "./server/server.js";
import { configSummary, whereEverythingIs } from "./server/startup.js";
import { openingReason, StoreOpenError } from "./server/open-store.js";

async function main(): Promise<void> {
  let config: Config;
  try {
    const loaded = loadConfig(process.argv.slice(2), process.env);
    if (loaded === "help") {
      process.stdout.write(helpText() + "\n");
      return;
    }
    config = loaded;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tokenpool: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }

  const log = createLogger(config.logLevel);
  log.info({ config: configSummary(config) }, "configuration");
  if (config.watchBuffer <= config.limits.maxBatchTokens) {
    // Allowed (tests use tiny buffers), but one full batch then cuts every watcher, however fast it reads.
    log.warn(
      { watchBuffer: config.watchBuffer, maxBatch: config.limits.maxBatchTokens },
      "--watch-buffer is not above --max-batch: a single GenerateTokens or KeepAlive of a full batch will cut every WatchLeases watcher off (SLOW_CONSUMER)",
    );
  }
  let server;
  try {
    server = await startServer(config, {
      clock: systemClock,
      log,
      // Printed once on stdout, never into the log stream (stderr).
      announcePassword: (p) => process.stdout.write(`tokenpool: API_PASSWORD not set; generated password for this run: ${p}\n`),
      // Probes are answered from here on; a large lmdb recovery can take a while after this line.
      onListening: (url) => log.info({ url }, `port open at ${url}; /healthz answers, /readyz waits for the store (${openingReason(config)})`),
    });
  } catch (e) {
    if (e instanceof StoreOpenError || (e instanceof Error && "code" in e && e.code === "EADDRINUSE")) {
      process.stderr.write(`tokenpool: cannot start: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const where = whereEverythingIs(config, server.url);
  log.info(where.fields, where.message);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    server.close().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

void main();
