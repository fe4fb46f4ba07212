// CUDA kernels: thin launch loops around the same torch-free headers as the
// CPU (Note [one implementation for every instruction set] in lanes.h: every
// thread is one ScalarLanes lane), so element i gets the same value on both
// devices (float32 bit for bit; float64 within the ulps of libm).
//
// Note [multi-tensor launches]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The tensors of a call that share a dtype are filled by few launches, each
// block looking up its tensor by binary search over the first-tile indices
// (Note [tiles per block] in fastinit/launches.h). Whole contiguous tensors
// with small parameters travel in the kernel's argument, up to
// ArgumentBatch::kCapacity per launch (Note
// [kernel-argument launches] in fastinit/launches.h). The others (strided
// layouts, shard windows, mixtures) share one launch whose descriptors
// (data pointer, size, layout, window, parameters) the host packs with the
// first-tile indices into one buffer and copies to the device on the
// current stream (from pinned memory; the caching allocators keep both
// buffers alive until the stream has used them), so any number of tensors
// of any layout fits.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraphsUtils.cuh>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <torch/library.h>

#include <vector>

#include "../backend_kernels.h"
#include "backend.h"
#include "fastinit/distributions.h"
#include "fastinit/launches.h"
#include "fastinit/layout.h"
#include "fastinit/scalar_lanes.h"

