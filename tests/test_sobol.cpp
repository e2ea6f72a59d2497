// Sobol indices: closed forms (linear model, Ishigami, an event indicator),
// exact zeros for ignored inputs, the streamed estimates against a direct
// two-pass computation, the delta-method intervals against the spread over
// replicates, thread-count independence, and the config key.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/sobol.hpp"

using namespace spillmc;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Ishigami: f = sin x1 + a sin^2 x2 + b x3^4 sin x1, x_i ~ U(-pi, pi), from
// Philox (a DrawSpec with three uniform slots) so rows are pure functions of j.
struct Ishigami {
  double a = 7.0, b = 0.1;
  DrawSpec spec_a, spec_b;
  explicit Ishigami(std::uint64_t seed) {
    DrawSpec s;
    for (int i = 0; i < kNumSlots; ++i) s.dist[i] = Dist{DistKind::fixed, 0.0, 0, 0, 0};
    for (int i = 0; i < 3; ++i) s.dist[i] = Dist{DistKind::uniform, -kPi, kPi, 0, 0};
    s.seed = seed;
    spec_a = spec_b = s;
    spec_a.stream = kSobolStreamA;
    spec_b.stream = kSobolStreamB;
  }
  void sample(std::uint64_t j, int matrix, double* x) const {
    double all[kNumSlots];
    sample_slots(matrix == 0 ? spec_a : spec_b, j, all);
    for (int i = 0; i < 3; ++i) x[i] = all[i];
  }
  bool f(const double* x, double* out) const {
    const double s1 = std::sin(x[0]), s2 = std::sin(x[1]);
    out[0] = s1 + a * s2 * s2 + b * std::pow(x[2], 4) * s1;
    return true;
  }

  // Closed forms (Ishigami & Homma 1990): with E[sin^2] = 1/2, E[sin^4] = 3/8,
  // E[x^4] = pi^4/5, E[x^8] = pi^8/9 for x ~ U(-pi, pi):
  //   V1 = (1 + b pi^4/5)^2 / 2, V2 = a^2/8, V13 = b^2 pi^8 (1/18 - 1/50), V3 = 0,
  //   V = V1 + V2 + V13.
  double v1() const { return 0.5 * std::pow(1.0 + b * std::pow(kPi, 4) / 5.0, 2); }
  double v2() const { return a * a / 8.0; }
  double v13() const { return b * b * std::pow(kPi, 8) * (1.0 / 18.0 - 1.0 / 50.0); }
  double var() const { return v1() + v2() + v13(); }
  std::vector<double> s1() const { return {v1() / var(), v2() / var(), 0.0}; }
  std::vector<double> st() const { return {(v1() + v13()) / var(), v2() / var(), v13() / var()}; }
};

SobolAccumulation run_ishigami(const Ishigami& g, std::uint64_t n, int threads) {
  return sobol_accumulate(
      3, 1, n, [&](std::uint64_t j, int mtx, double* x) { g.sample(j, mtx, x); },
      [&](const double* x, double* out) { return g.f(x, out); }, threads);
}

double half_width(double lo, double hi) {
  return 0.5 * (hi - lo);
}

}  // namespace

TEST(SobolIshigami, ClosedFormsAreRight) {
  // The textbook constants for a = 7, b = 0.1.
  const Ishigami g(1);
  const double expect_v =
      49.0 / 8.0 + 0.1 * std::pow(kPi, 4) / 5.0 + 0.01 * std::pow(kPi, 8) / 18.0 + 0.5;
  EXPECT_NEAR(g.var(), expect_v, 1e-12 * expect_v);
  EXPECT_NEAR(g.s1()[0], 0.3139, 1e-4);
  EXPECT_NEAR(g.s1()[1], 0.4424, 1e-4);
  EXPECT_NEAR(g.st()[0], 0.5576, 1e-4);
  EXPECT_NEAR(g.st()[2], 0.2437, 1e-4);
}

