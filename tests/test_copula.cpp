// Correlated inputs (config key `correlation`, a Gaussian copula): the rank
// correlations of sampled pairs against the Gaussian-copula value
// 6/pi asin(r/2), the marginals against their closed forms, the config's
// checks and round trip, and that uncorrelated slots keep their exact bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "ks.hpp"
#include "spillmc/config.hpp"
#include "spillmc/cpu_batch.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr std::uint64_t kDraws = 200000;

// Correlated a, b, c, A1, A2_gap over every supported marginal; c's interval
// lies above its mean, so its sampler is the reflected (decreasing) one.
// `correlation` comes first: names are resolved once the parameters are read.
const char* const kMatrixConfig = R"(draws: 1000
seed: 7
correlation:
  matrix:
    names: [a, b, c, A1, A2_gap]
    values:
      - [1, 0, 0.3, 0, 0.6]
      - [0, 1, 0.5, -0.4, 0]
      - [0.3, 0.5, 1, 0, 0]
      - [0, -0.4, 0, 1, 0]
      - [0.6, 0, 0, 0, 1]
parameters:
  a: {dist: normal, mean: 10, sd: 1}
  b: {dist: uniform, low: 0.8, high: 1.2}
  c: {dist: truncnormal, mean: 2, sd: 0.5, low: 2.2, high: 3.5}
  A1: {dist: triangular, low: 0.5, mode: 1, high: 2}
  A2_gap: {dist: lognormal, meanlog: 0, sdlog: 0.5}
  theta: {dist: beta, alpha: 2, beta: 2}
)";

// The pairs form; c's interval contains its mean (the unreflected sampler).
const char* const kPairsConfig = R"(seed: 11
parameters:
  a: {dist: uniform, low: 8, high: 12}
  b: {dist: triangular, low: 0.8, mode: 1, high: 1.25}
  c: {dist: truncnormal, mean: 2, sd: 0.5, low: 1, high: 2.6}
  A1: 1
  A2: {dist: normal, mean: 2, sd: 0.3}
  A2p: {dist: uniform, low: 1, high: 1.5}
correlation:
  pairs:
    - {between: [c, a], r: 0.7}
    - {between: [b, c], r: -0.5}
    - {between: [A2, A2p], r: 0.2}
)";

std::vector<std::vector<double>> sample_columns(const DrawSpec& spec, std::uint64_t n) {
  std::vector<std::vector<double>> cols(kNumSlots, std::vector<double>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    double x[kNumSlots];
    sample_slots(spec, i, x);
    for (int s = 0; s < kNumSlots; ++s) cols[static_cast<std::size_t>(s)][i] = x[s];
  }
  return cols;
}

std::vector<double> ranks(const std::vector<double>& x) {
  std::vector<std::size_t> order(x.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t p, std::size_t q) { return x[p] < x[q]; });
  std::vector<double> r(x.size());
  for (std::size_t k = 0; k < order.size(); ++k) r[order[k]] = static_cast<double>(k);
  return r;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= n, my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

// Spearman's rho of every pair of sampled slots against 6/pi asin(r/2), the
// rank correlation of a bivariate normal with correlation r (so of any
// Gaussian copula, whatever the marginals). Its standard error is at most
// 1/sqrt(n - 1), the value at r = 0.
void expect_rank_correlations(const Config& cfg) {
  const DrawSpec spec = cfg.draw_spec();
  ASSERT_TRUE(spec.copula);
  const auto cols = sample_columns(spec, kDraws);
  std::vector<std::vector<double>> rk(kNumSlots);
  for (int s = 0; s < kNumSlots; ++s) {
    if (cfg.dist[s].kind != DistKind::fixed)
      rk[static_cast<std::size_t>(s)] = ranks(cols[static_cast<std::size_t>(s)]);
  }
  const double tol = 5.0 / std::sqrt(static_cast<double>(kDraws - 1));
  int checked = 0;
  for (int i = 0; i < kNumSlots; ++i) {
    for (int j = i + 1; j < kNumSlots; ++j) {
      if (rk[static_cast<std::size_t>(i)].empty() || rk[static_cast<std::size_t>(j)].empty())
        continue;
      const double r = cfg.correlation.r[i][j];
      const double want = 6.0 / kPi * std::asin(r / 2.0);
      const double got = pearson(rk[static_cast<std::size_t>(i)], rk[static_cast<std::size_t>(j)]);
      EXPECT_NEAR(got, want, tol) << "slots " << i << ", " << j << " (r = " << r << ")";
      ++checked;
    }
  }
  EXPECT_GE(checked, 6);
}