namespace fastinit::cuda {
namespace {

constexpr int kThreads = 256;
// Elements of a tile (Note [tiles per block]; each thread: four groups of
// four).
constexpr int64_t kElementsPerTile = 4 * kFloatGroup * kThreads;

int64_t tiles_of(int64_t numel) { return (numel + kElementsPerTile - 1) / kElementsPerTile; }

// The elements [begin, end) of tile `tile` of a destination of `numel`.
struct TileRange {
  int64_t begin;
  int64_t end;
};
__device__ inline TileRange tile_range(int64_t tile, int64_t numel) {
  const int64_t begin = tile * kElementsPerTile;
  return {begin, begin + kElementsPerTile < numel ? begin + kElementsPerTile : numel};
}

// Tiles per block of a launch on the current device.
int64_t tiles_per_block_here(int64_t tiles) {
  const cudaDeviceProp* device = at::cuda::getCurrentDeviceProperties();
  return tiles_per_block(tiles, static_cast<int64_t>(device->multiProcessorCount) *
                                    (device->maxThreadsPerMultiProcessor / kThreads));
}

// A tensor a launch writes, as its blocks see it: the CPU's Destination
// (data and layout) with its size, shard window and parameters.
template <typename Params>
struct Destination {
  void* data;
  int64_t numel;
  bool contiguous;
  StridedLayout layout;  // used when not contiguous
  ShardWindow window;    // Note [shard windows]
  Params params;
};

// ------------------------------------------------------------ the stores
template <typename scalar_t>
__device__ inline scalar_t from_float(float x);
template <>
__device__ inline float from_float<float>(float x) { return x; }
template <>
__device__ inline double from_float<double>(float x) { return x; }
template <>
__device__ inline at::Half from_float<at::Half>(float x) {
  return at::Half(__float2half_rn(x));
}
template <>
__device__ inline at::BFloat16 from_float<at::BFloat16>(float x) {
  return at::BFloat16(__float2bfloat16_rn(x));
}

template <typename scalar_t, typename T>
__device__ inline scalar_t convert(T value) {
  if constexpr (std::is_same_v<T, double>) {
    return value;
  } else {
    return from_float<scalar_t>(value);
  }
}

// The 16 bits of a float16 or bfloat16 value.
template <typename scalar_t>
__device__ inline uint32_t bits16(scalar_t value) {
  return value.x;
}

// Writes the kGroup values of one whole group at `index` (a multiple of
// kGroup) of a contiguous tensor: one 16-byte store for four float32 or two
// float64 values and one 8-byte store for four 16-bit values where the
// address allows it (the caching allocator's blocks do, unless a view
// starts inside one), element stores otherwise. Indices are compile-time
// constants, so `values` stays in registers. The vector stores are
// __stcg intrinsics: a plain float4 assignment next to the element-store
// fallback was compiled into four predicated 4-byte stores on both paths
// (tools/sass_report.py shows which).
template <typename scalar_t, int kGroup, typename T>
__device__ inline void store_group(scalar_t* data, int64_t index, const T (&values)[4]) {
  scalar_t* at = data + index;
  const uintptr_t address = reinterpret_cast<uintptr_t>(at);
  if constexpr (std::is_same_v<scalar_t, float> && kGroup == 4) {
    if (address % 16 == 0) {
      __stcg(reinterpret_cast<float4*>(at), make_float4(values[0], values[1], values[2], values[3]));
      return;
    }
  } else if constexpr (std::is_same_v<scalar_t, double> && kGroup == 2) {
    if (address % 16 == 0) {
      __stcg(reinterpret_cast<double2*>(at), make_double2(values[0], values[1]));
      return;
    }
  } else if constexpr ((std::is_same_v<scalar_t, at::Half> || std::is_same_v<scalar_t, at::BFloat16>) &&
                       kGroup == 4) {
    if (address % 8 == 0) {
      uint2 packed;
      packed.x = bits16(from_float<scalar_t>(values[0])) | (bits16(from_float<scalar_t>(values[1])) << 16);
      packed.y = bits16(from_float<scalar_t>(values[2])) | (bits16(from_float<scalar_t>(values[3])) << 16);
      __stcg(reinterpret_cast<uint2*>(at), packed);
      return;
    }
  }
#pragma unroll
  for (int j = 0; j < kGroup; ++j) {
    at[j] = convert<scalar_t>(values[j]);
  }
}

// Where a block writes: a table destination (contiguous or strided), or a
// whole contiguous tensor of a kernel-argument launch.
struct WholeContiguous {};

template <typename Params>
__device__ inline bool is_contiguous(const Destination<Params>& destination) {
  return destination.contiguous;
}
__device__ constexpr bool is_contiguous(WholeContiguous) { return true; }

template <typename Params>
__device__ inline int64_t offset_of(const Destination<Params>& destination, int64_t index) {
  return destination.contiguous ? index : destination.layout.offset_of(index);
}
__device__ inline int64_t offset_of(WholeContiguous, int64_t index) { return index; }

// Writes the first `count` (<= 4) of `values` at logical elements `index`,
// `index` + 1, ... of `data`, laid out as `where` says (a group's tail,
// strided tensors). The loop is unrolled with a predicate so that `values`
// stays in registers.
template <typename scalar_t, typename T, typename Where>
__device__ inline void store_some(scalar_t* data, const Where& where, int64_t index,
                                  const T (&values)[4], int count) {
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if (j < count) {
      data[offset_of(where, index + j)] = convert<scalar_t>(values[j]);
    }
  }
}

// values[k] for a run-time k < 4, by selects rather than an indexed load
// (which would put `values` in local memory).
template <typename T>
__device__ inline T pick(const T (&values)[4], int k) {
  T value = values[0];
#pragma unroll
  for (int j = 1; j < 4; ++j) {
    value = k == j ? values[j] : value;
  }
  return value;
}

// ------------------------------------------- per-distribution group math
using S = ScalarLanes;

// A float32 distribution whose lane function fills one group of four.
template <typename P, void (*kLanes)(const P&, uint64_t, float (&)[1][4])>
struct GroupOfFour {
  using Params = P;
  using Value = float;
  static constexpr int kGroup = 4;
  __device__ static void group(const P& p, uint64_t g, float* out) {
    float v[1][4];
    kLanes(p, g, v);
    for (int j = 0; j < 4; ++j) out[j] = v[0][j];
  }
};

using UniformF32 = GroupOfFour<UniformParams<float>, &uniform_lanes<S, 1>>;
using NormalF32 = GroupOfFour<NormalParams<float>, &normal_lanes<S, 1>>;


// The CPU's order: the first attempt for the group, then the retries of
// each rejected element (Note [exact truncated normal]).
struct TruncNormalF32 {
  using Params = TruncNormalParams<float>;
  using Value = float;
  static constexpr int kGroup = 4;
  __device__ static void group(const Params& p, uint64_t g, float* out) {
    float v[1][4];
    trunc_normal_first_lanes<S, 1>(p, g, v);
    for (int j = 0; j < 4; ++j) {
      out[j] = isnan(v[0][j]) ? trunc_normal_retried(p, 4 * g + j, Stream::kValues) : v[0][j];
    }
  }
};

// Mixtures: the group, then the retries of rejected truncated-normal draws
// (NaN), in the CPU's order (Note [fused mixtures]).
struct MixtureF32 {
  using Params = MixtureParams;
  using Value = float;
  static constexpr int kGroup = 4;
  __device__ static void group(const Params& p, uint64_t g, float* out) {
    float v[1][4];
    mixture_lanes<S, 1>(p, g, v);
    for (int j = 0; j < 4; ++j) {
      out[j] = isnan(v[0][j]) ? mixture_retry(p, 4 * g + j) : v[0][j];
    }
  }
};

// A float64 distribution whose group function fills two elements.
template <typename P, void (*kGroupFill)(const P&, uint64_t, double*)>
struct GroupOfTwo {
  using Params = P;
  using Value = double;
  static constexpr int kGroup = 2;
  __device__ static void group(const P& p, uint64_t g, double* out) { kGroupFill(p, g, out); }
};

using UniformF64 = GroupOfTwo<UniformParams<double>, &uniform_group_f64>;
using NormalF64 = GroupOfTwo<NormalParams<double>, &normal_group_f64>;

struct TruncNormalF64 {
  using Params = TruncNormalParams<double>;
  using Value = double;
  static constexpr int kGroup = 1;
  __device__ static void group(const Params& p, uint64_t g, double* out) {
    out[0] = trunc_normal_element_f64(p, g);
  }
};

// ------------------------------------------------------------ the kernel
// Fills a block of a larger tensor (Note [shard windows]): each thread takes
// four consecutive local elements and computes each group they need once.
template <typename Dist, typename scalar_t>
__device__ void fill_window(const Destination<typename Dist::Params>& destination, int64_t block_start,
                            int64_t block_end) {
  using T = typename Dist::Value;
  for (int64_t index = block_start + static_cast<int64_t>(threadIdx.x) * 4; index < block_end;
       index += static_cast<int64_t>(kThreads) * 4) {
    T values[4];
    uint64_t computed = ~uint64_t{0};
    const int count = static_cast<int>(block_end - index < 4 ? block_end - index : 4);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if (k < count) {
        const int64_t global = destination.window.global_index(index + k);
        const uint64_t group = static_cast<uint64_t>(global / Dist::kGroup);
        if (group != computed) {
          Dist::group(destination.params, group, values);
          computed = group;
        }
        const T one[4] = {pick(values, static_cast<int>(global % Dist::kGroup)), T{}, T{}, T{}};
        store_some<scalar_t>(static_cast<scalar_t*>(destination.data), destination, index + k, one, 1);
      }
    }
  }
}

