// Sobol sensitivity indices by pick-freeze (Saltelli 2010 first order, Jansen
// 1999 total), computed streaming in fixed blocks with 95 % delta-method
// intervals. Estimators, intervals and reproducibility: docs/sensitivity.md.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/sobol_design.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

// Mean and co-moment matrix of a vector-valued sample; merged with Chan's
// pairwise formula so that block partials fold in block order, bit-exactly.
struct SobolCoMoments {
  std::uint64_t n = 0;
  int dim = 0;
  std::vector<double> mean;  // dim
  std::vector<double> m2;    // dim x dim, row-major: sum of (w - mean)(w - mean)^T

  // `o` is the later partial.
  void merge(const SobolCoMoments& o);
};

// The streamed state of a design: per output, the co-moments of the per-draw
// vector w (dimension 2k + 2; layout in docs/sensitivity.md):
//   w[i]      = (fB - center) (fAB_i - fA)   i < k   (first-order numerator)
//   w[k + i]  = (fA - fAB_i)^2 / 2           i < k   (total numerator)
//   w[2k]     = ((fA - center)^2 + (fB - center)^2) / 2
//   w[2k + 1] = ((fA - center) + (fB - center)) / 2
// Most base draws a sensitivity run takes: base_draws * (k + 2) model
// evaluations (k <= kNumSlots sampled inputs) stay exact in a double (2^53),
// and the block count (base_draws + kBlockDraws - 1) / kBlockDraws cannot wrap.
constexpr std::uint64_t kMaxBaseDraws = (std::uint64_t{1} << 53) / (kNumSlots + 2);
static_assert(kMaxBaseDraws == std::uint64_t{1} << 50, "2^53 / 8");

struct SobolAccumulation {
  int k = 0;  // inputs
  int m = 0;  // outputs
  std::uint64_t base_draws = 0;
  std::uint64_t invalid = 0;            // base draws skipped (some row invalid)
  std::vector<double> center;           // per output: a fixed shift, see sobol_detail::center
  std::vector<SobolCoMoments> moments;  // per output
};

struct SensitivityIndices {
  std::string output;
  // Per sampled parameter; NaN where the variance is 0 (or n < 2 for the intervals).
  std::vector<double> S1, S1_lo, S1_hi, ST, ST_lo, ST_hi;
  double mean = 0.0;      // of the output over the 2n values of A and B
  double variance = 0.0;  // V: population variance of those 2n values
  std::uint64_t n = 0;    // valid base draws used
};

struct SensitivityResult {
  std::vector<std::string> parameters;  // sampled parameters, slot order, as the config names them
  std::vector<SensitivityIndices> outputs;
  std::uint64_t base_draws = 0;
  std::uint64_t base_draws_invalid = 0;
  std::uint64_t evaluations = 0;  // model evaluations of the design: base_draws * (k + 2)
};

// Point estimates and 95 % intervals of output `o` from its streamed state.
SensitivityIndices sobol_indices(const SobolAccumulation& acc, int o);

