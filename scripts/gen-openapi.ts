// Generates docs/openapi.json (OpenAPI 3.1) for the Connect JSON endpoints from the protobuf
// descriptors, comments included (buf build keeps source info), plus the legacy HTTP routes.
// `npm run docs:generate` rewrites it (with the Postman collection); CI regenerates it and fails on any difference.

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createFileRegistry, fromBinary, ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { getComments } from "@bufbuild/protoplugin";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVICE = "tokenpool.v1.TokenService";

type Schema = Record<string, unknown>;

const image = execFileSync(fileURLToPath(new URL("../node_modules/.bin/buf", import.meta.url)), ["build", "-o", "-", "--as-file-descriptor-set", "proto"], {
  cwd: ROOT,
});
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, image));
const service = registry.getService(SERVICE);
if (!service) throw new Error(`${SERVICE} not found`);

const schemas: Record<string, Schema> = {};

const describe = (desc: Parameters<typeof getComments>[0]): string | undefined =>
  getComments(desc).leading?.trim().replace(/\n /g, "\n") || undefined;

function scalar(t: ScalarType): Schema {
  switch (t) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return { type: "number" };
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      // The canonical JSON mapping writes 64-bit integers as strings.
      return { type: "string", pattern: "^-?[0-9]+$", description: "64-bit integer as a decimal string" };
    default:
      return { type: "integer" };
  }
}

function messageRef(m: DescMessage): Schema {
  if (m.typeName === "google.protobuf.Duration") return { type: "string", pattern: "^-?[0-9]+(\\.[0-9]+)?s$", examples: ["30s"] };
  if (m.typeName === "google.protobuf.Timestamp") return { type: "string", format: "date-time" };
  if (!schemas[m.typeName]) {
    schemas[m.typeName] = {}; // placeholder against recursion
    schemas[m.typeName] = messageSchema(m);
  }
  return { $ref: `#/components/schemas/${m.typeName}` };
}

function enumRef(e: DescEnum): Schema {
  schemas[e.typeName] ??= { type: "string", enum: e.values.map((v) => v.name), ...(describe(e) && { description: describe(e) }) };
  return { $ref: `#/components/schemas/${e.typeName}` };
}

function fieldSchema(f: DescField): Schema {
  const single = (): Schema => {
    switch (f.fieldKind) {
      case "scalar":
        return scalar(f.scalar);
      case "enum":
        return enumRef(f.enum);
      case "message":
        return messageRef(f.message);
      case "list":
        return {
          type: "array",
          items: f.listKind === "scalar" ? scalar(f.scalar) : f.listKind === "enum" ? enumRef(f.enum) : messageRef(f.message),
        };
      case "map":
        return {
          type: "object",
          additionalProperties: f.mapKind === "scalar" ? scalar(f.scalar) : f.mapKind === "enum" ? enumRef(f.enum) : messageRef(f.message),
        };
    }
  };
  const s = single();
  const d = describe(f);
  return d ? (s.$ref ? { allOf: [s], description: d } : { ...s, description: d }) : s;
}

function messageSchema(m: DescMessage): Schema {
  const properties: Record<string, Schema> = {};
  for (const f of m.fields) properties[f.jsonName] = fieldSchema(f);
  return { type: "object", ...(describe(m) && { description: describe(m) }), properties, additionalProperties: false };
}

const connectError: Schema = {
  type: "object",
  description: "Connect error. details[].type \"google.rpc.ErrorInfo\" carries the reason (see the README's error table).",
  properties: {
    code: { type: "string", examples: ["not_found"] },
    message: { type: "string" },
    details: {
      type: "array",
      items: { type: "object", properties: { type: { type: "string" }, value: { type: "string" }, debug: { type: "object" } } },
    },
  },
};