TEST(SobolIshigami, EstimatesMatchClosedFormsWithinIntervals) {
  const Ishigami g(20240601);
  const std::uint64_t n = 3 * kBlockDraws + 1234;  // several blocks, a partial last one
  const SensitivityIndices r = sobol_indices(run_ishigami(g, n, 2), 0);
  ASSERT_EQ(r.n, n);
  EXPECT_NEAR(r.variance, g.var(), 0.02 * g.var());
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    // Inside the reported 95 % interval, widened to 99.99 % (z = 3.9) so that
    // eight checks of one seed do not fail by chance 1 run in 3.
    const double w = 3.9 / 1.96;
    EXPECT_LE(std::fabs(r.S1[i] - g.s1()[i]), w * half_width(r.S1_lo[i], r.S1_hi[i]));
    EXPECT_LE(std::fabs(r.ST[i] - g.st()[i]), w * half_width(r.ST_lo[i], r.ST_hi[i]));
    // and reasonably tight at this n
    EXPECT_LT(half_width(r.S1_lo[i], r.S1_hi[i]), 0.03);
    EXPECT_LT(half_width(r.ST_lo[i], r.ST_hi[i]), 0.03);
  }
}

TEST(SobolIshigami, IntervalsCoverAndMatchReplicateSpread) {
  // 60 independent replicates (seeds): the 95 % intervals contain the true
  // value in about 95 % of them, and the reported standard error agrees with
  // the spread of the estimates across replicates.
  const int reps = 60;
  const std::uint64_t n = 16384;
  std::vector<int> cover(6, 0);
  std::vector<double> sum(6, 0.0), sum2(6, 0.0), se_sum(6, 0.0);
  const Ishigami g0(0);
  std::vector<double> truth = g0.s1();
  for (double v : g0.st()) truth.push_back(v);
  for (int rep = 0; rep < reps; ++rep) {
    const Ishigami g(1000 + static_cast<std::uint64_t>(rep));
    const SensitivityIndices r = sobol_indices(run_ishigami(g, n, 1), 0);
    for (int i = 0; i < 3; ++i) {
      const double est[2] = {r.S1[i], r.ST[i]};
      const double lo[2] = {r.S1_lo[i], r.ST_lo[i]}, hi[2] = {r.S1_hi[i], r.ST_hi[i]};
      for (int t = 0; t < 2; ++t) {
        const int x = i + 3 * t;
        cover[x] += lo[t] <= truth[x] && truth[x] <= hi[t] ? 1 : 0;
        sum[x] += est[t];
        sum2[x] += est[t] * est[t];
        se_sum[x] += half_width(lo[t], hi[t]) / 1.959963984540054;
      }
    }
  }
  // Pooled over the six indices: about 95 %, allowing for the normal
  // approximation at this n (skewed squared differences in ST).
  int pooled = 0;
  for (int c : cover) pooled += c;
  EXPECT_GE(pooled, static_cast<int>(0.9 * 6 * reps));
  for (int x = 0; x < 6; ++x) {
    SCOPED_TRACE(x);
    // A gross miscalibration (se off by 2x: ~68 % coverage) fails this; a
    // correct 95 % interval fails it with probability ~1e-5 (Binomial(60, 0.95) < 48).
    EXPECT_GE(cover[x], 48);
    const double mean = sum[x] / reps;
    const double sd = std::sqrt((sum2[x] - reps * mean * mean) / (reps - 1));
    const double se = se_sum[x] / reps;
    // The sd of 60 replicates is itself uncertain by ~9 %; allow 35 %.
    EXPECT_NEAR(sd / se, 1.0, 0.35) << "sd " << sd << " se " << se;
  }
}

TEST(SobolIshigami, IntervalWidthShrinksAsOneOverSqrtN) {
  const Ishigami g(7);
  const SensitivityIndices small = sobol_indices(run_ishigami(g, 8192, 2), 0);
  const SensitivityIndices big = sobol_indices(run_ishigami(g, 8 * 8192, 2), 0);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const double r1 =
        half_width(small.S1_lo[i], small.S1_hi[i]) / half_width(big.S1_lo[i], big.S1_hi[i]);
    const double rt =
        half_width(small.ST_lo[i], small.ST_hi[i]) / half_width(big.ST_lo[i], big.ST_hi[i]);
    EXPECT_NEAR(r1, std::sqrt(8.0), 0.25 * std::sqrt(8.0));
    EXPECT_NEAR(rt, std::sqrt(8.0), 0.25 * std::sqrt(8.0));
  }
}

