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
#include "spillmc/tally.hpp"

namespace spillmc {

// Random streams (ctr[2]) of the two independent sample matrices A and B.
// Reserved: far above any sweep cell index, so no design row repeats a draw
// of a plain run or of a cell.
constexpr std::uint32_t kSobolStreamA = 0xFFFFFFF0u;
constexpr std::uint32_t kSobolStreamB = 0xFFFFFFF1u;

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
struct SobolAccumulation {
  int k = 0;  // inputs
  int m = 0;  // outputs
  std::uint64_t base_draws = 0;
  std::uint64_t invalid = 0;            // base draws skipped (some row invalid)
  std::vector<double> center;           // per output: a fixed shift, see sobol_accumulate
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

// Evaluates base draw j: rows A, B and AB_i (A with input i from B) into
// f[row * m + output], rows 0 = A, 1 = B, 2 + i = AB_i. False when any row is invalid.
template <class Sampler, class Model>
bool evaluate_base(int k, int m, std::uint64_t j, const Sampler& sample, const Model& model,
                   double* xa, double* xb, double* x, double* f) {
  sample(j, 0, xa);
  sample(j, 1, xb);
  if (!model(static_cast<const double*>(xa), f)) return false;
  if (!model(static_cast<const double*>(xb), f + m)) return false;
  for (int i = 0; i < k; ++i) {
    std::copy(xa, xa + k, x);
    x[i] = xb[i];
    if (!model(static_cast<const double*>(x), f + (2 + i) * m)) return false;
  }
  return true;
}

// The partial of one block of base draws [first, first + len): per output,
// sums of w minus the block's first valid w (as ShiftedSums in tally.hpp),
// turned into (n, mean, M2) at the end.
template <class Sampler, class Model>
void accumulate_block(int k, int m, std::uint64_t first, std::uint64_t len, const double* center,
                      const Sampler& sample, const Model& model, SobolCoMoments* out,
                      std::uint64_t& invalid) {
  const int dim = 2 * k + 2;
  const std::size_t d = static_cast<std::size_t>(dim);
  std::vector<double> xa(static_cast<std::size_t>(k)), xb(xa.size()), x(xa.size());
  std::vector<double> f(static_cast<std::size_t>((k + 2) * m)), w(d);
  std::vector<double> w0(d * static_cast<std::size_t>(m)), s1(w0.size());
  std::vector<double> s2(d * d * static_cast<std::size_t>(m));
  std::uint64_t n = 0;
  invalid = 0;
  for (std::uint64_t j = first; j < first + len; ++j) {
    if (!evaluate_base(k, m, j, sample, model, xa.data(), xb.data(), x.data(), f.data())) {
      ++invalid;
      continue;
    }
    for (int o = 0; o < m; ++o) {
      const double fa = f[static_cast<std::size_t>(o)];
      const double fb = f[static_cast<std::size_t>(m + o)];
      const double a = fa - center[o], b = fb - center[o];
      for (int i = 0; i < k; ++i) {
        const double fc = f[static_cast<std::size_t>((2 + i) * m + o)];
        w[static_cast<std::size_t>(i)] = b * (fc - fa);
        const double diff = fa - fc;
        w[static_cast<std::size_t>(k + i)] = 0.5 * diff * diff;
      }
      w[d - 2] = 0.5 * (a * a + b * b);
      w[d - 1] = 0.5 * (a + b);
      double* shift = &w0[static_cast<std::size_t>(o) * d];
      double* t1 = &s1[static_cast<std::size_t>(o) * d];
      double* t2 = &s2[static_cast<std::size_t>(o) * d * d];
      if (n == 0) std::copy(w.begin(), w.end(), shift);
      for (std::size_t p = 0; p < d; ++p) {
        const double yp = w[p] - shift[p];
        t1[p] += yp;
        for (std::size_t q = p; q < d; ++q) t2[p * d + q] += yp * (w[q] - shift[q]);
      }
    }
    ++n;
  }
  for (int o = 0; o < m; ++o) {
    SobolCoMoments& c = out[o];
    c.n = n;
    c.dim = dim;
    c.mean.assign(d, 0.0);
    c.m2.assign(d * d, 0.0);
    if (n == 0) continue;
    const double dn = static_cast<double>(n);
    const double* shift = &w0[static_cast<std::size_t>(o) * d];
    const double* t1 = &s1[static_cast<std::size_t>(o) * d];
    const double* t2 = &s2[static_cast<std::size_t>(o) * d * d];
    for (std::size_t p = 0; p < d; ++p) c.mean[p] = shift[p] + t1[p] / dn;
    for (std::size_t p = 0; p < d; ++p) {
      for (std::size_t q = p; q < d; ++q) {
        double v = t2[p * d + q] - t1[p] * t1[q] / dn;
        if (p == q && v < 0.0) v = 0.0;
        c.m2[p * d + q] = c.m2[q * d + p] = v;
      }
    }
  }
}

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
  const std::size_t nm = static_cast<std::size_t>(m);
  const int dim = 2 * k + 2;

