// The batched CPU path against the scalar one, with and without a Gaussian
// copula: every draw bit for bit (also as a visitor sees it), block partials
// (exact counts and extremes, moments to rounding), and the same bits from
// every instruction-set variant.
#include "spillmc/cpu_batch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "spillmc/analysis.hpp"
#include "spillmc/config.hpp"
#include "spillmc/draw_batch.hpp"
#include "spillmc/histogram.hpp"
#include "spillmc/paths.hpp"

#include "harness.hpp"

using namespace spillmc;

namespace {

const BatchIsa kIsas[] = {BatchIsa::generic, BatchIsa::avx2, BatchIsa::avx512};

DrawSpec baseline_spec() {
  return load_config(std::string(SPILLMC_SOURCE_DIR) + "/configs/baseline.yaml").draw_spec();
}

Dist dist(DistKind k, double p0, double p1 = 0, double p2 = 0, double p3 = 0) {
  Dist d;
  d.kind = k;
  d.p0 = p0, d.p1 = p1, d.p2 = p2, d.p3 = p3;
  return prepared(d);
}

// Normal b (some b <= 0), normal tails (AS241's r > 5 branch via truncnormal
// far in the tail), beta with shapes below and above 1.
DrawSpec spec_wide() {
  DrawSpec s;
  s.seed = 11;
  s.dist[S_a] = dist(DistKind::uniform, 2, 14);
  s.dist[S_b] = dist(DistKind::normal, 0.6, 0.5);
  s.dist[S_c] = dist(DistKind::truncnormal, 0, 1, -12, -10);
  s.dist[S_A1] = dist(DistKind::normal, 0, 3);
  s.dist[S_A2] = dist(DistKind::beta, 0.3, 0.5, -2, 6);
  s.dist[S_A2p] = dist(DistKind::beta, 2.5, 0.7, 0, 1);
  s.a2p_is_theta = true;
  return s;
}

// truncnormal: above the mean (flipped), so far out that Phi cannot separate
// the bounds (uniform fallback), without per-run constants; lognormal; beta
// with both shapes below 1, one so small that U^(1/shape) would underflow (the
// boosts are logarithms); a triangular without per-run constants; a fixed
// pair (no primary Philox call).
DrawSpec spec_tails() {
  DrawSpec s;
  s.seed = 0x123456789abcdefull;
  s.stream = 7;
  s.dist[S_a] = dist(DistKind::truncnormal, 10, 2, 19, 40);
  s.dist[S_b] = dist(DistKind::truncnormal, 0, 0.01, 0.4, 0.5);  // 40 to 50 sd out
  s.dist[S_c] = dist(DistKind::truncnormal, 2, 0.5, 1, 3);
  s.dist[S_c].has_derived = false;
  s.dist[S_A1] = dist(DistKind::lognormal, 0, 1.5);
  s.dist[S_A2] = dist(DistKind::beta, 0.002, 0.9, 0, 4);
  s.dist[S_A2p] = dist(DistKind::triangular, 0, 0.2, 3);
  s.dist[S_A2p].has_derived = false;
  s.a2_is_gap = true;
  return s;
}

// Paper mode; a fixed pair; overflowing parameters (lognormal) and outputs.
DrawSpec spec_paper_overflow() {
  DrawSpec s;
  s.seed = 5;
  s.mode = ModelMode::paper;
  s.dist[S_a] = dist(DistKind::fixed, 10);
  s.dist[S_b] = dist(DistKind::lognormal, 0, 150);  // outputs up to overflow
  s.dist[S_c] = dist(DistKind::uniform, -1e8, 1e8);
  s.dist[S_A1] = dist(DistKind::lognormal, 0, 290);  // overflows beyond 2.45 sd
  s.dist[S_A2] = dist(DistKind::triangular, -3, 5, 6);
  s.dist[S_A2p] = dist(DistKind::beta, 1, 1, 0, 1);
  s.a2_is_gap = true;
  s.a2p_is_theta = true;
  return s;
}

// Constrained mode reaching every regime.
DrawSpec spec_regimes() {
  DrawSpec s;
  s.seed = 99;
  s.dist[S_a] = dist(DistKind::uniform, -5, 15);
  s.dist[S_b] = dist(DistKind::lognormal, 0, 0.5);
  s.dist[S_c] = dist(DistKind::normal, 2, 3);
  s.dist[S_A1] = dist(DistKind::triangular, -4, 1, 4);
  s.dist[S_A2] = dist(DistKind::uniform, -8, 8);
  s.dist[S_A2p] = dist(DistKind::normal, 0, 4);
  return s;
}

// A1 = -0 + 0 z: -0 where z < 0, +0 where z > 0, so A1's minimum and maximum
// (0) are tied between signed zeros across lanes. The draw-order loop keeps
// the first, which the lanes cannot tell: the batched block falls back to
// accumulate_block (combine_extreme), and the tests over all_specs() check
// that its partial is still the scalar one.
DrawSpec spec_signed_zeros() {
  DrawSpec s = spec_regimes();
  s.seed = 5;
  s.dist[S_A1] = dist(DistKind::normal, -0.0, 0.0);
  return s;
}

// ---- Gaussian copula (DrawSpec::copula) ----

struct Corr {
  int i, j;
  double r;
};

// spec with its copula set from the listed correlations (unit diagonal).
DrawSpec correlate(DrawSpec spec, std::initializer_list<Corr> pairs) {
  double r[kNumSlots][kNumSlots] = {};
  for (int k = 0; k < kNumSlots; ++k) r[k][k] = 1.0;
  for (const Corr& c : pairs) r[c.i][c.j] = r[c.j][c.i] = c.r;
  if (!set_copula(spec, r)) ADD_FAILURE() << "correlation matrix not positive definite";
  return spec;
}

// One correlated slot per marginal the copula supports: uniform, normal (some
// b <= 0), truncnormal containing its mean, lognormal, reflected truncnormal
// (A2_gap), triangular; a dense matrix with signs of both kinds.
DrawSpec spec_copula_marginals() {
  DrawSpec s;
  s.seed = 2024;
  s.dist[S_a] = dist(DistKind::uniform, 2, 14);
  s.dist[S_b] = dist(DistKind::normal, 0.6, 0.5);
  s.dist[S_c] = dist(DistKind::truncnormal, 2, 0.5, 1, 2.6);
  s.dist[S_A1] = dist(DistKind::lognormal, 0, 0.8);
  s.dist[S_A2] = dist(DistKind::truncnormal, 0, 1, 0.5, 3);
  s.dist[S_A2p] = dist(DistKind::triangular, -2, 1, 6);
  s.a2_is_gap = true;
  return correlate(s, {{S_a, S_b, -0.4},
                       {S_a, S_c, 0.3},
                       {S_a, S_A1, 0.25},
                       {S_a, S_A2, 0.5},
                       {S_a, S_A2p, -0.2},
                       {S_b, S_c, 0.35},
                       {S_b, S_A1, -0.2},
                       {S_b, S_A2p, 0.2},
                       {S_c, S_A2, -0.3},
                       {S_c, S_A2p, 0.15},
                       {S_A1, S_A2, 0.2},
                       {S_A1, S_A2p, -0.3},
                       {S_A2, S_A2p, 0.1}});
}

// Paper mode, overflowing parameters (A1) and outputs (b), a truncnormal so
// far out that Phi cannot separate its bounds (uniform fallback), one without
// per-run constants, an uncorrelated beta theta, a correlation of 0.999.
DrawSpec spec_copula_tails() {
  DrawSpec s;
  s.seed = 0xfedcba9876543210ull;
  s.stream = 3;
  s.mode = ModelMode::paper;
  s.dist[S_a] = dist(DistKind::triangular, -3, 5, 6);
  s.dist[S_b] = dist(DistKind::lognormal, 0, 150);
  s.dist[S_c] = dist(DistKind::truncnormal, 0, 0.01, 0.4, 0.5);  // 40 to 50 sd out
  s.dist[S_A1] = dist(DistKind::lognormal, 0, 290);
  s.dist[S_A2] = dist(DistKind::truncnormal, 2, 0.5, 1, 3);
  s.dist[S_A2].has_derived = false;
  s.dist[S_A2p] = dist(DistKind::beta, 0.3, 0.5, 0, 1);
  s.a2_is_gap = true;
  s.a2p_is_theta = true;
  return correlate(s, {{S_a, S_c, 0.999}, {S_b, S_A1, -0.6}, {S_A1, S_A2, 0.4}, {S_b, S_A2, 0.2}});
}

DrawSpec correlated_spec() {
  return load_config(std::string(SPILLMC_SOURCE_DIR) + "/configs/correlated.yaml").draw_spec();
}

// The bundled correlated config with correlated slots fixed, as in a sweep
// cell: a (its pair partner b still sampled), and c and A1, a whole Philox
// pair, whose scores still enter b's and A2_gap's.
DrawSpec spec_copula_fixed() {
  DrawSpec s = correlated_spec();
  s.dist[S_a] = dist(DistKind::fixed, 10.5);
  s.dist[S_c] = dist(DistKind::fixed, 2.1);
  s.dist[S_A1] = dist(DistKind::fixed, 1.2);
  return s;
}

// Betas by order statistics (distributions.hpp): K = min(alpha, beta) from 1
// to 8, from both ends (alpha > beta keeps the largest), with odd and even
// numbers of extra uniforms; one just past the limit takes the gamma ratio.
DrawSpec spec_integer_betas() {
  DrawSpec s;
  s.seed = 77;
  s.dist[S_a] = dist(DistKind::beta, 2, 2, 8, 12);
  s.dist[S_b] = dist(DistKind::beta, 7, 3, 0.5, 1.5);
  s.dist[S_c] = dist(DistKind::beta, 8, 8, 1, 3);
  s.dist[S_A1] = dist(DistKind::beta, 1, 15, 0, 2);
  s.dist[S_A2] = dist(DistKind::beta, 9, 8, 0, 4);
  s.dist[S_A2p] = dist(DistKind::beta, 5, 1, 0, 1);
  s.a2_is_gap = true;
  s.a2p_is_theta = true;
  return s;
}

struct Named {
  const char* name;
  DrawSpec spec;
};

std::vector<Named> all_specs() {
  return {{"baseline", baseline_spec()},
          {"wide", spec_wide()},
          {"tails", spec_tails()},
          {"paper_overflow", spec_paper_overflow()},
          {"regimes", spec_regimes()},
          {"correlated", correlated_spec()},
          {"copula_marginals", spec_copula_marginals()},
          {"copula_tails", spec_copula_tails()},
          {"copula_fixed", spec_copula_fixed()},
          {"integer_betas", spec_integer_betas()},
          {"signed_zeros", spec_signed_zeros()}};
}

bool same(double a, double b) {
  return (a != a && b != b) || std::memcmp(&a, &b, sizeof a) == 0;
}

bool same_tally(const Tally& a, const Tally& b) {
  return std::memcmp(&a, &b, sizeof(Tally)) == 0;
}

// Every draw of [first, first + n) against evaluate_draw; returns the reasons seen.
void expect_draws_identical(const DrawSpec& spec, BatchIsa isa, std::uint64_t first,
                            std::uint64_t n, const char* name, std::uint64_t seen[4]) {
  std::vector<Outcome> out(n);
  std::vector<int> reason(n);
  evaluate_draws_batched(spec, first, n, out.data(), reason.data(), isa);
  int failures = 0;
  for (std::uint64_t i = 0; i < n && failures < 5; ++i) {
    Outcome o;
    const int r = evaluate_draw(spec, first + i, o);
    ++seen[r + 1];
    const Outcome& b = out[i];
    bool ok = r == reason[i];
    for (int f = 0; f < kNumParams; ++f) ok = ok && same(o.v[f], b.v[f]);
    if (ok && (r < 0 || r == I_nonfinite_output)) {
      for (int f = kNumParams; f < kNumFields; ++f) ok = ok && same(o.v[f], b.v[f]);
      ok = ok && o.regime2 == b.regime2 && o.regime_up == b.regime_up &&
           o.a2crit_defined == b.a2crit_defined;
      for (int e = 0; e < kNumEvents; ++e) ok = ok && o.event[e] == b.event[e];
    }
    if (!ok) {
      ++failures;
      ADD_FAILURE() << name << " isa " << static_cast<int>(isa) << ": draw " << first + i
                    << " differs (reason " << r << " vs " << reason[i] << ")";
    }
  }
}

// Exact (long double, two-pass) m2 of one field over a block's valid draws.
long double exact_m2(const DrawSpec& spec, std::uint64_t total, std::uint64_t k, int f) {
  std::vector<long double> x;
  for (std::uint64_t i = 0; i < block_length(total, k); ++i) {
    Outcome o;
    if (evaluate_draw(spec, k * kBlockDraws + i, o) < 0 && (f != F_A2_crit || o.a2crit_defined))
      x.push_back(o.v[f]);
  }
  long double mean = 0, m2 = 0;
  for (long double v : x) mean += v;
  mean /= static_cast<long double>(x.size());
  for (long double v : x) m2 += (v - mean) * (v - mean);
  return m2;
}

// Moments to rounding. m2 comes from shifted sums (s2 - s1 d), which cancel
// when a block's shift lies far out; where the two paths then differ by more
// than 1e-12, the batched m2 must be no further from the exact value than the
// scalar one is (plus 1e-12).
void expect_moments_close(const Moments& a, const Moments& b, const std::string& what,
                          const DrawSpec& spec, std::uint64_t total, std::uint64_t k, int f) {
  ASSERT_EQ(a.n, b.n) << what;
  EXPECT_TRUE(same(a.min, b.min)) << what << " min " << a.min << " vs " << b.min;
  EXPECT_TRUE(same(a.max, b.max)) << what << " max " << a.max << " vs " << b.max;
  if (a.n == 0) return;
  // Sums that overflow (the overflow specs) do so on both paths.
  if (!std::isfinite(a.value()) || !std::isfinite(b.value()) || !std::isfinite(a.m2) ||
      !std::isfinite(b.m2)) {
    EXPECT_EQ(std::isfinite(a.value()), std::isfinite(b.value())) << what << " mean";
    EXPECT_EQ(std::isfinite(a.m2), std::isfinite(b.m2)) << what << " m2";
    return;
  }
  const double spread = a.max - a.min;
  const double va = a.value(), vb = b.value();
  EXPECT_LE(std::fabs(va - vb), 1e-12 * std::max(std::fabs(va), spread)) << what << " mean";
  const double tol = 1e-12 * std::max(a.m2, 1e-300) + 1e-300;
  if (std::fabs(a.m2 - b.m2) <= tol) return;
  const long double exact = exact_m2(spec, total, k, f);
  const long double err_scalar = std::fabs(static_cast<long double>(a.m2) - exact);
  const long double err_batched = std::fabs(static_cast<long double>(b.m2) - exact);
  EXPECT_LE(err_batched, err_scalar + tol) << what << " m2 " << a.m2 << " vs " << b.m2;
  std::printf("%s: m2 differs by %.2g relative; error vs exact: scalar %.2Lg, batched %.2Lg\n",
              what.c_str(), std::fabs(a.m2 - b.m2) / a.m2, err_scalar / exact, err_batched / exact);
}

void expect_block_matches(const Tally& ref, const Tally& t, const std::string& what,
                          const DrawSpec& spec, std::uint64_t total, std::uint64_t k) {
  EXPECT_EQ(ref.draws, t.draws) << what;
  EXPECT_EQ(ref.valid, t.valid) << what;
  EXPECT_EQ(ref.a2crit_undefined, t.a2crit_undefined) << what;
  for (int i = 0; i < kNumInvalid; ++i) EXPECT_EQ(ref.invalid[i], t.invalid[i]) << what;
  for (int e = 0; e < kNumEvents; ++e) EXPECT_EQ(ref.events[e], t.events[e]) << what;
  for (int r = 0; r < kNumRegimes; ++r) {
    EXPECT_EQ(ref.regime2[r], t.regime2[r]) << what;
    EXPECT_EQ(ref.regime_up[r], t.regime_up[r]) << what;
  }
  for (int f = 0; f < kNumFields; ++f)
    expect_moments_close(ref.field[f], t.field[f], what + " field " + kFieldNames[f], spec, total,
                         k, f);
}

}  // namespace

