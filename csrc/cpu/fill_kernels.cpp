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

#include "../backend_kernels.h"
#include "backend.h"
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
// contributes a DestinationFill (its element count and a chunk filler); chunks start at
// multiples of kChunk, so they hold whole groups of every distribution.
// Writes the elements [start, start + count) of one tensor.
using ChunkFill = std::function<void(int64_t start, int64_t count)>;

class FillPlan {
 public:
  explicit FillPlan(size_t tensors) { fills_.reserve(tensors); }

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
    fills_.push_back({tensor.numel(), fill_for(tensor, contiguous, layout, make)});
  }

  void run() const {
    std::vector<int64_t> first_chunk(fills_.size() + 1, 0);
    for (size_t i = 0; i < fills_.size(); ++i) {
      first_chunk[i + 1] = first_chunk[i] + (fills_[i].numel + kChunk - 1) / kChunk;
    }
    const int64_t chunks = first_chunk.back();
    const auto fill_chunks = [&](int64_t chunk_begin, int64_t chunk_end) {
      for (int64_t c = chunk_begin; c < chunk_end; ++c) {
        const size_t i =
            std::upper_bound(first_chunk.begin(), first_chunk.end(), c) - first_chunk.begin() - 1;
        const int64_t start = (c - first_chunk[i]) * kChunk;
        fills_[i].fill(start, std::min(kChunk, fills_[i].numel - start));
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

  struct DestinationFill {
    int64_t numel;
    ChunkFill fill;
  };
  std::vector<DestinationFill> fills_;
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

// The kernels of each distribution: float32-computed kernels of the table
// for float32, float16 and bfloat16 (and for float64 where kFloat64 is
// null), else float64 groups of kFloat64Group elements.
template <typename Args>
struct KernelsOf;

template <>
struct KernelsOf<UniformArgs> {
  static constexpr int64_t kFloat64Group = 2;
  static constexpr auto kFloat64 = &uniform_group_f64;
  static auto float32() { return kernels().uniform; }
  static auto bfloat16() { return kernels().bfloat16.uniform; }
  static auto half() { return kernels().half.uniform; }
};

template <>
struct KernelsOf<NormalArgs> {
  static constexpr int64_t kFloat64Group = 2;
  static constexpr auto kFloat64 = &normal_group_f64;
  static auto float32() { return kernels().normal; }
  static auto bfloat16() { return kernels().bfloat16.normal; }
  static auto half() { return kernels().half.normal; }
};

template <>
struct KernelsOf<TruncNormalArgs> {
  static constexpr int64_t kFloat64Group = 1;
  static void float64_element(const TruncNormalParams<double>& p, uint64_t index, double* out) {
    *out = trunc_normal_element_f64(p, index);
  }
  static constexpr auto kFloat64 = &float64_element;
  static auto float32() { return kernels().trunc_normal; }
  static auto bfloat16() { return kernels().bfloat16.trunc_normal; }
  static auto half() { return kernels().half.trunc_normal; }
};

template <>
struct KernelsOf<MixtureArgs> {
  static constexpr int64_t kFloat64Group = 0;
  static constexpr std::nullptr_t kFloat64 = nullptr;
  static auto float32() { return kernels().mixture; }
  static Kernel16<MixtureParams> bfloat16() { return nullptr; }
  static Kernel16<MixtureParams> half() { return nullptr; }
};

}  // namespace

const KernelTable& kernels() {
  static const KernelTable& table = select_kernels();
  return table;
}

template <typename Args>
void Backend::fill(at::TensorList tensors, const std::vector<ShardWindow>& windows,
                   const Args& args) {
  using Kernels = KernelsOf<Args>;
  FillPlan plan(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    if constexpr (Kernels::kFloat64 != nullptr) {
      if (tensors[i].scalar_type() == at::kDouble) {
        add_double<Kernels::kFloat64Group>(
            plan, tensors[i], windows[i],
            [p = args.params64(i)](uint64_t group, double* out) { Kernels::kFloat64(p, group, out); });
        continue;
      }
    }
    add_float(plan, tensors[i], windows[i], args.params32(i), Kernels::float32(),
              Kernels::bfloat16(), Kernels::half());
  }
  plan.run();
}

template void Backend::fill(at::TensorList, const std::vector<ShardWindow>&, const UniformArgs&);
template void Backend::fill(at::TensorList, const std::vector<ShardWindow>&, const NormalArgs&);
template void Backend::fill(at::TensorList, const std::vector<ShardWindow>&,
                            const TruncNormalArgs&);
template void Backend::fill(at::TensorList, const std::vector<ShardWindow>&, const MixtureArgs&);

TORCH_LIBRARY_IMPL(fastinit, CPU, m) { BackendKernels<Backend>::register_to(m); }

}  // namespace fastinit::cpu