const paths: Record<string, Schema> = {};
for (const method of service.methods) {
  const streaming = method.methodKind === "server_streaming";
  paths[`/${SERVICE}/${method.name}`] = {
    post: {
      operationId: method.name,
      tags: ["TokenService"],
      summary: describe(method)?.split("\n")[0],
      description:
        (describe(method) ?? "") +
        (streaming ? "\n\nServer stream: send `content-type: application/connect+json` with an enveloped body (see the README)." : ""),
      security: [{ apiPassword: [] }, { bearer: [] }],
      requestBody: {
        required: true,
        content: { [streaming ? "application/connect+json" : "application/json"]: { schema: messageRef(method.input) } },
      },
      responses: {
        "200": { description: "OK", content: { [streaming ? "application/connect+json" : "application/json"]: { schema: messageRef(method.output) } } },
        default: { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/ConnectError" } } } },
      },
    },
  };
}

const legacyBody = (example: Record<string, unknown>): Schema => ({
  type: "object",
  properties: {
    available_tokens: { type: "integer" },
    info: { type: "string" },
    message: { type: "string" },
  },
  examples: [example],
});
const infoParam = { name: "info", in: "query", required: false, schema: { type: "string" }, description: 'Echoed back; default "No info provided".' };
const unauthorized = { description: "Missing or wrong X-API-PASSWORD", content: { "application/json": { schema: { type: "object", properties: { error: { type: "string", const: "Unauthorized" } } } } } };
paths["/issue_token"] = {
  get: {
    operationId: "legacyIssueToken",
    tags: ["Legacy"],
    summary: "Issue a token from the default pool (legacy API)",
    security: [{ apiPassword: [] }],
    parameters: [infoParam],
    responses: {
      "200": { description: "Issued", content: { "application/json": { schema: legacyBody({ available_tokens: 9, info: "example", message: "Token issued successfully." }) } } },
      "401": unauthorized,
      "429": { description: "None free", content: { "application/json": { schema: legacyBody({ available_tokens: 0, info: "example", message: "No tokens available." }) } } },
    },
  },
};
paths["/recycle_token"] = {
  get: {
    operationId: "legacyRecycleToken",
    tags: ["Legacy"],
    summary: "Return the oldest legacy token, or the named one (legacy API)",
    security: [{ apiPassword: [] }],
    parameters: [infoParam, { name: "token", in: "query", required: false, schema: { type: "string" } }],
    responses: {
      "200": { description: "Recycled", content: { "application/json": { schema: legacyBody({ available_tokens: 10, info: "example", message: "Token recycled successfully." }) } } },
      "400": { description: "Nothing held", content: { "application/json": { schema: legacyBody({ available_tokens: 10, info: "example", message: "All tokens are already available." }) } } },
      "401": unauthorized,
    },
  },
};
paths["/tokens"] = {
  get: {
    operationId: "legacyTokens",
    tags: ["Legacy"],
    summary: "Count free tokens of the default pool (legacy API)",
    security: [{ apiPassword: [] }],
    responses: {
      "200": { description: "Count", content: { "application/json": { schema: { type: "object", properties: { available_tokens: { type: "integer" } } } } } },
      "401": unauthorized,
    },
  },
};

const doc = {
  openapi: "3.1.0",
  info: {
    title: "tokenpool",
    version: "v1",
    description:
      "Pools of tokens handed out as leases that expire unless kept alive. These are the Connect JSON endpoints of " +
      "tokenpool.v1.TokenService (the same service is served over gRPC and gRPC-Web on the same port) and the legacy HTTP API. " +
      "JSON follows the canonical protobuf mapping: camelCase fields, 64-bit integers as strings, durations like \"30s\".",
  },
  servers: [{ url: "/" }],
  tags: [
    { name: "TokenService", description: describe(service) ?? "" },
    { name: "Legacy", description: "The older Python service's API, byte-compatible, on the default pool." },
  ],
  paths,
  components: {
    securitySchemes: {
      apiPassword: { type: "apiKey", in: "header", name: "X-API-PASSWORD" },
      bearer: { type: "http", scheme: "bearer" },
    },
    schemas: { ConnectError: connectError, ...Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))) },
  },
};

writeFileSync(`${ROOT}/docs/openapi.json`, JSON.stringify(doc, null, 2) + "\n");
process.stdout.write(`docs/openapi.json: ${Object.keys(paths).length} paths, ${Object.keys(schemas).length} schemas\n`);
