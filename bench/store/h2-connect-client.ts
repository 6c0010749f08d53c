// A deliberately thin Connect unary client (binary protobuf over h2c with node:http2) for load: on two
// shared cores a full client library costs as much CPU per call as the server it should measure.

import { connect, constants, type ClientHttp2Session } from "node:http2";
import { fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";

export class UnaryError extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`HTTP ${status}: ${body}`);
  }
}

export class H2ConnectClient {
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
    const body = toBinary(input, create(input, request));
    return new Promise((resolve, reject) => {
      const stream = this.session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        "content-type": "application/proto",
        "connect-protocol-version": "1",
        "x-api-password": this.password,
      });
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on("response", (h) => (status = Number(h[constants.HTTP2_HEADER_STATUS])));
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", reject);
      stream.on("end", () => {
        const data = Buffer.concat(chunks);
        if (status !== 200) reject(new UnaryError(status, data.toString("utf8")));
        else resolve(fromBinary(output, data));
      });
      stream.end(body);
    });
  }

  close(): void {
    this.session.close();
  }
}
