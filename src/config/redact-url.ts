// Connection URLs as they may be shown (logs, start-up summary, error messages): any password masked.
// User names and hosts stay: they help an operator and are not secret.

export const REDACTED = "[redacted]";

/** The URL with the password in `scheme://user:password@…` masked; one rule for every place that prints one. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^:@/]*):[^@/]*@/i, `$1$2:${REDACTED}@`);
}
