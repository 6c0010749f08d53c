// A real browser (Debian's headless Chromium, driven by playwright-core) opens /docs, authorizes with
// the password, runs AssignToken through Swagger UI's "Try it out", and sees the 200 response.

import { mkdirSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../harness/server.js";

const CHROMIUM = "/usr/bin/chromium";
// Without the background-networking flags Chromium keeps dialling out, which this closed network refuses.
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let s: TestServer;
let browser: Browser;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "3"]);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe("Swagger UI at /docs", () => {
  it("serves the generated OpenAPI document", async () => {
    const res = await fetch(`${s.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/tokenpool.v1.TokenService/AssignToken");
    expect(Object.keys(doc.paths)).toContain("/issue_token");
  });

  it("authorizes and executes AssignToken from the browser", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${s.url}/docs`);
      await page.locator("button.authorize").first().click();
      const dialog = page.locator(".auth-container").filter({ hasText: "X-API-PASSWORD" });
      await dialog.locator("input").fill(s.password);
      await dialog.locator("button.authorize").click();
      await page.locator("button.btn-done").first().click();

      const op = page.locator("#operations-TokenService-AssignToken");
      await op.locator(".opblock-summary").click();
      await op.locator("button.try-out__btn").click();
      await op.locator("textarea.body-param__text").fill(JSON.stringify({ pool: "default", owner: "browser" }));
      await op.locator("button.execute").click();

      const status = op.locator(".live-responses-table .response .response-col_status").first();
      await expect.poll(async () => (await status.textContent())?.trim(), { timeout: 15_000 }).toBe("200");
      const body = await op.locator(".live-responses-table .response-col_description pre").first().textContent();
      expect(body).toContain('"owner": "browser"');
      mkdirSync("test-results", { recursive: true });
      await page.screenshot({ path: "test-results/swagger-ui-assign.png", fullPage: true });
    } finally {
      await page.close();
    }
    // The lease is real: the pool shows it held.
    const pool = await fetch(`${s.url}/tokenpool.v1.TokenService/GetPool`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-password": s.password },
      body: JSON.stringify({ name: "default" }),
    });
    expect(((await pool.json()) as { pool: { held: number } }).pool.held).toBe(1);
  });
});
