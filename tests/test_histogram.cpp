// Histograms and quantile bounds: every reported bound must contain the exact order statistic
// of the stored values (sorted here), slots must agree with the reported edges bit for bit,
// merging must equal histogramming the concatenation, and the rank rule must match numpy's
// method='inverted_cdf' (values hard-coded from numpy 1.24).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "spillmc/histogram.hpp"

using namespace spillmc;

namespace {

// Exact quantile by the definition: sort, take x_(r), r = ceil(q n) clamped to [1, n]. The rank
// is written out here rather than taken from quantile_rank; the numpy cases check both.
double exact_quantile(const std::vector<double>& sorted, double q) {
  const auto n = sorted.size();
  auto r = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
  r = std::min(std::max<std::size_t>(r, 1), n);
  return sorted[r - 1];
}

// Slot by brute force: the number of computed edges 0..bins-1 that are <= x gives the regular bin;
// x == hi is the last bin, outside values are under/overflow.
int brute_slot(const HistAxis& a, double x) {
  if (x < a.lo) return 0;
  if (x > a.hi) return a.bins + 1;
  if (x == a.hi) return a.bins;
  int k = 0;
  for (int e = 0; e < a.bins; ++e)
    if (hist_edge(a, e) <= x) k = e + 1;
  return k;
}

Histogram fill(const HistAxis& axis, const std::vector<double>& v) {
  Histogram h(axis);
  for (double x : v) h.add(x);
  return h;
}

// Checks every level and a grid of other levels against the sorted data. `in_range_width`:
// when a quantile's slot is a regular bin, its bound must be at most that bin (one bin width).
void check_all_quantiles(const std::vector<double>& data, const HistAxis& axis,
                         const std::string& what) {
  SCOPED_TRACE(what);
  const Histogram h = fill(axis, data);
  std::vector<double> sorted = data;
  std::sort(sorted.begin(), sorted.end());
  const double vmin = sorted.front(), vmax = sorted.back();
  std::vector<double> levels(kQuantileLevels.begin(), kQuantileLevels.end());
  for (int i = 0; i <= 100; ++i) levels.push_back(i / 100.0);
  levels.push_back(0.001);
  levels.push_back(0.999);
  for (double q : levels) {
    const double exact = exact_quantile(sorted, q);
    const QuantileEstimate e = h.quantile(vmin, vmax, q);
    EXPECT_LE(e.lo, exact) << "q=" << q;
    EXPECT_GE(e.hi, exact) << "q=" << q;
    EXPECT_LE(e.lo, e.value) << "q=" << q;
    EXPECT_GE(e.hi, e.value) << "q=" << q;
    const int s = hist_slot(axis, exact);
    if (s >= 1 && s <= axis.bins) {
      // One bin at most: the computed edges of the bin holding the exact quantile.
      EXPECT_LE(e.hi - e.lo, hist_edge(axis, s) - hist_edge(axis, s - 1)) << "q=" << q;
      EXPECT_LE(e.hi - e.lo, axis.width * (1 + 1e-9)) << "q=" << q;
    }
  }
}

std::vector<double> normal_data(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d(3.0, 2.0);
  std::vector<double> v(n);
  for (double& x : v) x = d(g);
  return v;
}

std::vector<double> lognormal_data(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::lognormal_distribution<double> d(0.0, 2.0);
  std::vector<double> v(n);
  for (double& x : v) x = d(g);
  return v;
}

// Integers 0..12 with heavy ties, each landing exactly on a bin edge of [0, 10] with 10 or 20 bins.
std::vector<double> discrete_data(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::poisson_distribution<int> d(4.0);
  std::vector<double> v(n);
  for (double& x : v) x = std::min(12, d(g));
  return v;
}

}  // namespace

