// CPU kernels: parallel loops over chunks of the logical index range. The
// float32 math runs in the instruction-set kernels of kernel_table.h
// (chosen once, as ATen chooses its own: ATEN_CPU_CAPABILITY=default|avx2|
// avx512 overrides); float64 uses the scalar versions of distributions.h.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/library.h>

#include "../checks.h"
#include "fastinit/distributions.h"
#include "fastinit/layout.h"
#include "kernel_table.h"

namespace fastinit::cpu {
namespace {

// Elements generated per kernel call: a multiple of every group size, small
// enough for the float buffer to stay in L1, large enough for the retries
// of the truncated normal to fill whole vectors.
constexpr int64_t kChunk = 4096;
static_assert(kChunk <= kMaxKernelElements, "chunk too large for a kernel");
// Elements per kernel call when the values go through a buffer (float16,
// bfloat16, strided destinations): a multiple of every group size.
constexpr int64_t kStoreChunk = 1024;
// Elements below which a fill stays on the calling thread.
constexpr int64_t kGrainElements = 32768;

// ATen's choice (ATEN_CPU_CAPABILITY lowers it, and is trusted even when
// it names an instruction set this CPU lacks, where ATen's own kernels
// then fault), capped by what the CPU reports.
const KernelTable& select_kernels() {
  const std::string capability = at::get_cpu_capability();
  const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                        __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
  const bool has_avx512 = has_avx2 && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vl");
  if (capability == "AVX512" && has_avx512) {
    return avx512_kernels();
  }
  if ((capability == "AVX512" || capability == "AVX2") && has_avx2) {
    return avx2_kernels();
  }
  return portable_kernels();
}

const KernelTable& kernels() {
  static const KernelTable& table = select_kernels();
  return table;
}

// Where a fill writes: the tensor's data and, unless it is contiguous, the
// strided walk of its logical order.
template <typename scalar_t>
struct Destination {
  scalar_t* data;
  bool contiguous;
  StridedLayout layout;  // used when not contiguous

  // Writes values of logical elements [start, start + count), count <=
  // kStoreChunk. float16/bfloat16 go through one converter whatever the
  // layout, so that contiguous and strided destinations get the same bits
  // (NaN payloads included).
  template <typename T>
  void store(const T* values, int64_t start, int64_t count) const {
    if constexpr (std::is_same_v<T, float> && (std::is_same_v<scalar_t, at::BFloat16> ||
                                               std::is_same_v<scalar_t, at::Half>)) {
      if (contiguous) {
        to_16_bits(values, count, reinterpret_cast<uint16_t*>(data + start));
        return;
      }
      uint16_t converted[kStoreChunk];
      to_16_bits(values, count, converted);
      StridedCursor cursor(layout, start);
      for (int64_t j = 0; j < count; ++j) {
        std::memcpy(data + cursor.offset(), converted + j, sizeof(uint16_t));
        cursor.advance();
      }
      return;
    }
    if (contiguous) {
      scalar_t* out = data + start;
      for (int64_t j = 0; j < count; ++j) {
        out[j] = static_cast<scalar_t>(values[j]);
      }
      return;
    }
    StridedCursor cursor(layout, start);
    for (int64_t j = 0; j < count; ++j) {
      data[cursor.offset()] = static_cast<scalar_t>(values[j]);
      cursor.advance();
    }
  }

 private:
  static void to_16_bits(const float* values, int64_t count, uint16_t* out) {
    const auto convert = std::is_same_v<scalar_t, at::BFloat16> ? kernels().to_bfloat16
                                                                 : kernels().to_half;
    if (convert != nullptr) {
      convert(values, count, out);
      return;
    }
    for (int64_t j = 0; j < count; ++j) {
      const scalar_t rounded(values[j]);
      std::memcpy(out + j, &rounded, sizeof(uint16_t));
    }
  }
};

// Note [multi-tensor CPU fills]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A call on many tensors (a whole model) is one parallel region over the
// chunks of all of them, not one region per tensor: a thousand 64 x 64
// weights share the threads as well as one large weight does. Each tensor
// contributes a job (its element count and a chunk filler); chunks start at
// multiples of kChunk, so they hold whole groups of every distribution.
// Writes the elements [start, start + count) of one tensor.
using ChunkFill = std::function<void(int64_t start, int64_t count)>;

class FillPlan {
 public:
  explicit FillPlan(size_t tensors) { jobs_.reserve(tensors); }

