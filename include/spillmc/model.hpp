// The two-firm spillover model of ../shared/model.md for one parameter draw.
// Plain host/device functions: the CPU and CUDA backends are loops around them.
#pragma once

#include <cmath>

#include "spillmc/fields.hpp"
#include "spillmc/hd.hpp"

namespace spillmc {

struct Params {
  double a, b, c, A1, A2, A2p;
};

// Outcome of a Stackelberg game with the leader at margin m1 and follower at m2.
struct Stackelberg {
  double q1, q2, pi1, pi2;
  int regime;
};

// Regime classification of model.md, without dividing: x = m1/m2 is compared
// through multiples of m2 so that the borders are decided exactly.
SPILLMC_HD_INLINE int stackelberg_regime(double m1, double m2) {
  if (m2 > 0.0) {
    const double two_m1 = 2.0 * m1;                // exact
    if (two_m1 <= m2) return R_follower_monopoly;  // x <= 1/2
    if (two_m1 < 3.0 * m2) return R_both_active;   // 1/2 < x < 3/2
    if (m1 < 2.0 * m2) return R_limit_output;      // 3/2 <= x < 2
    return R_leader_monopoly;                      // x >= 2
  }
  return m1 > 0.0 ? R_leader_monopoly : R_nobody;
}

// Leader's optimum with non-negative outputs (model.md's table, closed form).
// Branch-free: every regime's formula is formed and the regime's is selected,
// which keeps GPU warps converged and lets the CPU avoid mispredictions.
SPILLMC_HD_INLINE Stackelberg stackelberg_constrained(double m1, double m2, double b) {
  const int r = stackelberg_regime(m1, m2);
  const double l = 2.0 * m1 - m2;        // leader's interior margin, > 0 in regime 0
  const double f = 3.0 * m2 - 2.0 * m1;  // follower's interior margin, > 0 in regime 0
  const bool r0 = r == R_both_active, r1 = r == R_limit_output;
  const bool r2 = r == R_leader_monopoly, r3 = r == R_follower_monopoly;
  Stackelberg s;
  s.regime = r;
  // Numerators over b (not times 1/b): 0 / b stays 0 even for subnormal b.
  s.q1 = (r0 ? 0.5 * l : r1 ? m2 : r2 ? 0.5 * m1 : 0.0) / b;
  s.q2 = (r0 ? 0.25 * f : r3 ? 0.5 * m2 : 0.0) / b;
  s.pi1 = (r0 ? 0.125 * (l * l) : r1 ? (m1 - m2) * m2 : r2 ? 0.25 * (m1 * m1) : 0.0) / b;
  s.pi2 = (r0 ? 0.0625 * (f * f) : r3 ? 0.25 * (m2 * m2) : 0.0) / b;
  return s;
}

// The paper's eqs. 3-9 applied literally (interior solution, signs unchecked).
// The regime is still the constrained one, so users see where the text is off.
SPILLMC_HD_INLINE Stackelberg stackelberg_paper(double m1, double m2, double b) {
  const double l = 2.0 * m1 - m2;
  const double f = 3.0 * m2 - 2.0 * m1;
  return Stackelberg{l / (2.0 * b), f / (4.0 * b), l * l / (8.0 * b), f * f / (16.0 * b),
                     stackelberg_regime(m1, m2)};
}

// Every quantity of model.md for one draw.
struct Outcome {
  double v[kNumFields];  // indexed by Field; v[F_A2_crit] is meaningless if !a2crit_defined
  int regime2, regime_up;
  bool a2crit_defined;
  bool event[kNumEvents];
};

// 1 + sqrt 2 and sqrt 2 - 1, spelt out so host and device use the same bits.
constexpr double kSqrt2Plus1 = 2.4142135623730950488;
constexpr double kSqrt2Minus1 = 0.41421356237309504880;

SPILLMC_HD_INLINE double a2_critical(double d, double A1) {
  return (kSqrt2Minus1 * d + kSqrt2Plus1 * A1) / 2.0;
}

// Stage 2 with the leader at A2 and the follower at level A: A1 before its
// upgrade, A2p after. Shared by evaluate_model and paths.hpp's upgrade gains,
// so a path's gain at a given A2p is the same function of the draw.
SPILLMC_HD_INLINE Stackelberg stage2_game(const Params& p, ModelMode mode, double A) {
  const double d = p.a - p.c;
  const double m1 = d + p.A2;
  const double m2 = d + A;
  return mode == ModelMode::paper ? stackelberg_paper(m1, m2, p.b)
                                  : stackelberg_constrained(m1, m2, p.b);
}

SPILLMC_HD_INLINE void evaluate_model(const Params& p, ModelMode mode, Outcome& o) {
  const double d = p.a - p.c;
  const double b = p.b;
  o.v[F_a] = p.a;
  o.v[F_b] = p.b;
  o.v[F_c] = p.c;
  o.v[F_A1] = p.A1;
  o.v[F_A2] = p.A2;
  o.v[F_A2p] = p.A2p;

  // Stage 1: firm 1 monopoly (eqs. 1-2).
  const double m11 = d + p.A1;
  const bool paper = mode == ModelMode::paper;
  const double q11 = (paper || m11 > 0.0 ? m11 : 0.0) / (2.0 * b);
  o.v[F_q11] = q11;
  o.v[F_p11] = p.a - b * q11 + p.A1;
  o.v[F_pi11] = paper ? m11 * m11 / (4.0 * b) : b * q11 * q11;

  // Stage 2: leader at A2, follower at A1; upgrade: follower at A2p.
  const Stackelberg s = stage2_game(p, mode, p.A1);
  const Stackelberg u = stage2_game(p, mode, p.A2p);

  const double Q = s.q1 + s.q2;
  o.v[F_q12] = s.q1;
  o.v[F_q22] = s.q2;
  o.v[F_p12] = p.a - b * Q + p.A2;
  o.v[F_p22] = p.a - b * Q + p.A1;
  o.v[F_pi12] = s.pi1;
  o.v[F_pi22] = s.pi2;

  const double Qu = u.q1 + u.q2;
  o.v[F_q12_up] = u.q1;
  o.v[F_q22_up] = u.q2;
  o.v[F_p12_up] = p.a - b * Qu + p.A2;
  o.v[F_p22_up] = p.a - b * Qu + p.A2p;
  o.v[F_pi12_up] = u.pi1;
  o.v[F_pi22_up] = u.pi2;

  o.a2crit_defined = m11 > 0.0;
  o.v[F_A2_crit] = a2_critical(d, p.A1);
  o.v[F_upgrade_gain] = u.pi2 - s.pi2;
  o.v[F_leader_loss_up] = s.pi1 - u.pi1;
  o.v[F_A2p_entry] = (2.0 * p.A2 - d) / 3.0;

  o.regime2 = s.regime;
  o.regime_up = u.regime;
  o.event[E_leader_gains] = s.pi1 >= o.v[F_pi11];
  o.event[E_spillover_condition] = 3.0 * p.A1 > 2.0 * p.A2;
  o.event[E_follower_active] = s.q2 > 0.0;
  o.event[E_follower_active_up] = u.q2 > 0.0;
  o.event[E_upgrade_gain_positive] = o.v[F_upgrade_gain] > 0.0;
}

SPILLMC_HD_INLINE bool is_finite(double x) {
  return x - x == 0.0;
}  // false for NaN and +-inf

// Classifies a draw before evaluation. Returns -1 when valid, else an InvalidReason.
SPILLMC_HD_INLINE int check_params(const Params& p) {
  if (!(is_finite(p.a) && is_finite(p.b) && is_finite(p.c) && is_finite(p.A1) && is_finite(p.A2) &&
        is_finite(p.A2p)))
    return I_nonfinite_parameter;
  if (!(p.b > 0.0)) return I_b_nonpositive;
  return -1;
}

// After evaluation: overflowed outputs make the draw invalid rather than
// poisoning the sums with inf/NaN.
SPILLMC_HD_INLINE bool outputs_finite(const Outcome& o) {
  double s = 0.0;
  for (int f = kNumParams; f < kNumFields; ++f) s += o.v[f] * 0.0;  // NaN iff any non-finite
  return s == 0.0;
}

}  // namespace spillmc