TEST(CopulaSampling, RankCorrelationsMatchTheGaussianCopula) {
  const Config cfg = parse_config_text(kMatrixConfig, "matrix");
  EXPECT_TRUE(cfg.correlation.enabled);
  EXPECT_EQ(cfg.correlation.r[S_a][S_A2], 0.6);
  EXPECT_EQ(cfg.correlation.r[S_A2][S_a], 0.6);
  EXPECT_EQ(cfg.correlation.r[S_b][S_A1], -0.4);
  EXPECT_EQ(cfg.correlation.r[S_A2p][S_A2p], 1.0);
  EXPECT_EQ(cfg.correlation.r[S_a][S_A2p], 0.0);  // theta: beta, left out
  expect_rank_correlations(cfg);
}

TEST(CopulaSampling, RankCorrelationsPairsFormAndUnreflectedTruncnormal) {
  const Config cfg = parse_config_text(kPairsConfig, "pairs");
  EXPECT_EQ(cfg.correlation.r[S_a][S_c], 0.7);
  EXPECT_EQ(cfg.correlation.r[S_c][S_b], -0.5);
  EXPECT_EQ(cfg.correlation.r[S_A2][S_A2p], 0.2);
  EXPECT_EQ(cfg.correlation.r[S_a][S_b], 0.0);
  expect_rank_correlations(cfg);
}

// Normal and lognormal are driven by the correlated score itself, so the
// Pearson correlation of a and log(A2_gap) is r (standard error (1-r^2)/sqrt n).
TEST(CopulaSampling, NormalScoresHaveTheGivenCorrelation) {
  const Config cfg = parse_config_text(kMatrixConfig, "matrix");
  auto cols = sample_columns(cfg.draw_spec(), kDraws);
  for (double& v : cols[S_A2]) v = std::log(v);
  const double r = 0.6;
  EXPECT_NEAR(pearson(cols[S_a], cols[S_A2]), r,
              5.0 * (1 - r * r) / std::sqrt(static_cast<double>(kDraws)));
}

// ---- marginals ---------------------------------------------------------------

struct Marginal {
  int slot;
  double mean, var;
  std::function<double(double)> cdf;
};

double phi_pdf(double z) {
  return std::exp(-0.5 * z * z) / std::sqrt(2 * kPi);
}

Marginal truncnormal_marginal(int slot, double mu, double sd, double lo, double hi) {
  const double al = (lo - mu) / sd, be = (hi - mu) / sd;
  const double z = normal_cdf(be) - normal_cdf(al);
  const double d = (phi_pdf(al) - phi_pdf(be)) / z;
  const double var = sd * sd * (1 + (al * phi_pdf(al) - be * phi_pdf(be)) / z - d * d);
  return {slot, mu + sd * d, var,
          [=](double x) { return (normal_cdf((x - mu) / sd) - normal_cdf(al)) / z; }};
}

Marginal triangular_marginal(int slot, double a, double m, double b) {
  return {slot, (a + m + b) / 3, (a * a + m * m + b * b - a * m - a * b - m * b) / 18,
          [=](double x) {
            return x <= m ? (x - a) * (x - a) / ((b - a) * (m - a))
                          : 1 - (b - x) * (b - x) / ((b - a) * (b - m));
          }};
}

Marginal uniform_marginal(int slot, double lo, double hi) {
  return {slot, (lo + hi) / 2, (hi - lo) * (hi - lo) / 12,
          [=](double x) { return (x - lo) / (hi - lo); }};
}

