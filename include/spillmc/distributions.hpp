// Parameter distributions. Each sampler maps one uniform (or, for beta, a
// short counter-addressed sequence) to a value, identically on host and device.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "spillmc/hd.hpp"
#include "spillmc/rng.hpp"

namespace spillmc {

enum class DistKind : std::uint32_t {
  fixed = 0,
  uniform,
  normal,
  truncnormal,
  lognormal,
  triangular,
  beta,
};

// Trivially copyable: lives in constant memory on the device.
// Parameter meaning per kind:
//   fixed: p0 value        uniform: p0 low, p1 high        normal: p0 mean, p1 sd
//   truncnormal: p0 mean, p1 sd, p2 low, p3 high           lognormal: p0 meanlog, p1 sdlog
//   triangular: p0 low, p1 mode, p2 high                   beta: p0 alpha, p1 beta, p2 low, p3 high
struct Dist {
  DistKind kind = DistKind::fixed;
  double p0 = 0, p1 = 0, p2 = 0, p3 = 0;
  // Per-run constants derived from p0..p3 by prepared() (truncnormal: Phi at
  // trunc_interval's bounds; triangular: the mode's CDF), so samplers don't
  // recompute them for every draw.
  bool has_derived = false;
  double d0 = 0, d1 = 0;
};

// Standard normal quantile, Wichura's AS241 (PPND16, Appl. Statist. 37, 1988):
// relative accuracy about 1e-16 over the whole open interval. Split into its
// two rational functions, branch-free, so that the batched CPU code evaluates
// them over lanes with exactly the operations used here.

// Central region |q| <= 0.425, q = p - 1/2.
SPILLMC_HD_INLINE double as241_central(double q) {
  const double r = 0.180625 - q * q;
  const double num = ((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r +
                          6.7265770927008700853e+4) *
                             r +
                         4.5921953931549871457e+4) *
                            r +
                        1.3731693765509461125e+4) *
                           r +
                       1.9715909503065514427e+3) *
                          r +
                      1.3314166789178437745e+2) *
                         r +
                     3.3871328727963666080e+0;
  const double den = ((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r +
                          3.9307895800092710610e+4) *
                             r +
                         2.1213794301586595867e+4) *
                            r +
                        5.3941960214247511077e+3) *
                           r +
                       6.8718700749205790830e+2) *
                          r +
                      4.2313330701600911252e+1) *
                         r +
                     1.0;
  return q * num / den;
}

// Tails: |z| from r = sqrt(-log(min(p, 1 - p))). AS241's two tail branches
// (r <= 5 and beyond) differ only in offset and coefficients, selected here.
SPILLMC_HD_INLINE double as241_tail(double r) {
  const bool near = r <= 5.0;
  const double x = near ? r - 1.6 : r - 5.0;
  const double a7 = near ? 7.74545014278341407640e-4 : 2.01033439929228813265e-7;
  const double a6 = near ? 2.27238449892691845833e-2 : 2.71155556874348757815e-5;
  const double a5 = near ? 2.41780725177450611770e-1 : 1.24266094738807843860e-3;
  const double a4 = near ? 1.27045825245236838258e+0 : 2.65321895265761230930e-2;
  const double a3 = near ? 3.64784832476320460504e+0 : 2.96560571828504891230e-1;
  const double a2 = near ? 5.76949722146069140550e+0 : 1.78482653991729133580e+0;
  const double a1 = near ? 4.63033784615654529590e+0 : 5.46378491116411436990e+0;
  const double a0 = near ? 1.42343711074968357734e+0 : 6.65790464350110377720e+0;
  const double b7 = near ? 1.05075007164441684324e-9 : 2.04426310338993978564e-15;
  const double b6 = near ? 5.47593808499534494600e-4 : 1.42151175831644588870e-7;
  const double b5 = near ? 1.51986665636164571966e-2 : 1.84631831751005468180e-5;
  const double b4 = near ? 1.48103976427480074590e-1 : 7.86869131145613259100e-4;
  const double b3 = near ? 6.89767334985100004550e-1 : 1.48753612908506148525e-2;
  const double b2 = near ? 1.67638483018380384940e+0 : 1.36929880922735805310e-1;
  const double b1 = near ? 2.05319162663775882187e+0 : 5.99832206555887937690e-1;
  const double num = ((((((a7 * x + a6) * x + a5) * x + a4) * x + a3) * x + a2) * x + a1) * x + a0;
  const double den = ((((((b7 * x + b6) * x + b5) * x + b4) * x + b3) * x + b2) * x + b1) * x + 1.0;
  return num / den;
}