TEST(CpuBatch, PhiloxAndUniformsMatchDrawRng) {
  // Uniform draws of all six slots are the parameters themselves.
  DrawSpec s;
  s.seed = 0xfedcba9876543210ull;
  s.stream = 0xdeadbeef;
  for (int k = 0; k < kNumSlots; ++k) s.dist[k] = dist(DistKind::uniform, 0, 1);
  const std::uint64_t first = (1ull << 32) - 13;  // index crosses into the high word
  const std::uint64_t n = 64;
  std::vector<Outcome> out(n);
  std::vector<int> reason(n);
  for (BatchIsa isa : kIsas) {
    if (!batch_isa_supported(isa)) continue;
    evaluate_draws_batched(s, first, n, out.data(), reason.data(), isa);
    for (std::uint64_t i = 0; i < n; ++i) {
      const DrawRng rng{s.seed, first + i, s.stream};
      for (std::uint32_t pair = 0; pair < 3; ++pair) {
        double u0, u1;
        rng.uniform2(pair, u0, u1);
        ASSERT_TRUE(same(u0, out[i].v[2 * pair])) << i;
        ASSERT_TRUE(same(u1, out[i].v[2 * pair + 1])) << i;
      }
    }
  }
}

TEST(CpuBatch, EveryDrawIdenticalToScalar) {
  for (const Named& s : all_specs()) {
    for (BatchIsa isa : kIsas) {
      if (!batch_isa_supported(isa)) continue;
      std::uint64_t seen[4] = {};
      expect_draws_identical(s.spec, isa, 0, 100003, s.name, seen);
      expect_draws_identical(s.spec, isa, 0xffffffffull - 40, 100, s.name, seen);
      if (isa == BatchIsa::generic)
        std::printf(
            "%-15s valid %llu, nonfinite_parameter %llu, b_nonpositive %llu, "
            "nonfinite_output %llu\n",
            s.name, static_cast<unsigned long long>(seen[0]),
            static_cast<unsigned long long>(seen[1]), static_cast<unsigned long long>(seen[2]),
            static_cast<unsigned long long>(seen[3]));
    }
  }
}