// Mean and variance within 5 standard errors, and Kolmogorov-Smirnov
// sqrt(n) D below 1.95 (p = 0.001), against the closed forms.
void expect_marginals(const Config& cfg, const std::vector<Marginal>& ms) {
  const auto cols = sample_columns(cfg.draw_spec(), kDraws);
  const double n = static_cast<double>(kDraws);
  for (const Marginal& m : ms) {
    SCOPED_TRACE("slot " + std::to_string(m.slot));
    std::vector<double> x = cols[static_cast<std::size_t>(m.slot)];
    double mean = 0;
    for (double v : x) mean += v;
    mean /= n;
    double m2 = 0, m4 = 0;
    for (double v : x) {
      const double d2 = (v - mean) * (v - mean);
      m2 += d2, m4 += d2 * d2;
    }
    m2 /= n, m4 /= n;
    EXPECT_NEAR(mean, m.mean, 5 * std::sqrt(m.var / n));
    EXPECT_NEAR(m2, m.var, 5 * std::sqrt((m4 - m2 * m2) / n));
    EXPECT_LT(std::sqrt(n) * spillmc_test::ks_distance(std::move(x), m.cdf),
              spillmc_test::kKsCritical001);
  }
}

TEST(CopulaSampling, MarginalsAreUnchanged) {
  const double s2 = 0.25;  // lognormal sdlog^2
  expect_marginals(parse_config_text(kMatrixConfig, "matrix"),
                   {{S_a, 10, 1, [](double x) { return normal_cdf(x - 10); }},
                    uniform_marginal(S_b, 0.8, 1.2),
                    truncnormal_marginal(S_c, 2, 0.5, 2.2, 3.5),
                    triangular_marginal(S_A1, 0.5, 1, 2),
                    {S_A2, std::exp(s2 / 2), (std::exp(s2) - 1) * std::exp(s2),
                     [](double x) { return normal_cdf(std::log(x) / 0.5); }}});
  expect_marginals(parse_config_text(kPairsConfig, "pairs"),
                   {uniform_marginal(S_a, 8, 12),
                    triangular_marginal(S_b, 0.8, 1, 1.25),
                    truncnormal_marginal(S_c, 2, 0.5, 1, 2.6),
                    {S_A2, 2, 0.09, [](double x) { return normal_cdf((x - 2) / 0.3); }},
                    uniform_marginal(S_A2p, 1, 1.5)});
}

// ---- bits unchanged without a copula ------------------------------------------

