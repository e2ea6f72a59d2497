// CPU backend: OpenMP over blocks. Each block is accumulated by one thread with
// the batched SIMD code (cpu_batch.hpp), so a block's partial never depends on
// the thread count, and its instruction-set variants give the same bits.
#include <omp.h>

#include <algorithm>
#include <string>

#include "spillmc/backend.hpp"
#include "spillmc/cpu_batch.hpp"

namespace spillmc {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_max_threads()) {}

  std::string name() const override { return "cpu"; }
  std::string device() const override {
    return "CPU, " + std::to_string(threads_) + (threads_ == 1 ? " thread" : " threads") + ", " +
           batch_isa_name(BatchIsa::best);
  }
  std::uint64_t preferred_chunk_blocks() const override {
    // Enough blocks per thread to balance load; small enough for ~1 s progress steps.
    return static_cast<std::uint64_t>(threads_) * 8;
  }

  void compute_plan_blocks(const RunPlan& plan, std::uint64_t first_block, std::uint64_t nblocks,
                           Tally* partials, Extra* extras, DrawBatch* batches) override {
    const std::uint64_t bpc = plan.blocks_per_cell();
    const auto n = static_cast<long long>(nblocks);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_for(nblocks))
    for (long long j = 0; j < n; ++j) {
      const std::uint64_t g = first_block + static_cast<std::uint64_t>(j);
      const DrawSpec& spec = plan.cells[static_cast<std::size_t>(g / bpc)];
      if (!extras && !batches) {
        partials[j] = accumulate_block_batched(spec, plan.draws, g % bpc);
        continue;
      }
      DrawBatch* batch = batches ? &batches[j] : nullptr;
      if (batch) batch->reset(plan.analysis.draws.fields.size());
      BlockAnalysis analysis(plan.analysis, spec, batch);
      partials[j] = accumulate_block_batched(spec, plan.draws, g % bpc, BatchIsa::best, &analysis);
      if (extras) analysis.finish(extras[j]);
    }
  }

  void compute_blocks(const DrawSpec& spec, std::uint64_t total_draws, std::uint64_t first_block,
                      std::uint64_t nblocks, Tally* partials) override {
    const auto n = static_cast<long long>(nblocks);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_for(nblocks))
    for (long long j = 0; j < n; ++j) {
      partials[j] =
          accumulate_block_batched(spec, total_draws, first_block + static_cast<std::uint64_t>(j));
    }
  }

 private:
  // No more threads than the chunk has blocks: a thread without a block only
  // costs its creation (and a huge `threads` on a small run would start them all).
  int threads_for(std::uint64_t nblocks) const {
    return static_cast<int>(std::max<std::uint64_t>(
        1, std::min<std::uint64_t>(static_cast<std::uint64_t>(threads_), nblocks)));
  }

  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace spillmc
