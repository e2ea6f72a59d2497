#include "spillmc/run.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "spillmc/errors.hpp"

namespace spillmc {

Tally run_blocks(Backend& backend, const DrawSpec& spec, std::uint64_t draws,
                 const ProgressFn& progress, const std::atomic<bool>* cancel,
                 std::uint64_t chunk_blocks) {
  const std::uint64_t nblocks = (draws + kBlockDraws - 1) / kBlockDraws;
  if (chunk_blocks == 0) chunk_blocks = backend.preferred_chunk_blocks();
  if (chunk_blocks == 0) chunk_blocks = 1;
  std::vector<Tally> partials(static_cast<std::size_t>(std::min(chunk_blocks, nblocks)));
  Tally total;
  for (std::uint64_t first = 0; first < nblocks; first += chunk_blocks) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
    const std::uint64_t n = std::min(chunk_blocks, nblocks - first);
    backend.compute_blocks(spec, draws, first, n, partials.data());
    // The fold is a left fold in block order: ((b0 + b1) + b2) + ..., whatever the chunking.
    for (std::uint64_t j = 0; j < n; ++j) total.merge(partials[j]);
    if (progress) progress(total.draws, draws);
  }
  if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
  return total;
}

std::unique_ptr<Backend> select_backend(BackendChoice choice, int threads) {
  switch (choice) {
    case BackendChoice::cpu:
      return make_cpu_backend(threads);
    case BackendChoice::cuda:
      return make_cuda_backend(0);
    case BackendChoice::automatic:
      break;
  }
  if (!cuda_compiled()) {
    spdlog::info("backend auto: cpu (this build has no CUDA backend)");
    return make_cpu_backend(threads);
  }
  if (cuda_device_count() == 0) {
    spdlog::info("backend auto: cpu (no CUDA device found)");
    return make_cpu_backend(threads);
  }
  auto b = make_cuda_backend(0);
  spdlog::info("backend auto: cuda ({})", b->device());
  return b;
}

}  // namespace spillmc