  // Adds `tensor`; make(destination) returns its chunk filler
  // fill(start, count). Tensors with too many dims to walk are filled
  // through a contiguous twin, copied back by run().
  template <typename Make>
  void add(const at::Tensor& tensor, Make make) {
    if (tensor.numel() == 0) {
      return;
    }
    const bool contiguous = tensor.is_contiguous();
    StridedLayout layout;
    if (!contiguous &&
        !StridedLayout::coalesce(static_cast<int>(tensor.dim()),
                                 tensor.sizes().data(),
                                 tensor.strides().data(), layout)) {
      at::Tensor twin = at::empty_like(tensor, at::MemoryFormat::Contiguous);
      twins_.emplace_back(tensor, twin);
      add(twin, make);
      return;
    }
    jobs_.push_back({tensor.numel(), fill_for(tensor, contiguous, layout, make)});
  }

  void run() const {
    std::vector<int64_t> first_chunk(jobs_.size() + 1, 0);
    for (size_t i = 0; i < jobs_.size(); ++i) {
      first_chunk[i + 1] = first_chunk[i] + (jobs_[i].numel + kChunk - 1) / kChunk;
    }
    const int64_t chunks = first_chunk.back();
    const auto fill_chunks = [&](int64_t chunk_begin, int64_t chunk_end) {
      for (int64_t c = chunk_begin; c < chunk_end; ++c) {
        const size_t i =
            std::upper_bound(first_chunk.begin(), first_chunk.end(), c) - first_chunk.begin() - 1;
        const int64_t start = (c - first_chunk[i]) * kChunk;
        jobs_[i].fill(start, std::min(kChunk, jobs_[i].numel - start));
      }
    };
    if (chunks <= kClaimChunks) {
      at::parallel_for(0, chunks, kGrainElements / kChunk, fill_chunks);
    } else {
      // Note [claimed chunks]
      // ~~~~~~~~~~~~~~~~~~~~~
      // A large fill is not split into one equal share per thread: each
      // thread claims kClaimChunks chunks at a time from a shared counter
      // until none is left, so a core that runs slower (a busy host, a
      // sibling hyperthread) fills less instead of holding up the rest (on
      // a 2-vCPU Zen 3 VM whose vCPUs run at different speeds from moment
      // to moment, 6% off the median of a 64 Mi-element uniform_). Values
      // do not depend on which thread fills a chunk.
      std::atomic<int64_t> next_chunk{0};
      at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
        for (int64_t first = next_chunk.fetch_add(kClaimChunks, std::memory_order_relaxed);
             first < chunks; first = next_chunk.fetch_add(kClaimChunks, std::memory_order_relaxed)) {
          fill_chunks(first, std::min(chunks, first + kClaimChunks));
        }
      });
    }
    for (const auto& [tensor, twin] : twins_) {
      tensor.copy_(twin);
    }
  }

 private:
  // Chunks a thread claims at once (Note [claimed chunks]): about a quarter
  // of a millisecond of work, so the shared counter is rarely touched.
  static constexpr int64_t kClaimChunks = 64;

