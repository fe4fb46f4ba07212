// Unit tests of the torch-free headers (run by CTest and tests/test_cpp.py).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "fastinit/distributions.h"
#include "fastinit/lanes.h"
#include "fastinit/launches.h"
#include "fastinit/layout.h"
#include "fastinit/philox.h"
#include "fastinit/scalar_lanes.h"

namespace {

int failures = 0;

#define EXPECT(cond)                                                \
  do {                                                              \
    if (!(cond)) {                                                  \
      std::printf("%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                   \
    }                                                               \
  } while (0)

using namespace fastinit;

// Random123's kat_vectors for philox4x32 with 10 rounds:
// counter (4 words), key (2 words) -> output (4 words).
void test_philox_known_answers() {
  struct Case {
    uint32_t ctr[4];
    uint32_t key[2];
    uint32_t out[4];
  };
  const Case cases[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Case& c : cases) {
    const PhiloxBlock r = philox4x32_10({c.key[0], c.key[1]}, c.ctr[0],
                                        c.ctr[1], c.ctr[2], c.ctr[3]);
    for (int j = 0; j < 4; ++j) {
      EXPECT(r.x[j] == c.out[j]);
    }
  }
  // The 64-bit block index and seed split into low and high words.
  const PhiloxKey key = philox_key_from_seed(0x299f31d0a4093822ull);
  const PhiloxBlock r = philox_block(key, 0x85a308d3243f6a88ull, 0x13198a2e,
                                     static_cast<Stream>(0x03707344));
  EXPECT(r.x[0] == 0xd16cfe09 && r.x[3] == 0x24126ea1);
}

void test_unit_intervals() {
  EXPECT(unit_co_f32(0) == 0.0f);
  EXPECT(unit_co_f32(0xffffffffu) == 1.0f - std::ldexp(1.0f, -24));
  EXPECT(unit_co_f32(0xffffffffu) < 1.0f);
  EXPECT(unit_oc_f32(0) == std::ldexp(1.0f, -32));
  EXPECT(unit_oc_f32(0xffffffffu) == 1.0f);
  EXPECT(unit_co_f64(0, 0) == 0.0);
  EXPECT(unit_co_f64(0xffffffffu, 0xffffffffu) < 1.0);
  EXPECT(unit_co_f64(0xffffffffu, 0xffffffffu) == 1.0 - std::ldexp(1.0, -53));
  EXPECT(unit_oc_f64(0, 0) > 0.0);
  EXPECT(unit_oc_f64(0xffffffffu, 0xffffffffu) <= 1.0);
  EXPECT(uniform_below(0xffffffffu, 0xffffffffu, 7) == 6);
  EXPECT(uniform_below(0, 0, 7) == 0);
}

using S = ScalarLanes;

void test_lanes_match_scalar_philox() {
  const PhiloxKey key = philox_key_from_seed(0x0123456789abcdefull);
  for (uint32_t c = 0; c < 1000; c += 7) {
    const PhiloxBlock scalar = philox4x32_10(key, c, ~c, c * 3, 5);
    const lanes::Block<S> lane = lanes::philox<S>(key, c, ~c, c * 3, 5);
    for (int j = 0; j < 4; ++j) EXPECT(scalar.x[j] == lane.x[j]);
    // Note [counters that differ in one word]: the same bits with words 1-3 shared.
    const S::U low[1] = {c};
    lanes::Block<S> shared[1];
    lanes::philox_n_shared<S, 1>(key, low, ~c, c * 3, 5, shared);
    for (int j = 0; j < 4; ++j) EXPECT(scalar.x[j] == shared[0].x[j]);
    EXPECT(lanes::unit_co<S>(c * 2654435761u) == unit_co_f32(c * 2654435761u));
    EXPECT(lanes::unit_oc<S>(c * 2654435761u) == unit_oc_f32(c * 2654435761u));
  }
  // Counters of consecutive groups carry into the high word.
  S::U lo, hi;
  block_counters<S>(0x00000001ffffffffull, lo, hi);
  EXPECT(lo == 0xffffffffu && hi == 1);
}

// log_unit within 2 ulp of the correctly rounded logarithm on (0, 1].
void test_log_unit_accuracy() {
  float worst = 0;
  for (uint32_t x = 0; x < 0xffffffffu - 4093; x += 4093) {
    const float u = unit_oc_f32(x);
    const float ours = lanes::log_unit<S>(u);
    const double exact = std::log(static_cast<double>(u));
    const float ulp = std::nextafter(static_cast<float>(std::fabs(exact)), INFINITY) -
                      static_cast<float>(std::fabs(exact));
    if (exact != 0.0) worst = std::fmax(worst, static_cast<float>(std::fabs(ours - exact) / ulp));
    else EXPECT(ours == 0.0f);
  }
  EXPECT(worst <= 2.0f);
  EXPECT(lanes::log_unit<S>(1.0f) == 0.0f);
  EXPECT(std::fabs(lanes::log_unit<S>(std::ldexp(1.0f, -32)) + 32 * 0.6931471805599453) < 1e-5);
}

// sin/cos(2 pi u) within 2e-7 of the exact values on the grid of
// unit_centered (never exactly zero there) and of unit_co.
void test_sincos_accuracy() {
  double worst = 0;
  for (uint32_t x = 0; x < 0xffffffffu - 65521; x += 65521) {
    const float centered = lanes::unit_centered<S>(x);
    EXPECT(centered > 0.0f && centered < 1.0f);
    float sc, cc;
    lanes::sincos_2pi<S>(centered, sc, cc);
    EXPECT(sc != 0.0f && cc != 0.0f);
    const double centered_angle = 6.283185307179586 * static_cast<double>(centered);
    worst = std::fmax(worst, std::fabs(sc - std::sin(centered_angle)));
    worst = std::fmax(worst, std::fabs(cc - std::cos(centered_angle)));
    const float u = unit_co_f32(x);
    float s, c;
    lanes::sincos_2pi<S>(u, s, c);
    const double angle = 6.283185307179586 * static_cast<double>(u);
    worst = std::fmax(worst, std::fabs(s - std::sin(angle)));
    worst = std::fmax(worst, std::fabs(c - std::cos(angle)));
  }
  EXPECT(worst < 2e-7);
  // Every Box-Muller normal lies below kFloatNormalBound: the largest radius
  // (from the smallest unit_oc value) times |sin| or |cos| <= 1 + 2e-7.
  const float largest_radius = S::sqrt(-2.0f * lanes::log_unit<S>(unit_oc_f32(0)));
  EXPECT(largest_radius > 6.66f && largest_radius * (1.0f + 2e-7f) < kFloatNormalBound);
  float s, c;
  lanes::sincos_2pi<S>(0.25f, s, c);
  EXPECT(s == 1.0f && c == 0.0f);
  lanes::sincos_2pi<S>(0.5f, s, c);
  EXPECT(s == 0.0f && c == -1.0f);
}

void test_uniform_bounds_and_groups() {
  const UniformParams<float> p{philox_key_from_seed(42), -3.0f, 5.0f};
  float out[4];
  for (uint64_t g = 0; g < 10000; ++g) {
    { float o[1][4]; uniform_lanes<S, 1>(p, g, o); std::memcpy(out, o[0], sizeof(out)); }
    for (float v : out) EXPECT(v >= -3.0f && v <= 2.0f);
  }
  // Element 4g + j uses word j of block g.
  { float o[1][4]; uniform_lanes<S, 1>(p, 123, o); std::memcpy(out, o[0], sizeof(out)); }
  const PhiloxBlock r = philox_block(p.key, 123);
  EXPECT(out[2] == unit_co_f32(r.x[2]) * 5.0f + -3.0f);
}

template <typename Sample>
void check_moments(Sample sample, int64_t n, double mean, double var) {
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = sample(i);
    sum += v;
    sum_sq += v * v;
  }
  const double m = sum / n;
  EXPECT(std::fabs(m - mean) < 5 * std::sqrt(var / n));
  EXPECT(std::fabs(sum_sq / n - m * m - var) < 0.02 * var);
}

void test_normal_moments() {
  const NormalParams<float> pf{philox_key_from_seed(7), 1.0f, 2.0f};
  check_moments([&](int64_t i) {
    float out[1][4];
    normal_lanes<S, 1>(pf, static_cast<uint64_t>(i / 4), out);
    return out[0][i % 4];
  }, 400000, 1.0, 4.0);
  const NormalParams<double> pd{philox_key_from_seed(7), 1.0, 2.0};
  check_moments([&](int64_t i) {
    double out[2];
    normal_group_f64(pd, static_cast<uint64_t>(i / 2), out);
    return out[i % 2];
  }, 400000, 1.0, 4.0);
}

using Method = TruncNormalParams<float>::Method;

// The first attempt, then retries, for element i (the CPU kernels' order).
float trunc_normal_element(const TruncNormalParams<float>& p, uint64_t i) {
  float first[1][4];
  trunc_normal_first_lanes<S, 1>(p, i / 4, first);
  if (!std::isnan(first[0][i % 4])) return first[0][i % 4];
  for (uint32_t attempt = 1; attempt <= kTruncNormalMaxAttempts; ++attempt) {
    const uint32_t lo[1] = {static_cast<uint32_t>(i)};
    const uint32_t hi[1] = {static_cast<uint32_t>(i >> 32)};
    float v[1];
    trunc_normal_retry_lanes<S, 1>(p, lo, hi, attempt, v);
    if (!std::isnan(v[0])) return v[0];
  }
  return trunc_normal_fallback(p);
}

void check_trunc_normal(double mean, double std, double a, double b,
                        Method method) {
  const auto pf = TruncNormalParams<float>::make(philox_key_from_seed(3), mean, std, a, b);
  const auto pd = TruncNormalParams<double>::make(philox_key_from_seed(3), mean, std, a, b);
  EXPECT(pf.method == method && static_cast<int>(pd.method) == static_cast<int>(method));
  int at_bound = 0;
  for (uint64_t i = 0; i < 20000; ++i) {
    const float v = trunc_normal_element(pf, i);
    EXPECT(v >= static_cast<float>(a) && v <= static_cast<float>(b));
    at_bound += (v == static_cast<float>(a) || v == static_cast<float>(b));
    const double w = trunc_normal_element_f64(pd, i);
    EXPECT(w >= a && w <= b);
  }
  if (at_bound >= 20) std::printf("[%g, %g]: %d at a bound\n", a, b, at_bound);
  EXPECT(at_bound < 20);  // nothing piles up on a bound
}

void test_trunc_normal_methods() {
  check_trunc_normal(0, 1, -2, 2, Method::kNormal);
  check_trunc_normal(0, 1, -0.5, 0.5, Method::kUniform);
  check_trunc_normal(0, 1, 5, 6, Method::kTail);
  check_trunc_normal(0, 1, -6, -5, Method::kTail);
  check_trunc_normal(0, 1, 30, 30.01, Method::kUniform);
  check_trunc_normal(0, 1, 40, INFINITY, Method::kTail);
  check_trunc_normal(0.5, 1e-4, -2, 2, Method::kNormal);
  check_trunc_normal(0, 1, -INFINITY, INFINITY, Method::kNormal);
}

void test_sparse_rows() {
  const int64_t rows = 50, count = 17;
  std::vector<int64_t> perm(rows), swaps(count);
  for (int64_t r = 0; r < rows; ++r) perm[r] = r;
  for (uint64_t column = 0; column < 100; ++column) {
    choose_sparse_rows(philox_key_from_seed(9), column, rows, count,
                       perm.data(), swaps.data());
    const std::set<int64_t> chosen(perm.begin(), perm.begin() + count);
    EXPECT(static_cast<int64_t>(chosen.size()) == count);
    EXPECT(*chosen.begin() >= 0 && *chosen.rbegin() < rows);
    undo_sparse_rows(count, perm.data(), swaps.data());
    for (int64_t r = 0; r < rows; ++r) EXPECT(perm[r] == r);
  }
}

// Note [division by invariant integers]: the magic-number quotient equals
// n / d for divisors from 1 to 2^31 and dividends below 2^31, edges first.
void test_dividers() {
  std::vector<uint32_t> divisors = {1, 2, 3, 5, 6, 7, 9, 10, 12, 641, 65535, 65536, 65537,
                                    1000003, (1u << 30) - 1, 1u << 30, (1u << 31) - 1, 1u << 31};
  uint32_t x = 12345;
  for (int k = 0; k < 2000; ++k) {
    x = x * 1664525u + 1013904223u;
    divisors.push_back(1 + (x >> (1 + k % 31)));
  }
  const uint32_t top = (1u << 31) - 1;
  for (uint32_t d : divisors) {
    const Divider divider = Divider::make(d);
    std::vector<uint32_t> dividends = {0, 1, top, top - 1};
    if (d <= top) dividends.insert(dividends.end(), {d - 1, d, d + 1 <= top ? d + 1 : d});
    for (uint32_t m = 2; static_cast<uint64_t>(d) * m <= top && m < 64; ++m) {
      dividends.insert(dividends.end(), {d * m - 1, d * m});
    }
    for (int k = 0; k < 64; ++k) {
      x = x * 1664525u + 1013904223u;
      dividends.push_back(x >> 1);
    }
    for (uint32_t n : dividends) {
      if (divider.divide(n) != n / d) {
        std::printf("%u / %u: %u\n", n, d, divider.divide(n));
        ++failures;
      }
    }
  }
}

void test_strided_layout() {
  // A (4, 3, 5) tensor permuted to dims (2, 0, 1): sizes (5, 4, 3).
  const int64_t sizes[] = {5, 4, 3};
  const int64_t strides[] = {1, 15, 5};
  StridedLayout layout;
  EXPECT(StridedLayout::coalesce(3, sizes, strides, layout));
  StridedCursor cursor(layout, 7);
  for (int64_t i = 7; i < 60; ++i) {
    const int64_t expected =
        (i / 12) * 1 + ((i / 3) % 4) * 15 + (i % 3) * 5;
    EXPECT(layout.offset_of(i) == expected);
    EXPECT(cursor.offset() == expected);
    cursor.advance();
  }
  // Contiguous dims merge; size-1 dims vanish.
  const int64_t sizes2[] = {2, 1, 3, 4};
  const int64_t strides2[] = {24, 99, 4, 1};
  EXPECT(StridedLayout::coalesce(4, sizes2, strides2, layout));
  EXPECT(layout.ndim == 2 && layout.sizes[1] == 12 && layout.strides[0] == 24);
  EXPECT(layout.narrow);
  // 2^32 elements: 64-bit division, the same offsets.
  const int64_t big_sizes[] = {1 << 20, 1 << 12};
  const int64_t big_strides[] = {1, 1 << 20};
  EXPECT(StridedLayout::coalesce(2, big_sizes, big_strides, layout));
  EXPECT(!layout.narrow);
  for (int64_t i : {int64_t{0}, int64_t{4097}, (int64_t{1} << 31) + 5, (int64_t{1} << 32) - 1}) {
    EXPECT(layout.offset_of(i) == (i >> 12) + (i & 4095) * (1 << 20));
  }
}

// Every block of a (3, 4, 5) tensor: the window's global index of each
// local element equals the row-major index of its global coordinates.
void test_shard_windows() {
  const int64_t global[] = {3, 4, 5};
  int checked = 0;
  for (int64_t o0 = 0; o0 < 3; ++o0)
    for (int64_t l0 = 1; o0 + l0 <= 3; ++l0)
      for (int64_t o1 = 0; o1 < 4; ++o1)
        for (int64_t l1 = 1; o1 + l1 <= 4; ++l1)
          for (int64_t o2 = 0; o2 < 5; ++o2)
            for (int64_t l2 = 1; o2 + l2 <= 5; ++l2) {
              const int64_t local[] = {l0, l1, l2};
              const int64_t offsets[] = {o0, o1, o2};
              ShardWindow window;
              EXPECT(ShardWindow::make(3, local, global, offsets, window));
              int64_t j = 0;
              bool identity = true;  // a prefix of the global order
              for (int64_t a = 0; a < l0; ++a)
                for (int64_t b = 0; b < l1; ++b)
                  for (int64_t c = 0; c < l2; ++c, ++j) {
                    const int64_t expected = ((o0 + a) * 4 + (o1 + b)) * 5 + (o2 + c);
                    EXPECT(window.global_index(j) == expected);
                    identity = identity && expected == j;
                  }
              EXPECT(window.whole() == identity);
              ++checked;
            }
  EXPECT(checked == 6 * 10 * 15);
  // Beyond 2^31 local elements the window divides in 64 bits; a small block
  // of a huge tensor divides in 32 bits and still lands past 2^34.
  {
    const int64_t huge[] = {int64_t{1} << 18, int64_t{1} << 17};
    const int64_t block[] = {int64_t{1} << 16, (int64_t{1} << 16) + 3};
    const int64_t at[] = {int64_t{1} << 17, 5};
    ShardWindow wide;
    EXPECT(ShardWindow::make(2, block, huge, at, wide) && !wide.narrow);
    const int64_t small_block[] = {3, 7};
    ShardWindow narrow;
    EXPECT(ShardWindow::make(2, small_block, huge, at, narrow) && narrow.narrow);
    for (int64_t j : {int64_t{0}, int64_t{7}, int64_t{20}}) {
      EXPECT(narrow.global_index(j) == ((int64_t{1} << 17) + j / 7) * (int64_t{1} << 17) + 5 + j % 7);
    }
    const int64_t columns = block[1];
    for (int64_t j : {int64_t{0}, columns + 1, (int64_t{1} << 31) + 9, (int64_t{1} << 32) - 1}) {
      EXPECT(wide.global_index(j) == ((int64_t{1} << 17) + j / columns) * (int64_t{1} << 17) + 5 + j % columns);
    }
  }
  // Shard(0) is one run; Shard(1) of a matrix is one run per row.
  const int64_t matrix[] = {6, 8};
  const int64_t rows[] = {2, 8}, rows_at[] = {4, 0};
  ShardWindow window;
  EXPECT(ShardWindow::make(2, rows, matrix, rows_at, window));
  EXPECT(window.run == 16 && window.base == 32 && window.runs.ndim == 0);
  const int64_t cols[] = {6, 3}, cols_at[] = {0, 5};
  EXPECT(ShardWindow::make(2, cols, matrix, cols_at, window));
  EXPECT(window.run == 3 && window.base == 5 && window.runs.ndim == 1);
}

// Note [kernel-argument launches]: the descriptors of whole contiguous
// destinations fit the kernel argument, dozens per launch, and a batch
// stops at its capacity and at its block limit.
void test_argument_batches() {
  static_assert(kPassedAsArgument<UniformParams<float>> && kPassedAsArgument<UniformParams<double>>);
  static_assert(kPassedAsArgument<NormalParams<float>> && kPassedAsArgument<NormalParams<double>>);
  static_assert(kPassedAsArgument<TruncNormalParams<float>> &&
                kPassedAsArgument<TruncNormalParams<double>>);
  static_assert(!kPassedAsArgument<MixtureParams>);  // its tables take the device table
  static_assert(sizeof(ArgumentBatch<TruncNormalParams<double>>) <= kKernelArgumentBytes);
  EXPECT(ArgumentBatch<UniformParams<float>>::kCapacity >= 80);
  EXPECT(ArgumentBatch<TruncNormalParams<double>>::kCapacity >= 32);
  ArgumentBatch<UniformParams<float>> batch;
  float data[1];
  int added = 0;
  while (batch.add(data, 4096, UniformParams<float>{}, 1, 1 << 30)) ++added;
  EXPECT(added == ArgumentBatch<UniformParams<float>>::kCapacity);
  EXPECT(batch.first_tiles[added - 1] == added - 1 && batch.tiles == added);
  batch.clear();
  EXPECT(batch.add(data, 10, UniformParams<float>{}, 5, 8));
  EXPECT(!batch.add(data, 10, UniformParams<float>{}, 4, 8));  // 9 tiles > 8
  EXPECT(batch.count == 1 && batch.tiles == 5);
}

// Note [tiles per block]: whatever the tiles per block, the blocks of a
// launch visit every tile of every destination once, in order.
void test_tiles_per_block() {
  EXPECT(tiles_per_block(100, 1000) == 1 && tiles_per_block(2000, 1000) == 1);
  EXPECT(tiles_per_block(2001, 1000) == 2 && tiles_per_block(16384, 1056) == 8);
  uint32_t x = 7;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int64_t> sizes, first_tiles;
    int64_t tiles = 0;
    const int count = 1 + trial % 17;
    for (int k = 0; k < count; ++k) {
      x = x * 1664525u + 1013904223u;
      sizes.push_back(1 + (x >> 24) % (k % 3 == 0 ? 40 : 3));
      first_tiles.push_back(tiles);
      tiles += sizes.back();
    }
    const int64_t per_block = tiles_per_block(tiles, 1 + trial % 9);
    const int64_t blocks = (tiles + per_block - 1) / per_block;
    std::vector<std::pair<int, int64_t>> seen;
    for (int64_t block = 0; block < blocks; ++block) {
      for_each_tile(first_tiles.data(), count, tiles, block, per_block,
                    [&](int which, int64_t tile) { seen.push_back({which, tile}); });
    }
    std::vector<std::pair<int, int64_t>> expected;
    for (int k = 0; k < count; ++k) {
      for (int64_t t = 0; t < sizes[k]; ++t) expected.push_back({k, t});
    }
    EXPECT(seen == expected);
  }
}

}  // namespace

int main() {
  test_philox_known_answers();
  test_unit_intervals();
  test_lanes_match_scalar_philox();
  test_log_unit_accuracy();
  test_sincos_accuracy();
  test_uniform_bounds_and_groups();
  test_normal_moments();
  test_trunc_normal_methods();
  test_sparse_rows();
  test_dividers();
  test_strided_layout();
  test_shard_windows();
  test_argument_batches();
  test_tiles_per_block();
  if (failures == 0) {
    std::printf("all header tests passed\n");
  }
  return failures == 0 ? 0 : 1;
}