TEST(Histogram, RankRuleMatchesNumpyInvertedCdf) {
  // numpy.quantile(x, levels, method='inverted_cdf'), numpy 1.24.2.
  struct Case {
    std::vector<double> x;
    std::vector<double> expected;
  };
  std::vector<double> x10, x100, x200;
  for (int i = 1; i <= 10; ++i) x10.push_back(i);
  for (int i = 1; i <= 100; ++i) x100.push_back(i);
  for (int i = 1; i <= 200; ++i) x200.push_back(i);
  const Case cases[] = {
      {x10, {1, 1, 3, 5, 8, 10, 10}},
      {x100, {1, 5, 25, 50, 75, 95, 99}},
      {x200, {2, 10, 50, 100, 150, 190, 198}},
      {{5, 1, 3, 3, 3, 2, 9}, {1, 1, 2, 3, 5, 9, 9}},
  };
  for (const Case& c : cases) {
    std::vector<double> sorted = c.x;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < kQuantileCount; ++i) {
      const std::uint64_t r = quantile_rank(sorted.size(), kQuantileLevels[i]);
      EXPECT_EQ(sorted[r - 1], c.expected[i]) << "n=" << sorted.size() << " i=" << i;
      EXPECT_EQ(exact_quantile(sorted, kQuantileLevels[i]), c.expected[i]);
    }
  }
  EXPECT_EQ(quantile_rank(7, 0.0), 1u);
  EXPECT_EQ(quantile_rank(7, 1.0), 7u);
}

TEST(Histogram, SlotAgreesWithEdgesOnAwkwardAxes) {
  // Ranges whose width and edges are not representable, large offsets, many bins.
  const HistAxis axes[] = {
      make_hist_axis(0.1, 0.7, 3),
      make_hist_axis(0.1, 0.7, 7),
      make_hist_axis(-1e6, 1e6 + 0.3, 997),
      make_hist_axis(1e15, 1e15 + 1000, 999),
      make_hist_axis(-3.3, 1.0 / 3.0, 1000),
      make_hist_axis(1e-300, 3e-300, 10),
      make_hist_axis(0, 10, 10),
      make_hist_axis(-7, 7, 1),
  };
  std::mt19937_64 g(5);
  for (const HistAxis& a : axes) {
    SCOPED_TRACE("axis [" + std::to_string(a.lo) + ", " + std::to_string(a.hi) + "] bins " +
                 std::to_string(a.bins));
    EXPECT_EQ(hist_edge(a, 0), a.lo);
    EXPECT_EQ(hist_edge(a, a.bins), a.hi);
    // Exactly on every edge and one ulp either side.
    for (int k = 0; k <= a.bins; ++k) {
      const double e = hist_edge(a, k);
      for (double x : {std::nextafter(e, -INFINITY), e, std::nextafter(e, INFINITY)})
        ASSERT_EQ(hist_slot(a, x), brute_slot(a, x)) << "k=" << k << " x=" << x;
      // A value on edge k starts bin k+1 (the last edge belongs to the last bin).
      EXPECT_EQ(hist_slot(a, e), k < a.bins ? k + 1 : a.bins);
    }
    EXPECT_EQ(hist_slot(a, a.hi), a.bins);
    EXPECT_EQ(hist_slot(a, std::nextafter(a.hi, INFINITY)), a.bins + 1);
    EXPECT_EQ(hist_slot(a, a.lo), 1);
    EXPECT_EQ(hist_slot(a, std::nextafter(a.lo, -INFINITY)), 0);
    EXPECT_EQ(hist_slot(a, -INFINITY), 0);
    EXPECT_EQ(hist_slot(a, INFINITY), a.bins + 1);
    // Random values inside and around the range: within the edges of their bin.
    std::uniform_real_distribution<double> u(a.lo - 0.1 * (a.hi - a.lo),
                                             a.hi + 0.1 * (a.hi - a.lo));
    for (int i = 0; i < 20000; ++i) {
      const double x = u(g);
      const int s = hist_slot(a, x);
      if (s == 0) {
        ASSERT_LT(x, a.lo);
      } else if (s == a.bins + 1) {
        ASSERT_GT(x, a.hi);
      } else {
        ASSERT_LE(hist_edge(a, s - 1), x);
        if (s < a.bins)
          ASSERT_LT(x, hist_edge(a, s));
        else
          ASSERT_LE(x, a.hi);
      }
    }
  }
}

