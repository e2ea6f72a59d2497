// The model against model.md: the exact worked example, every regime and
// regime border (decided in exact arithmetic), a brute-force search over the
// leader's quantity, the paper's literal equations, the critical R&D
// threshold, the events, and the invalid-draw rules (non-finite values and
// the magnitude limit on parameters and outputs).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "spillmc/draw.hpp"
#include "spillmc/model.hpp"

using namespace spillmc;

namespace {

Outcome eval(const Params& p, ModelMode mode = ModelMode::constrained) {
  Outcome o;
  evaluate_model(p, mode, o);
  return o;
}

// Follower's best response and both profits for a leader quantity q1.
struct Play {
  double q2, pi1, pi2;
};
Play play(double q1, double m1, double m2, double b) {
  const double q2 = std::max(0.0, (m2 - b * q1) / (2.0 * b));
  const double Q = q1 + q2;
  return {q2, q1 * (m1 - b * Q), q2 * (m2 - b * Q)};
}

// Leader's optimum by search: a fine grid over [0, qmax], then golden-section
// refinement in the neighbourhood of the best grid point. Independent of the
// closed-form regimes.
struct Best {
  double q1, q2, pi1, pi2;
};
Best brute_force(double m1, double m2, double b) {
  const double qmax = 1.5 * std::max({std::fabs(m1), std::fabs(m2), 1e-300}) / b + 1e-12;
  const int n = 4000;
  int best = 0;
  double best_pi = play(0.0, m1, m2, b).pi1;
  for (int i = 1; i <= n; ++i) {
    const double pi = play(qmax * i / n, m1, m2, b).pi1;
    if (pi > best_pi) best_pi = pi, best = i;
  }
  double lo = qmax * std::max(0, best - 1) / n, hi = qmax * std::min(n, best + 1) / n;
  const double g = (std::sqrt(5.0) - 1.0) / 2.0;
  for (int it = 0; it < 200; ++it) {
    const double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    if (play(x1, m1, m2, b).pi1 < play(x2, m1, m2, b).pi1)
      lo = x1;
    else
      hi = x2;
  }
  double q1 = 0.5 * (lo + hi);
  if (play(0.0, m1, m2, b).pi1 >= play(q1, m1, m2, b).pi1) q1 = 0.0;  // corner optimum
  const Play p = play(q1, m1, m2, b);
  return {q1, p.q2, p.pi1, p.pi2};
}

// k1 x - k2 y in exact integer arithmetic, for k1, k2 in 1..3 and finite x, y:
// m 2^e. False when the binary exponents of x and y are more than 7 apart
// (then |m| could overflow 63 bits, and the larger term decides the sign).
bool exact_combination(std::int64_t k1, double x, std::int64_t k2, double y, std::int64_t& m,
                       int& e) {
  int ex = 0, ey = 0;
  const double fx = std::frexp(x, &ex), fy = std::frexp(y, &ey);   // |f| in [1/2, 1) or 0
  std::int64_t X = static_cast<std::int64_t>(std::ldexp(fx, 53));  // x = X 2^(ex - 53)
  std::int64_t Y = static_cast<std::int64_t>(std::ldexp(fy, 53));
  if (X == 0) ex = ey;
  if (Y == 0) ey = ex;
  if (std::abs(ex - ey) > 7) return false;
  const int lo = std::min(ex, ey);
  X *= std::int64_t{1} << (ex - lo);  // |X|, |Y| < 2^60, so |k1 X - k2 Y| < 2^63
  Y *= std::int64_t{1} << (ey - lo);
  m = k1 * X - k2 * Y;
  e = lo - 53;
  return true;
}

// Sign of k1 x - k2 y, exact.
int exact_sign(std::int64_t k1, double x, std::int64_t k2, double y) {
  std::int64_t m = 0;
  int e = 0;
  if (exact_combination(k1, x, k2, y, m, e)) return (m > 0) - (m < 0);
  // Exponents more than 7 apart: the term with the larger magnitude is over
  // 2^6 times the other, so k1, k2 <= 3 cannot change which one wins.
  return std::fabs(x) > std::fabs(y) ? (x > 0 ? 1 : -1) : (y > 0 ? -1 : 1);
}

// k1 x - k2 y rounded once to double (the conversion of the exact integer
// rounds to nearest, and the scaling by 2^e is exact for normal results).
double exact_rounded(std::int64_t k1, double x, std::int64_t k2, double y) {
  std::int64_t m = 0;
  int e = 0;
  if (!exact_combination(k1, x, k2, y, m, e)) {
    ADD_FAILURE() << "exponents too far apart: x=" << x << " y=" << y;
    return std::numeric_limits<double>::quiet_NaN();
  }
  return std::ldexp(static_cast<double>(m), e);
}

// x moved by k ulps (k < 0: towards -inf).
double step_ulps(double x, int k) {
  const double inf = std::numeric_limits<double>::infinity();
  for (; k > 0; --k) x = std::nextafter(x, inf);
  for (; k < 0; ++k) x = std::nextafter(x, -inf);
  return x;
}

// Regime of model.md's table from exact signs of 2 m1 - m2, 2 m1 - 3 m2 and m1 - 2 m2.
int exact_regime(double m1, double m2) {
  if (m2 > 0.0) {
    if (exact_sign(2, m1, 1, m2) <= 0) return R_follower_monopoly;  // x <= 1/2
    if (exact_sign(2, m1, 3, m2) < 0) return R_both_active;         // x < 3/2
    if (exact_sign(1, m1, 2, m2) < 0) return R_limit_output;        // x < 2
    return R_leader_monopoly;
  }
  return m1 > 0.0 ? R_leader_monopoly : R_nobody;
}

// model.md's magnitude limit (model.hpp's kMaxMagnitude), spelt out here so
// that the test states the spec's value rather than reading the code's.
constexpr double kLimit = 1e140;

}  // namespace

