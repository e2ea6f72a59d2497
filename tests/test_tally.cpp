// Streaming statistics: against two-pass computations, at a large offset, at
// the scale of 1e9 draws, and bit-identical across thread counts and chunking.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "spillmc/backend.hpp"
#include "spillmc/run.hpp"
#include "spillmc/tally.hpp"

using namespace spillmc;

namespace {

DrawSpec wide_spec(std::uint64_t seed = 11) {
  DrawSpec s;
  s.seed = seed;
  s.dist[S_a] = {DistKind::uniform, 2, 14};
  s.dist[S_b] = {DistKind::normal, 0.6, 0.5};  // some b <= 0: invalid draws
  s.dist[S_c] = {DistKind::uniform, 0, 6};
  s.dist[S_A1] = {DistKind::normal, 0, 3};
  s.dist[S_A2] = {DistKind::normal, 1, 6};
  s.dist[S_A2p] = {DistKind::uniform, 0, 1};
  s.a2p_is_theta = true;
  return s;
}

bool same_bits(const Tally& a, const Tally& b) {
  return std::memcmp(&a, &b, sizeof(Tally)) == 0;
}

}  // namespace

TEST(Tally, MatchesTwoPassStatisticsAndExactCounts) {
  const DrawSpec spec = wide_spec();
  const std::uint64_t n = 3 * kBlockDraws + 1234;
  auto cpu = make_cpu_backend(2);
  const Tally t = run_blocks(*cpu, spec, n);

  // Reference: every draw evaluated again, two-pass in long double.
  std::vector<std::vector<double>> vals(kNumFields);
  std::uint64_t invalid[kNumInvalid] = {}, events[kNumEvents] = {}, reg2[kNumRegimes] = {},
                regu[kNumRegimes] = {}, undefined = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    Outcome o;
    const int r = evaluate_draw(spec, i, o);
    if (r >= 0) {
      ++invalid[r];
      continue;
    }
    for (int f = 0; f < kNumFields; ++f)
      if (f != F_A2_crit || o.a2crit_defined) vals[f].push_back(o.v[f]);
    undefined += o.a2crit_defined ? 0 : 1;
    for (int e = 0; e < kNumEvents; ++e) events[e] += o.event[e];
    ++reg2[o.regime2];
    ++regu[o.regime_up];
  }
  EXPECT_EQ(t.draws, n);
  EXPECT_GT(t.invalid[I_b_nonpositive], 0u);
  for (int r = 0; r < kNumInvalid; ++r) EXPECT_EQ(t.invalid[r], invalid[r]);
  for (int e = 0; e < kNumEvents; ++e) EXPECT_EQ(t.events[e], events[e]) << kEventNames[e];
  for (int r = 0; r < kNumRegimes; ++r) {
    EXPECT_EQ(t.regime2[r], reg2[r]);
    EXPECT_EQ(t.regime_up[r], regu[r]);
    EXPECT_GT(t.regime2[r], 0u) << "regime " << r << " never seen; widen the spec";
  }
  EXPECT_EQ(t.a2crit_undefined, undefined);
  std::uint64_t inv_sum = 0;
  for (auto c : t.invalid) inv_sum += c;
  EXPECT_EQ(t.valid + inv_sum, t.draws);
  for (int f = 0; f < kNumFields; ++f) {
    SCOPED_TRACE(kFieldNames[f]);
    const auto& v = vals[f];
    ASSERT_EQ(t.field[f].n, v.size());
    long double s = 0;
    for (double x : v) s += x;
    const long double mean = s / v.size();
    long double m2 = 0;
    for (double x : v) m2 += (x - mean) * (x - mean);
    const double scale = std::sqrt(static_cast<double>(m2 / v.size())) + 1e-300;
    EXPECT_NEAR(t.field[f].value(), static_cast<double>(mean),
                1e-12 * scale + 1e-15 * std::fabs(static_cast<double>(mean)));
    EXPECT_NEAR(t.field[f].m2 / static_cast<double>(m2), 1.0, 1e-10);
    EXPECT_EQ(t.field[f].min, *std::min_element(v.begin(), v.end()));
    EXPECT_EQ(t.field[f].max, *std::max_element(v.begin(), v.end()));
  }
}

