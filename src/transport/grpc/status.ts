// Wire errors for grpc-js calls: the ConnectError every handler throws (built from the one error
// table in ../errors.ts) as a grpc-js status, with the google.rpc.Status in grpc-status-details-bin
// exactly as connect-node sends it, so a client cannot tell the two engines apart by their errors.

import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { Metadata, type ServerErrorResponse, type status } from "@grpc/grpc-js";
import { StatusSchema } from "../../../gen/es/google/rpc/status_pb.js";
import { wellFormed } from "../errors.js";

export const STATUS_DETAILS_HEADER = "grpc-status-details-bin";

/** A grpc-js status error from anything a handler threw; what is not a ConnectError is INTERNAL. */
export function grpcError(e: unknown, requestId?: string): ServerErrorResponse {
  const error = ConnectError.from(e);
  const metadata = new Metadata();
  error.metadata.forEach((value, key) => {
    // Binary-suffixed keys carry base64 on the Connect side; none of ours do, so text keys only.
    if (!key.endsWith("-bin")) metadata.set(key, value);
  });
  if (requestId !== undefined) metadata.set("x-request-id", requestId);
  if (error.details.length > 0) {
    const status = create(StatusSchema, {
      code: error.code,
      message: error.rawMessage,
      details: error.details.map((d) =>
        "desc" in d ? anyPack(d.desc, create(d.desc, d.value)) : { typeUrl: `type.googleapis.com/${d.type}`, value: d.value },
      ),
    });
    metadata.set(STATUS_DETAILS_HEADER, Buffer.from(toBinary(StatusSchema, status)));
  }
  // Connect's codes are gRPC's, number for number.
  return Object.assign(new Error(error.rawMessage), { code: error.code as number as status, details: wellFormed(error.rawMessage), metadata });
}

/** The reason given to a handler's signal when grpc-js cancels its call (client gone, deadline, cut). */
export const CALL_CANCELLED = new ConnectError("the call was cancelled", Code.Canceled);