TEST(Model, WorkedExampleFromModelMd) {
  // a = 10, b = 1, c = 2, A1 = 1, A2 = 2, A2p = 1.5 (model.md, "Worked example").
  const Outcome o = eval({10, 1, 2, 1, 2, 1.5});
  const double tol = 1e-12;
  EXPECT_NEAR(o.v[F_q11], 4.5, tol);
  EXPECT_NEAR(o.v[F_p11], 6.5, tol);
  EXPECT_NEAR(o.v[F_pi11], 20.25, tol);
  EXPECT_NEAR(o.v[F_q12], 5.5, tol);
  EXPECT_NEAR(o.v[F_q22], 1.75, tol);
  EXPECT_NEAR(o.v[F_p12], 4.75, tol);
  EXPECT_NEAR(o.v[F_p22], 3.75, tol);
  EXPECT_NEAR(o.v[F_pi12], 15.125, tol);
  EXPECT_NEAR(o.v[F_pi22], 3.0625, tol);
  EXPECT_EQ(o.regime2, R_both_active);
  EXPECT_NEAR(o.v[F_A2_crit], 2.86396103067893, tol);
  EXPECT_TRUE(o.a2crit_defined);
  EXPECT_FALSE(o.event[E_leader_gains]);  // 15.125 < 20.25
  EXPECT_NEAR(o.v[F_q12_up], 5.25, tol);
  EXPECT_NEAR(o.v[F_q22_up], 2.125, tol);
  EXPECT_NEAR(o.v[F_pi12_up], 13.78125, tol);
  EXPECT_NEAR(o.v[F_pi22_up], 4.515625, tol);
  EXPECT_NEAR(o.v[F_upgrade_gain], 1.453125, tol);
  EXPECT_NEAR(o.v[F_leader_loss_up], 15.125 - 13.78125, tol);
  EXPECT_NEAR(o.v[F_A2p_entry], (2 * 2 - 8) / 3.0, tol);
  // Upgrade prices: Q_up = 7.375, p12_up = 10 - 7.375 + 2, p22_up = 10 - 7.375 + 1.5.
  EXPECT_NEAR(o.v[F_p12_up], 4.625, tol);
  EXPECT_NEAR(o.v[F_p22_up], 4.125, tol);
  EXPECT_EQ(o.regime_up, R_both_active);
  EXPECT_TRUE(o.event[E_follower_active]);
  EXPECT_TRUE(o.event[E_follower_active_up]);
  EXPECT_TRUE(o.event[E_upgrade_gain_positive]);
  EXPECT_FALSE(o.event[E_spillover_condition]);  // 3 * 1 > 2 * 2 is false
}

TEST(Model, OneCaseInEveryRegime) {
  const double b = 2.0;
  struct Case {
    double m1, m2;
    int regime;
    double q1, q2, pi1, pi2;
  };
  const Case cases[] = {
      {10, 9, R_both_active, 11 / 4.0, 7 / 8.0, 121 / 16.0, 49 / 32.0},
      {17, 10, R_limit_output, 5.0, 0.0, 35.0, 0.0},  // x = 1.7
      {30, 10, R_leader_monopoly, 7.5, 0.0, 112.5, 0.0},
      {5, -1, R_leader_monopoly, 1.25, 0.0, 3.125, 0.0},  // follower not viable
      {4, 10, R_follower_monopoly, 0.0, 2.5, 0.0, 12.5},
      {-3, 10, R_follower_monopoly, 0.0, 2.5, 0.0, 12.5},
      {-1, -2, R_nobody, 0, 0, 0, 0},
      {0, 0, R_nobody, 0, 0, 0, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "m1=" << c.m1 << " m2=" << c.m2);
    const Stackelberg s = stackelberg_constrained(c.m1, c.m2, b);
    EXPECT_EQ(s.regime, c.regime);
    EXPECT_NEAR(s.q1, c.q1, 1e-12);
    EXPECT_NEAR(s.q2, c.q2, 1e-12);
    EXPECT_NEAR(s.pi1, c.pi1, 1e-12);
    EXPECT_NEAR(s.pi2, c.pi2, 1e-12);
  }
}

TEST(Model, ProfitsAreContinuousAcrossEveryRegimeBorder) {
  const double b = 1.3;
  const double m2 = 7.0;
  // Borders in x = m1 / m2: 1/2, 3/2, 2; plus m2 -> 0+ with m1 > 0 and m1 -> 0 with m2 <= 0.
  for (double x : {0.5, 1.5, 2.0}) {
    SCOPED_TRACE(testing::Message() << "x=" << x);
    const double m1 = x * m2;
    const double h = 1e-9 * m2;
    const Stackelberg lo = stackelberg_constrained(m1 - h, m2, b);
    const Stackelberg at = stackelberg_constrained(m1, m2, b);
    const Stackelberg hi = stackelberg_constrained(m1 + h, m2, b);
    EXPECT_NE(lo.regime, hi.regime);
    EXPECT_NEAR(lo.pi1, at.pi1, 1e-6);
    EXPECT_NEAR(hi.pi1, at.pi1, 1e-6);
    EXPECT_NEAR(lo.pi2, at.pi2, 1e-6);
    EXPECT_NEAR(hi.pi2, at.pi2, 1e-6);
  }
  // At x = 3/2 both rows give the leader m2^2 / (2b) (model.md's check).
  EXPECT_NEAR(stackelberg_constrained(1.5 * m2, m2, b).pi1, m2 * m2 / (2 * b), 1e-12);
  // The regime at each border is the one model.md's inequalities assign.
  EXPECT_EQ(stackelberg_regime(0.5 * m2, m2), R_follower_monopoly);
  EXPECT_EQ(stackelberg_regime(1.5 * m2, m2), R_limit_output);
  EXPECT_EQ(stackelberg_regime(2.0 * m2, m2), R_leader_monopoly);
  EXPECT_EQ(stackelberg_regime(3.0, 0.0), R_leader_monopoly);
  EXPECT_EQ(stackelberg_regime(0.0, -1.0), R_nobody);
  // m2 -> 0+ with m1 > 0: leader monopoly on both sides, follower profit -> 0.
  EXPECT_NEAR(stackelberg_constrained(3.0, 1e-12, b).pi1, stackelberg_constrained(3.0, 0.0, b).pi1,
              1e-9);
  // m1 -> 0 with m2 < 0: leader monopoly profit -> 0 = nobody produces.
  EXPECT_NEAR(stackelberg_constrained(1e-9, -1.0, b).pi1, 0.0, 1e-12);
  // m2 -> 0 with m1 < 0: follower monopoly (m2 > 0) against nobody (m2 <= 0);
  // the follower's profit m2^2 / (4b) -> 0 and the leader's is 0 on both sides.
  {
    const Stackelberg lo = stackelberg_constrained(-3.0, -1e-9, b);
    const Stackelberg at = stackelberg_constrained(-3.0, 0.0, b);
    const Stackelberg hi = stackelberg_constrained(-3.0, 1e-9, b);
    EXPECT_EQ(hi.regime, R_follower_monopoly);
    EXPECT_EQ(at.regime, R_nobody);
    EXPECT_EQ(lo.regime, R_nobody);
    EXPECT_NE(lo.regime, hi.regime);
    EXPECT_NEAR(hi.pi2, 1e-18 / (4 * b), 1e-30);
    EXPECT_NEAR(hi.pi2, at.pi2, 1e-12);
    EXPECT_NEAR(lo.pi2, at.pi2, 1e-12);
    EXPECT_EQ(at.pi2, 0.0);
    EXPECT_EQ(hi.pi1, 0.0);
    EXPECT_EQ(lo.pi1, 0.0);
  }
}

