// The model against model.md: the exact worked example, every regime and
// regime border, a brute-force search over the leader's quantity, the paper's
// literal equations, and the critical R&D threshold.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

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
  Outcome o;
  evaluate_model({1e200, 1e-200, 0, 0, 0, 0}, ModelMode::constrained, o);
  EXPECT_FALSE(outputs_finite(o));
  evaluate_model({10, 1, 2, 1, 2, 1.5}, ModelMode::constrained, o);
  EXPECT_TRUE(outputs_finite(o));
}