TEST(Tally, BitIdenticalForAnyThreadCountAndChunkSize) {
  const DrawSpec spec = wide_spec(3);
  const std::uint64_t n = 9 * kBlockDraws + 17;
  auto one = make_cpu_backend(1);
  auto two = make_cpu_backend(2);
  const Tally ref = run_blocks(*one, spec, n, {}, nullptr, 1);
  for (std::uint64_t chunk : {1ull, 2ull, 4ull, 7ull, 100ull}) {
    EXPECT_TRUE(same_bits(ref, run_blocks(*two, spec, n, {}, nullptr, chunk))) << chunk;
    EXPECT_TRUE(same_bits(ref, run_blocks(*one, spec, n, {}, nullptr, chunk))) << chunk;
  }
  EXPECT_TRUE(same_bits(ref, run_blocks(*two, spec, n)));
  // A different seed is different.
  EXPECT_FALSE(same_bits(ref, run_blocks(*two, wide_spec(4), n)));
}

// Two-level fold over several (small, test-only) segments: blocks in order
// within a segment, segments in order; any chunking crossing segment borders
// and any split into segment ranges gives the same bits.
TEST(Tally, SegmentFoldIsFixedForAnyChunkAndRange) {
  const DrawSpec spec = wide_spec(11);
  const std::uint64_t sb = 3;                        // blocks per segment (program: 1024)
  const std::uint64_t n = 10 * kBlockDraws + 12345;  // 11 blocks: segments 3, 3, 3, 2
  ASSERT_EQ(segment_count(n, sb), 4u);
  EXPECT_EQ(segment_draws(n, 3, sb), kBlockDraws + 12345);
  EXPECT_EQ(segment_draws(n, 4, sb), 0u);
  // The reference, block by block.
  std::vector<Tally> want;
  for (std::uint64_t s = 0; s < 4; ++s) {
    Tally seg;
    for (std::uint64_t k = s * sb; k < std::min((s + 1) * sb, block_count(n)); ++k)
      seg.merge(accumulate_block(spec, n, k));
    want.push_back(seg);
  }
  auto two = make_cpu_backend(2);
  for (std::uint64_t chunk : {1ull, 2ull, 4ull, 5ull, 7ull, 100ull}) {
    const std::vector<Tally> got = run_segments(*two, spec, n, 0, 4, {}, nullptr, chunk, sb);
    ASSERT_EQ(got.size(), 4u);
    for (std::size_t s = 0; s < 4; ++s) {
      // The batched CPU path and the scalar reference agree on counts, and on
      // moments to rounding; the fold order is what is fixed.
      EXPECT_EQ(got[s].draws, want[s].draws);
      EXPECT_EQ(got[s].valid, want[s].valid);
    }
    // Ranges [0,1) + [1,3) + [3,4) concatenated equal the whole, bit for bit.
    std::vector<Tally> parts = run_segments(*two, spec, n, 0, 1, {}, nullptr, chunk, sb);
    for (const Tally& t : run_segments(*two, spec, n, 1, 3, {}, nullptr, chunk, sb))
      parts.push_back(t);
    for (const Tally& t : run_segments(*two, spec, n, 3, 9, {}, nullptr, chunk, sb))
      parts.push_back(t);
    ASSERT_EQ(parts.size(), 4u);
    for (std::size_t s = 0; s < 4; ++s) EXPECT_TRUE(same_bits(got[s], parts[s])) << s;
    const Tally ref = fold_segments(run_segments(*two, spec, n, 0, 4, {}, nullptr, 1, sb));
    EXPECT_TRUE(same_bits(ref, fold_segments(parts))) << chunk;
  }
  // With the program's segment size, run_blocks is the fold of its segments.
  const Tally all = run_blocks(*two, spec, n, {}, nullptr, 3);
  EXPECT_TRUE(same_bits(all, fold_segments(run_segments(*two, spec, n, 0, 1, {}, nullptr, 5))));
  EXPECT_TRUE(run_segments(*two, spec, n, 1, 2).empty());
}