TEST(Model, LeaderOptimumMatchesBruteForceSearch) {
  std::mt19937_64 gen(12345);
  std::uniform_real_distribution<double> m(-10.0, 10.0), lb(-3.0, 2.0);
  std::vector<std::array<double, 3>> cases;
  for (int i = 0; i < 3000; ++i) cases.push_back({m(gen), m(gen), std::pow(10.0, lb(gen))});
  // Corners: exact borders, zero margins, both negative, tiny and large b.
  for (double b : {1e-3, 1.0, 1e3}) {
    for (double m2 : {-4.0, 0.0, 1e-9, 4.0}) {
      for (double x : {-1.0, 0.0, 0.5, 1.0, 1.5, 1.75, 2.0, 3.0}) cases.push_back({x * m2, m2, b});
      cases.push_back({0.0, m2, b});
      cases.push_back({5.0, m2, b});
    }
  }
  int checked = 0;
  for (const auto& c : cases) {
    const double m1 = c[0], m2 = c[1], b = c[2];
    SCOPED_TRACE(testing::Message() << "m1=" << m1 << " m2=" << m2 << " b=" << b);
    const Stackelberg s = stackelberg_constrained(m1, m2, b);
    const Best best = brute_force(m1, m2, b);
    const double scale = std::max({m1 * m1, m2 * m2, 1e-30}) / b;
    // The closed form is at least as good as the search, and the search finds its value.
    EXPECT_GE(s.pi1, best.pi1 - 1e-9 * scale);
    EXPECT_NEAR(s.pi1, best.pi1, 1e-7 * scale);
    // The closed form's quantities are a consistent play: follower best-responds.
    const Play p = play(s.q1, m1, m2, b);
    EXPECT_NEAR(s.q2, p.q2, 1e-9 * std::max({std::fabs(m1), std::fabs(m2), 1e-30}) / b);
    EXPECT_NEAR(s.pi1, p.pi1, 1e-9 * scale);
    EXPECT_NEAR(s.pi2, p.pi2, 1e-9 * scale);
    EXPECT_GE(s.q1, 0.0);
    EXPECT_GE(s.q2, 0.0);
    ++checked;
  }
  EXPECT_GT(checked, 3000);
}

TEST(Model, PaperModeAppliesEquations1To9Literally) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(-5.0, 15.0), ub(0.1, 4.0);
  for (int i = 0; i < 1000; ++i) {
    const Params p{u(gen), ub(gen), u(gen) * 0.3, u(gen) * 0.5, u(gen) * 0.5, u(gen) * 0.5};
    const Outcome o = eval(p, ModelMode::paper);
    const double d = p.a - p.c, b = p.b;
    const double tol = 1e-9 * (1.0 + std::fabs(d) + std::fabs(p.A1) + std::fabs(p.A2)) *
                       (1.0 + std::fabs(d) + std::fabs(p.A1) + std::fabs(p.A2)) / b;
    EXPECT_NEAR(o.v[F_q11], (d + p.A1) / (2 * b), tol);
    EXPECT_NEAR(o.v[F_pi11], (d + p.A1) * (d + p.A1) / (4 * b), tol);
    EXPECT_NEAR(o.v[F_q12], (d + 2 * p.A2 - p.A1) / (2 * b), tol);
    EXPECT_NEAR(o.v[F_q22], (d + 3 * p.A1 - 2 * p.A2) / (4 * b), tol);
    EXPECT_NEAR(o.v[F_pi12], std::pow(d + 2 * p.A2 - p.A1, 2) / (8 * b), tol);
    EXPECT_NEAR(o.v[F_pi22], std::pow(d + 3 * p.A1 - 2 * p.A2, 2) / (16 * b), tol);
    EXPECT_NEAR(o.v[F_pi22_up], std::pow(d + 3 * p.A2p - 2 * p.A2, 2) / (16 * b), tol);
    EXPECT_NEAR(o.v[F_q22_up], (d + 3 * p.A2p - 2 * p.A2) / (4 * b), tol);
    const double Q = o.v[F_q12] + o.v[F_q22];
    EXPECT_NEAR(o.v[F_p12], p.a - b * Q + p.A2, tol);
    EXPECT_NEAR(o.v[F_p22], p.a - b * Q + p.A1, tol);
    // Stage 1's price and the upgrade game. p11 = a - (d + A1) / 2 + A1 =
    // (a + c + A1) / 2; with L = d + 2 A2 - A2p and F = d + 3 A2p - 2 A2,
    // q12_up = L / (2b), pi12_up = L^2 / (8b), Q_up = (3d + 2 A2 + A2p) / (4b).
    const double s = 1.0 + std::fabs(p.a) + std::fabs(p.c) + std::fabs(p.A1) + std::fabs(p.A2) +
                     std::fabs(p.A2p);
    const double tol_up = 1e-9 * s * s / b;
    const double L = d + 2 * p.A2 - p.A2p;
    EXPECT_NEAR(o.v[F_p11], (p.a + p.c + p.A1) / 2, 1e-12 * s);
    EXPECT_NEAR(o.v[F_q12_up], L / (2 * b), tol_up);
    EXPECT_NEAR(o.v[F_pi12_up], L * L / (8 * b), tol_up);
    EXPECT_NEAR(o.v[F_p12_up], p.a - (3 * d + 2 * p.A2 + p.A2p) / 4 + p.A2, 1e-12 * s);
    EXPECT_NEAR(o.v[F_p22_up], p.a - (3 * d + 2 * p.A2 + p.A2p) / 4 + p.A2p, 1e-12 * s);
    // The regime still reports where the literal formulas stand.
    EXPECT_EQ(o.regime2, stackelberg_regime(d + p.A2, d + p.A1));
  }
  // Where d + 3 A1 - 2 A2 < 0 the paper reports a positive pi22 with a negative
  // output; the constrained model reports zero (model.md).
  const Params p{10, 1, 2, 1, 9, 1.5};  // m1 = 17, m2 = 9: x = 1.89, regime 1
  EXPECT_GT(eval(p, ModelMode::paper).v[F_pi22], 0.0);
  EXPECT_LT(eval(p, ModelMode::paper).v[F_q22], 0.0);
  EXPECT_EQ(eval(p).v[F_pi22], 0.0);
  EXPECT_EQ(eval(p).regime2, R_limit_output);
}

