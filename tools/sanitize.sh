#!/usr/bin/env bash
# The C++ side of fastinit under AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   bash tools/sanitize.sh [pytest args...]     (default: a short suite)
#
# 1. the header and kernel unit tests (CTest), built with the sanitizers
#    (CI runs these in tests/test_cpp.py);
# 2. the extension built with the sanitizers (CPU only) in a scratch copy of
#    the repository, and a short pytest run with libasan preloaded into
#    Python. Leak detection is off (CPython and torch keep allocations alive
#    on purpose at exit); any other report aborts the run.
# Needs the test environment of README.md (torch, pytest, scipy, cmake).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S "$root" -B "$scratch/cpp" -DFASTINIT_BUILD_LIBRARY=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" > /dev/null
cmake --build "$scratch/cpp" --parallel 2 > /dev/null
ctest --test-dir "$scratch/cpp" --output-on-failure

mkdir -p "$scratch/src"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$scratch/src")
cd "$scratch/src"
FASTINIT_CUDA=0 FASTINIT_SANITIZE=1 python setup.py build_ext --inplace > "$scratch/build.log" 2>&1 ||
  { tail -40 "$scratch/build.log"; exit 1; }
asan="$(${CXX:-g++} -print-file-name=libasan.so)"
ubsan="$(${CXX:-g++} -print-file-name=libubsan.so)"
if [ "$#" -eq 0 ]; then
  set -- tests/test_invariants.py tests/test_statistics.py tests/test_mixture.py tests/test_sharding.py \
    tests/test_properties.py tests/test_concurrency.py -k "not gil"
fi
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LD_PRELOAD="$asan $ubsan" PYTHONPATH="$scratch/src" python -m pytest -q -p no:cacheprovider "$@"
echo "sanitize.sh: no AddressSanitizer or UndefinedBehaviorSanitizer report"
