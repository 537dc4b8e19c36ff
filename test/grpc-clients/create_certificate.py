"""One CreateCertificate call through Python's grpcio, as a test of meshsign's gRPC servers.

The messages and stub are generated from the repository's proto (proto/istio/v1/auth/ca.proto)
with grpcio-tools into a temporary folder on each run. Prints one JSON line on stdout:
{"ok": true, "certChain": [...]} or {"ok": false, "code": "UNAUTHENTICATED", "details": "..."}.
Exit status 0 either way (a refusal is an answer); anything else is a failure of the script.
"""

import argparse
import importlib
import json
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")


def generate(out_dir):
    # grpc_tools ships the well-known types (google/protobuf/struct.proto) beside protoc.
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        os.path.join(PROTO_ROOT, "istio", "v1", "auth", "ca.proto"),
    ])
    if rc != 0:
        raise SystemExit(f"protoc failed with {rc}")
    sys.path.insert(0, out_dir)
    return importlib.import_module("istio.v1.auth.ca_pb2"), importlib.import_module("istio.v1.auth.ca_pb2_grpc")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--address", required=True)
    p.add_argument("--root-cert", required=True)
    p.add_argument("--server-name", default="localhost")
    p.add_argument("--token", default="")
    p.add_argument("--csr-file", required=True)
    p.add_argument("--cluster-id", default="")
    p.add_argument("--ttl", type=int, default=3600)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--method", default="", help="call this path instead (the request is the same message)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as out_dir:
        ca_pb2, ca_pb2_grpc = generate(out_dir)
        with open(args.root_cert, "rb") as f:
            roots = f.read()
        with open(args.csr_file, "r", encoding="utf-8") as f:
            csr = f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=roots)
        options = [("grpc.ssl_target_name_override", args.server_name)]
        metadata = []
        if args.token:
            metadata.append(("authorization", f"Bearer {args.token}"))
        if args.cluster_id:
            metadata.append(("clusterid", args.cluster_id))
        request = ca_pb2.IstioCertificateRequest(csr=csr, validity_duration=args.ttl)
        with grpc.secure_channel(args.address, creds, options=options) as channel:
            if args.method:
                call = channel.unary_unary(
                    args.method,
                    request_serializer=ca_pb2.IstioCertificateRequest.SerializeToString,
                    response_deserializer=ca_pb2.IstioCertificateResponse.FromString,
                )
            else:
                call = ca_pb2_grpc.IstioCertificateServiceStub(channel).CreateCertificate
            try:
                response = call(request, metadata=metadata, timeout=args.timeout)
            except grpc.RpcError as err:
                print(json.dumps({"ok": False, "code": err.code().name, "details": err.details()}))
                return
            print(json.dumps({"ok": True, "certChain": list(response.cert_chain)}))


if __name__ == "__main__":
    main()