TEST(Model, CriticalR_DLevelSeparatesLeaderGains) {
  std::mt19937_64 gen(99);
  std::uniform_real_distribution<double> u(-3.0, 12.0), ub(0.2, 3.0);
  int n = 0;
  for (int i = 0; i < 2000; ++i) {
    const double a = u(gen) + 5, c = u(gen) * 0.3, A1 = u(gen) * 0.3, b = ub(gen);
    const double d = a - c;
    if (d + A1 <= 0.1) continue;
    const double crit = a2_critical(d, A1);
    const double h = 1e-6 * (1.0 + std::fabs(crit));
    for (auto mode : {ModelMode::constrained, ModelMode::paper}) {
      EXPECT_TRUE(eval({a, b, c, A1, crit + h, A1}, mode).event[E_leader_gains]);
      EXPECT_FALSE(eval({a, b, c, A1, crit - h, A1}, mode).event[E_leader_gains]);
    }
    ++n;
  }
  EXPECT_GT(n, 1000);
  // Undefined when d + A1 <= 0.
  EXPECT_FALSE(eval({1, 1, 2, 0.5, 3, 1}).a2crit_defined);
  EXPECT_TRUE(eval({10, 1, 2, 1, 2, 1.5}).a2crit_defined);
}

TEST(Model, UpgradeGainNeverNegativeAndEntryLevel) {
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int i = 0; i < 5000; ++i) {
    const double a = 1 + 20 * u(gen), c = 5 * u(gen), b = 0.1 + 3 * u(gen);
    const double A1 = -2 + 6 * u(gen), A2 = A1 + 10 * u(gen) + 1e-6;
    const double A2p = A1 + u(gen) * (A2 - A1);
    const Outcome o = eval({a, b, c, A1, A2, A2p});
    EXPECT_GE(o.v[F_upgrade_gain], 0.0);
    // The follower sells after upgrading iff A2p > A2p_entry (away from rounding).
    const double gap = A2p - o.v[F_A2p_entry];
    if (std::fabs(gap) > 1e-9 && a - c + A2p > 0) {
      EXPECT_EQ(o.event[E_follower_active_up], gap > 0);
    }
  }
}

TEST(Model, InvalidParametersAreClassified) {
  EXPECT_EQ(check_params({10, 1, 2, 1, 2, 1.5}), -1);
  EXPECT_EQ(check_params({10, 0, 2, 1, 2, 1.5}), I_b_nonpositive);
  EXPECT_EQ(check_params({10, -1, 2, 1, 2, 1.5}), I_b_nonpositive);
  EXPECT_EQ(check_params({NAN, 1, 2, 1, 2, 1.5}), I_nonfinite_parameter);
  EXPECT_EQ(check_params({10, INFINITY, 2, 1, 2, 1.5}), I_nonfinite_parameter);
  EXPECT_EQ(check_params({10, NAN, 2, 1, 2, 1.5}),
            I_nonfinite_parameter);  // NaN b: non-finite first
  // Parameters in range whose outputs overflow to inf (q11 = 1e140 / 2e-200).
  Outcome o;
  EXPECT_EQ(evaluate_params({1e140, 1e-200, 0, 0, 0, 0}, ModelMode::constrained, o),
            I_nonfinite_output);
  EXPECT_EQ(evaluate_params({10, 1, 2, 1, 2, 1.5}, ModelMode::constrained, o), -1);
}

// x = 3/2 is decided in exact arithmetic: regime 0 iff m2 > 0 and m2 < 2 m1 < 3 m2
// exactly, even where 3 m2 rounds onto 2 m1. The audit's pair has exact
// 3 m2 - 2 m1 = +2^-52 while fl(3 m2) == 2 m1.
TEST(Model, ThreeHalvesBorderIsDecidedExactly) {
  const double m1 = 1.700814966018799, m2 = 1.1338766440125327;
  ASSERT_EQ(exact_sign(3, m2, 2, m1), 1);  // exactly 3 m2 > 2 m1
  const double f = exact_rounded(3, m2, 2, m1);
  ASSERT_EQ(f, std::ldexp(1.0, -52));  // 3 m2 - 2 m1 = 2^-52 exactly
  EXPECT_EQ(stackelberg_regime(m1, m2), R_both_active);
  const Stackelberg s = stackelberg_constrained(m1, m2, 1.0);
  EXPECT_EQ(s.regime, R_both_active);
  EXPECT_GT(s.q2, 0.0);
  EXPECT_EQ(s.q2, f / 4);  // (3 m2 - 2 m1) / (4b), b = 1
  EXPECT_GT(s.pi2, 0.0);
  EXPECT_NEAR(s.q1, (2 * m1 - m2) / 2, 1e-15);
  EXPECT_NEAR(s.pi1, m2 * m2 / 2, 1e-14);  // both rows give m2^2 / (2b) at the border

  // One ulp further (2 m1 grows by 2 ulp(m1) = 2^-51 > 2^-52): exactly 3 m2 < 2 m1.
  const double m1_up = step_ulps(m1, 1);
  ASSERT_EQ(exact_sign(3, m2, 2, m1_up), -1);
  EXPECT_EQ(stackelberg_regime(m1_up, m2), R_limit_output);
  EXPECT_EQ(stackelberg_constrained(m1_up, m2, 1.0).q2, 0.0);

  // Through evaluate_model: b = 1, c = 0, a = m2, A1 = 0, A2 = m1 - m2, so
  // that d + A1 = m2 and d + A2 = m1 exactly.
  const Params p{m2, 1.0, 0.0, 0.0, m1 - m2, 0.0};  // m1 - m2 is exact (Sterbenz)
  ASSERT_EQ(p.a - p.c + p.A2, m1);
  ASSERT_EQ(p.a - p.c + p.A1, m2);
  const Outcome o = eval(p);
  EXPECT_EQ(o.regime2, R_both_active);
  EXPECT_EQ(o.v[F_q22], f / 4);
  EXPECT_GT(o.v[F_pi22], 0.0);
  EXPECT_TRUE(o.event[E_follower_active]);
  EXPECT_EQ(o.regime_up, R_both_active);  // A2p = A1: the same game
  EXPECT_TRUE(o.event[E_follower_active_up]);
  // The other side through evaluate_model: A2 one ulp of m1 larger.
  const Params pu{m2, 1.0, 0.0, 0.0, m1_up - m2, 0.0};
  ASSERT_EQ(pu.a - pu.c + pu.A2, m1_up);
  EXPECT_EQ(eval(pu).regime2, R_limit_output);
  EXPECT_FALSE(eval(pu).event[E_follower_active]);
}

