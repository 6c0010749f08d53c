// Reason-less AbortController.abort() builds a fresh DOMException, stack capture included, every
// time; connect-es calls it twice per call (on the request's close, and at the end of every handler):
// 12–14 % of a Connect call's CPU (docs/BENCHMARKS.md). Installed once at start-up, an abort without
// a reason gets one shared AbortError instead. Aborts with a reason are untouched, and the reason is
// still a DOMException named AbortError with the standard message; only its identity and stack
// (pointing here) are shared. Error.stackTraceLimit stays as it is for every other error.

const SHARED_ABORT_ERROR = new DOMException("This operation was aborted", "AbortError");

let installed = false;

export function shareReasonlessAbortError(): void {
  if (installed) return;
  installed = true;
  const abort = AbortController.prototype.abort;
  AbortController.prototype.abort = function (this: AbortController, reason?: unknown): void {
    abort.call(this, reason === undefined ? SHARED_ABORT_ERROR : reason);
  };
}