// sample_slots as it was before the copula existed.
void reference_slots(const DrawSpec& spec, std::uint64_t index, double x[kNumSlots]) {
  const DrawRng rng{spec.seed, index, spec.stream};
  double u[kNumSlots];
  for (int pair = 0; pair < kNumSlots / 2; ++pair) {
    if (spec.dist[2 * pair].kind != DistKind::fixed ||
        spec.dist[2 * pair + 1].kind != DistKind::fixed) {
      rng.uniform2(primary_slot(static_cast<std::uint32_t>(pair)), u[2 * pair], u[2 * pair + 1]);
    } else {
      u[2 * pair] = u[2 * pair + 1] = 0.5;
    }
  }
  for (int s = 0; s < kNumSlots; ++s) {
    x[s] = sample(spec.dist[s], u[s], rng, static_cast<std::uint32_t>(s));
  }
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

TEST(CopulaSampling, WithoutCorrelationTheDrawsKeepTheirBits) {
  const Config base = load_config(std::string(SPILLMC_SOURCE_DIR) + "/configs/baseline.yaml");
  EXPECT_FALSE(base.correlation.enabled);
  const DrawSpec spec = base.draw_spec();
  EXPECT_FALSE(spec.copula);
  for (std::uint64_t i = 0; i < 2000; ++i) {
    double x[kNumSlots], y[kNumSlots];
    sample_slots(spec, i, x);
    reference_slots(spec, i, y);
    for (int s = 0; s < kNumSlots; ++s) ASSERT_TRUE(same_bits(x[s], y[s])) << i << " " << s;
  }
}

// Correlations all zero: as if the key were absent (no copula, same text).
TEST(CopulaSampling, ZeroCorrelationsAreNoCopula) {
  const std::string params =
      "parameters: {a: {dist: uniform, low: 8, high: 12}, b: 1, c: {dist: normal, mean: 2, sd: "
      "0.2}, A1: 1, A2: 2, A2p: 1.5}\n";
  const Config plain = parse_config_text(params, "x");
  const Config zero = parse_config_text(
      params + "correlation: {pairs: [{between: [a, c], r: 0}, {between: [c, a2p], r: 0}]}\n", "x",
      {{"correlation.pairs", "[{between: [a, c], r: 0}]"}});
  EXPECT_FALSE(zero.correlation.enabled);
  EXPECT_FALSE(zero.draw_spec().copula);
  EXPECT_EQ(effective_yaml(zero), effective_yaml(plain));
  EXPECT_EQ(effective_yaml(plain).find("correlation"), std::string::npos);
}

// With a copula, uncorrelated slots (theta here) keep the bits they have
// without one; the correlated ones change.
TEST(CopulaSampling, UncorrelatedSlotsKeepTheirBits) {
  const Config cfg = parse_config_text(kMatrixConfig, "matrix");
  const DrawSpec with = cfg.draw_spec();
  DrawSpec without = with;
  without.copula = false;
  int changed = 0;
  for (std::uint64_t i = 0; i < 500; ++i) {
    double x[kNumSlots], y[kNumSlots], z[kNumSlots];
    sample_slots(with, i, x);
    sample_slots(without, i, y);
    reference_slots(without, i, z);
    ASSERT_TRUE(same_bits(x[S_A2p], y[S_A2p])) << i;
    for (int s = 0; s < kNumSlots; ++s) ASSERT_TRUE(same_bits(y[s], z[s])) << i << " " << s;
    changed += x[S_A2] != y[S_A2];
  }
  EXPECT_GT(changed, 400);
}

// A correlated slot fixed afterwards (as a sweep cell would) still feeds its
// score to the others: their values stay exactly the same.
TEST(CopulaSampling, FixingACorrelatedSlotLeavesTheOthersAlone) {
  const DrawSpec spec = parse_config_text(kMatrixConfig, "matrix").draw_spec();
  DrawSpec fixed = spec;
  fixed.dist[S_c] = Dist{DistKind::fixed, 2.5, 0, 0, 0};
  fixed.dist[S_A1] = Dist{DistKind::fixed, 1, 0, 0, 0};  // the whole Philox pair fixed
  for (std::uint64_t i = 0; i < 500; ++i) {
    double x[kNumSlots], y[kNumSlots];
    sample_slots(spec, i, x);
    sample_slots(fixed, i, y);
    for (int s : {S_a, S_b, S_A2, S_A2p}) ASSERT_TRUE(same_bits(x[s], y[s])) << i << " " << s;
    EXPECT_EQ(y[S_c], 2.5);
  }
}

// The batched CPU path samples the copula itself: every draw gets the scalar
// path's bits, on every instruction-set variant, and a block's counts and
// extremes are the scalar ones (its moments agree to rounding: lanes sum
// separately; tests/test_cpu_batch.cpp checks them and more specs).
TEST(CopulaSampling, BatchedPathGivesTheScalarDraws) {
  const DrawSpec spec = parse_config_text(kMatrixConfig, "matrix").draw_spec();
  ASSERT_TRUE(spec.copula);
  const std::uint64_t first = 1000, n = 4099;  // not a whole number of lanes
  std::vector<Outcome> out(n);
  std::vector<int> reason(n);
  for (BatchIsa isa : {BatchIsa::generic, BatchIsa::avx2, BatchIsa::avx512}) {
    if (!batch_isa_supported(isa)) continue;
    evaluate_draws_batched(spec, first, n, out.data(), reason.data(), isa);
    for (std::uint64_t i = 0; i < n; ++i) {
      Outcome o;
      ASSERT_EQ(reason[i], evaluate_draw(spec, first + i, o)) << i;
      for (int f = 0; f < kNumFields; ++f) {
        if (reason[i] < 0 || f < kNumParams) {
          ASSERT_TRUE(same_bits(out[i].v[f], o.v[f])) << i << " " << f;
        }
      }
    }
  }
  const std::uint64_t total = 3 * kBlockDraws / 2;
  for (std::uint64_t k = 0; k < 2; ++k) {
    const Tally a = accumulate_block(spec, total, k), b = accumulate_block_batched(spec, total, k);
    EXPECT_EQ(a.valid, b.valid);
    for (int e = 0; e < kNumEvents; ++e) EXPECT_EQ(a.events[e], b.events[e]) << e;
    for (int r = 0; r < kNumRegimes; ++r) EXPECT_EQ(a.regime2[r], b.regime2[r]) << r;
    for (int f = 0; f < kNumFields; ++f) {
      EXPECT_EQ(a.field[f].n, b.field[f].n) << f;
      EXPECT_TRUE(same_bits(a.field[f].min, b.field[f].min)) << f;
      EXPECT_TRUE(same_bits(a.field[f].max, b.field[f].max)) << f;
      EXPECT_NEAR(a.field[f].value(), b.field[f].value(),
                  1e-12 * std::max(std::fabs(a.field[f].value()), a.field[f].max - a.field[f].min))
          << f;
    }
  }
}

// ---- Phi -----------------------------------------------------------------------

TEST(CopulaSampling, NormalCdfOpenIsAccurateAndStaysInside) {
  // Arguments through a volatile: GCC folds erfc of a constant with MPFR, correctly
  // rounded, where the program calls glibc's erfc (1 ulp off at x = 1; Clang calls it here).
  const auto phi = [](double x) {
    volatile double opaque = x;
    return normal_cdf_open(opaque);
  };
  EXPECT_EQ(phi(0.0), 0.5);
  // Reference values of Phi (Abramowitz & Stegun 26.2; high-precision tables).
  EXPECT_NEAR(phi(-10.0) / 7.6198530241605260659e-24, 1.0, 1e-13);
  EXPECT_NEAR(phi(-5.0) / 2.8665157187919391167e-7, 1.0, 1e-14);
  EXPECT_NEAR(phi(1.0), 0.84134474606854294859, 2.3e-16);  // 2 ulp
  EXPECT_EQ(phi(-40.0), 0x1.0p-1022);                      // clamped: finite quantiles
  EXPECT_EQ(phi(40.0), 1.0 - 0x1.0p-53);                   // the largest double below 1
  EXPECT_TRUE(std::isfinite(normal_quantile(normal_cdf_open(-40.0))));
  EXPECT_TRUE(std::isfinite(normal_quantile(normal_cdf_open(40.0))));
}

TEST(CopulaSampling, CholeskyFactorReproducesTheMatrix) {
  const double a[9] = {1, 0.3, 0.6, 0.3, 1, -0.2, 0.6, -0.2, 1};
  double l[9];
  ASSERT_EQ(cholesky_factor(3, a, l), -1);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += l[i * 3 + k] * l[j * 3 + k];
      EXPECT_NEAR(s, a[i * 3 + j], 1e-15);
      if (j > i) {
        EXPECT_EQ(l[i * 3 + j], 0.0);
      }
    }
  }
  const double bad[9] = {1, 0.9, 0.9, 0.9, 1, -0.9, 0.9, -0.9, 1};
  double det = 0;
  EXPECT_EQ(cholesky_factor(3, bad, l, &det), 2);
  EXPECT_NEAR(det, -2.888, 1e-12);  // det of the whole matrix (numpy)
}

