// A deliberately thin unary client over h2c with node:http2, speaking Connect (binary) or gRPC: on two
// shared cores a full client library costs as much CPU per call as the server it should measure.

import { connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { envelope } from "../../test/harness/envelope.js";

export type UnaryProtocol = "connect" | "grpc";

export class UnaryError extends Error {
  constructor(status: string, body: string) {
    super(`${status}: ${body}`);
  }
}

export class H2UnaryClient {
  private readonly session: ClientHttp2Session;

  constructor(
    baseUrl: string,
    private readonly password: string,
    private readonly protocol: UnaryProtocol = "connect",
  ) {
    this.session = connect(baseUrl);
    this.session.on("error", () => undefined);
  }

  call<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    request: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const grpc = this.protocol === "grpc";
    const message = toBinary(input, create(input, request));
    const headers: OutgoingHttpHeaders = {
      [constants.HTTP2_HEADER_METHOD]: "POST",
      [constants.HTTP2_HEADER_PATH]: path,
      "x-api-password": this.password,
      ...(grpc ? { "content-type": "application/grpc", te: "trailers" } : { "content-type": "application/proto", "connect-protocol-version": "1" }),
    };
    return new Promise((resolve, reject) => {
      const stream = this.session.request(headers);
      const chunks: Buffer[] = [];
      let status = "";
      let grpcMessage = "";
      const grpcOutcome = (h: Record<string, unknown>): void => {
        if (h["grpc-status"] === undefined) return;
        status = String(h["grpc-status"]);
        grpcMessage = decodeURIComponent(String(h["grpc-message"] ?? ""));
      };
      stream.on("response", (h) => (grpc ? grpcOutcome(h) : (status = String(h[constants.HTTP2_HEADER_STATUS])))); // gRPC: trailers-only errors
      stream.on("trailers", grpcOutcome);
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", reject);
      stream.on("end", () => {
        const data = Buffer.concat(chunks);
        if (!grpc) {
          if (status !== "200") reject(new UnaryError(`HTTP ${status}`, data.toString("utf8")));
          else resolve(fromBinary(output, data));
        } else if (status !== "0") {
          reject(new UnaryError(`grpc-status ${status || "none"}`, grpcMessage));
        } else {
          // A unary gRPC answer is one uncompressed envelope: flag byte, 4-byte length, message.
          resolve(fromBinary(output, data.subarray(5, 5 + data.readUInt32BE(1))));
        }
      });
      stream.end(grpc ? envelope(0, message) : message);
    });
  }

  close(): void {
    this.session.close();
  }
}
