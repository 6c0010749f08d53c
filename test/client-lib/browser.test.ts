// tokenpool/client in a real browser: the "browser" export, bundled by esbuild as an application's
// build would, runs in headless Chromium on a page of its own origin against a real server process
// that allows that origin (--cors-origin). Over Connect and gRPC-Web it acquires a lease, keeps it
// alive past its TTL, releases it and watches the events; "grpc" is refused clearly; a page from an
// origin the server does not allow gets nothing; and the README's browser example runs as written.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, type ServerProcess } from "../harness/server-process.js";
import { TokenState, type TokenPoolClient } from "../../src/client/node.js";
import { bundleForBrowser, startPageServer, type Bundle, type PageServer } from "./browser-bundle.js";
import { client, freshPool, PASSWORD, serverProcess, sleep } from "./fixtures.js";
import { clientExamples } from "./readme-blocks.js";

const CHROMIUM = "/usr/bin/chromium";
// Without the background-networking flags Chromium keeps dialling out, which this closed network refuses.
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const TTL_MS = 1500;

let pages: PageServer;
let stranger: PageServer;
let bundle: Bundle;
let s: ServerProcess;
let admin: TokenPoolClient;
let browser: Browser;
beforeAll(async () => {
  pages = await startPageServer();
  stranger = await startPageServer(); // another origin, not allowed by the server
  bundle = await bundleForBrowser("test/client-lib/browser-page.ts");
  pages.add("client", bundle.code);
  stranger.add("client", bundle.code);
  s = await serverProcess(["--cors-origin", pages.origin, "--lease-ttl", "1", "--total-tokens", "1"]);
  admin = client(s.url);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await admin?.close();
  await s?.stop();
  await pages?.close();
  await stranger?.close();
});