TEST(CpuBatch, SpecsReachTheCasesTheyAreFor) {
  // The per-draw test is only as good as the cases its specs produce.
  std::vector<Named> specs = all_specs();
  std::vector<std::array<std::uint64_t, 4>> counts(specs.size());
  for (std::size_t k = 0; k < specs.size(); ++k) {
    counts[k] = {};
    for (std::uint64_t i = 0; i < 20000; ++i) {
      Outcome o;
      ++counts[k][static_cast<std::size_t>(evaluate_draw(specs[k].spec, i, o) + 1)];
    }
    EXPECT_GT(counts[k][0], 1000u) << specs[k].name;
    EXPECT_EQ(specs[k].spec.copula, k >= 5 && k <= 8) << specs[k].name;
  }
  EXPECT_GT(counts[1][1 + I_b_nonpositive], 100u);        // wide
  EXPECT_GT(counts[3][1 + I_nonfinite_parameter], 100u);  // paper_overflow
  EXPECT_GT(counts[3][1 + I_nonfinite_output], 100u);     // paper_overflow
  EXPECT_GT(counts[6][1 + I_b_nonpositive], 100u);        // copula_marginals
  EXPECT_GT(counts[7][1 + I_nonfinite_parameter], 100u);  // copula_tails
  EXPECT_GT(counts[7][1 + I_nonfinite_output], 100u);     // copula_tails
  // signed_zeros: valid draws with A1 = -0 and with A1 = +0, early in the block.
  int zeros[2] = {};
  for (std::uint64_t i = 0; i < 64; ++i) {
    Outcome o;
    if (evaluate_draw(specs[10].spec, i, o) < 0 && o.v[F_A1] == 0.0)
      ++zeros[std::signbit(o.v[F_A1]) ? 1 : 0];
  }
  EXPECT_GT(zeros[0], 5) << specs[10].name;
  EXPECT_GT(zeros[1], 5) << specs[10].name;

  // The truncnormal branches the copula specs are meant to reach.
  const DrawSpec m = spec_copula_marginals(), t = spec_copula_tails();
  EXPECT_FALSE(trunc_interval(m.dist[S_c]).flip);
  EXPECT_TRUE(trunc_interval(m.dist[S_A2]).flip);
  EXPECT_EQ(t.dist[S_c].d0, t.dist[S_c].d1);  // Phi cannot separate the bounds
  for (int k = 0; k < kNumSlots; ++k) {
    EXPECT_TRUE(m.correlated[k]) << k;
    EXPECT_EQ(t.correlated[k], k != S_A2p) << k;  // theta (beta) left out
  }
  // The fixed slots are still correlated, and pair (c, A1) is entirely fixed.
  const DrawSpec f = spec_copula_fixed();
  for (int k : {S_a, S_c, S_A1}) {
    EXPECT_TRUE(f.correlated[k]) << k;
    EXPECT_EQ(f.dist[k].kind, DistKind::fixed) << k;
  }
}