TEST(SobolStreaming, MatchesDirectTwoPassComputation) {
  // The streamed (blocked, shifted, Chan-merged) estimates equal the formulas
  // evaluated on stored arrays: S1 = mean((fB - center) (fABi - fA)) / V,
  // ST = mean((fA - fABi)^2) / 2 / V, V the population variance of fA and fB.
  const Ishigami g(99);
  const std::uint64_t n = 2 * kBlockDraws + 777;
  const SobolAccumulation acc = run_ishigami(g, n, 2);
  const SensitivityIndices r = sobol_indices(acc, 0);
  const double c = acc.center[0];
  std::vector<double> fa(n), fb(n), fab(3 * n);
  double x[3], xa[3], xb[3], out;
  long double sab = 0, sab2 = 0;
  for (std::uint64_t j = 0; j < n; ++j) {
    g.sample(j, 0, xa);
    g.sample(j, 1, xb);
    g.f(xa, &out), fa[j] = out;
    g.f(xb, &out), fb[j] = out;
    for (int i = 0; i < 3; ++i) {
      std::copy(xa, xa + 3, x);
      x[i] = xb[i];
      g.f(x, &out);
      fab[i * n + j] = out;
    }
    sab += fa[j] + fb[j];
  }
  const long double mean = sab / (2.0L * n);
  for (std::uint64_t j = 0; j < n; ++j)
    sab2 += (fa[j] - mean) * (fa[j] - mean) + (fb[j] - mean) * (fb[j] - mean);
  const double v = static_cast<double>(sab2 / (2.0L * n));
  EXPECT_NEAR(r.mean, static_cast<double>(mean), 1e-12);
  EXPECT_NEAR(r.variance, v, 1e-11 * v);
  for (int i = 0; i < 3; ++i) {
    long double u = 0, t = 0;
    for (std::uint64_t j = 0; j < n; ++j) {
      const double d = fab[i * n + j] - fa[j];
      u += (fb[j] - c) * d;
      t += 0.5 * d * d;
    }
    EXPECT_NEAR(r.S1[i], static_cast<double>(u / n) / v, 1e-11) << i;
    EXPECT_NEAR(r.ST[i], static_cast<double>(t / n) / v, 1e-11) << i;
  }
}

TEST(SobolStreaming, SameBitsForAnyThreadCount) {
  const Ishigami g(5);
  const std::uint64_t n = 5 * kBlockDraws + 3;
  const SensitivityIndices one = sobol_indices(run_ishigami(g, n, 1), 0);
  const SensitivityIndices two = sobol_indices(run_ishigami(g, n, 2), 0);
  const SensitivityIndices three = sobol_indices(run_ishigami(g, n, 3), 0);
  for (const auto* other : {&two, &three}) {
    EXPECT_EQ(one.mean, other->mean);
    EXPECT_EQ(one.variance, other->variance);
    EXPECT_EQ(one.S1, other->S1);
    EXPECT_EQ(one.S1_lo, other->S1_lo);
    EXPECT_EQ(one.S1_hi, other->S1_hi);
    EXPECT_EQ(one.ST, other->ST);
    EXPECT_EQ(one.ST_lo, other->ST_lo);
    EXPECT_EQ(one.ST_hi, other->ST_hi);
  }
}

// ---- the model ------------------------------------------------------------------------

namespace {

// q11 = (a - c + A1) / (2b) with b fixed and a - c + A1 > 0 throughout: linear
// in a, c, A1, independent of A2_gap and theta.
DrawSpec linear_spec() {
  DrawSpec s;
  s.dist[S_a] = Dist{DistKind::uniform, 10.0, 20.0, 0, 0};  // var 100/12
  s.dist[S_b] = Dist{DistKind::fixed, 2.0, 0, 0, 0};
  s.dist[S_c] = Dist{DistKind::uniform, 0.0, 2.0, 0, 0};    // var 4/12
  s.dist[S_A1] = Dist{DistKind::uniform, 0.0, 4.0, 0, 0};   // var 16/12
  s.dist[S_A2] = Dist{DistKind::uniform, 0.0, 2.0, 0, 0};   // A2_gap
  s.dist[S_A2p] = Dist{DistKind::uniform, 0.0, 1.0, 0, 0};  // theta
  s.a2_is_gap = true;
  s.a2p_is_theta = true;
  s.seed = 42;
  return s;
}

SensitivityConfig sens(std::vector<std::string> outputs, std::uint64_t n) {
  SensitivityConfig c;
  c.enabled = true;
  c.outputs = std::move(outputs);
  c.base_draws = n;
  return c;
}

void expect_in_ci(double truth, double est, double lo, double hi) {
  // The 95 % interval widened to 99.99 % (see EstimatesMatchClosedFormsWithinIntervals).
  EXPECT_LE(std::fabs(est - truth), 3.9 / 1.96 * half_width(lo, hi) + 1e-12)
      << "estimate " << est << " [" << lo << ", " << hi << "], truth " << truth;
}

}  // namespace