/** A page of `server`'s origin with the client loaded; its uncaught errors are collected. */
async function openClientPage(server: PageServer): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${server.origin}/client.html`);
  await page.waitForFunction(() => globalThis.tokenpool !== undefined, undefined, { timeout: 10_000 });
  return { page, errors };
}

describe("the browser build of tokenpool/client", () => {
  it("bundles for the browser without Node's builtins or connect-node", () => {
    expect(bundle.inputs).toContain("src/client/browser.ts");
    expect(bundle.inputs.some((f) => f.includes("@connectrpc/connect-web/"))).toBe(true);
    expect(bundle.inputs.filter((f) => f.includes("connect-node") || f.startsWith("node:") || f.endsWith("transport-node.ts"))).toEqual([]);
    // esbuild's browser platform already refuses node:* imports; Buffer and process have no such check.
    const ours = bundle.inputs.filter((f) => f.startsWith("src/") || f.startsWith("gen/"));
    expect(ours.length).toBeGreaterThan(8);
    for (const f of ours) {
      const code = readFileSync(join(ROOT, f), "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
      expect(code, f).not.toMatch(/\bBuffer\b|\bprocess\.|from "node:/);
    }
  });

  for (const protocol of ["connect", "grpc-web"] as const) {
    it(`over ${protocol}: acquires, stays proven past the TTL, releases, and watches it all`, async () => {
      const pool = await freshPool(admin, 2, TTL_MS);
      const { page, errors } = await openClientPage(pages);
      const sent = new Set<string>();
      page.on("request", (r) => {
        if (r.url().startsWith(s.url)) sent.add(r.headers()["content-type"] ?? "");
      });
      try {
        const acquired = await page.evaluate(
          async ({ url, password, protocol, pool }) => {
            const client = tokenpool.createTokenPoolClient({ baseUrl: url, password, protocol });
            const events: import("../../src/client/browser.js").LeaseEvent[] = [];
            seen.set(pool, events);
            void (async () => {
              for await (const e of client.watch(pool)) events.push(e);
            })();
            await new Promise((r) => setTimeout(r, 300)); // the watch is open before anything happens
            const lease = await client.acquire(pool, { owner: `page-${protocol}` });
            held.set(pool, lease);
            (globalThis as { client?: unknown }).client = client;
            return { token: lease.token, generation: String(lease.generation), noProcess: typeof (globalThis as { process?: unknown }).process === "undefined" };
          },
          { url: s.url, password: PASSWORD, protocol, pool },
        );
        expect(acquired.noProcess).toBe(true); // a browser, not Node
        const first = await admin.service.getToken({ pool, token: acquired.token });
        expect(first.state).toBe(TokenState.HELD);
        expect(first.lease).toMatchObject({ owner: `page-${protocol}`, generation: BigInt(acquired.generation) });

        await sleep(2 * TTL_MS); // two TTLs: only renewals from the page keep it
        const still = await page.evaluate((pool) => ({ valid: held.get(pool)!.isValid(), aborted: held.get(pool)!.signal.aborted }), pool);
        expect(still).toEqual({ valid: true, aborted: false });
        const later = await admin.service.getToken({ pool, token: acquired.token });
        expect(later.state).toBe(TokenState.HELD);
        expect(later.lease?.generation).toBe(BigInt(acquired.generation)); // the same lease, never expired and re-assigned
        expect(later.lease!.expireTime!.seconds * 1000n + BigInt(later.lease!.expireTime!.nanos / 1e6)).toBeGreaterThan(
          first.lease!.expireTime!.seconds * 1000n + BigInt(first.lease!.expireTime!.nanos / 1e6) + BigInt(TTL_MS),
        );

        const ended = await page.evaluate(async (pool) => {
          const lease = held.get(pool)!;
          await lease.release();
          const events = seen.get(pool)!;
          const until = performance.now() + 10_000;
          while (!events.some((e) => e.type === tokenpool.LeaseEventType.RELEASED) && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
          const reason = lease.signal.reason as InstanceType<typeof tokenpool.LeaseLostError>;
          await (globalThis as { client?: { close(): Promise<void> } }).client!.close();
          return { kind: reason.kind, types: events.map((e) => tokenpool.LeaseEventType[e.type]), tokens: [...new Set(events.map((e) => e.token))] };
        }, pool);
        expect(ended.kind).toBe("released");
        expect(ended.types[0]).toBe("ASSIGNED");
        expect(ended.types.filter((t) => t === "RENEWED").length).toBeGreaterThanOrEqual(3);
        expect(ended.types.at(-1)).toBe("RELEASED");
        expect(ended.tokens).toEqual([acquired.token]);
        expect((await admin.service.getToken({ pool, token: acquired.token })).state).toBe(TokenState.FREE);
        // Binary messages in the chosen protocol went to the server's origin (so each was a CORS request).
        expect([...sent].sort()).toEqual(protocol === "connect" ? ["application/connect+proto", "application/proto"] : ["application/grpc-web+proto"]);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    }, 60_000);
  }

  it('refuses protocol "grpc" with a clear error', async () => {
    const { page } = await openClientPage(pages);
    try {
      const thrown = await page.evaluate((url) => {
        try {
          tokenpool.createTokenPoolClient({ baseUrl: url, protocol: "grpc" });
          return undefined;
        } catch (e) {
          return { unsupported: e instanceof tokenpool.UnsupportedProtocolError, message: String(e) };
        }
      }, s.url);
      expect(thrown).toEqual({ unsupported: true, message: expect.stringMatching(/protocol "grpc" needs HTTP\/2 trailers.*use "connect" or "grpc-web"/) });
    } finally {
      await page.close();
    }
  });

  it("gets nothing from a page whose origin the server does not allow", async () => {
    const { page } = await openClientPage(stranger);
    try {
      const outcome = await page.evaluate(async (url) => {
        const c = tokenpool.createTokenPoolClient({ baseUrl: url, password: "any", protocol: "connect", callTimeoutMs: 5000 });
        try {
          await c.service.listPools({});
          return "answered";
        } catch (e) {
          return tokenpool.describeError(e).message;
        } finally {
          await c.close();
        }
      }, s.url);
      expect(outcome).toMatch(/fetch/i); // the browser's own refusal (a CORS failure reads as a failed fetch)
    } finally {
      await page.close();
    }
  });

  it("runs the README's browser example as written (only the server address differs)", async () => {
    const example = clientExamples().browser;
    expect(example).toContain('"http://127.0.0.1:8080"');
    // Inside the repository (git-ignored), so "tokenpool/client" resolves to this package.
    const dir = mkdtempSync(join(ROOT, "test", "client-lib", ".readme-"));
    const file = join(dir, "browser-example.ts");
    writeFileSync(file, example.replace('"http://127.0.0.1:8080"', JSON.stringify(s.url)));
    let code: string;
    try {
      code = (await bundleForBrowser(file)).code;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    pages.add("readme", code);
    const page = await browser.newPage();
    const lines: string[] = [];
    const errors: string[] = [];
    page.on("console", (m) => lines.push(m.text()));
    page.on("pageerror", (e) => errors.push(e.message));
    // What a login form would have stored (this project's tsconfig has no DOM types, hence the cast).
    await page.addInitScript((pw) => (globalThis as unknown as { sessionStorage: { setItem(k: string, v: string): void } }).sessionStorage.setItem("tokenpool-password", pw), PASSWORD);
    try {
      await page.goto(`${pages.origin}/readme.html`);
      const until = Date.now() + 20_000;
      while (!lines.includes("done") && errors.length === 0 && Date.now() < until) await sleep(50);
      expect(errors).toEqual([]);
      expect(lines).toContain("done");
      const holding = lines.find((l) => l.startsWith("holding "));
      expect(holding).toMatch(/^holding \S+ \(generation \d+\)$/);
      expect(lines).toContain("still proven: true"); // 3 s on the default pool's 1 s TTL
      const events = lines.filter((l) => l.startsWith("event "));
      expect(events[0]).toMatch(/^event ASSIGNED /);
      expect(events.filter((l) => l.startsWith("event RENEWED ")).length).toBeGreaterThanOrEqual(3);
      expect(events).toContain(`event RELEASED ${holding!.split(" ")[1]}`);
      const pool = await admin.service.getPool({ name: "default" });
      expect(pool.pool).toMatchObject({ total: 1, held: 0 });
    } finally {
      await page.close();
    }
  }, 60_000);
});