  template <typename Make>
  static ChunkFill fill_for(const at::Tensor& tensor, bool contiguous,
                            const StridedLayout& layout, Make make) {
    switch (tensor.scalar_type()) {
      case at::kFloat:
        return make(Destination<float>{tensor.data_ptr<float>(), contiguous, layout});
      case at::kDouble:
        return make(Destination<double>{tensor.data_ptr<double>(), contiguous, layout});
      case at::kHalf:
        return make(Destination<at::Half>{tensor.data_ptr<at::Half>(), contiguous, layout});
      case at::kBFloat16:
        return make(Destination<at::BFloat16>{tensor.data_ptr<at::BFloat16>(),
                                              contiguous, layout});
      default:
        TORCH_CHECK_NOT_IMPLEMENTED(false, "fastinit: unsupported dtype ",
                                    tensor.scalar_type());
    }
  }

  struct Job {
    int64_t numel;
    ChunkFill fill;
  };
  std::vector<Job> jobs_;
  std::vector<std::pair<at::Tensor, at::Tensor>> twins_;
};

// The chunk filler of `destination` (as FillPlan::add hands it over), the
// block `window` of a global tensor (Note [shard windows]), with the values
// of a distribution computed in T (float or double) in groups of kGroup
// elements: generate(start, count, T* out) writes the elements [start,
// start + count) of a whole tensor, start a multiple of kGroup and count <=
// kStoreChunk, and may write on to the end of the last group.
template <typename T, int64_t kGroup, typename Destination, typename Generate>
ChunkFill chunk_fill(const Destination& destination, const ShardWindow& window,
                     Generate generate) {
  using scalar_t = std::remove_pointer_t<decltype(destination.data)>;
  if constexpr (std::is_same_v<scalar_t, T> && std::is_same_v<T, float>) {
    if (destination.contiguous && window.whole()) {
      // The common case, with a small capture: a model's thousands of
      // small tensors each hold one of these until the fill runs.
      float* data = destination.data;
      return [data, generate](int64_t start, int64_t count) {
        generate(start, count, data + start);
      };
    }
  }
  return [window, generate, destination](int64_t start, int64_t count) {
    // Converted, scattered or gathered from runs through a buffer small
    // enough to stay in L1 next to the kernel's own working set.
    T buffer[kStoreChunk + kGroup];
    int64_t local = start;
    const int64_t end = start + count;
    while (local < end) {
      // The rest of this run: global elements [global, global + n).
      const int64_t global = window.global_index(local);
      int64_t n = std::min(window.run - local % window.run, end - local);
      int64_t skip = global % kGroup;  // values before `global` in its group
      int64_t from = global - skip;
      while (n > 0) {
        const int64_t m = std::min(kStoreChunk - skip, n);
        generate(from, skip + m, buffer);
        destination.store(buffer + skip, local, m);
        from += skip + m;
        local += m;
        n -= m;
        skip = 0;
      }
    }
  };
}

// Adds the fill of `tensor` by chunk_fill.
template <typename T, int64_t kGroup, typename Generate>
void add_fill(FillPlan& plan, const at::Tensor& tensor, const ShardWindow& window,
              Generate generate) {
  plan.add(tensor, [&window, generate](auto destination) {
    return chunk_fill<T, kGroup>(destination, window, generate);
  });
}

template <typename Params>
using FloatKernel = void (*)(const Params&, int64_t start, int64_t count, float* out);
template <typename Params>
using Kernel16 = void (*)(const Params&, int64_t start, int64_t count, uint16_t* out);

// Adds a fill by a float32 kernel of kernel_table.h. A whole contiguous
// bfloat16 (float16) destination is written by `bfloat16_kernel`
// (`half_kernel`) where the table has one: rounded in registers, written
// once (Note [16-bit outputs] in kernel_table_impl.h).
template <typename Params>
void add_float(FillPlan& plan, const at::Tensor& tensor, const ShardWindow& window,
               const Params& p, FloatKernel<Params> kernel,
               Kernel16<Params> bfloat16_kernel = nullptr, Kernel16<Params> half_kernel = nullptr) {
  const auto generate = [p, kernel](int64_t start, int64_t count, float* out) {
    kernel(p, start, count, out);
  };
  plan.add(tensor, [&](auto destination) -> ChunkFill {
    using scalar_t = std::remove_pointer_t<decltype(destination.data)>;
    if constexpr (std::is_same_v<scalar_t, at::BFloat16> || std::is_same_v<scalar_t, at::Half>) {
      const Kernel16<Params> kernel16 =
          std::is_same_v<scalar_t, at::BFloat16> ? bfloat16_kernel : half_kernel;
      if (kernel16 != nullptr && destination.contiguous && window.whole()) {
        auto* data = reinterpret_cast<uint16_t*>(destination.data);
        return [p, kernel16, data](int64_t start, int64_t count) {
          kernel16(p, start, count, data + start);
        };
      }
    }
    return chunk_fill<float, kFloatGroup>(destination, window, generate);
  });
}

