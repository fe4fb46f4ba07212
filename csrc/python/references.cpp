#include "references.h"

#include <torch/csrc/autograd/python_variable.h>

namespace fastinit::python {

bool held_only_by_its_python_object(pybind11::handle tensor) {
  TORCH_CHECK_TYPE(THPVariable_Check(tensor.ptr()), "held_only_by_its_python_object expects a tensor");
  // A reference, not a copy: a copy would count as a second owner.
  const at::Tensor& unpacked = THPVariable_Unpack(tensor.ptr());
  if (unpacked.use_count() != 1 || unpacked.weak_use_count() != 1 || !unpacked.has_storage()) {
    return false;  // weak_use_count() is one while strong references live, plus one per weak reference
  }
  const c10::Storage& storage = unpacked.storage();
  // The probe is a weak reference of its own: one for the strong references, one for the probe.
  return storage.use_count() == 1 && storage.getWeakStorageImpl().weak_use_count() == 2;
}

}  // namespace fastinit::python