TEST(CpuBatch, BlocksMatchAccumulateBlock) {
  const std::uint64_t total = 3 * kBlockDraws + 777;
  for (const Named& s : all_specs()) {
    for (std::uint64_t k = 0; k < 4; ++k) {
      const Tally ref = accumulate_block(s.spec, total, k);
      const Tally t = accumulate_block_batched(s.spec, total, k);
      expect_block_matches(ref, t, std::string(s.name) + " block " + std::to_string(k), s.spec,
                           total, k);
    }
  }
}

// The batched path finds a block's shifts while it goes (ShiftFinder) rather
// than by block_shift's scan. Where they lie far into the block and a wrong one
// would cancel the variance away (harness.hpp; CudaTestSpecs.SparseOffset-
// NeedsTheBlockShift shows that it would), the partials still match.
TEST(CpuBatch, SparseBlocksFindTheScalarShifts) {
  const DrawSpec spec = spillmc_test::sparse_offset_spec(23);
  for (BatchIsa isa : kIsas) {
    if (!batch_isa_supported(isa)) continue;
    for (const std::uint64_t total :
         {std::uint64_t{1}, std::uint64_t{1000}, std::uint64_t{5000}, 3 * kBlockDraws + 777}) {
      for (std::uint64_t k = 0; k * kBlockDraws < total; ++k) {
        const Tally ref = accumulate_block(spec, total, k);
        const Tally t = accumulate_block_batched(spec, total, k, isa);
        expect_block_matches(ref, t,
                             std::string(batch_isa_name(isa)) + " total " + std::to_string(total) +
                                 " block " + std::to_string(k),
                             spec, total, k);
      }
    }
  }
}

