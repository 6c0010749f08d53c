// A deliberately thin gRPC unary client (protobuf over h2c with node:http2, the path generated gRPC
// clients take), so a server-level bench measures the server's default engine, not a client library.

import { connect, constants, type ClientHttp2Session } from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { envelope } from "../../test/harness/envelope.js";

export class GrpcCallError extends Error {
  constructor(
    readonly grpcStatus: string,
    message: string,
  ) {
    super(`grpc-status ${grpcStatus}: ${message}`);
  }
}

export class H2GrpcClient {
  private readonly session: ClientHttp2Session;

  constructor(
    baseUrl: string,
    private readonly password: string,
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
    const body = envelope(0, toBinary(input, create(input, request)));
    return new Promise((resolve, reject) => {
      const stream = this.session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        "content-type": "application/grpc",
        te: "trailers",
        "x-api-password": this.password,
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = "";
      const outcome = (h: Record<string, unknown>): void => {
        if (h["grpc-status"] === undefined) return;
        status = String(h["grpc-status"]);
        message = decodeURIComponent(String(h["grpc-message"] ?? ""));
      };
      stream.on("response", outcome); // trailers-only errors
      stream.on("trailers", outcome);
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", reject);
      stream.on("end", () => {
        if (status !== "0") return reject(new GrpcCallError(status ?? "none", message));
        // A unary answer is one uncompressed envelope: flag byte, 4-byte length, message.
        const data = Buffer.concat(chunks);
        resolve(fromBinary(output, data.subarray(5, 5 + data.readUInt32BE(1))));
      });
      stream.end(body);
    });
  }

  close(): void {
    this.session.close();
  }
}