namespace {
// a ~ normal(1e8, 1), b as given, the rest fixed at the worked example.
DrawSpec offset_spec(std::uint64_t seed, Dist b) {
  DrawSpec spec;
  spec.seed = seed;
  spec.dist[S_a] = {DistKind::normal, 1e8, 1.0};
  spec.dist[S_b] = b;
  spec.dist[S_c] = {DistKind::fixed, 2};
  spec.dist[S_A1] = {DistKind::fixed, 1};
  spec.dist[S_A2] = {DistKind::fixed, 2};
  spec.dist[S_A2p] = {DistKind::fixed, 1.5};
  return spec;
}
}  // namespace

TEST(Tally, LargeOffsetKeepsFullPrecision) {
  // Mean 1e8, spread 1: naive sum-of-squares would lose every digit of the variance.
  const DrawSpec spec = offset_spec(5, {DistKind::fixed, 1});
  const std::uint64_t n = 5 * kBlockDraws;
  auto cpu = make_cpu_backend(2);
  const Tally t = run_blocks(*cpu, spec, n);
  long double s = 0;
  std::vector<double> a(n);
  for (std::uint64_t i = 0; i < n; ++i) s += a[i] = sample_params(spec, i).a;
  const long double mean = s / n;
  long double m2 = 0;
  for (double x : a) m2 += (x - mean) * (x - mean);
  EXPECT_NEAR(t.field[F_a].value() - 1e8, static_cast<double>(mean - 1e8L), 1.5e-8);
  EXPECT_NEAR(t.field[F_a].m2 / static_cast<double>(m2), 1.0, 1e-9);
  const SummaryStats st = summarize(t.field[F_a]);
  EXPECT_NEAR(st.std, 1.0, 0.01);
}

// A block whose first draws are all invalid still takes its shift from a valid
// draw: with a shift of 0, values at 1e8 would lose their variance (this once
// gave std 1.18 for sd 1 with 1 % of draws valid).
TEST(Tally, LargeOffsetKeepsFullPrecisionWhenFewDrawsAreValid) {
  const DrawSpec spec = offset_spec(1, {DistKind::uniform, -99, 1});  // 1 % valid
  const std::uint64_t n = 8 * kBlockDraws;
  auto cpu = make_cpu_backend(2);
  const Tally t = run_blocks(*cpu, spec, n);
  std::vector<double> a;
  bool some_block_starts_invalid = false;
  for (std::uint64_t i = 0; i < n; ++i) {
    Outcome o;
    const bool valid = evaluate_draw(spec, i, o) < 0;
    if (i % kBlockDraws == 0 && !valid) {
      bool any = false;  // any valid among the block's first 64 draws
      for (std::uint64_t j = i; j < i + 64; ++j) any = any || evaluate_draw(spec, j, o) < 0;
      some_block_starts_invalid = some_block_starts_invalid || !any;
    }
    if (valid) a.push_back(sample_params(spec, i).a);
  }
  ASSERT_TRUE(some_block_starts_invalid) << "the case needs a block with 64 invalid draws first";
  ASSERT_EQ(t.valid, a.size());
  long double s = 0;
  for (double x : a) s += x;
  const long double mean = s / a.size();
  long double m2 = 0;
  for (double x : a) m2 += (x - mean) * (x - mean);
  EXPECT_NEAR(t.field[F_a].m2 / static_cast<double>(m2), 1.0, 1e-9);
}

