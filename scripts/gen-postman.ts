// Writes docs/tokenpool.postman_collection.json: every RPC (Connect JSON) and legacy route, in an
// order that runs as a story (create a pool, lease, renew, release, clean up), with Postman tests.
// Variables: baseUrl, password (and pool/token/generation set as the run goes).

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const OUT = fileURLToPath(new URL("../docs/tokenpool.postman_collection.json", import.meta.url));

interface Step {
  readonly name: string;
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: Record<string, unknown>;
  readonly tests: string[];
  readonly description: string;
}

const rpc = (name: string, body: Record<string, unknown>, description: string, tests: string[]): Step => ({
  name,
  method: "POST",
  path: `/tokenpool.v1.TokenService/${name}`,
  body,
  description,
  tests,
});
const status = (code: number) => `pm.test("status ${code}", () => pm.response.to.have.status(${code}));`;

const steps: Step[] = [
  rpc("CreatePool", { name: "{{pool}}", leaseTtl: "30s", idleTtl: "300s", maxTokens: 10, initialTokens: 2 }, "Create a pool with two random tokens.", [
    status(200),
    'pm.test("pool created", () => pm.expect(pm.response.json().pool.total).to.eql(2));',
  ]),
  rpc("GetPool", { name: "{{pool}}" }, "Read a pool's configuration and counters.", [status(200), 'pm.test("name", () => pm.expect(pm.response.json().pool.name).to.eql(pm.variables.get("pool")));']),
  rpc("ListPools", { pageSize: 100 }, "List pools in name order.", [status(200), 'pm.test("lists the pool", () => pm.expect(pm.response.json().pools.map(p => p.name)).to.include(pm.variables.get("pool")));']),
  rpc("GenerateTokens", { pool: "{{pool}}", tokens: ["postman-a", "postman-b"] }, "Add tokens with the given ids (or `count` random ones).", [
    status(200),
    'pm.test("added", () => pm.expect(pm.response.json().tokens).to.eql(["postman-a", "postman-b"]));',
  ]),
  rpc("AssignToken", { pool: "{{pool}}", owner: "postman", requestId: "postman-1" }, "Lease a random free token; the test stores token and generation.", [
    status(200),
    'const lease = pm.response.json().lease; pm.collectionVariables.set("token", lease.token); pm.collectionVariables.set("generation", lease.generation);',
    'pm.test("leased to postman", () => pm.expect(lease.owner).to.eql("postman"));',
  ]),
  rpc("KeepAlive", { pool: "{{pool}}", tokens: ["{{token}}"] }, "Extend the lease and refresh the idle deadline.", [
    status(200),
    'pm.test("renewed", () => pm.expect(pm.response.json().results[0].status).to.eql("KEEP_ALIVE_STATUS_OK"));',
  ]),
  rpc("GetToken", { pool: "{{pool}}", token: "{{token}}" }, "Read one token's state and lease.", [
    status(200),
    'pm.test("held", () => pm.expect(pm.response.json().state).to.eql("TOKEN_STATE_HELD"));',
  ]),
  rpc("ReleaseToken", { pool: "{{pool}}", token: "{{token}}", generation: "{{generation}}", owner: "postman" }, "Return the token (fenced by generation and owner).", [
    status(200),
  ]),
  rpc("ReleaseToken", { pool: "{{pool}}", token: "{{token}}" }, "Releasing a free token fails with FAILED_PRECONDITION / NOT_HELD.", [
    status(400),
    'pm.test("not held", () => pm.expect(pm.response.json().code).to.eql("failed_precondition"));',
  ]),
  rpc("UpdatePool", { name: "{{pool}}", maxLeasesPerOwner: 2 }, "Set an owner quota (fields left out stay as they are).", [
    status(200),
    'pm.test("quota set", () => pm.expect(pm.response.json().pool.maxLeasesPerOwner).to.eql(2));',
  ]),
  rpc("AssignTokens", { pool: "{{pool}}", owner: "postman-gang", count: 2 }, "Lease two tokens at once, all or none (a gang).", [
    status(200),
    'pm.test("two leases", () => pm.expect(pm.response.json().leases).to.have.lengthOf(2));',
  ]),
  rpc("AssignToken", { pool: "{{pool}}", owner: "postman-gang" }, "Over the owner's quota: RESOURCE_EXHAUSTED (HTTP 429), reason OWNER_QUOTA_EXCEEDED with the numbers.", [
    status(429),
    'pm.test("over quota", () => pm.expect(pm.response.json().details[0].debug.reason).to.eql("OWNER_QUOTA_EXCEEDED"));',
  ]),
  rpc("ListTokens", { pool: "{{pool}}", state: "TOKEN_STATE_HELD", pageSize: 10 }, "Page through tokens in id order, here only held ones.", [
    status(200),
    'pm.test("the gang", () => pm.expect(pm.response.json().tokens).to.have.lengthOf(2));',
  ]),
  rpc("CordonToken", { pool: "{{pool}}", token: "postman-a" }, "Take a token out of service (a lease on it runs on).", [
    status(200),
    'pm.test("cordoned", () => pm.expect(pm.response.json().token.cordoned).to.eql(true));',
  ]),
  rpc("UncordonToken", { pool: "{{pool}}", token: "postman-a" }, "Put it back in service.", [status(200)]),
  rpc("DeleteToken", { pool: "{{pool}}", token: "postman-b" }, "Remove a token from the pool.", [status(200)]),
  rpc("DeletePool", { name: "{{pool}}" }, "Delete the pool.", [status(200)]),
  rpc("AssignToken", { pool: "{{pool}}", owner: "postman" }, "A missing pool is NOT_FOUND (HTTP 404) with reason POOL_NOT_FOUND.", [
    status(404),
    'pm.test("not found", () => pm.expect(pm.response.json().code).to.eql("not_found"));',
  ]),
  { name: "tokens (legacy)", method: "GET", path: "/tokens", description: "Free tokens of the default pool.", tests: [status(200), 'pm.test("count", () => pm.expect(pm.response.json()).to.have.property("available_tokens"));'] },
  {
    name: "issue_token (legacy)",
    method: "GET",
    path: "/issue_token?info=postman",
    description: "Issue a token from the default pool (429 when none is free).",
    tests: [status(200), 'pm.test("issued", () => pm.expect(pm.response.json().message).to.eql("Token issued successfully."));'],
  },
  {
    name: "recycle_token (legacy)",
    method: "GET",
    path: "/recycle_token?info=postman",
    description: "Return the oldest legacy token.",
    tests: [status(200), 'pm.test("recycled", () => pm.expect(pm.response.json().message).to.eql("Token recycled successfully."));'],
  },
];

