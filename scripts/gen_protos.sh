#!/usr/bin/env bash
# Regenerate the gRPC/protobuf Python code from protos/ into src/ (committed; a test checks it is current).
# Usage: scripts/gen_protos.sh [OUT_DIR]   (default: src)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-src}"
"${PYTHON:-python}" -m grpc_tools.protoc -Iprotos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/dispatch/v1/dispatch.proto
touch "$out/dispatch/v1/__init__.py"
