// orthogonal_from_ on the CPU: the orthogonal matrix of each gaussian
// workspace (Note [orthogonal from reflectors]), the sign correction, the
// gain and the write into the destination per matrix.
//
// Note [reproducible QR]
// ~~~~~~~~~~~~~~~~~~~~~~
// LAPACK (MKL in torch's x86 wheels) rounds differently with one thread
// and with several. So that a matrix gets the same bits alone, in a
// batch, and whatever torch.get_num_threads() is, small matrices (fewer
// than kLargeMatrixElements elements) are always factored with MKL single-threaded
// (its thread-local setting), batches one matrix per thread; large ones one
// after another, each with all of MKL's threads (their bits then follow the
// thread count, as torch's own orthogonal_ does). Calling a threaded MKL
// from inside a parallel region is also what we must avoid: after a change
// of torch.set_num_threads, MKL's nested team could wait forever.
//
// Note [a worker thread's first parallel op]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// libtorch initializes each thread's thread count lazily, on the thread's
// first at::parallel_for or at::get_num_threads(), and that initialization
// (at::init_num_threads -> at::set_num_threads) also sets MKL's
// thread-local count to torch's thread count. On a worker thread of our
// parallel region that first parallel op is inside write_orthogonal (the
// triu_), after SerialLapack has set MKL to one thread: MKL's count went
// back to torch's, orgqr chose its multi-threaded blocking (another
// workspace size, other rounding), and the first batch of the process gave
// the second thread's matrices other last bits than every later batch. So
// SerialLapack first has libtorch initialize the thread
// (at::get_num_threads(), libtorch's own once-per-thread flag), then sets
// MKL to one thread. tests/test_orthogonal.py checks a process's first
// batch.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "../orthogonal_householder.h"
#include "backend.h"

// MKL's thread-local thread count (its C entry point; the lower-case name
// is the Fortran one, taking a pointer); exported by torch builds with MKL, null
// (weak) in others, whose LAPACK needs no such care.
extern "C" int MKL_Set_Num_Threads_Local(int threads) __attribute__((weak));

namespace fastinit::cpu {
namespace {

// MKL single-threaded on this thread for the guard's lifetime.
class SerialLapack {
 public:
  SerialLapack() {
    if (MKL_Set_Num_Threads_Local != nullptr) {
      at::get_num_threads();  // Note [a worker thread's first parallel op]
      previous_ = MKL_Set_Num_Threads_Local(1);
    }
  }
  ~SerialLapack() {
    if (MKL_Set_Num_Threads_Local != nullptr) {
      MKL_Set_Num_Threads_Local(previous_);
    }
  }
  SerialLapack(const SerialLapack&) = delete;
  SerialLapack& operator=(const SerialLapack&) = delete;

 private:
  int previous_ = 0;  // 0: follow MKL's global setting
};

}  // namespace

void Backend::orthogonal_from(at::TensorList destinations, const at::Tensor& gaussians,
                              double gain) {
  const int64_t count = static_cast<int64_t>(destinations.size());
  if (gaussians.size(1) * gaussians.size(2) >= kLargeMatrixElements) {
    for (int64_t i = 0; i < count; ++i) {
      write_orthogonal(destinations, i, gaussians.narrow(0, i, 1), gain);
    }
    return;
  }
  at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
    const SerialLapack serial;
    for (int64_t i = begin; i < end; ++i) {
      write_orthogonal(destinations, i, gaussians.narrow(0, i, 1), gain);
    }
  });
}

}  // namespace fastinit::cpu
