#pragma once
// held_only_by_its_python_object(): whether a tensor's memory can be
// reached from anything but the tensor's own Python object, for the
// deferred fills of fastinit.deferral (Note [unreachable pending fills]).
#include <torch/extension.h>

namespace fastinit::python {

// True when the TensorImpl behind `tensor` (a torch.Tensor) is owned by its
// Python object alone and its storage by that TensorImpl alone: no other
// C++ owner, no other tensor or storage object sharing the memory, no weak
// reference to either that could be upgraded. What refers to the Python
// object itself (sys.getrefcount, weakref) is the caller's to check.
bool held_only_by_its_python_object(pybind11::handle tensor);

}  // namespace fastinit::python
