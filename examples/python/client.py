"""tokenpool from Python with grpcio: create a pool, lease a token, keep it alive, release it, replay its events.

Generate the stubs first (the test does this in a temp dir):
  python3 -m grpc_tools.protoc -I proto --python_out=OUT --grpc_python_out=OUT \
      proto/tokenpool/v1/token_service.proto proto/google/rpc/error_details.proto proto/google/rpc/status.proto
then run with PYTHONPATH=OUT, TOKENPOOL_URL=http://127.0.0.1:8080 and TOKENPOOL_PASSWORD=...
"""
import os
import sys
import uuid

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from tokenpool.v1 import token_service_pb2 as pb
from tokenpool.v1 import token_service_pb2_grpc as rpc


def error_reason(err: grpc.RpcError) -> str:
    """The ErrorInfo reason from the grpc-status-details-bin trailer."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return ""


def main() -> int:
    target = os.environ["TOKENPOOL_URL"].removeprefix("http://")
    auth = (("x-api-password", os.environ["TOKENPOOL_PASSWORD"]),)
    pool = "py-" + uuid.uuid4().hex[:8]
    with grpc.insecure_channel(target) as channel:
        stub = rpc.TokenServiceStub(channel)
        created = stub.CreatePool(
            pb.CreatePoolRequest(name=pool, initial_tokens=1, lease_ttl=duration_pb2.Duration(seconds=30)), metadata=auth
        ).pool

        lease = stub.AssignToken(pb.AssignTokenRequest(pool=pool, owner="python"), metadata=auth).lease
        print(f"assigned {lease.token} generation {lease.generation}")
        renewed = stub.KeepAlive(pb.KeepAliveRequest(pool=pool, tokens=[lease.token]), metadata=auth)
        print("keep-alive", pb.KeepAliveStatus.Name(renewed.results[0].status))

        try:
            stub.AssignToken(pb.AssignTokenRequest(pool=pool, owner="python-2"), metadata=auth)
            print("unexpected: a second token")
            return 1
        except grpc.RpcError as err:
            print(f"second assign: {err.code().name} {error_reason(err)}")

        stub.ReleaseToken(
            pb.ReleaseTokenRequest(pool=pool, token=lease.token, generation=lease.generation, owner="python"), metadata=auth
        )
        print("released")

        # Replay the pool's events since it was created (then it would go on live): a watcher that
        # remembers the last sequence it saw resumes like this after a disconnect.
        events = []
        watch = stub.WatchLeases(pb.WatchLeasesRequest(pool=pool, after_sequence=created.sequence), metadata=auth, timeout=10)
        for msg in watch:
            if msg.HasField("event"):
                events.append(pb.LeaseEventType.Name(msg.event.type))
                if msg.event.type == pb.LEASE_EVENT_TYPE_RELEASED:
                    break
        watch.cancel()
        print("events", " ".join(events))

        stub.DeletePool(pb.DeletePoolRequest(name=pool), metadata=auth)
        try:
            stub.GetPool(pb.GetPoolRequest(name=pool), metadata=auth)
            print("unexpected: the pool is still there")
            return 1
        except grpc.RpcError as err:
            print(f"after delete: {err.code().name} {error_reason(err)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