// Every border (x = 1/2, 3/2, 2) within a few ulps, at several scales, against
// the regime from exact signs; in regime 0 the follower's margin is
// 3 m2 - 2 m1 rounded once, so q2 > 0 there.
TEST(Model, RegimeBordersMatchExactArithmetic) {
  std::mt19937_64 gen(2024);
  std::uniform_real_distribution<double> u(1.0, 2.0);
  const double b = 1.3;
  int n0 = 0, n1 = 0, n2 = 0, n3 = 0;
  for (double scale : {1e-3, 1.0, 7.0, 1e3, 1e100}) {
    for (int i = 0; i < 3000; ++i) {
      const double m2 = u(gen) * scale;
      for (double x : {0.5, 1.5, 2.0}) {
        for (int k = -3; k <= 3; ++k) {
          const double m1 = step_ulps(x * m2, k);
          SCOPED_TRACE(testing::Message()
                       << std::hexfloat << "m1=" << m1 << " m2=" << m2 << std::defaultfloat);
          const int want = exact_regime(m1, m2);
          ASSERT_EQ(stackelberg_regime(m1, m2), want);
          const Stackelberg s = stackelberg_constrained(m1, m2, b);
          ASSERT_EQ(s.regime, want);
          if (want == R_both_active) {
            ++n0;
            EXPECT_GT(s.q2, 0.0);
            EXPECT_GT(s.pi2, 0.0);
            EXPECT_GT(s.q1, 0.0);
            // 0.25 f exact, then one division: the same bits for any correct
            // single rounding of f.
            EXPECT_EQ(s.q2, 0.25 * exact_rounded(3, m2, 2, m1) / b);
          } else {
            (want == R_limit_output ? n1 : want == R_leader_monopoly ? n2 : n3) += 1;
            if (want != R_follower_monopoly) {
              EXPECT_EQ(s.q2, 0.0);
              EXPECT_EQ(s.pi2, 0.0);
            }
          }
        }
      }
    }
  }
  EXPECT_GT(n0, 1000);
  EXPECT_GT(n1, 1000);
  EXPECT_GT(n2, 1000);
  EXPECT_GT(n3, 1000);
  // Away from the borders regime 0's q2 is also 3 m2 - 2 m1 rounded once.
  std::uniform_real_distribution<double> r(0.5, 1.5);
  for (int i = 0; i < 20000; ++i) {
    const double m2 = u(gen), m1 = r(gen) * m2;
    if (exact_regime(m1, m2) != R_both_active) continue;
    EXPECT_EQ(stackelberg_constrained(m1, m2, b).q2, 0.25 * exact_rounded(3, m2, 2, m1) / b)
        << std::hexfloat << "m1=" << m1 << " m2=" << m2;
  }
}

// spillover_condition is 3 A1 > 2 A2, strictly.
TEST(Model, SpilloverConditionTrueAndFalse) {
  // Plain cases: 3 * 1 > 2 * 1.2 is true; the worked example 3 * 1 > 2 * 2 is false.
  EXPECT_TRUE(eval({10, 1, 2, 1, 1.2, 1.1}).event[E_spillover_condition]);
  EXPECT_FALSE(eval({10, 1, 2, 1, 2, 1.5}).event[E_spillover_condition]);
  EXPECT_TRUE(eval({10, 1, 2, -3, -5, -4}).event[E_spillover_condition]);  // -9 > -10
  EXPECT_TRUE(eval({10, 1, 2, 5, -1, 0}).event[E_spillover_condition]);
  EXPECT_FALSE(eval({10, 1, 2, -1, 5, 0}).event[E_spillover_condition]);
  // On the border: 3 * 2 == 2 * 3, strict inequality, false; also for -2, -3.
  EXPECT_FALSE(eval({10, 1, 2, 2, 3, 2.5}).event[E_spillover_condition]);
  EXPECT_FALSE(eval({10, 1, 2, -2, -3, -2.5}).event[E_spillover_condition]);
  EXPECT_FALSE(eval({10, 1, 2, 0, 0, 0}).event[E_spillover_condition]);
}

// spillover_condition is 3 A1 > 2 A2 in exact arithmetic, also where 3 A1 rounds.
TEST(Model, SpilloverConditionIsDecidedExactly) {
  // The audit's pair: exactly 3 A1 - 2 A2 = +2^-51, but fl(3 A1) == 2 A2.
  const double A1 = 1.8061112927065071, A2 = 2.7091669390597604;
  ASSERT_EQ(exact_sign(3, A1, 2, A2), 1);
  EXPECT_TRUE(eval({10, 1, 2, A1, A2, A1}).event[E_spillover_condition]);
  ASSERT_EQ(exact_sign(3, A1, 2, step_ulps(A2, 1)), -1);
  EXPECT_FALSE(eval({10, 1, 2, A1, step_ulps(A2, 1), A1}).event[E_spillover_condition]);
  // Within a few ulps of the border, both signs, several scales; and far from it.
  std::mt19937_64 gen(31);
  std::uniform_real_distribution<double> u(1.0, 2.0), w(-10.0, 10.0);
  int n_true = 0, n_false = 0;
  for (double scale : {-1e3, -1.0, -1e-3, 1e-3, 1.0, 1e3}) {
    for (int i = 0; i < 3000; ++i) {
      const double a1 = u(gen) * scale;
      for (int k = -3; k <= 3; ++k) {
        const double a2 = step_ulps(1.5 * a1, k);
        const bool want = exact_sign(3, a1, 2, a2) > 0;
        (want ? n_true : n_false) += 1;
        ASSERT_EQ(eval({10, 1, 2, a1, a2, a1}).event[E_spillover_condition], want)
            << std::hexfloat << "A1=" << a1 << " A2=" << a2;
      }
    }
  }
  for (int i = 0; i < 20000; ++i) {
    const double a1 = w(gen), a2 = w(gen) * (i % 2 ? 1.0 : 1e-3);
    ASSERT_EQ(eval({10, 1, 2, a1, a2, a1}).event[E_spillover_condition],
              exact_sign(3, a1, 2, a2) > 0)
        << std::hexfloat << "A1=" << a1 << " A2=" << a2;
  }
  EXPECT_GT(n_true, 5000);
  EXPECT_GT(n_false, 5000);
}