  // Center of each output: the mean of fA and fB over the valid base draws
  // among the first kShiftScan. Any constant leaves the estimators' limits
  // unchanged; one near the mean keeps (fB - center) (fAB_i - fA) from
  // carrying mean^2-sized noise and the sums from cancelling.
  acc.center.assign(nm, 0.0);
  {
    std::vector<double> xa(static_cast<std::size_t>(k)), xb(xa.size()), x(xa.size());
    std::vector<double> f(static_cast<std::size_t>((k + 2) * m)), sum(nm, 0.0);
    std::uint64_t used = 0;
    for (std::uint64_t j = 0; j < std::min<std::uint64_t>(base_draws, kShiftScan); ++j) {
      if (!sobol_detail::evaluate_base(k, m, j, sample, model, xa.data(), xb.data(), x.data(),
                                       f.data()))
        continue;
      for (std::size_t o = 0; o < nm; ++o) sum[o] += f[o] + f[nm + o];
      ++used;
    }
    if (used > 0)
      for (std::size_t o = 0; o < nm; ++o)
        acc.center[o] = sum[o] / (2.0 * static_cast<double>(used));
  }

  acc.moments.resize(nm);
  for (auto& c : acc.moments) {
    c.dim = dim;
    c.mean.assign(static_cast<std::size_t>(dim), 0.0);
    c.m2.assign(static_cast<std::size_t>(dim * dim), 0.0);
  }
  const int nthreads = threads > 0 ? threads : omp_get_max_threads();
  const std::uint64_t nblocks = (base_draws + kBlockDraws - 1) / kBlockDraws;
  // Chunks bound the memory (constant in base_draws); their size does not
  // change the result, since partials fold in block order regardless.
  const std::uint64_t chunk = std::max<std::uint64_t>(1, 4 * static_cast<std::uint64_t>(nthreads));
  std::vector<SobolCoMoments> part(static_cast<std::size_t>(std::min(chunk, nblocks)) * nm);
  std::vector<std::uint64_t> bad(static_cast<std::size_t>(std::min(chunk, nblocks)));
  std::uint64_t done = 0;
  for (std::uint64_t b0 = 0; b0 < nblocks; b0 += chunk) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
    const std::int64_t nb = static_cast<std::int64_t>(std::min(chunk, nblocks - b0));
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (std::int64_t t = 0; t < nb; ++t) {
      const std::uint64_t blk = b0 + static_cast<std::uint64_t>(t);
      const std::size_t ti = static_cast<std::size_t>(t);
      sobol_detail::accumulate_block(k, m, blk * kBlockDraws, block_length(base_draws, blk),
                                     acc.center.data(), sample, model, &part[ti * nm], bad[ti]);
    }
    for (std::int64_t t = 0; t < nb; ++t) {
      const std::size_t ti = static_cast<std::size_t>(t);
      for (std::size_t o = 0; o < nm; ++o) acc.moments[o].merge(part[ti * nm + o]);
      acc.invalid += bad[ti];
      done += block_length(base_draws, b0 + static_cast<std::uint64_t>(t));
    }
    if (progress) progress(done, base_draws);
  }
  if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
  return acc;
}

// Names accepted as sensitivity outputs: every numeric field but A2_crit
// (undefined in some draws), then every event.
std::vector<std::string> sensitivity_output_names();

// Sampled parameters of `spec` (slots whose distribution is not fixed), in
// slot order, and their names as the config gives them.
std::vector<int> sensitivity_slots(const DrawSpec& spec);
std::string slot_name(const DrawSpec& spec, int slot);

// Sobol indices of cfg.outputs with respect to every sampled parameter of
// `spec` (A from stream kSobolStreamA, B from kSobolStreamB; spec.stream is
// ignored). Throws InputError for an unknown output, base_draws < 2 or no
// sampled parameter; Interrupted when *cancel becomes true.
SensitivityResult run_sensitivity(
    const DrawSpec& spec, const SensitivityConfig& cfg, int threads,
    const std::atomic<bool>* cancel = nullptr,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

}  // namespace spillmc
