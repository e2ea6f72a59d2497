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

// Regime classification of model.md, without dividing, with every border
// decided exactly: x = m1/m2 is compared through 2 m1, 2 m2 and 2 (m1 - m2),
// which are exact (m1 - m2 by Sterbenz's lemma wherever m2/2 <= m1 <= 2 m2,
// the only range where the x < 3/2 test decides; 3 m2 would round).
// A chain of selects, later ones taking precedence: branch-free for GPU warps,
// and the form the CPU's lane loops vectorize (cpu_batch.cpp).
SPILLMC_HD_INLINE int stackelberg_regime(double m1, double m2) {
  int inner = R_leader_monopoly;                         // x >= 2
  inner = m1 < 2.0 * m2 ? R_limit_output : inner;        // 3/2 <= x < 2
  inner = 2.0 * (m1 - m2) < m2 ? R_both_active : inner;  // 1/2 < x < 3/2
  inner = 2.0 * m1 <= m2 ? R_follower_monopoly : inner;  // x <= 1/2
  const int outer = m1 > 0.0 ? R_leader_monopoly : R_nobody;
  return m2 > 0.0 ? inner : outer;
}

// The follower's interior margin 3 m2 - 2 m1, rounded once: exact differences
// in regime 0 (as above), so it is > 0 wherever stackelberg_regime says 0.
SPILLMC_HD_INLINE double follower_margin(double m1, double m2) {
  return m2 - 2.0 * (m1 - m2);
}

// Leader's optimum with non-negative outputs (model.md's table, closed form).
// Branch-free: every regime's formula is formed and the regime's is selected,
// which keeps GPU warps converged and lets the CPU vectorize over draws.
SPILLMC_HD_INLINE Stackelberg stackelberg_constrained(double m1, double m2, double b) {
  const int r = stackelberg_regime(m1, m2);
  const double l = 2.0 * m1 - m2;            // leader's interior margin, > 0 in regime 0
  const double f = follower_margin(m1, m2);  // follower's interior margin, > 0 in regime 0
  const bool r0 = r == R_both_active, r1 = r == R_limit_output;
  const bool r2 = r == R_leader_monopoly, r3 = r == R_follower_monopoly;
  // One regime holds, so the order of these selects does not matter.
  double q1 = 0.0, q2 = 0.0, pi1 = 0.0, pi2 = 0.0;
  q1 = r2 ? 0.5 * m1 : q1;
  q1 = r1 ? m2 : q1;
  q1 = r0 ? 0.5 * l : q1;
  q2 = r3 ? 0.5 * m2 : q2;
  q2 = r0 ? 0.25 * f : q2;
  pi1 = r2 ? 0.25 * (m1 * m1) : pi1;
  pi1 = r1 ? (m1 - m2) * m2 : pi1;
  pi1 = r0 ? 0.125 * (l * l) : pi1;
  pi2 = r3 ? 0.25 * (m2 * m2) : pi2;
  pi2 = r0 ? 0.0625 * (f * f) : pi2;
  // Numerators over b (not times 1/b): 0 / b stays 0 even for subnormal b.
  return Stackelberg{q1 / b, q2 / b, pi1 / b, pi2 / b, r};
}

// The paper's eqs. 3-9 applied literally (interior solution, signs unchecked).
// The regime is still the constrained one, so users see where the text is off.
SPILLMC_HD_INLINE Stackelberg stackelberg_paper(double m1, double m2, double b) {
  const double l = 2.0 * m1 - m2;
  const double f = follower_margin(m1, m2);
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

// (kSqrt2Minus1 d + kSqrt2Plus1 A1) / 2 with the halving on the constants:
// the same bits (halving is exact), but no overflow on the way for large d, A1.
SPILLMC_HD_INLINE double a2_critical(double d, double A1) {
  return (0.5 * kSqrt2Minus1) * d + (0.5 * kSqrt2Plus1) * A1;
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

// Every quantity of model.md for parameters p, written into o: an Outcome, or
// anything with the same members (cpu_batch.cpp's view of one lane of many).
template <class Out>
SPILLMC_HD_FORCE_INLINE void evaluate_model(const Params& p, ModelMode mode, Out& o) {
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
  // 3 A1 > 2 A2, decided exactly: A2 - A1 is exact near the border (Sterbenz).
  o.event[E_spillover_condition] = p.A1 > 2.0 * (p.A2 - p.A1);
  o.event[E_follower_active] = s.q2 > 0.0;
  o.event[E_follower_active_up] = u.q2 > 0.0;
  o.event[E_upgrade_gain_positive] = o.v[F_upgrade_gain] > 0.0;
}

// Largest magnitude a parameter or output may have. Beyond it the block sums of
// squares (up to 65 536 terms) and Chan's merges could overflow even though
// every value is finite, so such draws count as invalid like non-finite ones.
constexpr double kMaxMagnitude = 1e140;

// False for NaN, +-inf and magnitudes beyond kMaxMagnitude.
SPILLMC_HD_INLINE bool in_range(double x) {
  return std::fabs(x) <= kMaxMagnitude;
}

// Classifies a draw before evaluation. Returns -1 when valid, else an
// InvalidReason. No early return: the CPU's lane loops vectorize it.
SPILLMC_HD_INLINE int check_params(const Params& p) {
  const bool in = in_range(p.a) && in_range(p.b) && in_range(p.c) && in_range(p.A1) &&
                  in_range(p.A2) && in_range(p.A2p);
  const int reason = p.b > 0.0 ? -1 : I_b_nonpositive;
  return in ? reason : I_nonfinite_parameter;
}

// After evaluation: outputs that overflowed (or left kMaxMagnitude) make the
// draw invalid rather than poisoning the sums. A2_crit counts only where it is
// defined: elsewhere it is no output at all.
SPILLMC_HD_INLINE bool outputs_in_range(const Outcome& o) {
  bool in = !o.a2crit_defined || in_range(o.v[F_A2_crit]);
  for (int f = kNumParams; f < kNumAlwaysFields; ++f) in = in && in_range(o.v[f]);
  return in;
}

}  // namespace spillmc
