// Seed drawing (Note [fastinit RNG contract]): one 63-bit seed per tensor,
// in order, from a CPU generator under its lock.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Generator.h>

namespace fastinit {

// `count` seeds from `generator`, or from torch's default CPU generator when
// it is empty. Drawing n seeds at once equals n single draws.
std::vector<int64_t> draw_seeds(std::optional<at::Generator> generator, int64_t count);

}  // namespace fastinit
