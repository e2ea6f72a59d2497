// Random numbers: Random123's published known-answer vectors (built with our
// flags), the counter layout, the normal quantile, and every distribution's
// first two moments and bounds against closed forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "ks.hpp"
#include "spillmc/distributions.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/rng.hpp"

using namespace spillmc;

TEST(Philox, KnownAnswerVectors) {
  // Random123 tests/kat_vectors, "philox4x32 10" lines: counter, key, expected.
  struct Kat {
    std::uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    r123::Philox4x32 philox;
    const r123::Philox4x32::ctr_type c = {{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}};
    const r123::Philox4x32::key_type key = {{k.key[0], k.key[1]}};
    const auto r = philox(c, key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.out[i]) << "word " << i;
  }
}

TEST(Philox, CounterLayoutIsSeedKeyAndIndexStreamSlot) {
  // DrawRng{seed, index, stream}.raw(slot) is Philox(ctr = (index lo, index hi,
  // stream, slot), key = (seed lo, seed hi)): check against the third KAT.
  const DrawRng rng{(std::uint64_t{0x299f31d0} << 32) | 0xa4093822u,
                    (std::uint64_t{0x85a308d3} << 32) | 0x243f6a88u, 0x13198a2eu};
  const auto r = rng.raw(0x03707344u);
  EXPECT_EQ(r.v[0], 0xd16cfe09u);
  EXPECT_EQ(r.v[3], 0x24126ea1u);
}

TEST(Uniform, OpenIntervalAnd52Bits) {
  EXPECT_GT(DrawRng::to_open_unit(0), 0.0);
  EXPECT_LT(DrawRng::to_open_unit(~std::uint64_t{0}), 1.0);
  EXPECT_EQ(DrawRng::to_open_unit(0), 0x1.0p-53);
  EXPECT_EQ(DrawRng::to_open_unit(~std::uint64_t{0}), 1.0 - 0x1.0p-53);
  // Mean and variance of many uniforms: 1/2 and 1/12 within 6 standard errors.
  const int n = 400000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    double u0, u1;
    DrawRng{42, static_cast<std::uint64_t>(i), 0}.uniform2(0, u0, u1);
    for (double u : {u0, u1}) s += u, s2 += u * u;
  }
  const double m = s / (2 * n), v = s2 / (2 * n) - m * m;
  EXPECT_NEAR(m, 0.5, 6 * std::sqrt(1.0 / 12 / (2 * n)));
  EXPECT_NEAR(v, 1.0 / 12, 6 * std::sqrt(1.0 / 180 / (2 * n)));
}

TEST(NormalQuantile, InvertsTheCdfOverTheWholeRange) {
  for (double e = -300; e <= -1; e += 0.37) {
    const double p = std::pow(10.0, e);
    const double z = normal_quantile(p);
    const double tol = 1e-13 * std::max(1.0, z * z);
    EXPECT_NEAR(normal_cdf(z) / p, 1.0, tol) << "p=" << p;
    if (p > 1e-15) {  // 1 - p still distinct from 1 with some precision
      EXPECT_NEAR(normal_quantile(1.0 - p) + z, 0.0, 1e-15 / p) << "symmetry at p=" << p;
    }
  }
  for (double p = 0.01; p < 1.0; p += 0.01) EXPECT_NEAR(normal_cdf(normal_quantile(p)), p, 2e-16);
  EXPECT_EQ(normal_quantile(0.5), 0.0);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-15);
}