// follower_active is q22 > 0: false wherever the follower sells nothing.
TEST(Model, FollowerActiveOnlyWhenTheFollowerSells) {
  struct Case {
    Params p;
    int regime2, regime_up;
    bool active, active_up;
  };
  const Case cases[] = {
      // d = 8: m1 = 17, m2 = 9 (x = 1.89), m2_up = 9.5 (x = 1.79).
      {{10, 1, 2, 1, 9, 1.5}, R_limit_output, R_limit_output, false, false},
      // m1 = 28, m2 = 9 and 9.5: x > 2.
      {{10, 1, 2, 1, 20, 1.5}, R_leader_monopoly, R_leader_monopoly, false, false},
      // d = -1: m1 = 2, m2 = -0.5, m2_up = 0: follower not viable.
      {{1, 1, 2, 0.5, 3, 1}, R_leader_monopoly, R_leader_monopoly, false, false},
      // d = -4: m1 = -14, m2 = -4, m2_up = -4.
      {{1, 1, 5, 0, -10, 0}, R_nobody, R_nobody, false, false},
      // m1 = -1, m2 = 9: follower monopoly; upgrade m1 = -1, m2 = 9.5.
      {{10, 1, 2, 1, -9, 1.5}, R_follower_monopoly, R_follower_monopoly, true, true},
      // m1 = 17, m2 = 9 (limit output), m2_up = 8 + 12 = 20 (x = 0.85, both active).
      {{10, 1, 2, 1, 9, 12}, R_limit_output, R_both_active, false, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "A1=" << c.p.A1 << " A2=" << c.p.A2 << " A2p=" << c.p.A2p);
    const Outcome o = eval(c.p);
    EXPECT_EQ(o.regime2, c.regime2);
    EXPECT_EQ(o.regime_up, c.regime_up);
    EXPECT_EQ(o.event[E_follower_active], c.active);
    EXPECT_EQ(o.event[E_follower_active_up], c.active_up);
    if (!c.active) {
      EXPECT_EQ(o.v[F_q22], 0.0);
    }
    if (!c.active_up) {
      EXPECT_EQ(o.v[F_q22_up], 0.0);
    }
  }
}

// upgrade_gain_positive is upgrade_gain > 0, false at a zero gain.
TEST(Model, UpgradeGainPositiveIsFalseAtZeroGain) {
  // Both games without the follower (regime 1 twice, regime 2 twice): pi22 = pi22_up = 0.
  for (const Params& p : {Params{10, 1, 2, 1, 9, 1.5}, Params{10, 1, 2, 1, 20, 1.5}}) {
    const Outcome o = eval(p);
    EXPECT_EQ(o.v[F_pi22], 0.0);
    EXPECT_EQ(o.v[F_pi22_up], 0.0);
    EXPECT_EQ(o.v[F_upgrade_gain], 0.0);
    EXPECT_FALSE(o.event[E_upgrade_gain_positive]);
  }
  // A2p = A1 in regime 0: the same game twice, gain exactly 0.
  const Outcome o = eval({10, 1, 2, 1, 2, 1});
  EXPECT_EQ(o.v[F_pi22], 3.0625);
  EXPECT_EQ(o.v[F_upgrade_gain], 0.0);
  EXPECT_FALSE(o.event[E_upgrade_gain_positive]);
}

// leader_gains is pi12 >= pi11, true on equality.
TEST(Model, LeaderGainsHoldsOnEquality) {
  // d = -4: stage 1 d + A1 = -4 (pi11 = 0); stage 2 m1 = -14, m2 = -4 (pi12 = 0).
  const Outcome o = eval({1, 1, 5, 0, -10, 0});
  EXPECT_EQ(o.v[F_pi11], 0.0);
  EXPECT_EQ(o.v[F_pi12], 0.0);
  EXPECT_EQ(o.regime2, R_nobody);
  EXPECT_TRUE(o.event[E_leader_gains]);
}

// Stage 1 with d + A1 < 0: firm 1 sells nothing, p11 = a + A1 (model.md eqs. 1-2).
TEST(Model, ConstrainedStage1ClampsAtZero) {
  // a = 1, b = 2, c = 2: d = -1, d + A1 = -0.5.
  const Outcome o = eval({1, 2, 2, 0.5, 3, 1});
  EXPECT_EQ(o.v[F_q11], 0.0);
  EXPECT_EQ(o.v[F_p11], 1.5);
  EXPECT_EQ(o.v[F_pi11], 0.0);
  // The paper's literal eqs. 1-2 keep the negative output: q11 = -0.5 / 4,
  // p11 = (a + c + A1) / 2, pi11 = 0.25 / 8.
  const Outcome pp = eval({1, 2, 2, 0.5, 3, 1}, ModelMode::paper);
  EXPECT_EQ(pp.v[F_q11], -0.125);
  EXPECT_EQ(pp.v[F_p11], 1.75);
  EXPECT_EQ(pp.v[F_pi11], 0.03125);
}

// A2_crit is defined iff d + A1 > 0; the border d + A1 == 0 is undefined.
TEST(Model, CriticalLevelDefinedOnlyAboveZeroMargin) {
  // a = 3, c = 2: d = 1.
  EXPECT_FALSE(eval({3, 1, 2, -1, 2, 0}).a2crit_defined);  // d + A1 == 0 exactly
  const double just_above = step_ulps(-1.0, 1), just_below = step_ulps(-1.0, -1);
  ASSERT_GT(3.0 - 2.0 + just_above, 0.0);
  ASSERT_LT(3.0 - 2.0 + just_below, 0.0);
  EXPECT_TRUE(eval({3, 1, 2, just_above, 2, 0}).a2crit_defined);
  EXPECT_FALSE(eval({3, 1, 2, just_below, 2, 0}).a2crit_defined);
  for (auto mode : {ModelMode::constrained, ModelMode::paper}) {
    EXPECT_FALSE(eval({3, 1, 2, -1, 2, 0}, mode).a2crit_defined);
    EXPECT_TRUE(eval({3, 1, 2, just_above, 2, 0}, mode).a2crit_defined);
  }
}

