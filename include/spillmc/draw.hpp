// One Monte Carlo draw: sample the parameters of draw i, evaluate the model.
#pragma once

#include <cmath>
#include <cstdint>

#include "spillmc/distributions.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/model.hpp"
#include "spillmc/rng.hpp"

namespace spillmc {

// Sampling slots: the six inputs as the config gives them.
enum Slot : int { S_a, S_b, S_c, S_A1, S_A2, S_A2p, kNumSlots };

// Everything a backend needs to evaluate any draw; trivially copyable so that
// kernels take it by value or from constant memory.
struct DrawSpec {
  Dist dist[kNumSlots];
  bool a2_is_gap = false;     // slot S_A2 holds A2_gap: A2 = A1 + gap
  bool a2p_is_theta = false;  // slot S_A2p holds theta: A2p = A1 + theta (A2 - A1)
  ModelMode mode = ModelMode::constrained;
  std::uint64_t seed = 0;
  std::uint32_t stream = 0;
  // Gaussian copula (config key `correlation`), set by set_copula. The normal
  // scores z of the correlated slots become chol z (chol lower-triangular,
  // chol chol^T = the correlation matrix); the other slots are sampled exactly
  // as without a copula, and their rows and columns of chol are the identity.
  bool copula = false;
  bool correlated[kNumSlots] = {};
  double chol[kNumSlots][kNumSlots] = {};
};

// Smallest Cholesky pivot (diagonal 1) accepted as positive definite: below
// it the factor would amplify rounding into correlations no one asked for.
constexpr double kMinCholeskyPivot = 1e-12;

// Lower-triangular l (n x n, row-major) with l l^T = a, for a symmetric
// matrix a with unit diagonal. Returns -1, or the 0-based k at which the
// leading (k+1) x (k+1) minor is not (numerically) positive; *det then holds
// that minor's determinant.
inline int cholesky_factor(int n, const double* a, double* l, double* det = nullptr) {
  double d = 1.0;
  for (int i = 0; i < n * n; ++i) l[i] = 0.0;
  for (int k = 0; k < n; ++k) {
    for (int j = 0; j < k; ++j) {
      double s = a[k * n + j];
      for (int m = 0; m < j; ++m) s -= l[k * n + m] * l[j * n + m];
      l[k * n + j] = s / l[j * n + j];
    }
    double pivot = a[k * n + k];
    for (int m = 0; m < k; ++m) pivot -= l[k * n + m] * l[k * n + m];
    d *= pivot;  // det of the leading minor: the product of the pivots
    if (!(pivot > kMinCholeskyPivot)) {
      if (det) *det = d;
      return k;
    }
    l[k * n + k] = std::sqrt(pivot);
  }
  if (det) *det = d;
  return -1;
}

// Turns the copula on for correlation matrix r over slots (symmetric, unit
// diagonal; zero rows off the diagonal mark uncorrelated slots). Returns false,
// leaving spec unchanged, when r is not positive definite.
inline bool set_copula(DrawSpec& spec, const double (&r)[kNumSlots][kNumSlots]) {
  double l[kNumSlots * kNumSlots];
  if (cholesky_factor(kNumSlots, &r[0][0], l) >= 0) return false;
  bool any = false;
  for (int s = 0; s < kNumSlots; ++s) {
    spec.correlated[s] = false;
    for (int j = 0; j < kNumSlots; ++j) {
      spec.chol[s][j] = l[s * kNumSlots + j];
      if (j != s && r[s][j] != 0.0) spec.correlated[s] = true;
    }
    any = any || spec.correlated[s];
  }
  spec.copula = any;
  return true;
}

// The value of `dist` at standard normal score z: the copula's counterpart of
// sample(dist, u, ...) with u = Phi(z). Normal and lognormal use z directly
// (exact in both tails); the others go through u. A reflected truncated
// normal decreases in u (trunc_interval), so it takes Phi(-z) to keep the
// correlation's sign. Beta ignores u (rejection sampling): config rejects it.
SPILLMC_HD_INLINE double sample_at_score(const Dist& dist, double z, const DrawRng& rng,
                                         std::uint32_t param) {
  switch (dist.kind) {
    case DistKind::normal:
      return dist.p0 + dist.p1 * z;
    case DistKind::lognormal:
      return std::exp(dist.p0 + dist.p1 * z);
    case DistKind::truncnormal:
      return sample(dist, normal_cdf_open(trunc_interval(dist).flip ? -z : z), rng, param);
    default:
      return sample(dist, normal_cdf_open(z), rng, param);
  }
}

// The six slot values of draw `index` as the config gives them (A2_gap and
// theta not yet turned into A2 and A2p). Sobol pick-freeze designs mix slots
// of two draws, so this is separate from params_from_slots.
SPILLMC_HD_INLINE void sample_slots(const DrawSpec& spec, std::uint64_t index,
                                    double x[kNumSlots]) {
  const DrawRng rng{spec.seed, index, spec.stream};
  double u[kNumSlots];
  for (int pair = 0; pair < kNumSlots / 2; ++pair) {
    // A correlated slot's score enters the other slots' even when its own
    // value is fixed (a sweep cell), so that their joint law stays the same.
    const bool needed =
        spec.dist[2 * pair].kind != DistKind::fixed ||
        spec.dist[2 * pair + 1].kind != DistKind::fixed ||
        (spec.copula && (spec.correlated[2 * pair] || spec.correlated[2 * pair + 1]));
    if (needed) {
      rng.uniform2(primary_slot(pair), u[2 * pair], u[2 * pair + 1]);
    } else {
      u[2 * pair] = u[2 * pair + 1] = 0.5;
    }
  }
  if (!spec.copula) {
    for (int s = 0; s < kNumSlots; ++s) x[s] = sample(spec.dist[s], u[s], rng, s);
    return;
  }
  // Gaussian copula: independent scores z, correlated as chol z, each mapped
  // through its marginal. Uncorrelated slots take their u as above.
  double z[kNumSlots];
  for (int s = 0; s < kNumSlots; ++s) z[s] = spec.correlated[s] ? normal_quantile(u[s]) : 0.0;
  for (int s = 0; s < kNumSlots; ++s) {
    if (!spec.correlated[s]) {
      x[s] = sample(spec.dist[s], u[s], rng, s);
      continue;
    }
    double zs = 0.0;
    for (int j = 0; j <= s; ++j) zs += spec.chol[s][j] * z[j];
    x[s] = sample_at_score(spec.dist[s], zs, rng, static_cast<std::uint32_t>(s));
  }
}

// Model parameters from slot values: derives A2 from A2_gap, A2p from theta.
SPILLMC_HD_INLINE Params params_from_slots(const DrawSpec& spec, const double x[kNumSlots]) {
  Params p{x[S_a], x[S_b], x[S_c], x[S_A1], x[S_A2], x[S_A2p]};
  if (spec.a2_is_gap) p.A2 = p.A1 + x[S_A2];
  if (spec.a2p_is_theta) p.A2p = p.A1 + x[S_A2p] * (p.A2 - p.A1);
  return p;
}

SPILLMC_HD_INLINE Params sample_params(const DrawSpec& spec, std::uint64_t index) {
  double x[kNumSlots];
  sample_slots(spec, index, x);
  return params_from_slots(spec, x);
}

// Evaluates given parameters. Returns -1 when valid (o filled), else the
// InvalidReason (o.v holds at least the parameters).
SPILLMC_HD_INLINE int evaluate_params(const Params& p, ModelMode mode, Outcome& o) {
  const int bad = check_params(p);
  if (bad >= 0) {
    o.v[F_a] = p.a, o.v[F_b] = p.b, o.v[F_c] = p.c;
    o.v[F_A1] = p.A1, o.v[F_A2] = p.A2, o.v[F_A2p] = p.A2p;
    return bad;
  }
  evaluate_model(p, mode, o);
  return outputs_in_range(o) ? -1 : I_nonfinite_output;
}

// Samples and evaluates draw `index`. Returns -1 when valid (o filled), else
// the InvalidReason (o.v holds at least the parameters).
SPILLMC_HD_INLINE int evaluate_draw(const DrawSpec& spec, std::uint64_t index, Outcome& o) {
  return evaluate_params(sample_params(spec, index), spec.mode, o);
}

}  // namespace spillmc