namespace sobol_detail {

// The partial of one block of base draws [first, first + len): per output,
// sums of w minus the block's first valid w (as ShiftedSums in tally.hpp), in
// the entry layout of sobol_entry_pair, turned into (n, mean, M2) at the end.
template <class Sampler, class Model>
void accumulate_block(int k, int m, std::uint64_t first, std::uint64_t len, const double* center,
                      const Sampler& sample, const Model& model, SobolCoMoments* out,
                      std::uint64_t& invalid) {
  const int dim = sobol_dim(k);
  const std::size_t d = static_cast<std::size_t>(dim);
  const std::size_t ne = static_cast<std::size_t>(sobol_entries(dim));
  std::vector<double> xa(static_cast<std::size_t>(k)), xb(xa.size()), x(xa.size());
  std::vector<double> f(static_cast<std::size_t>((k + 2) * m)), w(d);
  std::vector<double> w0(d * static_cast<std::size_t>(m));
  std::vector<double> sums(ne * static_cast<std::size_t>(m), 0.0);
  std::uint64_t n = 0;
  invalid = 0;
  for (std::uint64_t j = first; j < first + len; ++j) {
    if (!evaluate_base(k, m, j, sample, model, xa.data(), xb.data(), x.data(), f.data())) {
      ++invalid;
      continue;
    }
    for (int o = 0; o < m; ++o) {
      sobol_w(k, m, o, f.data(), center[o], w.data(), 1);
      double* shift = &w0[static_cast<std::size_t>(o) * d];
      double* t = &sums[static_cast<std::size_t>(o) * ne];
      if (n == 0) std::copy(w.begin(), w.end(), shift);
      std::size_t e = d;
      for (std::size_t p = 0; p < d; ++p) {
        const double yp = w[p] - shift[p];
        t[p] += yp;
        for (std::size_t q = p; q < d; ++q) t[e++] += yp * (w[q] - shift[q]);
      }
    }
    ++n;
  }
  for (int o = 0; o < m; ++o) {
    SobolCoMoments& c = out[o];
    c.n = n;
    c.dim = dim;
    c.mean.resize(d);
    c.m2.resize(d * d);
    sobol_finish(dim, n, &w0[static_cast<std::size_t>(o) * d],
                 &sums[static_cast<std::size_t>(o) * ne], c.mean.data(), c.m2.data());
  }
}

// Center of each output: the mean of fA and fB over the first kCenterDraws
// valid base draws (all of them if fewer). Any constant leaves the estimators' limits
// unchanged; one near the mean keeps (fB - center) (fAB_i - fA) from
// carrying mean^2-sized noise and the sums from cancelling.
constexpr std::uint64_t kCenterDraws = 64;

template <class Sampler, class Model>
std::vector<double> center(int k, int m, std::uint64_t base_draws, const Sampler& sample,
                           const Model& model) {
  const std::size_t nm = static_cast<std::size_t>(m);
  std::vector<double> c(nm, 0.0);
  std::vector<double> xa(static_cast<std::size_t>(k)), xb(xa.size()), x(xa.size());
  std::vector<double> f(static_cast<std::size_t>((k + 2) * m)), sum(nm, 0.0);
  std::uint64_t used = 0;
  for (std::uint64_t j = 0; j < base_draws && used < kCenterDraws; ++j) {
    if (!evaluate_base(k, m, j, sample, model, xa.data(), xb.data(), x.data(), f.data())) continue;
    for (std::size_t o = 0; o < nm; ++o) sum[o] += f[o] + f[nm + o];
    ++used;
  }
  if (used > 0)
    for (std::size_t o = 0; o < nm; ++o) c[o] = sum[o] / (2.0 * static_cast<double>(used));
  return c;
}

// Computes blocks [first, first + n) into part[b * m + o] and invalid[b].
using BlockChunkFn = std::function<void(std::uint64_t first, std::uint64_t n, SobolCoMoments* part,
                                        std::uint64_t* invalid)>;

// Folds the blocks of acc (k, m, base_draws and center set) into acc in block
// order, `chunk` blocks per call of `compute`; the chunk size does not change
// the result. Checks *cancel before each chunk and at the end (Interrupted).
void fold_blocks(SobolAccumulation& acc, std::uint64_t chunk, const BlockChunkFn& compute,
                 const std::atomic<bool>* cancel,
                 const std::function<void(std::uint64_t, std::uint64_t)>& progress);

// The partials of blocks [first, first + nblocks) from sobol_cuda_blocks'
// raw output (shift and sums per output), finished on the host exactly as
// accumulate_block finishes its own sums.
void partials_from_raw(int k, int m, std::uint64_t nblocks, const std::uint64_t* counts,
                       const double* sums, SobolCoMoments* part, std::uint64_t* invalid);

// Block `blk` of design d computed on the host by accumulate_block with the
// sampler and model that run_sensitivity uses (the CPU reference of the GPU).
void design_block_cpu(const SobolDesign& d, std::uint64_t blk, SobolCoMoments* out,
                      std::uint64_t& invalid);

// The center of design d, as run_sensitivity computes it.
std::vector<double> design_center(const SobolDesign& d);

}  // namespace sobol_detail