// ---- config -------------------------------------------------------------------

const std::string kParams =
    "parameters:\n"                                           // 1
    "  a: {dist: uniform, low: 8, high: 12}\n"                // 2
    "  b: 1\n"                                                // 3
    "  c: {dist: normal, mean: 2, sd: 0.2}\n"                 // 4
    "  A1: {dist: triangular, low: 0.5, mode: 1, high: 2}\n"  // 5
    "  A2_gap: {dist: lognormal, meanlog: 0, sdlog: 0.5}\n"   // 6
    "  theta: {dist: beta, alpha: 2, beta: 2}\n";             // 7

std::string error_of(const std::string& correlation, const std::vector<Override>& ov = {}) {
  try {
    parse_config_text(kParams + correlation, "x.yaml", ov);
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not an InputError: ") + e.what();
  }
  return "(no error)";
}

TEST(CopulaConfig, BadMatricesAreNamed) {
  const std::string m = "correlation:\n  matrix:\n    names: [a, c]\n    values: ";  // line 10
  EXPECT_CONTAINS(error_of(m + "[[1, 0.5], [0.4, 1]]\n"),
                  "x.yaml:11:25: correlation.matrix.values[1][0]: the matrix is not symmetric: "
                  "values[1][0] = 0.4 but values[0][1] = 0.5 (c and a)");
  EXPECT_CONTAINS(error_of(m + "[[1, 1.5], [1.5, 1]]\n"),
                  "x.yaml:11:18: correlation.matrix.values[0][1]: the correlation of a and c must "
                  "lie in [-1, 1] (got 1.5)");
  EXPECT_CONTAINS(error_of(m + "[[1, -1.01], [-1.01, 1]]\n"), "must lie in [-1, 1] (got -1.01)");
  EXPECT_CONTAINS(
      error_of(m + "[[0.9, 0.5], [0.5, 1]]\n"),
      "correlation.matrix.values[0][0]: the diagonal must be 1 (a with itself), got 0.9");
  EXPECT_CONTAINS(error_of(m + "[[1, 1], [1, 1]]\n"),
                  "x.yaml:11:13: correlation.matrix.values: the correlation matrix is not positive "
                  "definite: its leading 2x2 minor, over a, c, has determinant 0 (a correlation of "
                  "1 or -1 makes it singular");
  EXPECT_CONTAINS(
      error_of("correlation:\n  matrix:\n    names: [a, c, A1]\n"
               "    values: [[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]]\n"),
      "not positive definite: its leading 3x3 minor, over a, c, A1, has determinant -2.89 (these "
      "correlations contradict each other)");
  EXPECT_CONTAINS(error_of(m + "[[1, 0.5]]\n"),
                  "correlation.matrix.values: expected 2 rows (one per name), got 1");
  EXPECT_CONTAINS(
      error_of(m + "[[1, 0.5], [0.5]]\n"),
      "correlation.matrix.values[1]: expected a row of 2 numbers (one per name), got 1 entries");
  EXPECT_CONTAINS(error_of(m + "[[1, x], [0.5, 1]]\n"),
                  "correlation.matrix.values[0][1]: expected a number, got 'x'");
  EXPECT_CONTAINS(error_of(m + "[[1, .nan], [.nan, 1]]\n"), "must be finite (got .nan)");
}