TEST(CpuBatch, ShortAndEmptyBlocks) {
  for (const DrawSpec& spec : {spec_wide(), spec_copula_marginals()}) {
    for (std::uint64_t total : {0ull, 1ull, 7ull, 9ull, 65ull, 1000ull}) {
      const Tally ref = accumulate_block(spec, total, 0);
      const Tally t = accumulate_block_batched(spec, total, 0);
      expect_block_matches(ref, t, "total " + std::to_string(total), spec, total, 0);
    }
  }
}

namespace {

struct Seen {
  std::uint64_t index;
  int reason;
  Outcome o;
};

struct Recorder : DrawVisitor {
  std::vector<Seen> seen;
  void visit(std::uint64_t index, int reason, const Outcome& o) override {
    seen.push_back({index, reason, o});
  }
};

}  // namespace

// The analyses' path: a visitor sees every draw of the block in draw order,
// with the scalar path's index, reason and outcome, and the partial is the
// one computed without a visitor.
TEST(CpuBatch, VisitorSeesTheScalarDraws) {
  const std::uint64_t total = kBlockDraws + 1001;  // a full block and a short one
  for (const Named& s : all_specs()) {
    for (std::uint64_t k = 0; k < 2; ++k) {
      Recorder scalar;
      (void)accumulate_block(s.spec, total, k, &scalar);
      for (BatchIsa isa : kIsas) {
        if (!batch_isa_supported(isa)) continue;
        const std::string what = std::string(s.name) + " block " + std::to_string(k) + " isa " +
                                 std::to_string(static_cast<int>(isa));
        Recorder batched;
        const Tally t = accumulate_block_batched(s.spec, total, k, isa, &batched);
        EXPECT_TRUE(same_tally(t, accumulate_block_batched(s.spec, total, k, isa))) << what;
        ASSERT_EQ(batched.seen.size(), scalar.seen.size()) << what;
        int failures = 0;
        for (std::size_t i = 0; i < scalar.seen.size() && failures < 5; ++i) {
          const Seen &a = scalar.seen[i], &b = batched.seen[i];
          bool ok = a.index == b.index && a.reason == b.reason;
          for (int f = 0; f < kNumParams; ++f) ok = ok && same(a.o.v[f], b.o.v[f]);
          if (ok && (a.reason < 0 || a.reason == I_nonfinite_output)) {
            for (int f = kNumParams; f < kNumFields; ++f) ok = ok && same(a.o.v[f], b.o.v[f]);
            ok = ok && a.o.regime2 == b.o.regime2 && a.o.regime_up == b.o.regime_up &&
                 a.o.a2crit_defined == b.o.a2crit_defined;
            for (int e = 0; e < kNumEvents; ++e) ok = ok && a.o.event[e] == b.o.event[e];
          }
          if (!ok) {
            ++failures;
            ADD_FAILURE() << what << ": visit " << i << " (draw " << a.index << ") differs";
          }
        }
      }
    }
  }
}