// Adds a float64 fill by a group function of distributions.h:
// group(index, double* out) writes elements [kGroup index, kGroup (index + 1)).
template <int64_t kGroup, typename Group>
void add_double(FillPlan& plan, const at::Tensor& tensor, const ShardWindow& window,
                Group group) {
  add_fill<double, kGroup>(plan, tensor, window,
                           [group](int64_t start, int64_t count, double* out) {
                             for (int64_t j = 0; j < count; j += kGroup) {
                               group(static_cast<uint64_t>((start + j) / kGroup), out + j);
                             }
                           });
}

PhiloxKey key_of(int64_t seed) {
  return philox_key_from_seed(static_cast<uint64_t>(seed));
}

void uniform_(at::TensorList tensors, at::IntArrayRef seeds,
              at::ArrayRef<double> low, at::ArrayRef<double> high,
              at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets) {
  check_uniform_args(tensors, seeds, low, high);
  const auto windows = shard_windows("uniform_", tensors, global_shapes, offsets);
  FillPlan plan(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PhiloxKey key = key_of(seeds[i]);
    if (tensors[i].scalar_type() == at::kDouble) {
      const UniformParams<double> p{key, low[i], high[i] - low[i]};
      add_double<2>(plan, tensors[i], windows[i], [p](uint64_t g, double* out) {
        uniform_group_f64(p, g, out);
      });
    } else {
      const UniformParams<float> p{key, static_cast<float>(low[i]),
                                   static_cast<float>(high[i] - low[i])};
      add_float(plan, tensors[i], windows[i], p, kernels().uniform, kernels().bfloat16.uniform,
                kernels().half.uniform);
    }
  }
  plan.run();
}

void normal_(at::TensorList tensors, at::IntArrayRef seeds,
             at::ArrayRef<double> mean, at::ArrayRef<double> std,
             at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets) {
  check_normal_args(tensors, seeds, mean, std);
  const auto windows = shard_windows("normal_", tensors, global_shapes, offsets);
  FillPlan plan(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PhiloxKey key = key_of(seeds[i]);
    if (tensors[i].scalar_type() == at::kDouble) {
      const NormalParams<double> p{key, mean[i], std[i]};
      add_double<2>(plan, tensors[i], windows[i], [p](uint64_t g, double* out) {
        normal_group_f64(p, g, out);
      });
    } else {
      const NormalParams<float> p{key, static_cast<float>(mean[i]),
                                  static_cast<float>(std[i])};
      add_float(plan, tensors[i], windows[i], p, kernels().normal, kernels().bfloat16.normal,
                kernels().half.normal);
    }
  }
  plan.run();
}

void trunc_normal_(at::TensorList tensors, at::IntArrayRef seeds,
                   at::ArrayRef<double> mean, at::ArrayRef<double> std,
                   at::ArrayRef<double> a, at::ArrayRef<double> b,
                   at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets) {
  check_trunc_normal_args(tensors, seeds, mean, std, a, b);
  const auto windows = shard_windows("trunc_normal_", tensors, global_shapes, offsets);
  FillPlan plan(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PhiloxKey key = key_of(seeds[i]);
    if (tensors[i].scalar_type() == at::kDouble) {
      const auto p = TruncNormalParams<double>::make(key, mean[i], std[i], a[i], b[i]);
      add_double<1>(plan, tensors[i], windows[i], [p](uint64_t index, double* out) {
        *out = trunc_normal_element_f64(p, index);
      });
    } else {
      const auto p = TruncNormalParams<float>::make(key, mean[i], std[i], a[i], b[i]);
      add_float(plan, tensors[i], windows[i], p, kernels().trunc_normal,
                kernels().bfloat16.trunc_normal, kernels().half.trunc_normal);
    }
  }
  plan.run();
}

