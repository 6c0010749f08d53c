// The browser's platform for the client: connect-web's fetch-based Connect and gRPC-Web transports.
// Nothing here (or below it) may touch a Node builtin: test/client-lib/browser.test.ts bundles it for
// the browser and runs it in Chromium.

import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { UnsupportedProtocolError } from "./errors.js";
import { withPassword, type Platform, type TransportOptions } from "./platform.js";

function createTransport(o: TransportOptions): Transport {
  const interceptors = withPassword(o);
  // Binary, as in Node: the same bytes on the wire whichever entry point a program loads.
  switch (o.protocol) {
    case "grpc":
      // fetch() exposes neither HTTP/2 trailers nor a way to ask for them: gRPC proper cannot work here.
      throw new UnsupportedProtocolError('protocol "grpc" needs HTTP/2 trailers, which a browser\'s fetch cannot read: use "connect" or "grpc-web" in a browser');
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: o.baseUrl, interceptors, useBinaryFormat: true });
    case "connect":
      return createConnectTransport({ baseUrl: o.baseUrl, interceptors, useBinaryFormat: true });
  }
}

export const browserPlatform: Platform = {
  createTransport,
  // Browsers do not count listeners.
  allowManyListeners: () => undefined,
};