TEST(SobolModel, LinearOutputHasVarianceShares) {
  const SensitivityResult r =
      run_sensitivity(linear_spec(), sens({"q11", "spillover_condition"}, 2 * kBlockDraws), 2);
  ASSERT_EQ(r.parameters, (std::vector<std::string>{"a", "c", "A1", "A2_gap", "theta"}));
  EXPECT_EQ(r.base_draws, 2 * kBlockDraws);
  EXPECT_EQ(r.base_draws_invalid, 0u);
  EXPECT_EQ(r.evaluations, 2 * kBlockDraws * 7);
  ASSERT_EQ(r.outputs.size(), 2u);

  const SensitivityIndices& q = r.outputs[0];
  EXPECT_EQ(q.output, "q11");
  EXPECT_EQ(q.n, 2 * kBlockDraws);
  // Var(q11) = (var a + var c + var A1) / (2b)^2 = (120/12) / 16.
  EXPECT_NEAR(q.variance, 10.0 / 16.0, 0.02 * 10.0 / 16.0);
  EXPECT_NEAR(q.mean, (15.0 - 1.0 + 2.0) / 4.0, 0.01);
  const double share[5] = {100.0 / 120.0, 4.0 / 120.0, 16.0 / 120.0, 0.0, 0.0};
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(r.parameters[static_cast<std::size_t>(i)]);
    expect_in_ci(share[i], q.S1[i], q.S1_lo[i], q.S1_hi[i]);
    expect_in_ci(share[i], q.ST[i], q.ST_lo[i], q.ST_hi[i]);
  }
  // Ignored inputs: fAB_i == fA in every draw, so exactly 0 with a zero-width interval.
  for (int i = 3; i < 5; ++i) {
    EXPECT_EQ(q.S1[i], 0.0);
    EXPECT_EQ(q.ST[i], 0.0);
    EXPECT_LE(q.S1_lo[i], 0.0);
    EXPECT_GE(q.S1_hi[i], 0.0);
    EXPECT_LE(q.ST_lo[i], 0.0);
    EXPECT_GE(q.ST_hi[i], 0.0);
  }

  // spillover_condition = 1{3 A1 > 2 A2} = 1{A1 > 2 gap} = 1{U > W}, U, W iid
  // U(0, 1): P = 1/2, V = 1/4, E[f | U] = U so V_U = 1/12; by symmetry
  // S1 = 1/3 and ST = 1 - 1/3 = 2/3 for both; a, c, theta are ignored.
  const SensitivityIndices& e = r.outputs[1];
  EXPECT_EQ(e.output, "spillover_condition");
  EXPECT_NEAR(e.mean, 0.5, 0.01);
  EXPECT_NEAR(e.variance, 0.25, 0.001);
  const double s1[5] = {0, 0, 1.0 / 3.0, 1.0 / 3.0, 0};
  const double st[5] = {0, 0, 2.0 / 3.0, 2.0 / 3.0, 0};
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(r.parameters[static_cast<std::size_t>(i)]);
    expect_in_ci(s1[i], e.S1[i], e.S1_lo[i], e.S1_hi[i]);
    expect_in_ci(st[i], e.ST[i], e.ST_lo[i], e.ST_hi[i]);
  }
  EXPECT_EQ(e.S1[0], 0.0);
  EXPECT_EQ(e.ST[4], 0.0);
}

TEST(SobolModel, LargeMeanDoesNotWidenIntervals) {
  // The same linear model shifted by 1e6 (q11 ~ 2.5e5, sd ~ 0.8): thanks to
  // the center, the indices and their intervals match the unshifted ones.
  DrawSpec shifted = linear_spec();
  shifted.dist[S_a] = Dist{DistKind::uniform, 1e6 + 10.0, 1e6 + 20.0, 0, 0};
  const SensitivityConfig c = sens({"q11"}, 20000);
  const SensitivityIndices base = run_sensitivity(linear_spec(), c, 2).outputs[0];
  const SensitivityIndices big = run_sensitivity(shifted, c, 2).outputs[0];
  EXPECT_NEAR(big.mean - base.mean, 1e6 / 4.0, 1e-6);
  EXPECT_NEAR(big.variance, base.variance, 1e-6 * base.variance);
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    EXPECT_NEAR(big.S1[i], base.S1[i], 1e-6);
    EXPECT_NEAR(big.ST[i], base.ST[i], 1e-6);
    EXPECT_NEAR(big.S1_hi[i] - big.S1_lo[i], base.S1_hi[i] - base.S1_lo[i], 1e-6);
  }
}

