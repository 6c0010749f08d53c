// Request bodies for the measured RPCs, written once to files h2load (-d) and wrk read: the same
// message as a gRPC frame, as Connect binary and as Connect JSON, so every protocol sends the same.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary, toJsonString, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { AssignTokenRequestSchema, KeepAliveRequestSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { envelope } from "../../test/harness/envelope.js";

export const SERVICE_PATH = "/tokenpool.v1.TokenService";
/** A pool big enough that every AssignToken of a run succeeds. */
export const ASSIGN_POOL = "assign";
/** A pool of 100 tokens with known ids, all held, for KeepAlive. */
export const KEEPALIVE_POOL = "ka";
export const KEEPALIVE_IDS = Array.from({ length: 100 }, (_, i) => `ka-${String(i).padStart(3, "0")}`);
export const OWNER = "bench";

export type Rpc = "assign" | "ka1" | "ka100";
export type Encoding = "grpc" | "proto" | "json";

export interface BodyFiles {
  /** Path of the body file for an RPC in an encoding. */
  file(rpc: Rpc, encoding: Encoding): string;
}

export const rpcPath: Record<Rpc, string> = {
  assign: `${SERVICE_PATH}/AssignToken`,
  ka1: `${SERVICE_PATH}/KeepAlive`,
  ka100: `${SERVICE_PATH}/KeepAlive`,
};

function encodings<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Record<Encoding, Buffer> {
  const message = create(schema, init);
  const binary = toBinary(schema, message);
  return { grpc: envelope(0, binary), proto: Buffer.from(binary), json: Buffer.from(toJsonString(schema, message)) };
}

export function writeBodies(dir: string): BodyFiles {
  const messages: Record<Rpc, Record<Encoding, Buffer>> = {
    assign: encodings(AssignTokenRequestSchema, { pool: ASSIGN_POOL, owner: OWNER }),
    ka1: encodings(KeepAliveRequestSchema, { pool: KEEPALIVE_POOL, tokens: KEEPALIVE_IDS.slice(0, 1) }),
    ka100: encodings(KeepAliveRequestSchema, { pool: KEEPALIVE_POOL, tokens: KEEPALIVE_IDS }),
  };
  const file = (rpc: Rpc, encoding: Encoding): string => join(dir, `${rpc}.${encoding}`);
  for (const rpc of Object.keys(messages) as Rpc[]) {
    for (const encoding of ["grpc", "proto", "json"] as const) writeFileSync(file(rpc, encoding), messages[rpc][encoding]);
  }
  return { file };
}
