// Unit tests of the torch-free headers (run by CTest and tests/test_cpp.py).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <vector>

#include "fastinit/distributions.h"
#include "fastinit/layout.h"
#include "fastinit/philox.h"

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

void test_uniform_bounds_and_groups() {
  const UniformDist<float> dist{philox_key_from_seed(42), -3.0f, 5.0f};
  float out[4];
  for (uint64_t g = 0; g < 10000; ++g) {
    dist(g, out);
    for (float v : out) {
      EXPECT(v >= -3.0f && v <= 2.0f);
    }
  }
  // Element 4g + j uses word j of block g.
  dist(123, out);
  const PhiloxBlock r = philox_block(philox_key_from_seed(42), 123);
  EXPECT(out[2] == unit_co_f32(r.x[2]) * 5.0f + -3.0f);
}

void test_normal_moments() {
  const NormalDist<double> dist{philox_key_from_seed(7), 1.0, 2.0};
  double sum = 0, sum_sq = 0;
  const int groups = 200000;
  for (int g = 0; g < groups; ++g) {
    double out[2];
    dist(g, out);
    for (double v : out) {
      sum += v;
      sum_sq += v * v;
    }
  }
  const double n = 2.0 * groups;
  const double mean = sum / n;
  const double var = sum_sq / n - mean * mean;
  EXPECT(std::fabs(mean - 1.0) < 0.02);
  EXPECT(std::fabs(var - 4.0) < 0.05);
}

template <typename T>
void check_trunc_normal(double mean, double std, double a, double b,
                        typename TruncNormalDist<T>::Method method) {
  const auto dist = TruncNormalDist<T>::make(philox_key_from_seed(3), mean,
                                             std, a, b);
  EXPECT(dist.method == method);
  int at_bound = 0;
  for (uint64_t i = 0; i < 20000; ++i) {
    T v;
    dist(i, &v);
    EXPECT(v >= static_cast<T>(a) && v <= static_cast<T>(b));
    at_bound += (v == static_cast<T>(a) || v == static_cast<T>(b));
  }
  EXPECT(at_bound < 20);  // nothing piles up on a bound
}

void test_trunc_normal_methods() {
  using F = TruncNormalDist<float>;
  using D = TruncNormalDist<double>;
  check_trunc_normal<float>(0, 1, -2, 2, F::Method::kNormal);
  check_trunc_normal<float>(0, 1, -0.5, 0.5, F::Method::kUniform);
  check_trunc_normal<float>(0, 1, 5, 6, F::Method::kTail);
  check_trunc_normal<float>(0, 1, -6, -5, F::Method::kTail);
  check_trunc_normal<double>(0, 1, 30, 30.001, D::Method::kUniform);
  check_trunc_normal<double>(0, 1, 40, INFINITY, D::Method::kTail);
  check_trunc_normal<float>(0.5, 1e-4, -2, 2, F::Method::kNormal);
  check_trunc_normal<double>(0, 1, -INFINITY, INFINITY, D::Method::kNormal);
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
}

}  // namespace

int main() {
  test_philox_known_answers();
  test_unit_intervals();
  test_uniform_bounds_and_groups();
  test_normal_moments();
  test_trunc_normal_methods();
  test_sparse_rows();
  test_strided_layout();
  if (failures == 0) {
    std::printf("all header tests passed\n");
  }
  return failures == 0 ? 0 : 1;
}
