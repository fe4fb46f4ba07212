#!/usr/bin/env bash
# The GPU check in one command (tools/gpu_check.py says what it runs):
#   bash tools/gpu_check.sh OUT_DIR [--plan]
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" tools/gpu_check.py "$@"