// Fills the local elements [block_start, block_end) of a tensor whose
// global index is base + local index: a whole tensor (base 0) or a shard
// that is one contiguous run of its global tensor (a block of whole rows,
// as FSDP's dim-0 shards are), laid out as `where` says. Each thread
// computes whole global groups, so no index is divided; groups cut by the
// block's ends store the elements inside it, and aligned groups of
// contiguous tensors are one vector store.
template <typename Dist, typename scalar_t, typename Where>
__device__ inline void fill_run(scalar_t* data, const Where& where,
                                const typename Dist::Params& params, int64_t base,
                                int64_t block_start, int64_t block_end) {
  using T = typename Dist::Value;
  const bool contiguous = is_contiguous(where);
  const int64_t first_group = (base + block_start) / Dist::kGroup;
  const int64_t end_group = (base + block_end + Dist::kGroup - 1) / Dist::kGroup;
  for (int64_t group = first_group + threadIdx.x; group < end_group; group += kThreads) {
    T values[4];
    Dist::group(params, static_cast<uint64_t>(group), values);
    const int64_t local = group * Dist::kGroup - base;  // of the group's first value
    if (contiguous && local >= block_start && local + Dist::kGroup <= block_end) {
      store_group<scalar_t, Dist::kGroup>(data, local, values);
      continue;
    }
#pragma unroll
    for (int j = 0; j < Dist::kGroup; ++j) {
      if (local + j >= block_start && local + j < block_end) {
        data[offset_of(where, local + j)] = convert<scalar_t>(values[j]);
      }
    }
  }
}