// A draw whose A2_crit is undefined (d + A1 <= 0) is valid, whatever A2_crit's value.
TEST(Model, A2CritUndefinedDrawIsValid) {
  Outcome o;
  EXPECT_EQ(evaluate_params({3, 1, 2, -1, 2, 0}, ModelMode::constrained, o), -1);
  EXPECT_FALSE(o.a2crit_defined);
  // d = 0, A1 = -1e140: d + A1 < 0, and the formula's value (sqrt 2 + 1) A1 / 2 =
  // -1.207e140 lies beyond the magnitude limit, but it is no output. Constrained:
  // p11 = p22 = a + A1 = -1e140 exactly, at the limit, which is allowed; every
  // other output is 0 (nobody sells in either stage).
  ASSERT_GT(std::fabs((kSqrt2Plus1 * -kLimit) / 2), kLimit);
  EXPECT_EQ(evaluate_params({0, 1, 0, -kLimit, 0, 0}, ModelMode::constrained, o), -1);
  EXPECT_FALSE(o.a2crit_defined);
  EXPECT_EQ(o.v[F_p11], -kLimit);
  EXPECT_EQ(o.v[F_p22], -kLimit);
  EXPECT_EQ(o.v[F_pi11], 0.0);
  EXPECT_EQ(o.v[F_A2p_entry], 0.0);
}

// a2_critical is model.md's closed form ((sqrt 2 - 1) d + (sqrt 2 + 1) A1) / 2:
// bit for bit as written with model.hpp's constants on ordinary values, and
// against sqrt(2) in long double.
TEST(Model, A2CritIsTheClosedForm) {
  std::mt19937_64 gen(17);
  std::uniform_real_distribution<double> u(-1e3, 1e3);
  for (int i = 0; i < 10000; ++i) {
    const double d = u(gen), A1 = u(gen);
    EXPECT_EQ(a2_critical(d, A1), (kSqrt2Minus1 * d + kSqrt2Plus1 * A1) / 2.0)
        << std::hexfloat << "d=" << d << " A1=" << A1;
    const long double r2 = std::sqrt(2.0L);
    const long double want = ((r2 - 1) * d + (r2 + 1) * A1) / 2;
    EXPECT_NEAR(a2_critical(d, A1), static_cast<double>(want),
                1e-12 * (std::fabs(d) + std::fabs(A1)));
  }
}

// No intermediate overflow: d = A1 = 1e308 gives sqrt(2) 1e308 < DBL_MAX.
TEST(Model, A2CritDoesNotOverflowOnTheWay) {
  const double big = a2_critical(1e308, 1e308);
  EXPECT_TRUE(std::isfinite(big));
  EXPECT_NEAR(big / 1e308, std::sqrt(2.0), 1e-15);
  const double small = a2_critical(-1e308, -1e308);
  EXPECT_TRUE(std::isfinite(small));
  EXPECT_NEAR(small / 1e308, -std::sqrt(2.0), 1e-15);
}

// Paper mode: stage 1 and the upgrade game in exact cases (the random draws
// are in PaperModeAppliesEquations1To9Literally).
TEST(Model, PaperModeStage1AndUpgradeFollowTheLiteralFormulas) {
  // Exact cases. The worked example is interior, so paper = constrained values.
  const Outcome w = eval({10, 1, 2, 1, 2, 1.5}, ModelMode::paper);
  EXPECT_EQ(w.v[F_p11], 6.5);
  EXPECT_EQ(w.v[F_q12_up], 5.25);
  EXPECT_EQ(w.v[F_pi12_up], 13.78125);
  EXPECT_EQ(w.v[F_p12_up], 4.625);
  EXPECT_EQ(w.v[F_p22_up], 4.125);
  // d = 8, A2 = 9, A2p = 1.5: L = 24.5, F = -5.5, Q_up = 43.5 / 4 = 10.875
  // (the follower's output is negative: the paper's formulas outside regime 0).
  const Outcome x = eval({10, 1, 2, 1, 9, 1.5}, ModelMode::paper);
  EXPECT_EQ(x.v[F_p11], 6.5);
  EXPECT_EQ(x.v[F_q12_up], 12.25);
  EXPECT_EQ(x.v[F_q22_up], -1.375);
  EXPECT_EQ(x.v[F_pi12_up], 75.03125);
  EXPECT_EQ(x.v[F_p12_up], 8.125);
  EXPECT_EQ(x.v[F_p22_up], 0.625);
}

namespace {

double Params::*const kSlots[] = {&Params::a,  &Params::b,  &Params::c,
                                  &Params::A1, &Params::A2, &Params::A2p};
const char* const kSlotNames[] = {"a", "b", "c", "A1", "A2", "A2p"};

// Each of bad_values in each parameter, one at a time, is I_nonfinite_parameter
// (checked before b <= 0), from check_params and from evaluate_params.
void expect_each_parameter_invalid(std::initializer_list<double> bad_values) {
  const Params base{10, 1, 2, 1, 2, 1.5};
  ASSERT_EQ(check_params(base), -1);
  for (int i = 0; i < kNumParams; ++i) {
    for (double bad : bad_values) {
      SCOPED_TRACE(testing::Message() << kSlotNames[i] << "=" << bad);
      Params p = base;
      p.*kSlots[i] = bad;
      EXPECT_EQ(check_params(p), I_nonfinite_parameter);
      Outcome o;
      EXPECT_EQ(evaluate_params(p, ModelMode::constrained, o), I_nonfinite_parameter);
      EXPECT_EQ(evaluate_params(p, ModelMode::paper, o), I_nonfinite_parameter);
      // Checked before b <= 0: a draw with both counts as I_nonfinite_parameter.
      if (i != 1) {
        for (double b : {0.0, -1.0}) {
          p.b = b;
          EXPECT_EQ(check_params(p), I_nonfinite_parameter) << "b=" << b;
        }
      }
    }
  }
}

}  // namespace