TEST(CopulaConfig, BadNamesAreNamed) {
  auto names = [](const std::string& list) {
    return "correlation:\n  matrix:\n    names: " + list + "\n    values: [[1, 0.5], [0.5, 1]]\n";
  };
  EXPECT_CONTAINS(error_of(names("[a, d]")),
                  "x.yaml:10:16: correlation.matrix.names[1]: unknown parameter 'd' (parameters "
                  "are a, b, c, A1, A2, A2_gap, A2p, theta)");
  EXPECT_CONTAINS(error_of(names("[a, a2_gap]")),
                  "unknown parameter 'a2_gap' (did you mean 'A2_gap'?)");
  EXPECT_CONTAINS(error_of(names("[a, a]")),
                  "correlation.matrix.names[1]: 'a' is listed twice (also as names[0])");
  EXPECT_CONTAINS(error_of(names("[a, b]")),
                  "x.yaml:10:16: correlation.matrix.names[1]: 'b' is fixed (1): only sampled "
                  "parameters can be correlated");
  EXPECT_CONTAINS(error_of(names("[theta, a]")),
                  "correlation.matrix.names[0]: 'theta' has a beta distribution, which correlation "
                  "does not support: beta is sampled from several uniforms");
  EXPECT_CONTAINS(error_of(names("[a, A2]")),
                  "correlation.matrix.names[1]: 'A2' is not a parameter of this config, which "
                  "gives 'A2_gap' instead");
  EXPECT_CONTAINS(error_of(names("[A2p, a]")),
                  "'A2p' is not a parameter of this config, which gives 'theta' instead");
  EXPECT_CONTAINS(error_of(names("[a]")),
                  "correlation.matrix.names: expected a sequence of at least two parameter names, "
                  "got 1 name(s)");
  EXPECT_CONTAINS(error_of(names("[a, [c]]")),
                  "names[1]: expected a parameter name, got a sequence");
}

