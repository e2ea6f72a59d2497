// Mergeable histograms and quantile bounds (docs/quantiles.md).
//
// A histogram is bins + 2 uint64 counts on a fixed axis: slot 0 counts x < lo, slots 1..bins the
// regular bins, slot bins+1 counts x > hi. Counts are integers, so merging is addition and is
// exact and order free: any split into blocks, threads, devices or shards gives the same counts.
// Quantiles are read back as an interval that is guaranteed to contain the exact order statistic
// (given the exact min and max of the same values), plus a point estimate inside it.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "spillmc/errors.hpp"
#include "spillmc/hd.hpp"

namespace spillmc {

// The quantile levels every output reports.
inline constexpr std::size_t kQuantileCount = 7;
inline constexpr std::array<double, kQuantileCount> kQuantileLevels = {0.01, 0.05, 0.25, 0.5,
                                                                       0.75, 0.95, 0.99};

// Largest accepted bin count: keeps bins + 2 and edge indices far inside int, and a histogram
// of one output at 128 MiB.
constexpr int kMaxHistBins = 1 << 24;

// `width` is (hi - lo) / bins, kept so that the per-draw edge checks need no division.
// Build with make_hist_axis(): hist_slot() relies on its checks (strictly increasing edges).
struct HistAxis {
  double lo = 0.0, hi = 1.0;
  int bins = 1;
  double inv_width = 1.0;
  double width = 1.0;
};

// Edge k of the axis, k = 0..bins: lo + k * width, with edge(bins) == hi exactly. Bin k
// (1-based) is [edge(k-1), edge(k)); the last bin also holds x == hi. hist_slot() uses these
// very numbers, so a value counted in bin k always lies within the edges reported for bin k.
SPILLMC_HD_INLINE double hist_edge(const HistAxis& a, int k) {
  if (k <= 0) return a.lo;
  if (k >= a.bins) return a.hi;
#if defined(__CUDA_ARCH__)
  // Explicitly rounded steps: never contracted into an FMA whatever the nvcc flags, so device
  // edges are the host's bits and device counts merge with host counts.
  return __dadd_rn(a.lo, __dmul_rn(static_cast<double>(k), a.width));
#else
  return a.lo + static_cast<double>(k) * a.width;
#endif
}

// Slot of x: 0 = underflow (x < lo), 1..bins = regular bins, bins+1 = overflow (x > hi).
// NaN goes to the overflow slot (it sorts last, as in numpy); callers should not pass NaN,
// since the min/max that bound the overflow slot ignore it.
SPILLMC_HD_INLINE int hist_slot(const HistAxis& a, double x) {
  if (x < a.lo) return 0;
  if (!(x < a.hi)) return x == a.hi ? a.bins : a.bins + 1;
  // lo <= x < hi: the scaled index is right to a few ulps of `bins`; the loops move it onto the
  // bin whose computed edges hold x (at most one step in practice, exact in every case).
  double t = (x - a.lo) * a.inv_width;
  int k = t < static_cast<double>(a.bins) ? static_cast<int>(t) : a.bins - 1;
  if (k < 0) k = 0;
  while (k > 0 && x < hist_edge(a, k)) --k;
  while (k < a.bins - 1 && !(x < hist_edge(a, k + 1))) ++k;
  return k + 1;
}

// hist_slot of N values at once (the batched CPU path's lanes). The candidate bin and its edge
// checks are selects over lanes, so the loop vectorizes; a lane whose candidate the checks do not
// confirm (the scaled index a rounding step off: rare) gets hist_slot itself, so every slot is
// exactly hist_slot's. Host only.
template <int N>
inline void hist_slots(const HistAxis& a, const double* x, int* slot) {
  const double lo = a.lo, hi = a.hi, inv = a.inv_width, w = a.width;
  const int bins = a.bins;
  const double top = static_cast<double>(bins), last = top - 1.0;
  // Branch-free loops in double precision, which GCC vectorizes when trapping math is off (as for
  // cpu_batch.cpp). An int candidate made it convert lane by lane, and the stores of those ints
  // then stalled the vector loads that read them back.
  // hist_slot's candidate k, clamped to [0, bins - 1] and truncated in double: trunc(u) is
  // double(int(u)) there, so the edges below are hist_edge's bits (lo + 0 * w compares as
  // lo). Lanes outside [lo, hi), NaN included, are settled below whatever their candidate.
  double k[N], e0[N], e1[N];
  for (int j = 0; j < N; ++j) {
    double u = (x[j] - lo) * inv;
    u = u < top ? u : last;
    u = u > 0.0 ? u : 0.0;
    k[j] = std::trunc(u);
    e0[j] = lo + k[j] * w;
    const double m1 = lo + (k[j] + 1.0) * w;
    e1[j] = k[j] + 1.0 == top ? hi : m1;  // the upper edge of the last bin is hi
  }
  // The slot as a double (a small integer, exact), converted in a loop of its own.
  double sd[N];
  int settled[N];
  for (int j = 0; j < N; ++j) {
    const double v = x[j];
    const bool below = v < lo, inside = v < hi, at_hi = v == hi;
    const bool fits = (v >= e0[j]) & (v < e1[j]);
    double s = k[j] + 1.0;
    s = at_hi ? top : s;
    s = (inside | at_hi) ? s : top + 1.0;
    s = below ? 0.0 : s;
    sd[j] = s;
    settled[j] = fits | below | !inside;
  }
  for (int j = 0; j < N; ++j) slot[j] = static_cast<int>(sd[j]);
  for (int j = 0; j < N; ++j)
    if (!settled[j]) slot[j] = hist_slot(a, x[j]);
}

inline int hist_slot_count(const HistAxis& a) {
  return a.bins + 2;
}

// Validated axis: lo < hi, both finite, hi - lo finite, 1 <= bins <= kMaxHistBins, and edges
// that are strictly increasing in double precision (a range too narrow for its magnitude, such
// as [1e16, 1e16 + 2] with 100 bins, would give empty bins). `what` prefixes the messages.
inline HistAxis make_hist_axis(double lo, double hi, int bins,
                               const std::string& what = "histogram") {
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw InputError(what + ": range ends must be finite numbers");
  if (!(lo < hi)) throw InputError(what + ": range low end must be below the high end");
  if (bins < 1 || bins > kMaxHistBins)
    throw InputError(what + ": bins must be between 1 and " + std::to_string(kMaxHistBins));
  const double span = hi - lo;
  if (!std::isfinite(span)) throw InputError(what + ": range is too wide for double precision");
  HistAxis a;
  a.lo = lo;
  a.hi = hi;
  a.bins = bins;
  a.width = span / bins;
  a.inv_width = bins / span;
  if (!(a.width > 0.0) || !std::isfinite(a.inv_width))
    throw InputError(what + ": range is too narrow for double precision");
  for (int k = 0; k < bins; ++k)
    if (!(hist_edge(a, k) < hist_edge(a, k + 1)))
      throw InputError(what + ": range is too narrow for its magnitude and bin count");
  return a;
}

// Bitwise-identical axes: the only histograms that can be merged.
inline bool same_axis(const HistAxis& a, const HistAxis& b) {
  return a.lo == b.lo && a.hi == b.hi && a.bins == b.bins;
}

// Merge = add, slot by slot.
inline void hist_merge(std::uint64_t* into, const std::uint64_t* from, int slots) {
  for (int s = 0; s < slots; ++s) into[s] += from[s];
}

// 1-based rank of the level-q quantile of n values: ceil(q n), clamped to [1, n]. q n is formed
// in double precision exactly as numpy's method='inverted_cdf' does, so both pick the same
// order statistic.
inline std::uint64_t quantile_rank(std::uint64_t n, double q) {
  const double t = std::ceil(q * static_cast<double>(n));
  if (!(t >= 1.0)) return 1;
  if (t >= static_cast<double>(n)) return n;
  return static_cast<std::uint64_t>(t);
}

// [lo, hi] contains the exact quantile; value is a point estimate inside it.
struct QuantileEstimate {
  double value, lo, hi;
};

// Quantile at level q in [0, 1] of the values counted in `counts` (hist_slot_count(axis)
// slots); vmin and vmax are the exact min and max of those values. The exact quantile is the
// order statistic x_(r), r = quantile_rank(n, q). The bound is the edges of the slot holding
// rank r ([vmin, lo] for underflow, [hi, vmax] for overflow) cut to [vmin, vmax]; r = 1 and
// r = n give vmin and vmax exactly. The value interpolates linearly by rank inside the bound,
// as if the slot's values sat at the midpoints of equal sub-intervals. All NaN when n == 0 or
// q is outside [0, 1].
inline QuantileEstimate histogram_quantile(const std::uint64_t* counts, const HistAxis& axis,
                                           double vmin, double vmax, double q) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const int slots = hist_slot_count(axis);
  std::uint64_t n = 0;
  for (int s = 0; s < slots; ++s) n += counts[s];
  if (n == 0 || !(q >= 0.0 && q <= 1.0)) return {kNaN, kNaN, kNaN};
  const std::uint64_t r = quantile_rank(n, q);
  if (r == 1) return {vmin, vmin, vmin};
  if (r == n) return {vmax, vmax, vmax};
  int s = 0;
  std::uint64_t before = 0;  // values in the slots below s
  while (before + counts[s] < r) before += counts[s++];
  double lo = s == 0 ? vmin : hist_edge(axis, s - 1);
  double hi = s == slots - 1 ? vmax : hist_edge(axis, s);
  lo = std::max(lo, vmin);
  hi = std::min(hi, vmax);
  const double frac = (static_cast<double>(r - before) - 0.5) / static_cast<double>(counts[s]);
  const double value = std::min(hi, std::max(lo, lo + (hi - lo) * frac));
  return {value, lo, hi};
}

