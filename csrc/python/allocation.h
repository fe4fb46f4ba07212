#pragma once
// Flat storage for fastinit.materialize.
#include <torch/extension.h>

namespace fastinit::python {

// A fresh, zeroed byte tensor of `nbytes` from its own mmap, with
// transparent huge pages advised first if `advise_huge_pages` and its pages
// made resident ahead if `populate` (Note [populated allocations] in
// allocation.cpp).
at::Tensor empty_flat(int64_t nbytes, bool advise_huge_pages, bool populate);

}  // namespace fastinit::python
