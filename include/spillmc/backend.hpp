// Backends compute the partial tally of consecutive blocks of draws. The
// driver (run.cpp) folds the partials in block order, so a backend only has to
// be deterministic per block.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "spillmc/analysis.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;    // "cpu" or "cuda"
  virtual std::string device() const = 0;  // human-readable device description
  // Blocks [first_block, first_block + nblocks) of a run of `total_draws` draws;
  // partials[j] receives block first_block + j.
  virtual void compute_blocks(const DrawSpec& spec, std::uint64_t total_draws,
                              std::uint64_t first_block, std::uint64_t nblocks,
                              Tally* partials) = 0;
  // Global blocks [first_block, first_block + nblocks) of a plan (analysis.hpp:
  // block g belongs to cell g / blocks_per_cell). extras[j] / batches[j]
  // receive the block's analyses and selected draws; both are null when the
  // plan has none. The CPU and CUDA backends run all cells and analyses in one
  // pass; the default runs compute_blocks per run of blocks of one cell and
  // refuses analyses.
  virtual void compute_plan_blocks(const RunPlan& plan, std::uint64_t first_block,
                                   std::uint64_t nblocks, Tally* partials, Extra* extras,
                                   DrawBatch* batches);
  // How many blocks one compute_blocks call should take (throughput vs. progress granularity).
  virtual std::uint64_t preferred_chunk_blocks() const = 0;
};

// OpenMP over blocks; threads <= 0 means all cores.
std::unique_ptr<Backend> make_cpu_backend(int threads);

// CUDA support lives behind these two functions (backend_cuda.cu, or
// cuda_stub.cpp in a build without CUDA).
bool cuda_compiled();
int cuda_device_count();  // 0 without CUDA or without a device; never throws
// Throws CudaError if CUDA is not compiled in or no device works.
std::unique_ptr<Backend> make_cuda_backend(int device_index = 0);

}  // namespace spillmc