SPILLMC_HD_INLINE double normal_quantile(double p) {
  const double q = p - 0.5;
  if (std::fabs(q) <= 0.425) return as241_central(q);
  const double z = as241_tail(std::sqrt(-std::log(q < 0.0 ? p : 1.0 - p)));
  return q < 0.0 ? -z : z;
}

// Standard normal CDF and its complement, accurate in the tails.
SPILLMC_HD_INLINE double normal_cdf(double x) {
  return 0.5 * std::erfc(-x * 0.70710678118654752440);
}

// Phi(x) for a Gaussian copula, kept strictly inside (0, 1) so that inverse
// CDFs stay finite: erfc keeps relative precision in the lower tail (down to
// 2^-1022, past which it is clamped); the upper tail rounds to the largest
// double below 1, 1 - 2^-53, as the primary uniforms do (rng.hpp).
SPILLMC_HD_INLINE double normal_cdf_open(double x) {
  const double p = normal_cdf(x);
  return p < 0x1.0p-1022 ? 0x1.0p-1022 : (p > 0x1.fffffffffffffp-1 ? 0x1.fffffffffffffp-1 : p);
}

// Truncated normal by inversion. The interval, in standard units, is
// reflected into the lower tail when it lies above 0, where Phi keeps relative
// accuracy far from the mean.
struct TruncInterval {
  double a, b;  // reflected bounds, a < b
  bool flip;    // reflected: the sampled z is negated back
};

SPILLMC_HD_INLINE TruncInterval trunc_interval(const Dist& d) {
  const double lo = (d.p2 - d.p0) / d.p1, hi = (d.p3 - d.p0) / d.p1;
  const bool flip = lo > 0.0;
  return {flip ? -hi : lo, flip ? -lo : hi, flip};
}

// The value for a standard normal z drawn in the reflected interval: clamped
// to it, reflected back, scaled, and clamped to [low, high] against rounding.
SPILLMC_HD_INLINE double trunc_value(const Dist& d, const TruncInterval& t, double z) {
  z = z < t.a ? t.a : (z > t.b ? t.b : z);
  z = t.flip ? -z : z;
  const double x = d.p0 + d.p1 * z;
  return x < d.p2 ? d.p2 : (x > d.p3 ? d.p3 : x);
}

// A Gamma(shape, 1) variate is x e^l: x by gamma_variate, Gamma(k) with
// k = shape, or k = shape + 1 below 1, and l by gamma_boost_log, 0, or below 1
// log(U) / shape (Gamma(shape) = Gamma(shape + 1) U^(1/shape)). The boost is
// kept as a logarithm: U^(1/shape) underflows to 0 for small shapes.
SPILLMC_HD_INLINE bool gamma_boosted(double shape) {
  return shape < 1.0;
}

// x of Gamma(shape, 1) = x e^l by Marsaglia & Tsang (2000). The loop's uniforms
// come from extra counter slots, so the draw stays a pure function of its index.
SPILLMC_HD_INLINE double gamma_variate(double shape, const DrawRng& rng, std::uint32_t param,
                                       std::uint32_t sub) {
  const double k = gamma_boosted(shape) ? shape + 1.0 : shape;
  const double d = k - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  double x = d;
  for (std::uint32_t iter = 0; iter < 0xffffu; ++iter) {
    double u1, u2;
    rng.uniform2(extra_slot(param, sub, iter), u1, u2);
    const double z = normal_quantile(u1);
    const double t = 1.0 + c * z;
    if (t <= 0.0) continue;
    const double v = t * t * t;
    const double z2 = z * z;
    // Squeeze (Marsaglia & Tsang): accepts ~98% of candidates without the
    // logarithms; it lies inside the exact region, so decisions are unchanged.
    if (u2 < 1.0 - 0.0331 * z2 * z2 || std::log(u2) < 0.5 * z2 + d - d * v + d * std::log(v)) {
      x = d * v;
      break;
    }
  }
  return x;
}

// The counter slot of gamma_boost_log's uniform.
SPILLMC_HD_INLINE std::uint32_t gamma_boost_slot(std::uint32_t param, std::uint32_t sub) {
  return extra_slot(param, sub, 0xffffu);
}

// l of Gamma(shape, 1) = x e^l from the boost's uniform ub.
SPILLMC_HD_INLINE double gamma_boost_log(double shape, double ub) {
  return gamma_boosted(shape) ? std::log(ub) / shape : 0.0;
}