// Fills tile `tile` of a destination of the device table.
template <typename Dist, typename scalar_t>
__device__ void fill_tile(const Destination<typename Dist::Params>& destination, int64_t tile) {
  using Params = typename Dist::Params;
  const auto [block_start, block_end] = tile_range(tile, destination.numel);
  if (!destination.window.whole() && destination.window.runs.ndim > 0) {
    fill_window<Dist, scalar_t>(destination, block_start, block_end);
    return;
  }
  scalar_t* const data = static_cast<scalar_t*>(destination.data);
  const int64_t base = destination.window.base;  // 0 for a whole tensor
  // Small parameter structs are copied into registers once (stores through
  // the data pointer may alias the table, so a reference would reload them
  // every iteration); a mixture's tables stay in memory.
  if constexpr (sizeof(Params) <= kLargestArgumentParams) {
    const Params params = destination.params;
    fill_run<Dist, scalar_t>(data, destination, params, base, block_start, block_end);
  } else {
    fill_run<Dist, scalar_t>(data, destination, destination.params, base, block_start, block_end);
  }
}

// Destinations in a device table (Note [multi-tensor launches]), one tile
// per block: a loop over tiles around these paths (strided, windows,
// mixtures) would make them spill registers.
template <typename Dist, typename scalar_t>
__device__ inline void fill_table_block(const Destination<typename Dist::Params>* destinations,
                                        const int64_t* first_tiles, int num_destinations) {
  const int which = destination_of(first_tiles, num_destinations, blockIdx.x);
  fill_tile<Dist, scalar_t>(destinations[which], blockIdx.x - first_tiles[which]);
}

template <typename Dist, typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    fill_kernel(const Destination<typename Dist::Params>* destinations, const int64_t* first_tiles,
                int num_destinations) {
  fill_table_block<Dist, scalar_t>(destinations, first_tiles, num_destinations);
}

// The same for the distributions in kNeeds128Registers. ptxas keeps the
// table kernels at 64 registers a thread, where a mixture's branches over
// its components and the float64 truncated normal's attempt loop around
// libdevice's log, sin and cos spill (12-14 and 6 local loads on sm_90);
// asking for two resident blocks per multiprocessor instead leaves them
// 128, of which they use about 90, and nothing spills.
template <typename Dist>
constexpr bool kNeeds128Registers = std::is_same_v<Dist, MixtureF32> || std::is_same_v<Dist, TruncNormalF64>;

template <typename Dist, typename scalar_t>
__global__ void __launch_bounds__(kThreads, 2)
    fill_kernel_128_registers(const Destination<typename Dist::Params>* destinations,
                              const int64_t* first_tiles, int num_destinations) {
  fill_table_block<Dist, scalar_t>(destinations, first_tiles, num_destinations);
}

// Whole contiguous destinations in the kernel's argument (Note
// [kernel-argument launches]).
template <typename Dist, typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    fill_argument_kernel(const __grid_constant__ ArgumentBatch<typename Dist::Params> batch,
                         int64_t per_block) {
  using Params = typename Dist::Params;
  const auto fill_one_tile = [&](int which, int64_t tile) {
    const CompactDestination<Params>& destination = batch.destinations[which];
    const auto [block_start, block_end] = tile_range(tile, destination.numel);
    const Params params = destination.params;
    fill_run<Dist, scalar_t>(static_cast<scalar_t*>(destination.data), WholeContiguous{}, params,
                             /*base=*/0, block_start, block_end);
  };
  for_each_tile(batch.first_tiles, batch.count, batch.tiles, blockIdx.x, per_block, fill_one_tile);
}