TEST(CpuBatch, DeterministicAndSameBitsOnEveryVariant) {
  const std::uint64_t total = 2 * kBlockDraws + 12345;
  for (const Named& s : all_specs()) {
    for (std::uint64_t k = 0; k < 3; ++k) {
      const Tally ref = accumulate_block_batched(s.spec, total, k, BatchIsa::generic);
      EXPECT_TRUE(same_tally(ref, accumulate_block_batched(s.spec, total, k, BatchIsa::generic)));
      for (BatchIsa isa : {BatchIsa::best, BatchIsa::avx2, BatchIsa::avx512}) {
        if (!batch_isa_supported(isa)) continue;
        EXPECT_TRUE(same_tally(ref, accumulate_block_batched(s.spec, total, k, isa)))
            << s.name << " block " << k << " isa " << static_cast<int>(isa);
      }
    }
  }
}

namespace {

// Histograms for a spec that reach every case of hist_slot: for each field, a 1000-bin axis from
// a pilot of 200 draws (narrow: many under- and overflows, extreme values included); then axes
// whose ends are draws' own values (exactly on lo and on hi), a one-bin axis for A2_crit (its
// undefined draws must not count) and a fine axis (many edge corrections).
AnalysisSpec histogram_spec(const DrawSpec& spec) {
  AnalysisSpec a;
  std::vector<std::vector<double>> pilot(kNumFields);
  for (std::uint64_t i = 0; i < 2000 && pilot[F_a].size() < 200; ++i) {
    Outcome o;
    if (evaluate_draw(spec, 3 * i + 1, o) >= 0) continue;
    for (int f = 0; f < kNumFields; ++f)
      if (f != F_A2_crit || o.a2crit_defined) pilot[f].push_back(o.v[f]);
  }
  for (int f = 0; f < kNumFields; ++f) {
    a.hist_fields.push_back(f);
    a.hist_axes.push_back(pilot_axis(pilot[f].data(), pilot[f].size(), 1000));
  }
  for (int f : {F_a, F_A1, F_p12}) {
    Outcome o0, o1;
    int i = 0;
    while (evaluate_draw(spec, static_cast<std::uint64_t>(i), o0) >= 0) ++i;
    ++i;
    while (evaluate_draw(spec, static_cast<std::uint64_t>(i), o1) >= 0) ++i;
    const double x0 = std::min(o0.v[f], o1.v[f]), x1 = std::max(o0.v[f], o1.v[f]);
    if (!(x0 < x1)) continue;  // a fixed parameter
    a.hist_fields.push_back(f);
    a.hist_axes.push_back(make_hist_axis(x0, x1, 7));
  }
  a.hist_fields.push_back(F_A2_crit);
  a.hist_axes.push_back(make_hist_axis(-1e300, 1e300, 1));
  a.hist_fields.push_back(F_pi22);
  a.hist_axes.push_back(make_hist_axis(0.0, 1.0 / 3.0, 1 << 20));
  a.hist_from_pilot.assign(a.hist_fields.size(), false);
  return a;
}

Extra block_extra(const AnalysisSpec& a, const DrawSpec& spec, std::uint64_t total, std::uint64_t k,
                  BatchIsa isa, bool scalar, DrawBatch* batch) {
  if (batch) batch->reset(a.draws.fields.size());
  BlockAnalysis analysis(a, spec, batch);
  if (scalar)
    (void)accumulate_block(spec, total, k, &analysis);
  else
    (void)accumulate_block_batched(spec, total, k, isa, &analysis);
  Extra x;
  analysis.finish(x);
  return x;
}

std::vector<unsigned char> extra_bytes(const Extra& x) {
  std::vector<unsigned char> b(x.byte_size());
  x.to_bytes(b.data());
  return b;
}

}  // namespace