TEST(Histogram, SlotOfScaledIndexIsCorrectedWhereNaiveFloorIsWrong) {
  // For [0.1, 0.7] in 3 bins, floor((x - lo) / w) disagrees with the computed edges just below
  // an edge for some x; hist_slot must not. Brute force over the ulps around each edge.
  const HistAxis a = make_hist_axis(0.1, 0.7, 3);
  int naive_wrong = 0;
  for (int k = 1; k < a.bins; ++k) {
    double x = hist_edge(a, k);
    for (int i = 0; i < 64; ++i) x = std::nextafter(x, -INFINITY);
    for (int i = 0; i < 128; ++i, x = std::nextafter(x, INFINITY)) {
      const int naive = static_cast<int>((x - a.lo) * a.inv_width) + 1;
      naive_wrong += naive != brute_slot(a, x);
      ASSERT_EQ(hist_slot(a, x), brute_slot(a, x)) << x;
    }
  }
  // Deterministic IEEE arithmetic: this axis does exercise the correction (one ulp below an
  // edge), so the loop above is a real test of it.
  EXPECT_GT(naive_wrong, 0);
}

// The lane form used by the batched CPU path: hist_slot's slot for every lane, whatever mix of
// lanes a group holds (edges and their neighbours, under/overflow, infinities, NaN, huge and tiny
// values, signed zeros). Groups of 16 as cpu_batch.cpp calls it, and of 3.
TEST(Histogram, SlotsOverLanesEqualHistSlot) {
  const HistAxis axes[] = {
      make_hist_axis(0.1, 0.7, 3),
      make_hist_axis(-1e6, 1e6 + 0.3, 997),
      make_hist_axis(1e15, 1e15 + 1000, 999),
      make_hist_axis(-3.3, 1.0 / 3.0, 1000),
      make_hist_axis(1e-300, 3e-300, 10),
      make_hist_axis(-7, 7, 1),
      make_hist_axis(-1e300, 1e300, kMaxHistBins),
      make_hist_axis(0.0, 1.0, 1 << 20),
  };
  constexpr double kMax = std::numeric_limits<double>::max();
  std::mt19937_64 g(9);
  for (const HistAxis& a : axes) {
    SCOPED_TRACE("axis [" + std::to_string(a.lo) + ", " + std::to_string(a.hi) + "] bins " +
                 std::to_string(a.bins));
    std::vector<double> x = {a.lo,
                             a.hi,
                             -0.0,
                             0.0,
                             kMax,
                             -kMax,
                             INFINITY,
                             -INFINITY,
                             NAN,
                             1e-310,
                             -1e-310,
                             std::nextafter(a.lo, -INFINITY),
                             std::nextafter(a.hi, INFINITY),
                             std::nextafter(a.hi, -INFINITY)};
    // Every edge and one ulp either side (a sample of them on the large axes).
    const int step = std::max(1, a.bins / 4096);
    for (int k = 0; k <= a.bins; k += step) {
      const double e = hist_edge(a, k);
      x.insert(x.end(), {std::nextafter(e, -INFINITY), e, std::nextafter(e, INFINITY)});
    }
    std::uniform_real_distribution<double> u(a.lo - 0.1 * (a.hi - a.lo) * 0.5,
                                             a.hi + 0.1 * (a.hi - a.lo) * 0.5);
    for (int i = 0; i < 20000; ++i) x.push_back(u(g));
    std::shuffle(x.begin(), x.end(), g);
    while (x.size() % 48 != 0) x.push_back(a.lo);
    std::vector<int> s16(x.size()), s3(x.size());
    for (std::size_t i = 0; i < x.size(); i += 16) hist_slots<16>(a, &x[i], &s16[i]);
    for (std::size_t i = 0; i < x.size(); i += 3) hist_slots<3>(a, &x[i], &s3[i]);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const int ref = hist_slot(a, x[i]);
      ASSERT_EQ(s16[i], ref) << "x=" << x[i];
      ASSERT_EQ(s3[i], ref) << "x=" << x[i];
    }
  }
}

TEST(Histogram, BoundsContainExactQuantilesNormal) {
  const auto v = normal_data(200000, 1);
  check_all_quantiles(v, make_hist_axis(-5, 11, 64), "normal, range covers all");
  check_all_quantiles(v, make_hist_axis(2.0, 4.0, 50), "normal, range cuts both tails");
  check_all_quantiles(v, make_hist_axis(-100, 100, 3), "normal, three wide bins");
  check_all_quantiles(v, pilot_axis(v.data(), 65536, 200), "normal, pilot range");
}