// Launches the whole contiguous destinations among `which` in
// kernel-argument batches and returns the others.
template <typename Dist, typename scalar_t, typename MakeParams>
std::vector<size_t> launch_by_argument(const std::vector<at::Tensor>& tensors,
                                       const std::vector<ShardWindow>& windows,
                                       const std::vector<size_t>& which, MakeParams make_params) {
  using Params = typename Dist::Params;
  std::vector<size_t> rest;
  ArgumentBatch<Params> batch;
  const auto launch_batch = [&] {
    if (batch.count == 0) return;
    const int64_t per_block = tiles_per_block_here(batch.tiles);
    const int64_t blocks = (batch.tiles + per_block - 1) / per_block;
    fill_argument_kernel<Dist, scalar_t>
        <<<static_cast<unsigned>(blocks), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(batch, per_block);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    batch.clear();
  };
  for (size_t i : which) {
    const at::Tensor& t = tensors[i];
    if (t.numel() == 0) continue;
    if (!t.is_contiguous() || !windows[i].whole()) {
      rest.push_back(i);
      continue;
    }
    const int64_t tiles = tiles_of(t.numel());
    TORCH_CHECK(tiles <= INT32_MAX, "fastinit: too many elements for one launch");
    const Params params = make_params(i);
    if (!batch.add(t.data_ptr(), t.numel(), params, tiles, INT32_MAX)) {
      launch_batch();
      batch.add(t.data_ptr(), t.numel(), params, tiles, INT32_MAX);
    }
  }
  launch_batch();
  return rest;
}