TEST(SobolModel, SameBitsForAnyThreadCountAndSeedMatters) {
  const SensitivityConfig c = sens({"pi12", "leader_gains"}, kBlockDraws + 5000);
  DrawSpec spec = linear_spec();
  spec.dist[S_b] = Dist{DistKind::uniform, 1.0, 3.0, 0, 0};
  const SensitivityResult one = run_sensitivity(spec, c, 1);
  const SensitivityResult two = run_sensitivity(spec, c, 2);
  ASSERT_EQ(one.outputs.size(), 2u);
  for (std::size_t o = 0; o < 2; ++o) {
    EXPECT_EQ(one.outputs[o].S1, two.outputs[o].S1);
    EXPECT_EQ(one.outputs[o].ST, two.outputs[o].ST);
    EXPECT_EQ(one.outputs[o].S1_lo, two.outputs[o].S1_lo);
    EXPECT_EQ(one.outputs[o].ST_hi, two.outputs[o].ST_hi);
    EXPECT_EQ(one.outputs[o].variance, two.outputs[o].variance);
  }
  // spec.stream does not enter (A and B have their own streams); the seed does.
  DrawSpec other = spec;
  other.stream = 3;
  EXPECT_EQ(run_sensitivity(other, c, 2).outputs[0].S1, one.outputs[0].S1);
  other.seed = 43;
  EXPECT_NE(run_sensitivity(other, c, 2).outputs[0].S1, one.outputs[0].S1);
}

TEST(SobolModel, InvalidBaseDrawsAreSkippedAndCounted) {
  // b ~ U(-1, 3): a quarter of A rows and of B rows have b <= 0 (invalid); a
  // base draw survives only when b > 0 in A and in B (AB_b takes B's b):
  // P = (3/4)^2.
  DrawSpec spec = linear_spec();
  spec.dist[S_b] = Dist{DistKind::uniform, -1.0, 3.0, 0, 0};
  const std::uint64_t n = 40000;
  const SensitivityResult r = run_sensitivity(spec, sens({"q11"}, n), 2);
  const double p = 1.0 - 9.0 / 16.0;
  const double sd = std::sqrt(p * (1 - p) * static_cast<double>(n));
  EXPECT_NEAR(static_cast<double>(r.base_draws_invalid), p * static_cast<double>(n), 5 * sd);
  EXPECT_EQ(r.outputs[0].n + r.base_draws_invalid, n);
}

TEST(SobolModel, RejectsBadRequests) {
  const DrawSpec spec = linear_spec();
  EXPECT_THROW(run_sensitivity(spec, sens({"q1"}, 100), 1), InputError);
  EXPECT_THROW(run_sensitivity(spec, sens({"A2_crit"}, 100), 1), InputError);
  EXPECT_THROW(run_sensitivity(spec, sens({}, 100), 1), InputError);
  EXPECT_THROW(run_sensitivity(spec, sens({"q11"}, 1), 1), InputError);
  DrawSpec fixed;
  for (auto& d : fixed.dist) d = Dist{DistKind::fixed, 1.0, 0, 0, 0};
  try {
    run_sensitivity(fixed, sens({"q11"}, 100), 1);
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no sampled parameter"), std::string::npos);
  }
}

TEST(SobolModel, CancelThrowsInterrupted) {
  std::atomic<bool> stop{true};
  EXPECT_THROW(run_sensitivity(linear_spec(), sens({"q11"}, 1000), 1, &stop), Interrupted);
}

// ---- config ---------------------------------------------------------------------------