TEST(Histogram, BoundsContainExactQuantilesLognormal) {
  const auto v = lognormal_data(200000, 2);
  check_all_quantiles(v, make_hist_axis(0, 50, 1000), "lognormal, linear range");
  check_all_quantiles(v, make_hist_axis(0.5, 2, 30), "lognormal, narrow range");
  check_all_quantiles(v, pilot_axis(v.data(), 65536, 500), "lognormal, pilot range");
}

TEST(Histogram, BoundsContainExactQuantilesDiscreteTies) {
  const auto v = discrete_data(100000, 3);
  check_all_quantiles(v, make_hist_axis(0, 10, 10), "ties on edges, 10 bins");
  check_all_quantiles(v, make_hist_axis(0, 10, 20), "ties on edges, 20 bins");
  check_all_quantiles(v, make_hist_axis(0.5, 6.5, 7), "ties mid-bin");
  check_all_quantiles(v, pilot_axis(v.data(), v.size(), 100), "ties, pilot range");
  // Ties at the edges: the quantile equals an edge value and is exactly representable.
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  const Histogram h = fill(make_hist_axis(0, 10, 10), v);
  const QuantileEstimate med = h.quantile(sorted.front(), sorted.back(), 0.5);
  const double exact = exact_quantile(sorted, 0.5);
  EXPECT_EQ(med.lo, exact);  // an integer value starts its own bin
  EXPECT_EQ(med.hi, exact + 1);
}

TEST(Histogram, BoundsContainExactQuantilesConstantAndTiny) {
  const std::vector<double> c(1000, 2.5);
  check_all_quantiles(c, make_hist_axis(0, 10, 10), "constant inside");
  check_all_quantiles(c, make_hist_axis(3, 10, 10), "constant below range");
  check_all_quantiles(c, make_hist_axis(-3, 2, 10), "constant above range");
  check_all_quantiles(c, pilot_axis(c.data(), c.size(), 10), "constant, pilot range");
  const Histogram h = fill(make_hist_axis(0, 10, 10), c);
  for (double q : kQuantileLevels) {
    const QuantileEstimate e = h.quantile(2.5, 2.5, q);
    EXPECT_EQ(e.lo, 2.5);
    EXPECT_EQ(e.hi, 2.5);
    EXPECT_EQ(e.value, 2.5);
  }
  for (std::size_t n : {1u, 2u, 3u, 7u}) {
    const auto v = normal_data(n, 10 + n);
    check_all_quantiles(v, make_hist_axis(0, 6, 6), "n=" + std::to_string(n));
  }
}

TEST(Histogram, OutOfRangeQuantilesAreBoundedByMinMax) {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(i);
  const HistAxis a = make_hist_axis(100, 900, 8);
  const Histogram h = fill(a, v);
  EXPECT_EQ(h.counts[0], 99u);   // 1..99
  EXPECT_EQ(h.counts[9], 100u);  // 901..1000
  EXPECT_EQ(h.counts[8], 101u);  // [800, 900], hi in the last bin
  // q = 0.05: x_(50) = 50, in the underflow slot: bound [min, lo].
  QuantileEstimate e = h.quantile(1, 1000, 0.05);
  EXPECT_EQ(e.lo, 1);
  EXPECT_EQ(e.hi, 100);
  // q = 0.95: x_(950) = 950, overflow: [hi, max].
  e = h.quantile(1, 1000, 0.95);
  EXPECT_EQ(e.lo, 900);
  EXPECT_EQ(e.hi, 1000);
  // In range: x_(500) = 500 in [500, 600).
  e = h.quantile(1, 1000, 0.5);
  EXPECT_EQ(e.lo, 500);
  EXPECT_EQ(e.hi, 600);
  // Extremes are exact.
  e = h.quantile(1, 1000, 0.0);
  EXPECT_EQ(e.value, 1);
  e = h.quantile(1, 1000, 1.0);
  EXPECT_EQ(e.value, 1000);
}