// All of kQuantileLevels at once.
inline std::array<QuantileEstimate, kQuantileCount> histogram_quantiles(const std::uint64_t* counts,
                                                                        const HistAxis& axis,
                                                                        double vmin, double vmax) {
  std::array<QuantileEstimate, kQuantileCount> out{};
  for (std::size_t i = 0; i < kQuantileCount; ++i)
    out[i] = histogram_quantile(counts, axis, vmin, vmax, kQuantileLevels[i]);
  return out;
}

// Pilot range rule (docs/quantiles.md): of the finite pilot values (sorted, m of them), take
// a = x_(k) and b = x_(m+1-k) with k = ceil(m / 1000) -- the pilot's min and max up to 1000
// values, its 0.1 % and 99.9 % order statistics beyond -- and widen [a, b] by 10 % of b - a
// on each side. A range narrower than 2^-20 of its magnitude or than 1e-150 (all values equal,
// or nearly) becomes [c - h, c + h] around its centre c with h = max(0.5, 2^-20 |c|): a unit-
// width range unless the values are so large that unit-width bins could not be told apart. No
// finite values gives [-0.5, 0.5]. The population's 1 % quantile is below a only if fewer than
// k of the m pilot values fell below it: probability P(Binomial(m, 0.01) < k), about 4e-5 for
// m = 1000, 7e-32 for m = 10^4 and 3e-194 for m = 65536 (one block); likewise at 99 %.
constexpr double kPilotTail = 1e-3;
constexpr double kPilotMargin = 0.1;