namespace {

const char* kParams =
    "parameters:\n"
    "  a: {dist: uniform, low: 10, high: 20}\n"
    "  b: 2\n"
    "  c: {dist: uniform, low: 0, high: 2}\n"
    "  A1: 1\n"
    "  A2: 1.2\n"
    "  theta: 0.5\n";

Config parse(const std::string& sens_text) {
  return parse_config_text(std::string(kParams) + sens_text, "s.yaml");
}

std::string error_of(const std::string& sens_text) {
  try {
    parse(sens_text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(SobolConfig, ReadsAndRoundTrips) {
  const Config cfg = parse("sensitivity:\n  outputs: [q11, leader_gains]\n  base_draws: 1e5\n");
  EXPECT_TRUE(cfg.sensitivity.enabled);
  EXPECT_EQ(cfg.sensitivity.outputs, (std::vector<std::string>{"q11", "leader_gains"}));
  EXPECT_EQ(cfg.sensitivity.base_draws, 100000u);
  const std::string yaml = effective_yaml(cfg);
  EXPECT_NE(yaml.find("sensitivity:\n  outputs: [q11, leader_gains]\n  base_draws: 100000\n"),
            std::string::npos)
      << yaml;
  const Config again = parse_config_text(yaml, "effective");
  EXPECT_EQ(again.sensitivity.outputs, cfg.sensitivity.outputs);
  EXPECT_EQ(again.sensitivity.base_draws, cfg.sensitivity.base_draws);
  EXPECT_EQ(effective_yaml(again), yaml);
  // Unused: no key in the effective YAML.
  EXPECT_EQ(effective_yaml(parse("")).find("sensitivity"), std::string::npos);
  // Block-style list and an override.
  const Config ov = parse_config_text(
      std::string(kParams) + "sensitivity:\n  outputs:\n    - pi12\n  base_draws: 10\n", "s.yaml",
      {Override("sensitivity.base_draws", "20")});
  EXPECT_EQ(ov.sensitivity.outputs, (std::vector<std::string>{"pi12"}));
  EXPECT_EQ(ov.sensitivity.base_draws, 20u);
}

TEST(SobolConfig, ErrorsNameTheKeyAndSuggest) {
  auto has = [](const std::string& text, const std::string& part) {
    EXPECT_NE(text.find(part), std::string::npos) << text;
  };
  has(error_of("sensitivity:\n  outputs: [q11, leader_gain]\n  base_draws: 100\n"),
      "s.yaml:9:18: sensitivity.outputs[1]: unknown output 'leader_gain' (did you mean "
      "'leader_gains'?)");
  has(error_of("sensitivity:\n  outputs: [zzz]\n  base_draws: 100\n"), "(outputs are a, b, c");
  has(error_of("sensitivity:\n  outputs: [A2_crit]\n  base_draws: 100\n"),
      "A2_crit cannot be a sensitivity output");
  has(error_of("sensitivity:\n  outputs: [q11, q11]\n  base_draws: 100\n"), "listed twice");
  has(error_of("sensitivity:\n  outputs: []\n  base_draws: 100\n"),
      "sensitivity.outputs: must name at least one output");
  has(error_of("sensitivity:\n  outputs: q11\n  base_draws: 100\n"),
      "sensitivity.outputs: expected a list of outputs");
  has(error_of("sensitivity:\n  outputs: [q11]\n  base_draws: 1\n"),
      "sensitivity.base_draws: must be an integer >= 2 (got 1)");
  has(error_of("sensitivity:\n  outputs: [q11]\n  base_draws: 2.5\n"), "must be a whole number");
  has(error_of("sensitivity:\n  outputs: [q11]\n"), "sensitivity: missing 'base_draws'");
  has(error_of("sensitivity:\n  base_draws: 100\n"), "sensitivity: missing 'outputs'");
  has(error_of("sensitivity:\n  output: [q11]\n  base_draws: 100\n"),
      "unknown key 'output' (did you mean 'outputs'?)");
  has(error_of("sensitivity: [q11]\n"), "sensitivity: expected a map");
}

TEST(SobolConfig, DocExamplesValidate) {
  // Every ```yaml block in docs/sensitivity.md is a complete config.
  std::ifstream in(std::string(SPILLMC_SOURCE_DIR) + "/docs/sensitivity.md");
  ASSERT_TRUE(in) << "docs/sensitivity.md missing";
  std::string line, block;
  bool inside = false;
  int blocks = 0;
  while (std::getline(in, line)) {
    if (!inside && line == "```yaml") {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      ++blocks;
      const Config cfg = parse_config_text(block, "docs/sensitivity.md");
      EXPECT_TRUE(cfg.sensitivity.enabled);
      EXPECT_NO_THROW(run_sensitivity(
          cfg.draw_spec(),
          [&] {
            SensitivityConfig c = cfg.sensitivity;
            c.base_draws = 2000;  // the example's N, scaled down
            return c;
          }(),
          2));
    } else if (inside) {
      block += line + "\n";
    }
  }
  EXPECT_GE(blocks, 1);
}