TEST(Histogram, PointEstimateInterpolatesByRank) {
  // 10 values in one bin [0, 10): rank j sits at the midpoint (j - 0.5) / 10 of the bin.
  const HistAxis a = make_hist_axis(0, 10, 1);
  Histogram h(a);
  h.counts[1] = 10;
  // r = ceil(0.25 * 10) = 3: 0 + 10 * 2.5 / 10 = 2.5.
  QuantileEstimate e = h.quantile(0, 10, 0.25);
  EXPECT_DOUBLE_EQ(e.value, 2.5);
  EXPECT_EQ(e.lo, 0);
  EXPECT_EQ(e.hi, 10);
  // With min 1 and max 5 the bound is cut to [1, 5] and the estimate scales into it:
  // 1 + 4 * 2.5 / 10 = 2.
  e = h.quantile(1, 5, 0.25);
  EXPECT_EQ(e.lo, 1);
  EXPECT_EQ(e.hi, 5);
  EXPECT_DOUBLE_EQ(e.value, 2.0);
}

TEST(Histogram, MergeEqualsHistogramOfConcatenation) {
  const auto v = lognormal_data(100000, 4);
  const HistAxis a = make_hist_axis(0, 20, 400);
  const Histogram whole = fill(a, v);
  // Split at several places and in many pieces, merged in different orders.
  for (std::size_t pieces : {2u, 3u, 17u, 1000u}) {
    std::vector<Histogram> parts(pieces, Histogram(a));
    for (std::size_t i = 0; i < v.size(); ++i) parts[(i * pieces) / v.size()].add(v[i]);
    Histogram forward(a), backward(a);
    for (std::size_t p = 0; p < pieces; ++p) forward.merge(parts[p]);
    for (std::size_t p = pieces; p-- > 0;) backward.merge(parts[p]);
    EXPECT_EQ(forward.counts, whole.counts) << pieces;
    EXPECT_EQ(backward.counts, whole.counts) << pieces;
  }
  // Interleaved split (as threads taking alternate draws).
  Histogram even(a), odd(a);
  for (std::size_t i = 0; i < v.size(); ++i) (i % 2 ? odd : even).add(v[i]);
  odd.merge(even);
  EXPECT_EQ(odd.counts, whole.counts);
  EXPECT_EQ(odd.total(), v.size());
  // The raw-array form gives the same.
  std::vector<std::uint64_t> raw(static_cast<std::size_t>(hist_slot_count(a)), 0);
  hist_merge(raw.data(), even.counts.data(), hist_slot_count(a));
  EXPECT_EQ(raw, even.counts);
  // Different axes refuse to merge.
  Histogram other(make_hist_axis(0, 20, 401));
  EXPECT_THROW(other.merge(whole), Error);
  Histogram shifted(make_hist_axis(0, 20.000000001, 400));
  EXPECT_THROW(shifted.merge(whole), Error);
}

TEST(Histogram, EmptyHistogramAndBadLevelGiveNaN) {
  const Histogram h(make_hist_axis(0, 1, 4));
  const QuantileEstimate e = h.quantile(INFINITY, -INFINITY, 0.5);
  EXPECT_TRUE(std::isnan(e.value) && std::isnan(e.lo) && std::isnan(e.hi));
  Histogram one(make_hist_axis(0, 1, 4));
  one.add(0.3);
  EXPECT_TRUE(std::isnan(one.quantile(0.3, 0.3, 1.5).value));
  EXPECT_TRUE(std::isnan(one.quantile(0.3, 0.3, NAN).value));
  EXPECT_EQ(one.quantile(0.3, 0.3, 0.5).value, 0.3);
  const auto all = histogram_quantiles(h.counts.data(), h.axis, 0, 0);
  for (const auto& q : all) EXPECT_TRUE(std::isnan(q.value));
}