// Note [fused mixtures] in distributions.h; every dtype computed in float32.
void mixture_(at::TensorList tensors, at::IntArrayRef seeds, at::IntArrayRef counts,
              at::ArrayRef<double> probabilities, at::IntArrayRef kinds,
              at::ArrayRef<double> first, at::ArrayRef<double> second,
              at::ArrayRef<double> third, at::ArrayRef<double> fourth,
              at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets) {
  check_mixture_args(tensors, seeds, counts, probabilities, kinds, first, second, third, fourth);
  const auto windows = shard_windows("mixture_", tensors, global_shapes, offsets);
  FillPlan plan(tensors.size());
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const int count = static_cast<int>(counts[i]);
    const MixtureParams p = MixtureParams::make(
        key_of(seeds[i]), count, probabilities.data() + offset, kinds.data() + offset,
        first.data() + offset, second.data() + offset, third.data() + offset,
        fourth.data() + offset);
    offset += count;
    add_float(plan, tensors[i], windows[i], p, kernels().mixture);
  }
  plan.run();
}

// Note [sparse_ zero pattern] in distributions.h.
void sparse_(const at::Tensor& tensor, int64_t seed, double sparsity,
             double std) {
  check_sparse_args(tensor, sparsity, std);
  const int64_t rows = tensor.size(0);
  const int64_t cols = tensor.size(1);
  TORCH_CHECK(rows <= INT64_C(0xFFFFFFFF),
              "fastinit::sparse_ supports at most 2^32 - 1 rows, but got ",
              rows);
  const int64_t zeros = sparse_zero_count(rows, sparsity);
  normal_({tensor}, {seed}, {0.0}, {std}, std::nullopt, std::nullopt);
  if (zeros == 0 || cols == 0) {
    return;
  }
  const PhiloxKey key = key_of(seed);
  const int64_t row_stride = tensor.stride(0);
  const int64_t col_stride = tensor.stride(1);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, tensor.scalar_type(), "fastinit::sparse_", [&] {
    scalar_t* data = tensor.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, kGrainElements / rows);
    at::parallel_for(0, cols, grain, [&](int64_t col_begin, int64_t col_end) {
      std::vector<int64_t> perm(rows);
      std::vector<int64_t> swaps(zeros);
      for (int64_t r = 0; r < rows; ++r) {
        perm[r] = r;
      }
      for (int64_t c = col_begin; c < col_end; ++c) {
        choose_sparse_rows(key, static_cast<uint64_t>(c), rows, zeros,
                           perm.data(), swaps.data());
        for (int64_t j = 0; j < zeros; ++j) {
          data[perm[j] * row_stride + c * col_stride] = scalar_t(0);
        }
        undo_sparse_rows(zeros, perm.data(), swaps.data());
      }
    });
  });
}

std::string cpu_kernels() { return kernels().name; }

}  // namespace

TORCH_LIBRARY_IMPL(fastinit, CPU, m) {
  m.impl("uniform_", &uniform_);
  m.impl("normal_", &normal_);
  m.impl("trunc_normal_", &trunc_normal_);
  m.impl("sparse_", &sparse_);
  m.impl("mixture_", &mixture_);
}

TORCH_LIBRARY_FRAGMENT(fastinit, m) {
  // Which instruction-set kernels this process uses: portable, avx2, avx512.
  m.def("cpu_kernels() -> str", &cpu_kernels);
}

}  // namespace fastinit::cpu
