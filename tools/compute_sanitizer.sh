#!/usr/bin/env bash
# The CUDA kernels under NVIDIA's compute-sanitizer, for people with a GPU
# (the project's CI machine has none; it only compiles them).
#
#   bash tools/compute_sanitizer.sh [pytest args...]   (default: tests/test_cuda.py)
#
# Runs the CUDA tests once per tool: memcheck (out-of-bounds and misaligned
# accesses), racecheck (shared-memory races), initcheck (reads of
# uninitialized device memory) and synccheck (invalid synchronization).
# Needs a CUDA build of fastinit (pip install --no-build-isolation -e . with
# a CUDA torch and toolkit) and compute-sanitizer from the CUDA toolkit.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer="${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer"
python -c "import torch, fastinit._C as c; assert c.BUILT_WITH_CUDA and torch.cuda.is_available(), \
'needs a CUDA build of fastinit and a GPU'"
if [ "$#" -eq 0 ]; then
  set -- tests/test_cuda.py tests/test_deterministic_mode.py
fi
for tool in memcheck racecheck initcheck synccheck; do
  echo "== compute-sanitizer --tool $tool"
  # PyTorch's caching allocator hands out blocks larger than requested:
  # initcheck must not flag padding it never reads back.
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 "$sanitizer" --tool "$tool" --error-exitcode 1 \
    python -m pytest -q -p no:cacheprovider "$@"
done
echo "compute_sanitizer.sh: no reports"