// X / (X + Y) for gamma variates X = x e^lx, Y = y e^ly. Without boosts it is
// x / (x + y); with one, 1 / (1 + (y / x) e^(ly - lx)), which neither
// underflows nor gives 0 / 0 (an overflowed exp gives 0, as it should).
SPILLMC_HD_INLINE double gamma_ratio(double x, double lx, double y, double ly, bool boosted) {
  return boosted ? 1.0 / (1.0 + (y / x) * std::exp(ly - lx)) : x / (x + y);
}

// Beta with integer shapes by order statistics: the alpha-th smallest of
// n = alpha + beta - 1 independent uniforms is Beta(alpha, beta) exactly. It
// needs only comparisons (so host and device agree bit for bit) and no gamma
// variates, whose normal quantiles and rejection loops cost more (bench_cpu's
// beta/... and theta_beta/...). Integer shapes up to this many uniforms take
// it; other shapes take the gamma ratio.
constexpr int kBetaOrderMaxUniforms = 15;

SPILLMC_HD_INLINE bool beta_by_order_statistic(const Dist& d) {
  return d.p0 >= 1.0 && d.p1 >= 1.0 && d.p0 == std::floor(d.p0) && d.p1 == std::floor(d.p1) &&
         d.p0 + d.p1 - 1.0 <= kBetaOrderMaxUniforms;
}

// One compare-exchange: s keeps the smaller of (s, v), v goes on with the
// larger. A min and a max rather than a swap: each compiles to one select
// (minsd/maxsd on x86, where a swap on one comparison became a branch).
SPILLMC_HD_INLINE void keep_lower(double& s, double& v) {
  const double lo = v < s ? v : s;
  const double hi = s < v ? v : s;
  s = lo;
  v = hi;
}

// Inserts v into s, the K smallest values seen so far in ascending order.
// Unrolled, so that s stays in registers on the device.
template <int K>
SPILLMC_HD_INLINE void keep_smallest(double (&s)[K], double v) {
  SPILLMC_UNROLL
  for (int j = 0; j < K; ++j) keep_lower(s[j], v);
}

// K = min(alpha, beta) for a beta_by_order_statistic beta, passed to f as
// std::integral_constant<int, K> so that f's list of K values has a fixed size.
// A switch on purpose: a recursive if-constexpr dispatch (K = 1, 2, ...) kept
// GCC from inlining f into cpu_batch.cpp's ISA copies, and the baseline ran at
// 0.58 of this speed on one thread.
template <class F>
SPILLMC_HD_INLINE double with_beta_order_k(const Dist& d, F f) {
  static_assert((kBetaOrderMaxUniforms + 1) / 2 == 8, "the cases below cover K = 1..8");
  switch (static_cast<int>(d.p0 < d.p1 ? d.p0 : d.p1)) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 5:
      return f(std::integral_constant<int, 5>{});
    case 6:
      return f(std::integral_constant<int, 6>{});
    case 7:
      return f(std::integral_constant<int, 7>{});
    default:
      return f(std::integral_constant<int, 8>{});
  }
}

// The uniforms of a beta_by_order_statistic beta: the primary one, then n - 1
// more from extra slots (sub 2, two per Philox call). They enter with `sign`:
// K smallest of u when alpha <= beta, else K smallest of -u (the beta-th
// largest is the alpha-th smallest), so the kept list never exceeds 8.
struct BetaOrderPlan {
  int n;
  double sign;
  SPILLMC_HD_INLINE static BetaOrderPlan of(const Dist& d) {
    return {static_cast<int>(d.p0 + d.p1) - 1, d.p0 <= d.p1 ? 1.0 : -1.0};
  }
  SPILLMC_HD_INLINE static std::uint32_t slot(std::uint32_t param, int i) {  // uniforms i, i + 1
    return extra_slot(param, 2, static_cast<std::uint32_t>(i / 2));
  }
};

