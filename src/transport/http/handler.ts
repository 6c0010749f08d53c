// The request handler shape shared by connect-node, the fallback routes and the one-port server.

import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";

export type HttpHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
export type HttpRequest = Parameters<HttpHandler>[0];
export type HttpResponse = Parameters<HttpHandler>[1];
