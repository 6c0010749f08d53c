// What start-up tells the operator: the configuration with its secrets redacted, and one line saying
// where everything is (address, protocols, docs, metrics, store). Pure functions of the config.

import type { Config } from "../config/config.js";
import { REDACTED, redactUrl } from "../config/redact-url.js";
import { redisLocation } from "../config/redis-topology.js";

export const PROTOCOLS = ["gRPC (h2c)", "gRPC-Web", "Connect (JSON and binary, HTTP/1.1 and h2c)", "legacy HTTP API"] as const;


/** Every setting, secrets replaced by whether they are set. */
export function configSummary(config: Config): Record<string, unknown> {
  return {
    ...config,
    apiPassword: config.apiPassword === undefined ? "generated (printed once to stdout)" : REDACTED,
    metricsToken: config.metricsToken === undefined ? "unset (/metrics is open)" : REDACTED,
    redisUrl: redactUrl(config.redisUrl),
  };
}

/** Where the store keeps state, as an operator would look for it. */
export function storeLocation(config: Config): string {
  switch (config.store) {
    case "lmdb":
      return `lmdb in ${config.dataDir}`;
    case "redis":
      return `redis at ${redisLocation(config.redisTopology, redactUrl(config.redisUrl))}`;
    default:
      return "memory (state is lost on exit)";
  }
}

/** The start-up line: a message a person reads, and the same facts as fields for log tooling. */
export function whereEverythingIs(config: Config, url: string): { readonly fields: Record<string, unknown>; readonly message: string } {
  const docs = `${url}/docs`;
  const metrics = `${url}/metrics`;
  const store = storeLocation(config);
  return {
    fields: {
      url,
      protocols: PROTOCOLS,
      docs,
      metrics,
      health: [`${url}/healthz`, `${url}/readyz`],
      store: config.store,
      ...(config.store === "lmdb" && { dataDir: config.dataDir }),
      ...(config.store === "redis" && { redisUrl: redactUrl(config.redisUrl) }),
    },
    message:
      `tokenpool listening on ${url} (${PROTOCOLS.join(", ")}); docs ${docs}; metrics ${metrics}` +
      `${config.metricsToken ? " (bearer token)" : ""}; store ${store}`,
  };
}