TEST(CopulaConfig, BadPairsAreNamed) {
  auto pairs = [](const std::string& list) { return "correlation:\n  pairs: " + list + "\n"; };
  EXPECT_CONTAINS(error_of(pairs("[{between: [a, c], r: 0.5}, {between: [c, a], r: 0.5}]")),
                  "correlation.pairs[1].between: the pair c, a is given twice (also in pairs[0])");
  EXPECT_CONTAINS(
      error_of(pairs("[{between: [a, a], r: 0.5}]")),
      "correlation.pairs[0].between: 'a' twice: a parameter's correlation with itself is 1");
  EXPECT_CONTAINS(error_of(pairs("[{between: [a, c]}]")),
                  "x.yaml:9:11: correlation.pairs[0]: missing 'r'");
  EXPECT_CONTAINS(error_of(pairs("[{r: 0.1}]")), "correlation.pairs[0]: missing 'between'");
  EXPECT_CONTAINS(
      error_of(pairs("[{between: [a, c, A1], r: 0.5}]")),
      "correlation.pairs[0].between: expected two parameter names such as [a, c], got 3 entries");
  EXPECT_CONTAINS(error_of(pairs("[{between: [a, c], r: 2}]")),
                  "x.yaml:9:32: correlation.pairs[0].r: the correlation of a and c must lie in "
                  "[-1, 1] (got 2)");
  EXPECT_CONTAINS(error_of(pairs("[{between: [a, c], rho: 2}]")),
                  "correlation.pairs[0]: unknown key 'rho' (a pair takes: between, r)");
  EXPECT_CONTAINS(error_of(pairs("[{between: [a, c], r: 0.5}, {between: [A1, b], r: 0.1}]")),
                  "correlation.pairs[1].between[1]: 'b' is fixed (1)");
  EXPECT_CONTAINS(error_of(pairs("[]")), "correlation.pairs: expected a non-empty sequence");
  EXPECT_CONTAINS(
      error_of(pairs("[{between: [a, c], r: 0.9}, {between: [c, A1], r: 0.9}, {between: [a, A1], "
                     "r: -0.9}]")),
      "correlation.pairs: the correlation matrix is not positive definite: its leading 3x3 minor, "
      "over a, c, A1, has determinant -2.89");
}

TEST(CopulaConfig, BadShapesAreNamed) {
  EXPECT_CONTAINS(error_of("correlation: 0.5\n"),
                  "x.yaml:8:14: correlation: expected a map with 'matrix' or 'pairs', got '0.5'");
  EXPECT_CONTAINS(error_of("correlation: {}\n"), "correlation: missing 'matrix'");
  EXPECT_CONTAINS(error_of("correlation: {matrx: 1}\n"),
                  "correlation: unknown key 'matrx' (did you mean 'matrix'?)");
  EXPECT_CONTAINS(error_of("correlation: {pairs: [{between: [a, c], r: 0.5}], matrix: {names: "
                           "[a, c], values: [[1, 0.5], [0.5, 1]]}}\n"),
                  "correlation: give exactly one of 'matrix' and 'pairs', not both");
  EXPECT_CONTAINS(error_of("correlation: {matrix: {names: [a, c]}}\n"),
                  "correlation.matrix: missing 'values'");
  EXPECT_CONTAINS(error_of("correlation:\n"), "correlation: has no value");
}

// A sweep fixes its axis in each cell; Sobol's pick-freeze mixes parameters
// of different draws, which only means something for independent inputs.
TEST(CopulaConfig, SweepAxesAndSensitivityAreRejected) {
  const std::string corr = "correlation: {pairs: [{between: [a, A2_gap], r: 0.5}]}\n";
  EXPECT_CONTAINS(
      error_of(corr + "sweep: {axes: [{param: A2_gap, values: [1, 2]}], draws_per_cell: 10}\n"),
      "correlation.pairs[0].between[1]: 'A2_gap' is a sweep axis (fixed in each cell)");
  EXPECT_CONTAINS(error_of(corr + "sensitivity: {outputs: [q11], base_draws: 100}\n"),
                  "x.yaml:8:14: correlation: cannot be combined with 'sensitivity'");
  // A sweep over an uncorrelated parameter is fine.
  const Config cfg = parse_config_text(
      kParams + corr + "sweep: {axes: [{param: c, values: [1, 2]}], draws_per_cell: 10}\n", "x");
  EXPECT_TRUE(cfg.correlation.enabled);
}