const collection = {
  info: {
    name: "tokenpool",
    description: "Every TokenService RPC over Connect JSON, plus the legacy HTTP API. Set baseUrl and password. WatchLeases is a server stream and is not callable from Postman's HTTP client; use curl (README) or a gRPC client.",
    schema: "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
  },
  variable: [
    { key: "baseUrl", value: "http://127.0.0.1:8080" },
    { key: "password", value: "change-me" },
    { key: "pool", value: "postman" },
    { key: "token", value: "" },
    { key: "generation", value: "" },
  ],
  auth: { type: "apikey", apikey: [{ key: "key", value: "X-API-PASSWORD" }, { key: "value", value: "{{password}}" }, { key: "in", value: "header" }] },
  item: steps.map((s) => ({
    name: s.name,
    request: {
      method: s.method,
      description: s.description,
      header: s.body ? [{ key: "Content-Type", value: "application/json" }] : [],
      url: { raw: `{{baseUrl}}${s.path}`, host: ["{{baseUrl}}"], path: s.path.split("?")[0]!.split("/").filter(Boolean), ...(s.path.includes("?") && { query: [...new URLSearchParams(s.path.split("?")[1])].map(([key, value]) => ({ key, value })) }) },
      ...(s.body && { body: { mode: "raw", raw: JSON.stringify(s.body, null, 2), options: { raw: { language: "json" } } } }),
    },
    event: [{ listen: "test", script: { type: "text/javascript", exec: s.tests } }],
  })),
};

writeFileSync(OUT, JSON.stringify(collection, null, 2) + "\n");
process.stdout.write(`docs/tokenpool.postman_collection.json: ${steps.length} requests\n`);
