// Registers every Connect service on a router (the connect-es `routes(router)` pattern): the token
// service behind the password, health and reflection open.

import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { file_google_rpc_error_details } from "../../../gen/es/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../../gen/es/google/rpc/status_pb.js";
import { file_grpc_health_v1_health, Health } from "../../../gen/es/grpc/health/v1/health_pb.js";
import * as reflectionV1 from "../../../gen/es/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "../../../gen/es/grpc/reflection/v1alpha/reflection_pb.js";
import { file_tokenpool_v1_token_service, TokenService } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import type { TokenServiceApi } from "../../service/token-service.js";
import { healthRoutes } from "./health.js";
import { reflectionRoutes } from "./reflection.js";
import { tokenService } from "./token-service.js";

/** Services that require the API password; health and reflection stay open, like /readyz. */
export const PROTECTED: readonly DescService[] = [TokenService];
export const PROTECTED_SERVICES: ReadonlySet<string> = new Set(PROTECTED.map((s) => s.typeName));

const SERVED = [
  TokenService.typeName,
  Health.typeName,
  reflectionV1.ServerReflection.typeName,
  reflectionV1alpha.ServerReflection.typeName,
];

export interface RouteDeps {
  /** The transport-neutral TokenService the Connect handlers adapt. */
  readonly service: TokenServiceApi;
  /** Undefined when ready; why not otherwise (drives the health service). */
  readonly notReadyReason: () => string | undefined;
}

export function routes(deps: RouteDeps) {
  const health = healthRoutes([TokenService.typeName], deps.notReadyReason);
  const reflection = reflectionRoutes(
    [
      file_tokenpool_v1_token_service,
      file_grpc_health_v1_health,
      reflectionV1.file_grpc_reflection_v1_reflection,
      reflectionV1alpha.file_grpc_reflection_v1alpha_reflection,
      // Not imported by the service, but every error carries these as details: listed so that a
      // reflection client can resolve and decode ErrorInfo / BadRequest (grpcurl does).
      file_google_rpc_error_details,
      file_google_rpc_status,
    ],
    SERVED,
  );
  return (router: ConnectRouter): void => {
    router.service(TokenService, tokenService(deps.service));
    health(router);
    reflection(router);
  };
}
