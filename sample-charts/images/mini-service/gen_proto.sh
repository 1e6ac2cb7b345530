#!/usr/bin/env bash
# Regenerates the committed gRPC stubs of the mini-service probe from
# mini_service/inference_v2.proto. The stubs are committed so neither the
# image build nor the local launch needs grpcio-tools.
#
# Usage: sample-charts/images/mini-service/gen_proto.sh
# PYTHON overrides the interpreter; it must have grpcio-tools installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_venv_python="${here}/../../../.venv/bin/python"
if [[ -n "${PYTHON:-}" ]]; then
  python="${PYTHON}"
elif [[ -x "${repo_venv_python}" ]]; then
  python="${repo_venv_python}"
else
  python="python3"
fi

cd "${here}"
# Running from the package's parent makes the generated *_pb2_grpc.py import
# its sibling as `from mini_service import ...`, which works both on the
# launcher's PYTHONPATH and inside the image.
"${python}" -m grpc_tools.protoc \
  --proto_path=. \
  --python_out=. \
  --pyi_out=. \
  --grpc_python_out=. \
  mini_service/inference_v2.proto
echo "regenerated: mini_service/inference_v2_pb2.py mini_service/inference_v2_pb2.pyi mini_service/inference_v2_pb2_grpc.py"