// The histograms the batched path bins itself, over lanes: the counts of every block equal those
// of BlockAnalysis fed draw by draw by the scalar path (hist_slot per value), on every variant.
TEST(CpuBatch, HistogramCountsEqualScalarOnEveryVariant) {
  const std::uint64_t total = kBlockDraws + 1001;  // a full block and a short one
  for (const Named& s : all_specs()) {
    const AnalysisSpec a = histogram_spec(s.spec);
    for (std::uint64_t k = 0; k < 2; ++k) {
      const Extra ref = block_extra(a, s.spec, total, k, BatchIsa::generic, true, nullptr);
      std::uint64_t under = 0, over = 0, total_counts = 0;
      std::size_t off = 0;
      for (const HistAxis& ax : a.hist_axes) {
        under += ref.hist[off];
        over += ref.hist[off + static_cast<std::size_t>(ax.bins) + 1];
        off += static_cast<std::size_t>(hist_slot_count(ax));
      }
      for (std::uint64_t c : ref.hist) total_counts += c;
      EXPECT_GT(under, 0u) << s.name;
      EXPECT_GT(over, 0u) << s.name;
      for (BatchIsa isa : kIsas) {
        if (!batch_isa_supported(isa)) continue;
        const Extra x = block_extra(a, s.spec, total, k, isa, false, nullptr);
        ASSERT_EQ(x.hist.size(), ref.hist.size());
        std::size_t differ = 0;
        for (std::size_t i = 0; i < ref.hist.size(); ++i) differ += x.hist[i] != ref.hist[i];
        EXPECT_EQ(differ, 0u) << s.name << " block " << k << " isa " << static_cast<int>(isa)
                              << " (" << total_counts << " counts)";
      }
    }
  }
}