TEST(Tally, ChanMergeAtTheScaleOfABillionDraws) {
  // 15259 blocks of 65536 (about 1e9 draws) with known per-block means and M2,
  // folded in order as run_blocks does; compared with the exact pooled values.
  const int blocks = 15259;
  const double nb = static_cast<double>(kBlockDraws);
  Tally total;
  long double sum = 0, m2_within = 0;
  std::vector<double> means(blocks);
  for (int k = 0; k < blocks; ++k) {
    Tally t;
    Moments& m = t.field[F_a];
    m.n = kBlockDraws;
    m.mean = means[k] = 1e8 + std::sin(k * 0.37);  // offset 1e8, spread ~1
    m.m2 = nb * (1.0 + 0.5 * std::cos(k * 0.11));
    m.min = m.mean - 3;
    m.max = m.mean + 3;
    total.merge(t);
    sum += static_cast<long double>(m.mean) * nb;
    m2_within += m.m2;
  }
  const long double N = static_cast<long double>(blocks) * nb;
  const long double mean = sum / N;
  long double m2_between = 0;
  for (double mu : means) m2_between += nb * (mu - mean) * (mu - mean);
  const Moments& m = total.field[F_a];
  EXPECT_EQ(m.n, static_cast<std::uint64_t>(blocks) * kBlockDraws);
  // Within a few ulps of 1e8 (1.5e-8 each) after 15259 merges.
  EXPECT_NEAR(m.value() - 1e8, static_cast<double>(mean - 1e8L), 3e-8);
  EXPECT_NEAR(m.m2 / static_cast<double>(m2_within + m2_between), 1.0, 1e-9);
}

TEST(Summary, StdSemAndUndefinedCases) {
  Moments m;
  EXPECT_TRUE(std::isnan(summarize(m).mean));
  ShiftedSums s;
  s.shift = 10;
  for (double x : {1.0, 2.0, 4.0}) s.add(x);
  const SummaryStats st = summarize(s.moments());
  EXPECT_EQ(st.count, 3u);
  EXPECT_DOUBLE_EQ(st.mean, 7.0 / 3);
  EXPECT_NEAR(st.std,
              std::sqrt(((1 - 7.0 / 3) * (1 - 7.0 / 3) + (2 - 7.0 / 3) * (2 - 7.0 / 3) +
                         (4 - 7.0 / 3) * (4 - 7.0 / 3)) /
                        2),
              1e-14);
  EXPECT_NEAR(st.sem, st.std / std::sqrt(3.0), 1e-15);
  EXPECT_EQ(st.min, 1.0);
  EXPECT_EQ(st.max, 4.0);
  ShiftedSums one;
  one.add(5);
  EXPECT_TRUE(std::isnan(summarize(one.moments()).std));
}

TEST(Summary, WilsonIntervalMatchesPublishedValues) {
  // Wilson score interval, 95 %: 0/10 -> [0, 0.2775]; 5/10 -> [0.2366, 0.7634]; 10/10 -> [0.7225,
  // 1].
  Proportion p = wilson95(0, 10);
  EXPECT_EQ(p.probability, 0.0);
  EXPECT_EQ(p.ci95_low, 0.0);
  EXPECT_NEAR(p.ci95_high, 0.27753, 5e-5);
  p = wilson95(5, 10);
  EXPECT_NEAR(p.ci95_low, 0.2366, 5e-5);
  EXPECT_NEAR(p.ci95_high, 0.7634, 5e-5);
  p = wilson95(10, 10);
  EXPECT_NEAR(p.ci95_low, 0.72247, 5e-5);
  EXPECT_EQ(p.ci95_high, 1.0);
  EXPECT_TRUE(std::isnan(wilson95(0, 0).probability));
  // Closed form for 0 successes: upper = z^2 / (n + z^2).
  const double z = 1.959963984540054;
  EXPECT_NEAR(wilson95(0, 1000).ci95_high, z * z / (1000 + z * z), 1e-15);
}
