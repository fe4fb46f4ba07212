#include "allocation.h"

#include <sys/mman.h>

#include <algorithm>

#include <ATen/Parallel.h>

namespace fastinit::python {

// Note [populated allocations]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Fresh memory costs a page fault per 4 KiB page on first touch, and on
// small VMs faulting can be slower than generating the values. The kernel
// can instead populate the pages ahead (madvise MADV_POPULATE_WRITE, Linux
// 5.14), here in 64 MiB pieces from every thread. Which is faster depends
// on the host (docs/design.md's hardware section has both measured on a
// Zen 3 and a Zen 5), so the pages are left to the fill's first touch
// unless `populate` (FASTINIT_POPULATE=1). Huge pages populate fast or
// slowly as the kernel compacts memory, so they are opt-in too. Where the
// kernel refuses the advice, the fill faults the pages in.
at::Tensor empty_flat(int64_t nbytes, bool advise_huge_pages, bool populate) {
  TORCH_CHECK(nbytes > 0, "fastinit: empty_flat needs nbytes > 0, got ", nbytes);
  constexpr size_t kHugePage = size_t{2} << 20;
  constexpr size_t kPiece = size_t{64} << 20;
  const size_t size = (static_cast<size_t>(nbytes) + kHugePage - 1) / kHugePage * kHugePage;
  void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  TORCH_CHECK(mapped != MAP_FAILED, "fastinit: could not allocate ", size, " bytes");
  char* data = static_cast<char*>(mapped);
#ifdef MADV_HUGEPAGE
  if (advise_huge_pages) {
    madvise(data, size, MADV_HUGEPAGE);  // advice only; failure is harmless
  }
#endif
#ifdef MADV_POPULATE_WRITE
  if (populate) {
    const auto pieces = static_cast<int64_t>((size + kPiece - 1) / kPiece);
    at::parallel_for(0, pieces, 1, [&](int64_t begin, int64_t end) {
      const size_t first = static_cast<size_t>(begin) * kPiece;
      const size_t last = std::min(size, static_cast<size_t>(end) * kPiece);
      madvise(data + first, last - first, MADV_POPULATE_WRITE);  // advice only, as above
    });
  }
#endif
  return at::from_blob(data, {nbytes}, [size](void* p) { munmap(p, size); },
                       at::TensorOptions().dtype(at::kByte));
}

}  // namespace fastinit::python