// Builds the descriptor table of `which` (one dtype) and launches once.
template <typename Dist, typename scalar_t, typename MakeParams>
void launch_by_table(const std::vector<at::Tensor>& tensors, const std::vector<ShardWindow>& windows,
                     const std::vector<size_t>& which, MakeParams make_params) {
  using Params = typename Dist::Params;
  std::vector<Destination<Params>> destinations;
  std::vector<int64_t> first_tiles;
  int64_t tiles = 0;
  for (size_t i : which) {
    const at::Tensor& t = tensors[i];
    if (t.numel() == 0) continue;
    Destination<Params> destination{};
    destination.data = t.data_ptr();
    destination.numel = t.numel();
    destination.contiguous = t.is_contiguous();
    if (!destination.contiguous) {
      TORCH_CHECK(StridedLayout::coalesce(static_cast<int>(t.dim()), t.sizes().data(),
                                          t.strides().data(), destination.layout),
                  "fastinit: tensors with more than ", StridedLayout::kMaxDims,
                  " non-mergeable dims are not supported on CUDA");
    }
    destination.window = windows[i];
    destination.params = make_params(i);
    destinations.push_back(destination);
    first_tiles.push_back(tiles);
    tiles += tiles_of(destination.numel);
  }
  if (destinations.empty()) return;
  TORCH_CHECK(tiles <= INT32_MAX, "fastinit: too many elements for one launch");
  const at::Device device = tensors[which.front()].device();
  const size_t destination_bytes = destinations.size() * sizeof(Destination<Params>);
  const size_t index_bytes = first_tiles.size() * sizeof(int64_t);
  at::Tensor host = at::empty({static_cast<int64_t>(destination_bytes + index_bytes)},
                              at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  std::memcpy(host.data_ptr(), destinations.data(), destination_bytes);
  std::memcpy(static_cast<uint8_t*>(host.data_ptr()) + destination_bytes, first_tiles.data(),
              index_bytes);
  at::Tensor table = host.to(device, /*non_blocking=*/true);
  const auto* device_destinations = reinterpret_cast<const Destination<Params>*>(table.data_ptr());
  const auto* device_first_tiles =
      reinterpret_cast<const int64_t*>(static_cast<uint8_t*>(table.data_ptr()) + destination_bytes);
  const auto kernel = [] {
    if constexpr (kNeeds128Registers<Dist>) {
      return &fill_kernel_128_registers<Dist, scalar_t>;
    } else {
      return &fill_kernel<Dist, scalar_t>;
    }
  }();
  kernel<<<static_cast<unsigned>(tiles), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      device_destinations, device_first_tiles, static_cast<int>(destinations.size()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Launches the destinations `which` (one dtype): by kernel argument where
// they qualify, the rest by one table.
template <typename Dist, typename scalar_t, typename MakeParams>
void launch(const std::vector<at::Tensor>& tensors, const std::vector<ShardWindow>& windows,
            const std::vector<size_t>& which, MakeParams make_params) {
  if constexpr (kPassedAsArgument<typename Dist::Params>) {
    const std::vector<size_t> rest = launch_by_argument<Dist, scalar_t>(tensors, windows, which, make_params);
    if (!rest.empty()) launch_by_table<Dist, scalar_t>(tensors, windows, rest, make_params);
  } else {
    launch_by_table<Dist, scalar_t>(tensors, windows, which, make_params);
  }
}

// Groups `tensors` by dtype and launches the float32-computed distribution
// F32 or the float64 one F64 for each group.
template <typename F32, typename F64, typename MakeF32, typename MakeF64>
void fill_all(at::TensorList list, const std::vector<ShardWindow>& windows, MakeF32 make_f32,
              MakeF64 make_f64) {
  if (list.empty()) return;
  const std::vector<at::Tensor> tensors(list.begin(), list.end());
  // Before the guard, which needs a CUDA device: a CPU tensor in a batch
  // that dispatched here gets this error, not the guard's internal assert.
  for (const at::Tensor& t : tensors) {
    TORCH_CHECK(t.device() == tensors.front().device(),
                "fastinit: Expected all tensors to be on the same device, but found at least two "
                "devices, ", tensors.front().device(), " and ", t.device(), "!");
  }
  const c10::cuda::OptionalCUDAGuard guard(tensors.front().device());
  // A captured launch would replay the seeds drawn at capture time and read
  // a host descriptor buffer that is gone by then.
  TORCH_CHECK(at::cuda::currentStreamCaptureStatus() == at::cuda::CaptureStatus::None,
              "fastinit: initializers cannot be captured in a CUDA graph (their seeds "
              "are drawn on the host at call time); initialize before capturing");
  size_t launched = 0;
  for (const at::ScalarType dtype : kFilledDtypes) {
    std::vector<size_t> which;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (tensors[i].scalar_type() == dtype) which.push_back(i);
    }
    if (which.empty()) continue;
    switch (dtype) {
      case at::kFloat: launch<F32, float>(tensors, windows, which, make_f32); break;
      case at::kHalf: launch<F32, at::Half>(tensors, windows, which, make_f32); break;
      case at::kBFloat16: launch<F32, at::BFloat16>(tensors, windows, which, make_f32); break;
      case at::kDouble: launch<F64, double>(tensors, windows, which, make_f64); break;
      default: TORCH_CHECK(false, "fastinit: no CUDA launch for dtype ", dtype);
    }
    launched += which.size();
  }
  // check_floating refused every other dtype before: nothing may be skipped.
  TORCH_CHECK(launched == tensors.size(), "fastinit: ", tensors.size() - launched,
              " tensors of a dtype outside kFilledDtypes reached the CUDA launches");
}

// The group math of each distribution, float32-computed and float64.
template <typename Args>
struct DistributionsOf;
template <>
struct DistributionsOf<UniformArgs> {
  using F32 = UniformF32;
  using F64 = UniformF64;
};
template <>
struct DistributionsOf<NormalArgs> {
  using F32 = NormalF32;
  using F64 = NormalF64;
};
template <>
struct DistributionsOf<TruncNormalArgs> {
  using F32 = TruncNormalF32;
  using F64 = TruncNormalF64;
};
template <>
struct DistributionsOf<MixtureArgs> {  // Note [fused mixtures]: float32 for every dtype
  using F32 = MixtureF32;
  using F64 = MixtureF32;
};

}  // namespace

template <typename Args>
void Backend::fill(at::TensorList tensors, const std::vector<ShardWindow>& windows,
                   const Args& args) {
  using Distributions = DistributionsOf<Args>;
  fill_all<typename Distributions::F32, typename Distributions::F64>(
      tensors, windows, [&](size_t i) { return args.params32(i); },
      [&](size_t i) { return args.params64(i); });
}

template void Backend::fill(at::TensorList, const std::vector<ShardWindow>&, const UniformArgs&);
template void Backend::fill(at::TensorList, const std::vector<ShardWindow>&, const NormalArgs&);
template void Backend::fill(at::TensorList, const std::vector<ShardWindow>&,
                            const TruncNormalArgs&);
template void Backend::fill(at::TensorList, const std::vector<ShardWindow>&, const MixtureArgs&);

TORCH_LIBRARY_IMPL(fastinit, CUDA, m) { BackendKernels<Backend>::register_to(m); }

}  // namespace fastinit::cuda
