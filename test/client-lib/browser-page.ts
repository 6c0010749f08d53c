// The script of the browser test's page: tokenpool/client as a bundler resolves it for a browser (the
// "browser" export), put on globalThis so the test can drive it from page.evaluate().

import * as tokenpool from "tokenpool/client";

declare global {
  var tokenpool: typeof import("../../src/client/browser.js");
  // Whatever the page keeps between two page.evaluate() steps.
  var held: Map<string, import("../../src/client/browser.js").Lease>;
  var seen: Map<string, import("../../src/client/browser.js").LeaseEvent[]>;
}

globalThis.tokenpool = tokenpool;
globalThis.held = new Map();
globalThis.seen = new Map();
