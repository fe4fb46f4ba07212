// Unit tests of the CPU kernel tables (csrc/cpu/isa_*.cpp, torch-free): on
// every instruction set this CPU has, each kernel fills any [start, start +
// count) exactly as the portable kernels do (float32 bit for bit), at every
// alignment and length up to kMaxKernelElements. Run by CTest and, built
// with AddressSanitizer and UndefinedBehaviorSanitizer, by tests/test_cpp.py.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../../csrc/cpu/kernel_table.h"
#include "fastinit/philox.h"

namespace {

using fastinit::cpu::KernelTable;
using fastinit::cpu::kMaxKernelElements;

int failures = 0;

// Every float32 kernel of `table`, as fill(start, count, out).
template <typename Fill>
void compare(const char* name, const KernelTable& table, Fill fill) {
  const KernelTable& reference = fastinit::cpu::portable_kernels();
  const int64_t counts[] = {1, 3, 4, 5, 17, 63, 64, 65, 255, 1000, 1024, 4093, kMaxKernelElements};
  // The last start puts the 2^32-th block inside the first vectors, whose
  // counters then differ in two words (Note [counters that differ in one word]).
  for (int64_t start : {INT64_C(0), INT64_C(4), INT64_C(4096), INT64_C(1) << 33,
                        (INT64_C(1) << 34) - 36}) {
    for (int64_t count : counts) {
      // Guard elements around the output catch writes past either end.
      std::vector<float> expected(count + 32, 7.0f), actual(count + 32, 7.0f);
      fill(reference, start, count, expected.data() + 16);
      fill(table, start, count, actual.data() + 16);
      if (std::memcmp(expected.data(), actual.data(), sizeof(float) * expected.size()) != 0) {
        std::printf("%s: %s differs from portable at start %lld, count %lld\n", table.name, name,
                    static_cast<long long>(start), static_cast<long long>(count));
        ++failures;
      }
    }
  }
}

// A 16-bit kernel of `table` (Note [16-bit outputs]) against the portable
// float32 kernel rounded by `table`'s buffer conversion `round`, at every
// start and length of compare().
template <typename Params>
void compare16(const char* name, const KernelTable& table, const Params& p,
               void (*fill32)(const Params&, int64_t, int64_t, float*),
               void (*fill16)(const Params&, int64_t, int64_t, uint16_t*),
               void (*round)(const float*, int64_t, uint16_t*)) {
  if (fill16 == nullptr) {
    return;
  }
  const int64_t counts[] = {1, 3, 4, 5, 17, 63, 64, 65, 255, 1000, 1024, 4093, kMaxKernelElements};
  for (int64_t start : {INT64_C(0), INT64_C(4), INT64_C(4096), (INT64_C(1) << 34) - 36}) {
    for (int64_t count : counts) {
      std::vector<float> values(count);
      std::vector<uint16_t> expected(count + 32, 7), actual(count + 32, 7);
      fill32(p, start, count, values.data());
      round(values.data(), count, expected.data() + 16);
      fill16(p, start, count, actual.data() + 16);
      if (expected != actual) {
        std::printf("%s: %s differs from rounded float32 at start %lld, count %lld\n", table.name,
                    name, static_cast<long long>(start), static_cast<long long>(count));
        ++failures;
      }
    }
  }
}

void test_16_bit_kernels(const KernelTable& table) {
  const KernelTable& portable = fastinit::cpu::portable_kernels();
  const fastinit::PhiloxKey key = fastinit::philox_key_from_seed(777);
  // Values that round up, overflow to infinity, or are NaN.
  const fastinit::UniformParams<float> uniforms[] = {{key, -2.0f, 5.0f}, {key, 3.0e38f, 3.0e38f}};
  const fastinit::NormalParams<float> normals[] = {
      {key, 0.5f, 2.0f}, {key, 1.0f, INFINITY}, {key, NAN, 1.0f}};
  for (const auto& p : uniforms) {
    compare16("bfloat16 uniform", table, p, portable.uniform, table.bfloat16.uniform,
              portable.to_bfloat16);
    compare16("float16 uniform", table, p, portable.uniform, table.half.uniform, table.to_half);
  }
  for (const auto& p : normals) {
    compare16("bfloat16 normal", table, p, portable.normal, table.bfloat16.normal,
              portable.to_bfloat16);
    compare16("float16 normal", table, p, portable.normal, table.half.normal, table.to_half);
  }
  // Each proposal, retries included, and an interval that never rejects.
  const double intervals[][2] = {{-2.0, 2.0}, {0.1, 0.2}, {3.0, 40.0}, {-8.0, 8.0}};
  for (const auto& ab : intervals) {
    const auto p = fastinit::TruncNormalParams<float>::make(key, 0.0, 1.0, ab[0], ab[1]);
    compare16("bfloat16 trunc_normal", table, p, portable.trunc_normal,
              table.bfloat16.trunc_normal, portable.to_bfloat16);
    compare16("float16 trunc_normal", table, p, portable.trunc_normal, table.half.trunc_normal,
              table.to_half);
  }
}

void test_table(const KernelTable& table) {
  const fastinit::PhiloxKey key = fastinit::philox_key_from_seed(12345);
  const auto uniform = fastinit::UniformParams<float>{key, -2.0f, 5.0f};
  compare("uniform", table, [&](const KernelTable& t, int64_t s, int64_t n, float* out) {
    t.uniform(uniform, s, n, out);
  });
  const auto normal = fastinit::NormalParams<float>{key, 0.5f, 2.0f};
  compare("normal", table, [&](const KernelTable& t, int64_t s, int64_t n, float* out) {
    t.normal(normal, s, n, out);
  });
  // Each proposal of the truncated normal, a rejection-heavy one, a point.
  const double intervals[][2] = {{-2.0, 2.0}, {0.1, 0.2}, {3.0, 40.0}, {-0.01, 0.01}, {1.0, 1.0}};
  for (const auto& ab : intervals) {
    const auto p = fastinit::TruncNormalParams<float>::make(key, 0.0, 1.0, ab[0], ab[1]);
    compare("trunc_normal", table, [&](const KernelTable& t, int64_t s, int64_t n, float* out) {
      t.trunc_normal(p, s, n, out);
    });
  }
  const double probabilities[] = {0.25, 0.5, 0.25};
  const int64_t kinds[] = {1, 3, 2};
  const double parameters[] = {5.0, 10.0, 0.0, 0.0,  // uniform
                               0.0, 1.0, 2.5, 3.0,   // truncated normal
                               0.0, 0.02, 0.0, 0.0};  // normal
  const auto mixture = fastinit::MixtureParams::make(key, 3, probabilities, kinds, parameters);
  compare("mixture", table, [&](const KernelTable& t, int64_t s, int64_t n, float* out) {
    t.mixture(mixture, s, n, out);
  });
  // 16-bit conversions against the portable ones (NaN and infinities too).
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = std::ldexp(static_cast<float>(i) - 500.0f, static_cast<int>(i % 40) - 20);
  }
  values[1] = NAN;
  values[2] = INFINITY;
  values[3] = -65520.0f;
  for (int64_t n : {INT64_C(1), INT64_C(15), INT64_C(1000)}) {
    std::vector<uint16_t> expected(n + 8, 1), actual(n + 8, 1);
    fastinit::cpu::portable_kernels().to_bfloat16(values.data(), n, expected.data());
    table.to_bfloat16(values.data(), n, actual.data());
    if (expected != actual) {
      std::printf("%s: to_bfloat16 differs\n", table.name);
      ++failures;
    }
  }
}

}  // namespace

int main() {
  test_table(fastinit::cpu::portable_kernels());
  test_16_bit_kernels(fastinit::cpu::portable_kernels());
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    test_table(fastinit::cpu::avx2_kernels());
    test_16_bit_kernels(fastinit::cpu::avx2_kernels());
  }
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    test_table(fastinit::cpu::avx512_kernels());
    test_16_bit_kernels(fastinit::cpu::avx512_kernels());
  }
  if (failures == 0) {
    std::printf("all kernel tests passed\n");
  }
  return failures == 0 ? 0 : 1;
}
