// Bundles a script for the browser with esbuild, the way an application's build would ("browser"
// conditions, no Node polyfills), and serves it on a tiny 127.0.0.1 page server of its own origin.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { build, type Metafile } from "esbuild";
import { ROOT } from "../harness/server-process.js";

export interface Bundle {
  readonly code: string;
  /** Every file esbuild put in, relative to the repository. */
  readonly inputs: readonly string[];
}

/** `entry` is inside the repository, so "tokenpool/client" resolves to this package's own export. */
export async function bundleForBrowser(entry: string): Promise<Bundle> {
  const out = await build({
    entryPoints: [entry],
    absWorkingDir: ROOT,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error("esbuild wrote nothing");
  return { code: file.text, inputs: Object.keys((out.metafile as Metafile).inputs) };
}

export interface PageServer {
  /** http://127.0.0.1:port: the page's origin. */
  readonly origin: string;
  /** Serves `script` as /NAME.js and a page loading it as /NAME.html. */
  add(name: string, script: string): void;
  close(): Promise<void>;
}

export async function startPageServer(): Promise<PageServer> {
  const scripts = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    const m = /^\/([\w-]+)\.(html|js)$/.exec(req.url ?? "");
    const script = m ? scripts.get(m[1]!) : undefined;
    if (!m || script === undefined) {
      res.writeHead(404).end();
      return;
    }
    if (m[2] === "js") res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    else res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(`<!doctype html><meta charset="utf-8"><title>${m[1]}</title><script type="module" src="/${m[1]}.js"></script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    add: (name, script) => void scripts.set(name, script),
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