TEST(CopulaConfig, OverridesAreNamedAsSuch) {
  EXPECT_CONTAINS(error_of("", {{"correlation.pairs", "[{between: [a, c], r: 2}]"}}),
                  "--set correlation.pairs: correlation.pairs[0].r: the correlation of a and c "
                  "must lie in [-1, 1] (got 2)");
  const Config cfg =
      parse_config_text(kParams, "x.yaml", {{"correlation.pairs", "[{between: [a, c], r: 0.25}]"}});
  EXPECT_EQ(cfg.correlation.r[S_a][S_c], 0.25);
  const Config gone =
      parse_config_text(kParams + "correlation: {pairs: [{between: [a, c], r: 0.5}]}\n", "x.yaml",
                        {{"correlation", "~"}});
  EXPECT_FALSE(gone.correlation.enabled);
}

void expect_same_correlation(const Config& x, const Config& y) {
  EXPECT_EQ(x.correlation.enabled, y.correlation.enabled);
  for (int i = 0; i < kNumSlots; ++i) {
    for (int j = 0; j < kNumSlots; ++j) {
      EXPECT_TRUE(same_bits(x.correlation.r[i][j], y.correlation.r[i][j])) << i << " " << j;
    }
  }
}

TEST(CopulaConfig, EffectiveYamlRoundTrips) {
  for (const char* text : {kMatrixConfig, kPairsConfig}) {
    const Config cfg = parse_config_text(text, "x");
    const std::string yaml = effective_yaml(cfg);
    SCOPED_TRACE(yaml);
    const Config back = parse_config_text(yaml, "effective");
    expect_same_correlation(cfg, back);
    EXPECT_EQ(effective_yaml(back), yaml);
  }
  const std::string yaml = effective_yaml(parse_config_text(kMatrixConfig, "x"));
  EXPECT_CONTAINS(yaml,
                  "correlation:\n  pairs:\n    - {between: [a, c], r: 0.3}\n"
                  "    - {between: [a, A2_gap], r: 0.6}\n    - {between: [b, c], r: 0.5}\n"
                  "    - {between: [b, A1], r: -0.4}\n");
  // Awkward values survive too.
  const Config odd = parse_config_text(
      kParams +
          "correlation: {pairs: [{between: [A2_gap, a], r: 0.1}, {between: [c, A1], r: "
          "-0.30000000000000004}]}\n",
      "x");
  expect_same_correlation(odd, parse_config_text(effective_yaml(odd), "effective"));
}

TEST(CopulaConfig, BundledConfigCorrelatesDemandAndCost) {
  const Config cfg = load_config(std::string(SPILLMC_SOURCE_DIR) + "/configs/correlated.yaml");
  const Config base = load_config(std::string(SPILLMC_SOURCE_DIR) + "/configs/baseline.yaml");
  EXPECT_TRUE(cfg.correlation.enabled);
  EXPECT_GT(cfg.correlation.r[S_a][S_c], 0.0);
  EXPECT_EQ(cfg.output_path, "results/correlated.h5");
  EXPECT_EQ(cfg.seed, base.seed);
  EXPECT_TRUE(cfg.draw_spec().copula);
  expect_same_correlation(cfg, parse_config_text(effective_yaml(cfg), "effective"));
}

TEST(CopulaConfig, CliExitsWithTwo) {
  if (!std::filesystem::exists(SPILLMC_BINARY)) GTEST_SKIP() << "spillmc not built";
  spillmc_test::TempDir dir("copula");
  const std::string path =
      dir.write("bad.yaml", kParams + "correlation: {pairs: [{between: [a, c], r: 1}]}\n");
  const spillmc_test::Cmd r = spillmc_test::sh("validate " + path);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_CONTAINS(r.out, "not positive definite");
}

}  // namespace
}  // namespace spillmc