// Streams a pick-freeze design of `base_draws` base draws over k inputs and m
// outputs. sample(j, matrix, x) fills x[0..k) with row j of matrix 0 (A) or
// 1 (B) and must be a pure function of (j, matrix); model(x, out) fills
// out[0..m) and returns false for an invalid point. Both are called
// concurrently. Blocks of kBlockDraws base draws run in parallel (OpenMP,
// `threads` <= 0: all cores) and fold in block order, so the result is the same
// bits for any thread count. Throws Interrupted when *cancel becomes true.
template <class Sampler, class Model>
SobolAccumulation sobol_accumulate(
    int k, int m, std::uint64_t base_draws, const Sampler& sample, const Model& model, int threads,
    const std::atomic<bool>* cancel = nullptr,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress = {}) {
  SobolAccumulation acc;
  acc.k = k;
  acc.m = m;
  acc.base_draws = base_draws;
  acc.center = sobol_detail::center(k, m, base_draws, sample, model);
  const int nthreads = threads > 0 ? threads : omp_get_max_threads();
  // Chunks bound the memory (constant in base_draws).
  const std::uint64_t chunk = std::max<std::uint64_t>(1, 4 * static_cast<std::uint64_t>(nthreads));
  const std::size_t nm = static_cast<std::size_t>(m);
  sobol_detail::fold_blocks(
      acc, chunk,
      [&](std::uint64_t b0, std::uint64_t nb, SobolCoMoments* part, std::uint64_t* bad) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
        for (std::int64_t t = 0; t < static_cast<std::int64_t>(nb); ++t) {
          const std::uint64_t blk = b0 + static_cast<std::uint64_t>(t);
          const std::size_t ti = static_cast<std::size_t>(t);
          sobol_detail::accumulate_block(k, m, blk * kBlockDraws, block_length(base_draws, blk),
                                         acc.center.data(), sample, model, &part[ti * nm], bad[ti]);
        }
      },
      cancel, progress);
  return acc;
}

// Names accepted as sensitivity outputs: every numeric field but A2_crit
// (undefined in some draws), then every event.
std::vector<std::string> sensitivity_output_names();

// Sampled parameters of `spec` (slots whose distribution is not fixed), in
// slot order, and their names as the config gives them.
std::vector<int> sensitivity_slots(const DrawSpec& spec);
std::string slot_name(const DrawSpec& spec, int slot);

// The design of run_sensitivity for `outputs` over every sampled parameter
// of `spec`, with center and base_draws left 0. Throws InputError as
// run_sensitivity does, and for more than kSobolMaxOutputs outputs.
SobolDesign make_sobol_design(const DrawSpec& spec, const std::vector<std::string>& outputs);

// Sobol indices of cfg.outputs with respect to every sampled parameter of
// `spec` (A from stream kSobolStreamA, B from kSobolStreamB; spec.stream is
// ignored). cuda_device >= 0: the blocks run on that CUDA device
// (sobol_cuda_blocks; the center and the fold stay on the host), except with
// more than kSobolMaxOutputs outputs, which run on the CPU with a log line.
// The GPU's result agrees with the CPU's to rounding. Throws InputError for
// an unknown output, base_draws < 2 or no sampled parameter; CudaError from
// the device; Interrupted when *cancel becomes true.
SensitivityResult run_sensitivity(
    const DrawSpec& spec, const SensitivityConfig& cfg, int threads,
    const std::atomic<bool>* cancel = nullptr,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress = {}, int cuda_device = -1);

}  // namespace spillmc
