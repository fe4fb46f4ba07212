#pragma once
// Flat storage for fastinit.materialize.
#include <torch/extension.h>

namespace fastinit::python {

// A byte tensor of `nbytes`, its pages already resident (Note [populated
// allocations] in allocation.cpp), with transparent huge pages advised
// first if `advise_huge_pages`.
at::Tensor empty_flat(int64_t nbytes, bool advise_huge_pages);

}  // namespace fastinit::python