// Beta(alpha, beta) on [0, 1] for shapes beta_by_order_statistic accepts.
SPILLMC_HD_INLINE double beta_order_statistic(const Dist& d, double u, const DrawRng& rng,
                                              std::uint32_t param) {
  const BetaOrderPlan plan = BetaOrderPlan::of(d);
  return with_beta_order_k(d, [&](auto k) {
    constexpr int K = decltype(k)::value;
    double s[K];
    SPILLMC_UNROLL
    for (int j = 0; j < K; ++j) s[j] = 2.0;  // above every signed uniform
    keep_smallest(s, plan.sign * u);
    for (int i = 1; i < plan.n; i += 2) {
      double u0, u1;
      rng.uniform2(BetaOrderPlan::slot(param, i), u0, u1);
      keep_smallest(s, plan.sign * u0);
      if (i + 1 < plan.n) keep_smallest(s, plan.sign * u1);
    }
    return plan.sign * s[K - 1];
  });
}

// Beta(alpha, beta) on [0, 1] as X / (X + Y) of two gamma variates, any shapes.
SPILLMC_HD_INLINE double beta_gamma_ratio(const Dist& d, const DrawRng& rng, std::uint32_t param) {
  const double x = gamma_variate(d.p0, rng, param, 0);
  const double y = gamma_variate(d.p1, rng, param, 1);
  const bool boosted = gamma_boosted(d.p0) || gamma_boosted(d.p1);
  double lx = 0.0, ly = 0.0;
  if (boosted) {
    double ub, unused;
    rng.uniform2(gamma_boost_slot(param, 0), ub, unused);
    lx = gamma_boost_log(d.p0, ub);
    rng.uniform2(gamma_boost_slot(param, 1), ub, unused);
    ly = gamma_boost_log(d.p1, ub);
  }
  return gamma_ratio(x, lx, y, ly, boosted);
}

// Triangular(lo, mode, hi) by inversion. `f` is the CDF at the mode.
SPILLMC_HD_INLINE double triangular_mode_cdf(const Dist& d) {
  return (d.p1 - d.p0) / (d.p2 - d.p0);
}

// One square root: the branch's argument is selected first, so a GPU warp
// with lanes on both sides of the mode does not take two.
SPILLMC_HD_INLINE double triangular_value(const Dist& d, double f, double u) {
  const double lo = d.p0, mode = d.p1, hi = d.p2;
  const bool left = u < f;
  const double arg = left ? u * (hi - lo) * (mode - lo) : (1.0 - u) * (hi - lo) * (hi - mode);
  const double s = std::sqrt(arg);
  return left ? lo + s : hi - s;
}

// `d` with its per-run constants filled in (host, once per run).
inline Dist prepared(Dist d) {
  if (d.kind == DistKind::truncnormal) {
    const TruncInterval t = trunc_interval(d);
    d.d0 = normal_cdf(t.a);
    d.d1 = normal_cdf(t.b);
    d.has_derived = true;
  } else if (d.kind == DistKind::triangular) {
    d.d0 = triangular_mode_cdf(d);
    d.has_derived = true;
  }
  return d;
}

// One value of `dist` from the primary uniform u; `param` names the parameter
// slot so that samplers needing more randomness draw from their own counters.
SPILLMC_HD_INLINE double sample(const Dist& dist, double u, const DrawRng& rng,
                                std::uint32_t param) {
  switch (dist.kind) {
    case DistKind::fixed:
      return dist.p0;
    case DistKind::uniform:
      return dist.p0 + u * (dist.p1 - dist.p0);
    case DistKind::normal:
      return dist.p0 + dist.p1 * normal_quantile(u);
    case DistKind::truncnormal: {
      const TruncInterval t = trunc_interval(dist);
      const bool known = dist.has_derived && dist.d0 == dist.d0 && dist.d1 == dist.d1;
      const double pa = known ? dist.d0 : normal_cdf(t.a);
      const double pb = known ? dist.d1 : normal_cdf(t.b);
      // An interval so narrow that Phi cannot tell its ends apart: the density
      // is constant over it to rounding, so uniform is exact there. (Intervals
      // beyond 37 sd, where Phi itself underflows, are refused by the config.)
      const double z = pb > pa ? normal_quantile(pa + u * (pb - pa)) : t.a + u * (t.b - t.a);
      return trunc_value(dist, t, z);
    }
    case DistKind::lognormal:
      return std::exp(dist.p0 + dist.p1 * normal_quantile(u));
    case DistKind::triangular:
      return triangular_value(dist, dist.has_derived ? dist.d0 : triangular_mode_cdf(dist), u);
    case DistKind::beta: {
      const double x = beta_by_order_statistic(dist) ? beta_order_statistic(dist, u, rng, param)
                                                     : beta_gamma_ratio(dist, rng, param);
      return dist.p2 + (dist.p3 - dist.p2) * x;
    }
  }
  return NAN;
}

}  // namespace spillmc