TEST(Histogram, AxisValidation) {
  EXPECT_THROW(make_hist_axis(1, 1, 10), InputError);
  EXPECT_THROW(make_hist_axis(2, 1, 10), InputError);
  EXPECT_THROW(make_hist_axis(0, 1, 0), InputError);
  EXPECT_THROW(make_hist_axis(0, 1, -3), InputError);
  EXPECT_THROW(make_hist_axis(0, 1, kMaxHistBins + 1), InputError);
  EXPECT_THROW(make_hist_axis(NAN, 1, 10), InputError);
  EXPECT_THROW(make_hist_axis(0, INFINITY, 10), InputError);
  EXPECT_THROW(make_hist_axis(-1.5e308, 1.5e308, 10), InputError);  // hi - lo overflows
  EXPECT_THROW(make_hist_axis(1e16, 1e16 + 2, 100), InputError);    // bins below one ulp
  const HistAxis a = make_hist_axis(-2, 6, 16);
  EXPECT_EQ(a.width, 0.5);
  EXPECT_EQ(a.inv_width, 2.0);
  EXPECT_EQ(hist_slot_count(a), 18);
}

TEST(Histogram, PilotAxisRule) {
  // No values: [-0.5, 0.5]; constant: unit width around the value; huge constant: still valid.
  HistAxis a = pilot_axis(nullptr, 0, 10);
  EXPECT_EQ(a.lo, -0.5);
  EXPECT_EQ(a.hi, 0.5);
  const std::vector<double> c(50, 7.0);
  a = pilot_axis(c.data(), c.size(), 10);
  EXPECT_EQ(a.lo, 6.5);
  EXPECT_EQ(a.hi, 7.5);
  const std::vector<double> big(5, 1e20);
  a = pilot_axis(big.data(), big.size(), kMaxHistBins);
  EXPECT_LT(a.lo, 1e20);
  EXPECT_GT(a.hi, 1e20);
  const std::vector<double> tiny = {1e-200, 2e-200};
  a = pilot_axis(tiny.data(), tiny.size(), 100);
  EXPECT_EQ(a.hi - a.lo, 1.0);
  // Non-finite values are ignored; extremes beyond 1e300 clamp.
  const std::vector<double> odd = {NAN, 1.0, INFINITY, 3.0, -INFINITY};
  a = pilot_axis(odd.data(), odd.size(), 10);
  EXPECT_DOUBLE_EQ(a.lo, 0.8);
  EXPECT_DOUBLE_EQ(a.hi, 3.2);
  const std::vector<double> huge = {-1.7e308, 1.7e308};
  EXPECT_NO_THROW(pilot_axis(huge.data(), huge.size(), 10));
  // Up to 1000 values: min..max widened by 10 % each side.
  std::vector<double> s;
  for (int i = 0; i <= 100; ++i) s.push_back(i);
  a = pilot_axis(s.data(), s.size(), 10);
  EXPECT_DOUBLE_EQ(a.lo, -10);
  EXPECT_DOUBLE_EQ(a.hi, 110);
  // 2000 values 1..2000: k = 2, [2, 1999] widened by 199.7.
  s.clear();
  for (int i = 2000; i >= 1; --i) s.push_back(i);
  a = pilot_axis(s.data(), s.size(), 10);
  EXPECT_DOUBLE_EQ(a.lo, 2 - 199.7);
  EXPECT_DOUBLE_EQ(a.hi, 1999 + 199.7);
}

TEST(Histogram, PilotRangeHoldsTheRunsOuterQuantiles) {
  // A one-block pilot (the run's first 65536 values), then the whole run of 10^6: the 1 % and
  // 99 % quantiles must fall in regular bins, so every level's bound is one bin wide.
  for (int shape = 0; shape < 3; ++shape) {
    const auto v = shape == 0   ? normal_data(1000000, 20)
                   : shape == 1 ? lognormal_data(1000000, 21)
                                : discrete_data(1000000, 22);
    const HistAxis a = pilot_axis(v.data(), 65536, 1000);
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    const Histogram h = fill(a, v);
    for (double q : kQuantileLevels) {
      const double exact = exact_quantile(sorted, q);
      const int s = hist_slot(a, exact);
      EXPECT_GE(s, 1) << "shape " << shape << " q=" << q;
      EXPECT_LE(s, a.bins) << "shape " << shape << " q=" << q;
      const QuantileEstimate e = h.quantile(sorted.front(), sorted.back(), q);
      EXPECT_LE(e.lo, exact);
      EXPECT_GE(e.hi, exact);
      EXPECT_LE(e.hi - e.lo, a.width * (1 + 1e-9));
    }
  }
}
