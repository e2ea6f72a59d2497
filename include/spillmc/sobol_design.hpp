// The pick-freeze design of run_sensitivity as plain data, and the steps of a
// block's co-moment sums, written once for the host (sobol.hpp) and the CUDA
// kernel (kernels/sobol_cuda.cu), so both evaluate the same rows and the same
// per-draw vector w. Only the order of the sums differs (docs/sensitivity.md).
#pragma once

#include <cstdint>

#include "spillmc/draw.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/hd.hpp"

namespace spillmc {

// Random streams (ctr[2]) of the two independent sample matrices A and B.
// Reserved: far above any sweep cell index, so no design row repeats a draw
// of a plain run or of a cell.
constexpr std::uint32_t kSobolStreamA = 0xFFFFFFF0u;
constexpr std::uint32_t kSobolStreamB = 0xFFFFFFF1u;

constexpr int kSobolMaxInputs = kNumSlots;
constexpr int kSobolMaxDim = 2 * kSobolMaxInputs + 2;
// Entries of a block's sums: dim linear sums, then the upper triangle.
constexpr int kSobolMaxEntries = kSobolMaxDim + kSobolMaxDim * (kSobolMaxDim + 1) / 2;
// Every distinct output name (sensitivity_output_names: the numeric fields
// but A2_crit, then the events). The config refuses repeats, so the CUDA path
// takes any config; run_sensitivity runs longer lists on the CPU.
constexpr int kSobolMaxOutputs = kNumFields - 1 + kNumEvents;

SPILLMC_HD_INLINE int sobol_dim(int k) {
  return 2 * k + 2;
}
SPILLMC_HD_INLINE int sobol_entries(int dim) {
  return dim + dim * (dim + 1) / 2;
}

// What the CUDA kernel needs to evaluate and sum any block of a design;
// trivially copyable (a kernel argument).
struct SobolDesign {
  DrawSpec spec_a, spec_b;  // the run's spec with stream kSobolStreamA / kSobolStreamB
  int k = 0;                // sampled inputs
  int m = 0;                // outputs, <= kSobolMaxOutputs
  int slot[kSobolMaxInputs] = {};
  int what[kSobolMaxOutputs] = {};  // field f >= 0, or event e as -1 - e
  double center[kSobolMaxOutputs] = {};
  std::uint64_t base_draws = 0;
};

// Row j of matrix A (spec_ab = spec_a) or B (spec_b): the sampled slots, in order.
SPILLMC_HD_INLINE void sobol_sample(const DrawSpec& spec_ab, int k, const int* slot,
                                    std::uint64_t j, double* x) {
  double all[kNumSlots];
  sample_slots(spec_ab, j, all);
  for (int i = 0; i < k; ++i) x[i] = all[slot[i]];
}

// The outputs `what` of the model at inputs x (fixed slots at their value);
// false when the point is invalid.
SPILLMC_HD_INLINE bool sobol_model(const DrawSpec& spec, int k, const int* slot, int m,
                                   const int* what, const double* x, double* out) {
  double all[kNumSlots];
  for (int s = 0; s < kNumSlots; ++s) all[s] = spec.dist[s].p0;
  for (int i = 0; i < k; ++i) all[slot[i]] = x[i];
  Outcome o;
  if (evaluate_params(params_from_slots(spec, all), spec.mode, o) >= 0) return false;
  for (int r = 0; r < m; ++r) {
    const int w = what[r];
    out[r] = w >= 0 ? o.v[w] : (o.event[-1 - w] ? 1.0 : 0.0);
  }
  return true;
}

namespace sobol_detail {

// Evaluates base draw j: rows A, B and AB_i (A with input i from B) into
// f[row * m + output], rows 0 = A, 1 = B, 2 + i = AB_i. False when any row is
// invalid. One call site per callable keeps the kernel's inlined code small.
template <class Sampler, class Model>
SPILLMC_HD_INLINE bool evaluate_base(int k, int m, std::uint64_t j, const Sampler& sample,
                                     const Model& model, double* xa, double* xb, double* x,
                                     double* f) {
  for (int mtx = 0; mtx < 2; ++mtx) sample(j, mtx, mtx == 0 ? xa : xb);
  for (int row = 0; row < k + 2; ++row) {
    if (row >= 2) {
      for (int i = 0; i < k; ++i) x[i] = xa[i];
      x[row - 2] = xb[row - 2];
    }
    const double* in = row == 0 ? xa : row == 1 ? xb : x;
    if (!model(in, f + row * m)) return false;
  }
  return true;
}

// w of output o for one valid base draw (f from evaluate_base) into
// w[p * stride], p < 2k + 2; the layout is in sobol.hpp.
SPILLMC_HD_INLINE void sobol_w(int k, int m, int o, const double* f, double center, double* w,
                               int stride) {
  const double fa = f[o];
  const double fb = f[m + o];
  const double a = fa - center, b = fb - center;
  for (int i = 0; i < k; ++i) {
    const double fc = f[(2 + i) * m + o];
    w[i * stride] = b * (fc - fa);
    const double diff = fa - fc;
    w[(k + i) * stride] = 0.5 * diff * diff;
  }
  w[2 * k * stride] = 0.5 * (a * a + b * b);
  w[(2 * k + 1) * stride] = 0.5 * (a + b);
}

// Entry e of a block's sums (shifted by the block's first valid w, `shift`):
// e < dim is the sum of (w_p - shift_p), p = e (q = -1); the rest is the upper
// triangle of the sums of (w_p - shift_p)(w_q - shift_q), q >= p, row by row.
SPILLMC_HD_INLINE void sobol_entry_pair(int dim, int e, int& p, int& q) {
  if (e < dim) {
    p = e;
    q = -1;
    return;
  }
  int r = e - dim;
  p = 0;
  while (r >= dim - p) {
    r -= dim - p;
    ++p;
  }
  q = p + r;
}

// One draw's term of entry (p, q); its w is w[p * stride].
SPILLMC_HD_INLINE double sobol_term(int p, int q, const double* w, int stride,
                                    const double* shift) {
  const double yp = w[p * stride] - shift[p];
  return q < 0 ? yp : yp * (w[q * stride] - shift[q]);
}

SPILLMC_HD_INLINE int lowest_bit(std::uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __ffs(static_cast<int>(bits)) - 1;
#else
  return __builtin_ctz(bits);
#endif
}

// The kernel's per-lane step: adds the draws of a warp's tile that are set in
// `valid` (draw j's w at tile[p * stride + j]) to entry (p, q), in draw order.
SPILLMC_HD_INLINE double sobol_entry_add(double acc, int p, int q, std::uint32_t valid,
                                         const double* tile, int stride, const double* shift) {
  for (std::uint32_t bits = valid; bits != 0; bits &= bits - 1)
    acc += sobol_term(p, q, tile + lowest_bit(bits), stride, shift);
  return acc;
}

// The kernel's block total of one entry: the warps' sums (part[w * stride])
// added in warp order. All warps share the block's shift, so this is exact
// algebra with a fixed rounding order.
SPILLMC_HD_INLINE double sobol_warp_total(const double* part, int warps, int stride) {
  double t = part[0];
  for (int w = 1; w < warps; ++w) t += part[w * stride];
  return t;
}

// (n, mean, M2) of one output from a block's shift and entry sums: mean =
// shift + s_p / n, M2_pq = s_pq - s_p s_q / n (rounding below 0 on the
// diagonal clamped), M2 full and symmetric; zeros when n == 0.
SPILLMC_HD_INLINE void sobol_finish(int dim, std::uint64_t n, const double* shift,
                                    const double* sums, double* mean, double* m2) {
  for (int p = 0; p < dim; ++p) mean[p] = 0.0;
  for (int p = 0; p < dim * dim; ++p) m2[p] = 0.0;
  if (n == 0) return;
  const double dn = static_cast<double>(n);
  for (int p = 0; p < dim; ++p) mean[p] = shift[p] + sums[p] / dn;
  int e = dim;
  for (int p = 0; p < dim; ++p) {
    for (int q = p; q < dim; ++q, ++e) {
      double v = sums[e] - sums[p] * sums[q] / dn;
      if (p == q && v < 0.0) v = 0.0;
      m2[p * dim + q] = m2[q * dim + p] = v;
    }
  }
}

}  // namespace sobol_detail

// The CUDA kernel's launch shape. Part of a block's bits on the GPU (the order
// of its sums), so fixed: thread t takes base draws first + t, first + t +
// kSobolThreads, ...; lane l of each warp owns entries l, l + 32, ...
constexpr int kSobolThreads = 256;
constexpr int kSobolWarpSize = 32;
constexpr int kSobolWarps = kSobolThreads / kSobolWarpSize;
constexpr int kSobolLaneEntries = (kSobolMaxEntries + kSobolWarpSize - 1) / kSobolWarpSize;

// Per block, what sobol_cuda_blocks returns: counts [n, invalid], then per
// output the block's shift (dim values) and its entry sums.
SPILLMC_HD_INLINE int sobol_raw_stride(int dim) {
  return dim + sobol_entries(dim);
}

// Design blocks [first_block, first_block + nblocks) of d.base_draws base draws
// on CUDA device `device` (kernels/sobol_cuda.cu; cuda_stub.cpp throws
// CudaError): counts[2 b], counts[2 b + 1] = valid and invalid base draws of
// block first_block + b; sums[(b m + o) sobol_raw_stride(dim) ...] = output o's
// shift, then its entry sums. Each block's values depend only on (d, block).
// Throws CudaError (no device, a runtime error) or InputError (k or m out of range).
void sobol_cuda_blocks(int device, const SobolDesign& d, std::uint64_t first_block,
                       std::uint64_t nblocks, std::uint64_t* counts, double* sums);

}  // namespace spillmc