// Histograms with conditions, paths and per-draw output: the batched path bins the histograms
// and visits each draw for the rest; the whole Extra (bytes) and the per-draw rows equal the
// scalar path's.
TEST(CpuBatch, AnalysesWithHistogramsGiveTheScalarExtras) {
  const Config cfg = load_config(std::string(SPILLMC_SOURCE_DIR) + "/configs/paths.yaml");
  const std::uint64_t total = kBlockDraws + 333;
  // others = false: histograms and paths only, which the batched path does itself,
  // so that it calls no visit() at all.
  for (const Named& s : all_specs()) {
    for (const bool others : {true, false}) {
      AnalysisSpec a = histogram_spec(s.spec);
      a.paths = paths_spec(cfg);
      if (others) {
        a.conditions = {Condition{E_leader_gains, false}, Condition{E_follower_active, true}};
        a.draws.select = DrawSelect::every;
        a.draws.n = 5;
        for (int f = 0; f < kNumFields; ++f) a.draws.fields.push_back(f);
      }
      for (std::uint64_t k = 0; k < 2; ++k) {
        DrawBatch ref_batch;
        const Extra ref = block_extra(a, s.spec, total, k, BatchIsa::generic, true,
                                      others ? &ref_batch : nullptr);
        ASSERT_EQ(ref_batch.index.empty(), !others);
        ASSERT_GT(ref.path_best.size(), 0u);
        for (BatchIsa isa : kIsas) {
          if (!batch_isa_supported(isa)) continue;
          const std::string what = std::string(s.name) + " block " + std::to_string(k) + " isa " +
                                   std::to_string(static_cast<int>(isa)) +
                                   (others ? "" : " (histograms and paths only)");
          DrawBatch batch;
          const Extra x = block_extra(a, s.spec, total, k, isa, false, others ? &batch : nullptr);
          EXPECT_TRUE(extra_bytes(x) == extra_bytes(ref)) << what;
          EXPECT_EQ(batch.index, ref_batch.index) << what;
          EXPECT_EQ(batch.status, ref_batch.status) << what;
          EXPECT_EQ(batch.regime2, ref_batch.regime2) << what;
          ASSERT_EQ(batch.values.size(), ref_batch.values.size()) << what;
          for (std::size_t f = 0; f < batch.values.size(); ++f) {
            ASSERT_EQ(batch.values[f].size(), ref_batch.values[f].size()) << what;
            EXPECT_EQ(std::memcmp(batch.values[f].data(), ref_batch.values[f].data(),
                                  batch.values[f].size() * sizeof(double)),
                      0)
                << what << " field " << f;
          }
        }
      }
    }
  }
}