// NaN and +-inf in any one parameter make the draw invalid.
TEST(Model, NonFiniteParameterInEachSlotIsInvalid) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  expect_each_parameter_invalid({nan, -nan, inf, -inf});
}

// |x| > 1e140 in any one parameter makes the draw invalid like a non-finite
// one (I_nonfinite_parameter, before b <= 0); exactly 1e140 is allowed.
TEST(Model, ParametersBeyondTheMagnitudeLimitAreInvalid) {
  const double beyond = step_ulps(kLimit, 1);
  expect_each_parameter_invalid({2e140, -2e140, beyond, -beyond, 1e300, -1e300});
  const Params base{10, 1, 2, 1, 2, 1.5};
  for (int i = 0; i < kNumParams; ++i) {
    for (double edge : {kLimit, -kLimit}) {
      SCOPED_TRACE(testing::Message() << kSlotNames[i] << "=" << edge);
      Params p = base;
      p.*kSlots[i] = edge;
      EXPECT_EQ(check_params(p), i == 1 && edge < 0 ? I_b_nonpositive : -1);
    }
  }
}

// One output at a time beyond 1e140 (everything else within 0.95e140, and the
// parameters within range) makes the draw I_nonfinite_output. A2_crit counts
// where it is defined. upgrade_gain and leader_loss_up cannot leave the range
// alone (differences of two non-negative profits), nor, as far as a search
// found, q12, q22 and q12_up in the constrained model; the paper's signed
// outputs give them cases there.
TEST(Model, EachOutputBeyondTheMagnitudeLimitMakesTheDrawInvalid) {
  const double M = kLimit;
  struct Case {
    Field field;
    ModelMode mode;
    Params p;
  };
  const ModelMode C = ModelMode::constrained, P = ModelMode::paper;
  const Case cases[] = {
      // Regime 0, m1 = 0.9, m2 = 1.08, b = 4e-141: q12 = q22 = 0.9e140, q11 = m2 / (2b).
      {F_q11, C, {0, 4e-141, 0, 1.08, 0.9, 1.08}},
      // d + A1 = 1.5e140, b = 5e139: pi11 = 2.25e280 / 2e140.
      {F_pi11, C, {0, 0.5 * M, -M, 0.5 * M, 0, 0}},
      // d = 2.5e139, q11 = 0.375: p11 = 1e140 - 3.75e139 + 5e139.
      {F_p11, C, {M, M, 0.75 * M, 0.5 * M, 0.5 * M, 0.5 * M}},
      // Regime 3 (m1 < 0): q22 = 0.375, p12 = -3.75e139 - 7.5e139.
      {F_p12, C, {0, M, 0, 0.75 * M, -0.75 * M, 0}},
      // Regime 2: q12 = 0.5, p22 = -5e139 - 7.5e139.
      {F_p22, C, {0, M, 0, -0.75 * M, M, 0}},
      // Regime 2 (m1 = 1.5e140, m2 = 5e139): pi12 = m1^2 / (4b).
      {F_pi12, C, {0, 0.5 * M, -0.5 * M, 0, M, M}},
      // Upgrade in regime 3 with b = 4e-141: q22_up = 1 / 8e-141; pi22_up = 1 / 1.6e-140.
      {F_q22_up, C, {0, 4e-141, 0, 0, 0, 1}},
      // Upgrade regime 3: q22_up = 0.5, p12_up = -5e139 - 7.5e139.
      {F_p12_up, C, {0, M, 0, 0, -0.75 * M, M}},
      // Nobody sells: p22_up = a + A2p = -1.5e140.
      {F_p22_up, C, {-0.5 * M, 1, 0, 0, 0, -M}},
      // Upgrade regime 2 (m1 = 1.5e140, m2_up = 7.5e139): pi12_up = m1^2 / (4b).
      {F_pi12_up, C, {0, 0.5 * M, -0.75 * M, 0.5 * M, 0.75 * M, 0}},
      // Upgrade regime 3 (m2_up = 1.5e140): pi22_up = m2_up^2 / (4b).
      {F_pi22_up, C, {0, 0.5 * M, -0.5 * M, 0.5 * M, 0, M}},
      // A2p_entry = (2 A2 - d) / 3 = (2e140 + 1.5e140) / 3.
      {F_A2p_entry, C, {-0.5 * M, 1, M, 0, M, 0}},
      // Defined (d + A1 = 1e140): A2_crit = (sqrt 2 + 1) 1e140 / 2.
      {F_A2_crit, C, {0, M, 0, M, 0, 0}},
      // Paper, m1 = 1, m2 = 0: q12 = 2 m1 / (2b) = 1.25e140, q22 = -0.625e140; the
      // upgrade (m2_up = 1) stays within.
      {F_q12, P, {1, 8e-141, 0, -1, 0, 0}},
      // Paper, m1 = 0, m2 = -1: q12 = 1 / (2b) = 0.8e140, q22 = -3 / (4b) = -1.2e140.
      {F_q22, P, {0, 6.25e-141, 0, -1, 0, 0}},
      // Paper, m1 = 1, m2_up = 0: q12_up = 1.25e140; stage 2 (m2 = 1) stays within.
      {F_q12_up, P, {1, 8e-141, 0, 0, 0, -1}},
      // Paper: F = d + 3 A1 - 2 A2 = -3e140: pi22 = F^2 / (16b).
      {F_pi22, P, {0, 0.5 * M, 0, -M, 0, 0.5 * M}},
      // Paper: d + A1 = -1.25e140, q11 = -0.625, p11 = -1e140 + 6.25e139 - 7.5e139.
      {F_p11, P, {-M, M, -0.5 * M, -0.75 * M, -0.5 * M, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << kFieldNames[c.field] << (c.mode == P ? " (paper)" : ""));
    ASSERT_EQ(check_params(c.p), -1);
    // The case isolates its field: it alone leaves the range.
    Outcome m;
    evaluate_model(c.p, c.mode, m);
    for (int f = kNumParams; f < kNumFields; ++f) {
      if (f == F_A2_crit && !m.a2crit_defined) continue;
      if (f == c.field) {
        EXPECT_GT(std::fabs(m.v[f]), 1.05 * M) << kFieldNames[f];
      } else {
        EXPECT_LE(std::fabs(m.v[f]), 0.95 * M) << kFieldNames[f];
      }
    }
    Outcome o;
    EXPECT_EQ(evaluate_params(c.p, c.mode, o), I_nonfinite_output);
  }
}
