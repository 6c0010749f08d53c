// Every service tokenpool serves as connect-es implementations, listed once: registered on a Connect
// router (the connect-es `routes(router)` pattern), and health and reflection also on the grpc-js
// engine, as specs. The token service is behind the password (the service decides), the others open.

import type { DescService } from "@bufbuild/protobuf";
import { createServiceImplSpec, type ConnectRouter, type ServiceImpl, type ServiceImplSpec } from "@connectrpc/connect";
import type { UniversalHandlerOptions } from "@connectrpc/connect/protocol";
import { file_google_rpc_error_details } from "../../../gen/es/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../../gen/es/google/rpc/status_pb.js";
import { file_grpc_health_v1_health, Health } from "../../../gen/es/grpc/health/v1/health_pb.js";
import * as reflectionV1 from "../../../gen/es/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "../../../gen/es/grpc/reflection/v1alpha/reflection_pb.js";
import { file_tokenpool_v1_token_service, TokenService } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import type { TokenServiceApi } from "../../service/token-service.js";
import { healthService } from "./health.js";
import { serveKeepAliveEncoders } from "./keep-alive-route.js";
import { reflectionServices } from "./reflection.js";
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
  /**
   * The options the Connect router is created with (connectNodeAdapter's): given, KeepAlive's Connect
   * unary POSTs are answered from the store's records (keep-alive-route.ts) under these same options;
   * absent, connect-node answers every KeepAlive itself.
   */
  readonly keepAliveEncoders?: Partial<UniversalHandlerOptions>;
}

/** One served service: its spec (what the grpc-js bridge serves) and how it goes onto a Connect router. */
export interface Served {
  readonly spec: ServiceImplSpec;
  readonly register: (router: ConnectRouter) => void;
}

function served<S extends DescService>(service: S, impl: ServiceImpl<S>): Served {
  return { spec: createServiceImplSpec(service, impl), register: (router) => void router.service(service, impl) };
}

/** The open services: grpc.health.v1 and server reflection v1 and v1alpha. */
export function openServices(notReadyReason: () => string | undefined): readonly Served[] {
  const reflection = reflectionServices(
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
  return [
    served(Health, healthService([TokenService.typeName], notReadyReason)),
    served(reflectionV1.ServerReflection, reflection.v1),
    served(reflectionV1alpha.ServerReflection, reflection.v1alpha),
  ];
}

export function routes(deps: RouteDeps, open: readonly Served[] = openServices(deps.notReadyReason)) {
  return (router: ConnectRouter): void => {
    const impl = tokenService(deps.service);
    router.service(TokenService, impl);
    if (deps.keepAliveEncoders) serveKeepAliveEncoders(router, impl.keepAlive, deps.keepAliveEncoders);
    for (const s of open) s.register(router);
  };
}
