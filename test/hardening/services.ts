// Every RPC the server registers, read from the generated descriptors rather than listed by hand,
// so the fuzzer and the auth table pick up a new method or service without being edited.

import type { DescFile, DescMethod, DescService } from "@bufbuild/protobuf";
import { file_grpc_health_v1_health } from "../../gen/es/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../gen/es/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../gen/es/grpc/reflection/v1alpha/reflection_pb.js";
import { file_tokenpool_v1_token_service } from "../../gen/es/tokenpool/v1/token_service_pb.js";

/** The tokenpool API files: every service in them must sit behind the password. */
export const API_FILES: readonly DescFile[] = [file_tokenpool_v1_token_service];
/** Infrastructure services served without credentials, like /readyz. */
export const OPEN_FILES: readonly DescFile[] = [
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
];

export interface ServedMethod {
  readonly service: DescService;
  readonly method: DescMethod;
  /** True for the tokenpool API (password required), false for health and reflection. */
  readonly authenticated: boolean;
  readonly path: string;
}

export function servedMethods(): ServedMethod[] {
  const out: ServedMethod[] = [];
  const add = (files: readonly DescFile[], authenticated: boolean): void => {
    for (const file of files) {
      for (const service of file.services) {
        for (const method of service.methods) out.push({ service, method, authenticated, path: `/${service.typeName}/${method.name}` });
      }
    }
  };
  add(API_FILES, true);
  add(OPEN_FILES, false);
  return out;
}

/** Method descriptor by request path, for the oracle. */
export function methodsByPath(): ReadonlyMap<string, ServedMethod> {
  return new Map(servedMethods().map((m) => [m.path, m]));
}