inline HistAxis pilot_axis(const double* values, std::size_t n, int bins) {
  // Far inside double range, so that widening cannot overflow.
  constexpr double kLimit = 1e300;
  std::vector<double> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if (std::isfinite(values[i])) v.push_back(std::min(kLimit, std::max(-kLimit, values[i])));
  double a = 0.0, b = 0.0;
  if (!v.empty()) {
    const std::size_t m = v.size();
    const std::size_t k = static_cast<std::size_t>(std::ceil(kPilotTail * static_cast<double>(m)));
    // The kth smallest and kth largest, 0-based positions k-1 and m-k.
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k - 1), v.end());
    a = v[k - 1];
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(m - k), v.end());
    b = v[m - k];
    const double margin = kPilotMargin * (b - a);
    a -= margin;
    b += margin;
  }
  const double c = 0.5 * a + 0.5 * b;
  const double floor_half = std::max(0.5, std::ldexp(std::fabs(c), -20));
  const double narrow = std::max(1e-150, std::ldexp(std::max(std::fabs(a), std::fabs(b)), -20));
  if (!(b - a >= narrow)) {
    a = c - floor_half;
    b = c + floor_half;
  }
  return make_hist_axis(a, b, bins, "histogram pilot range");
}

// Host-side histogram: an axis and its counts. The run keeps plain count arrays per block and
// device; this is the convenient form for the host, tests and the output writer.
struct Histogram {
  HistAxis axis;
  std::vector<std::uint64_t> counts;

  Histogram() = default;
  explicit Histogram(const HistAxis& ax)
      : axis(ax), counts(static_cast<std::size_t>(hist_slot_count(ax)), 0) {}

  void add(double x) { ++counts[static_cast<std::size_t>(hist_slot(axis, x))]; }

  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (std::uint64_t c : counts) n += c;
    return n;
  }

  // Throws when the axes differ: counts on different edges cannot be added.
  void merge(const Histogram& o) {
    if (!same_axis(axis, o.axis) || counts.size() != o.counts.size())
      throw Error("histogram merge: the histograms have different axes");
    hist_merge(counts.data(), o.counts.data(), hist_slot_count(axis));
  }

  QuantileEstimate quantile(double vmin, double vmax, double q) const {
    return histogram_quantile(counts.data(), axis, vmin, vmax, q);
  }
};

}  // namespace spillmc