namespace {

struct SampleMoments {
  double mean, var, m4, min, max;
};

SampleMoments draw_many(const Dist& d, int n, std::uint64_t seed = 2024) {
  std::vector<double> x(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const DrawRng rng{seed, static_cast<std::uint64_t>(i), 0};
    double u0, u1;
    rng.uniform2(primary_slot(0), u0, u1);
    x[static_cast<std::size_t>(i)] = sample(d, u0, rng, 0);
  }
  SampleMoments m{0, 0, 0, INFINITY, -INFINITY};
  for (double v : x) m.mean += v, m.min = std::min(m.min, v), m.max = std::max(m.max, v);
  m.mean /= n;
  for (double v : x) {
    const double c = v - m.mean;
    m.var += c * c;
    m.m4 += c * c * c * c;
  }
  m.var /= (n - 1);
  m.m4 /= n;
  return m;
}

// Checks mean and variance within k standard errors of the closed forms.
void expect_moments(const Dist& d, double mean, double var, double lo, double hi,
                    const char* what) {
  SCOPED_TRACE(what);
  const int n = 200000;
  const SampleMoments m = draw_many(d, n);
  const double k = 5.0;
  EXPECT_NEAR(m.mean, mean, k * std::sqrt(var / n));
  EXPECT_NEAR(m.var, var, k * std::sqrt(std::max(m.m4 - var * var, 1e-300) / n));
  EXPECT_GE(m.min, lo);
  EXPECT_LE(m.max, hi);
}

double phi(double x) {
  return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

}  // namespace

TEST(Distributions, FixedIsConstant) {
  const Dist d{DistKind::fixed, 3.25};
  const SampleMoments m = draw_many(d, 1000);
  EXPECT_EQ(m.min, 3.25);
  EXPECT_EQ(m.max, 3.25);
}

TEST(Distributions, UniformMoments) {
  expect_moments({DistKind::uniform, -2, 5}, 1.5, 49.0 / 12, -2, 5, "uniform(-2,5)");
}

TEST(Distributions, NormalMoments) {
  expect_moments({DistKind::normal, 10, 0.5}, 10, 0.25, -INFINITY, INFINITY, "normal(10,0.5)");
}

TEST(Distributions, TruncnormalMoments) {
  struct Case {
    double mu, sd, lo, hi;
  };
  for (const Case c : {Case{0, 1, -1, 2}, Case{5, 2, 6, 20}, Case{0, 1, 10, 11},
                       Case{0, 1, -12, -11}, Case{1, 0.5, 0.9, 0.95}}) {
    const double a = (c.lo - c.mu) / c.sd, b = (c.hi - c.mu) / c.sd;
    // Z from the tail that keeps precision.
    const double Z = a > 0 ? normal_cdf(-a) - normal_cdf(-b) : normal_cdf(b) - normal_cdf(a);
    const double r = (phi(a) - phi(b)) / Z;
    const double mean = c.mu + c.sd * r;
    const double var = c.sd * c.sd * (1 + (a * phi(a) - b * phi(b)) / Z - r * r);
    expect_moments({DistKind::truncnormal, c.mu, c.sd, c.lo, c.hi}, mean, var, c.lo, c.hi,
                   "truncnormal");
  }
}

TEST(Distributions, LognormalMoments) {
  const double mu = 0.3, s = 0.4;
  const double mean = std::exp(mu + s * s / 2);
  const double var = (std::exp(s * s) - 1) * std::exp(2 * mu + s * s);
  expect_moments({DistKind::lognormal, mu, s}, mean, var, 0, INFINITY, "lognormal(0.3,0.4)");
}

TEST(Distributions, TriangularMoments) {
  for (const double mode : {1.0, 2.5, 4.0}) {
    const double l = 1, h = 4;
    const double mean = (l + mode + h) / 3;
    const double var = (l * l + mode * mode + h * h - l * mode - l * h - mode * h) / 18;
    expect_moments({DistKind::triangular, l, mode, h}, mean, var, l, h, "triangular");
  }
}

TEST(Distributions, BetaMoments) {
  struct Case {
    double a, b, lo, hi;
  };
  // Integer shapes up to 15 uniforms by order statistics, the rest (and (9, 8),
  // one past that limit) by the gamma ratio. Shapes such as 0.002, where
  // U^(1/shape) underflows for most U, once gave 0/0 in 5 % of draws.
  for (const Case c : {Case{2, 2, 0, 1}, Case{1, 1, 0, 1}, Case{1, 4, 0, 1}, Case{3, 2, -1, 3},
                       Case{8, 7, 0, 1}, Case{8, 8, 2, 5}, Case{15, 1, 0, 1}, Case{9, 8, 0, 1},
                       Case{0.5, 0.5, 0, 1}, Case{5, 1.5, -1, 3}, Case{0.3, 4, 0, 1},
                       Case{0.002, 0.002, 0, 1}, Case{0.002, 0.5, 0, 1}, Case{3, 0.01, 0, 1}}) {
    const double s = c.a + c.b;
    const double w = c.hi - c.lo;
    const double mean = c.lo + w * c.a / s;
    const double var = w * w * c.a * c.b / (s * s * (s + 1));
    expect_moments({DistKind::beta, c.a, c.b, c.lo, c.hi}, mean, var, c.lo, c.hi, "beta");
  }
}

namespace {

// P(X <= x) for X ~ Beta(a, b) with integer shapes: the a-th smallest of
// n = a + b - 1 uniforms is <= x when at least a of them are, a binomial tail.
double beta_cdf_integer(int a, int b, double x) {
  const int n = a + b - 1;
  double p = 0.0, choose = 1.0;  // C(n, j), built up from j = 0
  for (int j = 0; j <= n; ++j) {
    if (j > 0) choose = choose * (n - j + 1) / j;
    if (j >= a) p += choose * std::pow(x, j) * std::pow(1.0 - x, n - j);
  }
  return p;
}

}  // namespace

// Both beta samplers against the exact CDF for integer shapes: the order
// statistic (what sample() uses for them) and the gamma ratio (what it uses
// for other shapes), so the two agree in law where both apply.
TEST(Distributions, BetaIntegerShapesFollowTheExactCdf) {
  const int n = 100000;
  const double critical = spillmc_test::kKsCritical001 / std::sqrt(static_cast<double>(n));
  for (const auto& shapes : {std::pair{2, 2}, std::pair{1, 3}, std::pair{5, 2}, std::pair{8, 8},
                             std::pair{3, 12}, std::pair{14, 2}}) {
    const int a = shapes.first, b = shapes.second;
    SCOPED_TRACE(::testing::Message() << "Beta(" << a << ", " << b << ")");
    const Dist d{DistKind::beta, static_cast<double>(a), static_cast<double>(b), 0, 1};
    ASSERT_TRUE(beta_by_order_statistic(d));
    std::vector<double> order(n), ratio(n);
    for (int i = 0; i < n; ++i) {
      const DrawRng rng{99, static_cast<std::uint64_t>(i), 0};
      double u0, u1;
      rng.uniform2(primary_slot(0), u0, u1);
      order[static_cast<std::size_t>(i)] = sample(d, u0, rng, 3);
      ratio[static_cast<std::size_t>(i)] = beta_gamma_ratio(d, rng, 3);
    }
    const auto cdf = [&](double x) { return beta_cdf_integer(a, b, x); };
    EXPECT_LT(spillmc_test::ks_distance(order, cdf), critical) << "order statistic";
    EXPECT_LT(spillmc_test::ks_distance(ratio, cdf), critical) << "gamma ratio";
  }
}

// Which shapes take the order statistic: positive integers with
// alpha + beta - 1 <= kBetaOrderMaxUniforms, and no others.
TEST(Distributions, BetaOrderStatisticOnlyForSmallIntegerShapes) {
  const auto order = [](double a, double b) {
    return beta_by_order_statistic({DistKind::beta, a, b, 0, 1});
  };
  EXPECT_TRUE(order(1, 1));
  EXPECT_TRUE(order(2, 2));
  EXPECT_TRUE(order(8, 8));
  EXPECT_TRUE(order(1, 15));
  EXPECT_FALSE(order(8, 9));
  EXPECT_FALSE(order(1, 16));
  EXPECT_FALSE(order(2.5, 2));
  EXPECT_FALSE(order(2, 0.5));
  EXPECT_FALSE(order(0.5, 0.5));
}

// The order statistic is exactly the alpha-th smallest of its uniforms: the
// primary one and those of its extra slots, taken here one by one and sorted.
TEST(Distributions, BetaOrderStatisticIsTheAlphaThSmallestOfItsUniforms) {
  for (const auto& shapes : {std::pair{1, 1}, std::pair{2, 2}, std::pair{7, 3}, std::pair{1, 15},
                             std::pair{15, 1}, std::pair{8, 8}, std::pair{4, 9}}) {
    const int a = shapes.first, b = shapes.second, n = a + b - 1;
    const Dist d{DistKind::beta, static_cast<double>(a), static_cast<double>(b), 0, 1};
    for (std::uint64_t i = 0; i < 200; ++i) {
      const DrawRng rng{5, i, 2};
      double u0, unused;
      rng.uniform2(primary_slot(1), unused, u0);
      std::vector<double> u{u0};
      for (int k = 0; static_cast<int>(u.size()) < n; ++k) {
        double x, y;
        rng.uniform2(extra_slot(4, 2, static_cast<std::uint32_t>(k)), x, y);
        u.push_back(x);
        if (static_cast<int>(u.size()) < n) u.push_back(y);
      }
      std::sort(u.begin(), u.end());
      ASSERT_EQ(sample(d, u0, rng, 4), u[static_cast<std::size_t>(a - 1)])
          << "Beta(" << a << ", " << b << ") draw " << i;
    }
  }
}

TEST(Sampling, DrawDependsOnlyOnSeedAndIndex) {
  DrawSpec spec;
  spec.seed = 77;
  spec.dist[S_a] = {DistKind::uniform, 8, 12};
  spec.dist[S_b] = {DistKind::normal, 1, 0.1};
  spec.dist[S_c] = {DistKind::fixed, 2};
  spec.dist[S_A1] = {DistKind::triangular, 0, 1, 2};
  spec.dist[S_A2] = {DistKind::lognormal, 0, 0.5};
  spec.dist[S_A2p] = {DistKind::beta, 2, 3, 0, 1};
  spec.a2_is_gap = spec.a2p_is_theta = true;
  // Forward and backward order give identical bits.
  std::vector<Params> fwd, bwd(100);
  for (std::uint64_t i = 0; i < 100; ++i) fwd.push_back(sample_params(spec, i));
  for (std::uint64_t i = 100; i-- > 0;) bwd[i] = sample_params(spec, i);
  for (std::size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(0, std::memcmp(&fwd[i], &bwd[i], sizeof(Params)));
    // Relative forms: A2 = A1 + gap > A1, A2p between A1 and A2.
    EXPECT_GT(fwd[i].A2, fwd[i].A1);
    EXPECT_GE(fwd[i].A2p, fwd[i].A1);
    EXPECT_LE(fwd[i].A2p, fwd[i].A2);
  }
  // Another seed or stream gives other numbers.
  DrawSpec other = spec;
  other.seed = 78;
  EXPECT_NE(sample_params(other, 5).a, sample_params(spec, 5).a);
  other = spec;
  other.stream = 1;
  EXPECT_NE(sample_params(other, 5).a, sample_params(spec, 5).a);
}

TEST(Distributions, PreparedDistributionsGiveTheSameValues) {
  // Per-run constants only save work: values agree with the unprepared path.
  for (const Dist raw :
       {Dist{DistKind::truncnormal, 5, 2, 6, 20}, Dist{DistKind::triangular, 0.8, 1, 1.25},
        Dist{DistKind::triangular, 1, 1, 4}, Dist{DistKind::triangular, -2, 3, 3}}) {
    const Dist fast = prepared(raw);
    ASSERT_TRUE(fast.has_derived);
    for (std::uint64_t i = 0; i < 1000; ++i) {
      const DrawRng rng{1, i, 0};
      double u0, u1;
      rng.uniform2(0, u0, u1);
      const double a = sample(raw, u0, rng, 0), b = sample(fast, u0, rng, 0);
      EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0) << a << " " << b;
    }
  }
}

TEST(Distributions, TriangularInvertsItsCdf) {
  // The closed-form CDF, in long double, of the sampled value gives back u.
  for (const Dist d : {Dist{DistKind::triangular, 0.8, 1, 1.25},
                       Dist{DistKind::triangular, 1, 1, 4}, Dist{DistKind::triangular, -2, 3, 3}}) {
    const long double lo = d.p0, mode = d.p1, hi = d.p2;
    for (int k = 1; k < 2000; ++k) {
      const double u = k / 2000.0;
      const long double x = sample(prepared(d), u, DrawRng{1, 0, 0}, 0);
      const long double cdf = x <= mode && mode > lo
                                  ? (x - lo) * (x - lo) / ((hi - lo) * (mode - lo))
                                  : 1 - (hi - x) * (hi - x) / ((hi - lo) * (hi - mode));
      EXPECT_NEAR(static_cast<double>(cdf), u, 1e-13)
          << "u " << u << " x " << static_cast<double>(x);
      EXPECT_GE(static_cast<double>(x), d.p0);
      EXPECT_LE(static_cast<double>(x), d.p2);
    }
  }
}
