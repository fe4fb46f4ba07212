#include "seeds.h"

#include <mutex>

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

namespace fastinit {

std::vector<int64_t> draw_seeds(std::optional<at::Generator> generator, int64_t count) {
  TORCH_CHECK(count >= 0, "fastinit: cannot draw ", count, " seeds");
  at::Generator gen = generator.has_value() && generator->defined()
                          ? *generator
                          : at::detail::getDefaultCPUGenerator();
  auto* cpu = at::check_generator<at::CPUGeneratorImpl>(gen);
  std::lock_guard<std::mutex> lock(gen.mutex());
  std::vector<int64_t> seeds(static_cast<size_t>(count));
  for (int64_t& seed : seeds) {
    seed = static_cast<int64_t>(cpu->random64() >> 1);
  }
  return seeds;
}

}  // namespace fastinit
