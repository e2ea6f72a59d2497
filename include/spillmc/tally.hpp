// Streaming statistics. A block of draws is accumulated as shifted sums (cheap
// per draw, exact enough for large offsets), converted to (n, mean, M2) once,
// and blocks are merged with Chan's formula in block order, so the same seed
// gives the same bits whatever the thread count or chunking.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "spillmc/draw.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/hd.hpp"

namespace spillmc {

// Fixed number of draws per block. Part of the reproducibility contract: the
// partial of block k depends only on (config, seed, k). Recorded in the output.
constexpr std::uint64_t kBlockDraws = 1ull << 16;

// Fixed number of blocks per segment. Blocks are folded in order within a
// segment, and segment totals in order into the run total:
// total = ((seg0 + seg1) + seg2) + ..., seg_j = ((b_first + b_next) + ...).
// A segment total is the unit of mergeable state (shards, files' /state).
// Part of the reproducibility contract; recorded in the output.
constexpr std::uint64_t kSegmentBlocks = 1024;

struct Moments {
  std::uint64_t n = 0;
  // The mean is mean + mean_lo: thousands of block merges at a large offset
  // (1e8) would otherwise each round at the offset's last bit.
  double mean = 0.0, mean_lo = 0.0, m2 = 0.0;
  double min = INFINITY, max = -INFINITY;

  SPILLMC_HD_INLINE double value() const { return mean + mean_lo; }

  // Chan, Golub & LeVeque pairwise update; `o` is the later block.
  SPILLMC_HD_INLINE void merge(const Moments& o) {
    if (o.n == 0) return;
    if (n == 0) {
      *this = o;
      return;
    }
    const double na = static_cast<double>(n), nb = static_cast<double>(o.n);
    const double nt = na + nb;
    const double delta = (o.mean - mean) + (o.mean_lo - mean_lo);
    // mean += inc, keeping the rounding error (Knuth's TwoSum) in mean_lo.
    const double inc = delta * (nb / nt);
    const double sum = mean + inc;
    const double inc_part = sum - mean;
    mean_lo += (mean - (sum - inc_part)) + (inc - inc_part);
    mean = sum;
    m2 += o.m2 + delta * delta * (na * nb / nt);
    min = o.min < min ? o.min : min;
    max = o.max > max ? o.max : max;
    n += o.n;
  }
};

// One value's step of the shifted sums. ShiftedSums::add takes it, and so do sums
// kept in arrays by field (accumulate_block, the conditions' FieldSums), so that
// their loops over the fields vectorize with the same operations, hence the same bits.
SPILLMC_HD_INLINE void add_shifted_value(double x, double shift, double& s1, double& s2, double& lo,
                                         double& hi) {
  const double y = x - shift;
  s1 += y;
  s2 += y * y;
  lo = x < lo ? x : lo;
  hi = x > hi ? x : hi;
}

// Per-field accumulator within one block: sums of (x - shift).
struct ShiftedSums {
  std::uint64_t n = 0;
  double shift = 0.0, s1 = 0.0, s2 = 0.0;
  double min = INFINITY, max = -INFINITY;

  SPILLMC_HD_INLINE void add(double x) {
    ++n;
    add_shifted_value(x, shift, s1, s2, min, max);
  }
  SPILLMC_HD_INLINE Moments moments() const {
    Moments m;
    m.n = n;
    if (n == 0) return m;
    const double dn = static_cast<double>(n);
    const double d = s1 / dn;
    m.mean = shift + d;
    const double m2 = s2 - s1 * d;
    m.m2 = m2 > 0.0 ? m2 : 0.0;
    m.min = min;
    m.max = max;
    return m;
  }
};

// Mergeable state of any number of blocks: what a shard or checkpoint stores.
struct Tally {
  std::uint64_t draws = 0;  // attempted (valid + invalid)
  std::uint64_t valid = 0;
  std::uint64_t invalid[kNumInvalid] = {};
  std::uint64_t a2crit_undefined = 0;  // valid draws with d + A1 <= 0
  std::uint64_t events[kNumEvents] = {};
  std::uint64_t regime2[kNumRegimes] = {};
  std::uint64_t regime_up[kNumRegimes] = {};
  Moments field[kNumFields];

  SPILLMC_HD_INLINE void merge(const Tally& o) {
    draws += o.draws;
    valid += o.valid;
    a2crit_undefined += o.a2crit_undefined;
    for (int i = 0; i < kNumInvalid; ++i) invalid[i] += o.invalid[i];
    for (int e = 0; e < kNumEvents; ++e) events[e] += o.events[e];
    for (int r = 0; r < kNumRegimes; ++r)
      regime2[r] += o.regime2[r], regime_up[r] += o.regime_up[r];
    for (int f = 0; f < kNumFields; ++f) field[f].merge(o.field[f]);
  }
};

// How many draws block k holds when a run has `total` draws.
SPILLMC_HD_INLINE std::uint64_t block_length(std::uint64_t total, std::uint64_t k) {
  const std::uint64_t first = k * kBlockDraws;
  const std::uint64_t rest = total > first ? total - first : 0;
  return rest < kBlockDraws ? rest : kBlockDraws;
}

// Shift of each field for one block: its value in the block's first valid draw
// (A2_crit: first draw where it is defined); 0 where the block has none, and
// then the field has no values in the block to shift. Shared by all backends so
// their partials agree. The scan goes as far as it must: a shift of 0 for
// values at an offset such as 1e8 would lose their variance to cancellation.
SPILLMC_HD_INLINE void block_shift(const DrawSpec& spec, std::uint64_t first, std::uint64_t len,
                                   double shift[kNumFields]) {
  for (int f = 0; f < kNumFields; ++f) shift[f] = 0.0;
  bool have_main = false, have_crit = false;
  for (std::uint64_t i = 0; i < len && !(have_main && have_crit); ++i) {
    Outcome o;
    if (evaluate_draw(spec, first + i, o) >= 0) continue;
    if (!have_main) {
      for (int f = 0; f < kNumFields; ++f)
        if (f != F_A2_crit) shift[f] = o.v[f];
      have_main = true;
    }
    if (!have_crit && o.a2crit_defined) {
      shift[F_A2_crit] = o.v[F_A2_crit];
      have_crit = true;
    }
  }
}

// Adds one evaluated draw (`reason` as returned by evaluate_draw) to the counts
// of `t` and, when valid, its values to `acc`.
SPILLMC_HD_INLINE void tally_draw(int reason, const Outcome& o, Tally& t, ShiftedSums* acc) {
  ++t.draws;
  if (reason >= 0) {
    ++t.invalid[reason];
    return;
  }
  ++t.valid;
  for (int f = 0; f < kNumFields; ++f)
    if (f != F_A2_crit) acc[f].add(o.v[f]);
  if (o.a2crit_defined)
    acc[F_A2_crit].add(o.v[F_A2_crit]);
  else
    ++t.a2crit_undefined;
  for (int e = 0; e < kNumEvents; ++e) t.events[e] += o.event[e] ? 1 : 0;
  ++t.regime2[o.regime2];
  ++t.regime_up[o.regime_up];
}

struct HistAxis;   // histogram.hpp
struct PathsSpec;  // paths.hpp

// Histograms a visitor hands over to its caller (DrawVisitor::take_histograms).
struct VisitorHistograms {
  std::size_t n = 0;                     // histograms
  const int* fields = nullptr;           // Field of each
  const HistAxis* axes = nullptr;        // axis of each
  const std::size_t* offsets = nullptr;  // first slot of each in counts
  std::uint64_t* counts = nullptr;       // hist_slot_count(axes[h]) slots each
};

// Sees every draw of a block in draw order (analyses beyond the main tally,
// analysis.hpp). Host code only.
struct DrawVisitor {
  virtual ~DrawVisitor() = default;
  virtual void visit(std::uint64_t index, int reason, const Outcome& o) = 0;
  // Lets a batched caller bin the visitor's histograms itself, over lanes: after this call
  // visit() leaves them alone, and the caller adds every valid draw's value (A2_crit's only
  // where defined) at hist_slot's slot. Called before the first visit, at most once.
  virtual VisitorHistograms take_histograms() { return {}; }
  // Lets a batched caller compute the paths' gains itself, over lanes (path_gains with the
  // visitor's spec): after this call visit() leaves the paths alone, and the caller passes
  // every valid draw's gains to add_path_gains, in draw order. Null when there are no paths.
  // Called before the first visit, at most once.
  virtual const PathsSpec* take_paths() { return nullptr; }
  virtual void add_path_gains(const double* /*gains*/) {}
  // False when visit() has nothing left to do, so that the caller may skip it.
  virtual bool wants_visits() const { return true; }
};

// The partial of one block, sequentially: the CPU backend's unit of work and
// the reference the GPU kernel is tested against. Accumulators are kept as
// arrays over fields so that the loop over the always-defined fields has no
// branch and vectorizes; A2_crit, the one conditional field, comes last.
inline Tally accumulate_block(const DrawSpec& spec, std::uint64_t total_draws, std::uint64_t k,
                              DrawVisitor* visitor = nullptr) {
  const std::uint64_t first = k * kBlockDraws;
  const std::uint64_t len = block_length(total_draws, k);
  double shift[kNumFields];
  block_shift(spec, first, len, shift);
  double s1[kNumFields] = {}, s2[kNumFields] = {}, lo[kNumFields], hi[kNumFields];
  for (int f = 0; f < kNumFields; ++f) lo[f] = INFINITY, hi[f] = -INFINITY;
  std::uint64_t crit_n = 0;
  Tally t;
  t.draws = len;
  for (std::uint64_t i = 0; i < len; ++i) {
    Outcome o;
    const int reason = evaluate_draw(spec, first + i, o);
    if (visitor) visitor->visit(first + i, reason, o);
    if (reason >= 0) {
      ++t.invalid[reason];
      continue;
    }
    ++t.valid;
    for (int f = 0; f < kNumAlwaysFields; ++f)
      add_shifted_value(o.v[f], shift[f], s1[f], s2[f], lo[f], hi[f]);
    if (o.a2crit_defined) {
      const int f = F_A2_crit;
      ++crit_n;
      add_shifted_value(o.v[f], shift[f], s1[f], s2[f], lo[f], hi[f]);
    }
    for (int e = 0; e < kNumEvents; ++e) t.events[e] += o.event[e] ? 1 : 0;
    ++t.regime2[o.regime2];
    ++t.regime_up[o.regime_up];
  }
  t.a2crit_undefined = t.valid - crit_n;
  for (int f = 0; f < kNumFields; ++f) {
    ShiftedSums acc;
    acc.n = f == F_A2_crit ? crit_n : t.valid;
    acc.shift = shift[f];
    acc.s1 = s1[f];
    acc.s2 = s2[f];
    acc.min = lo[f];
    acc.max = hi[f];
    t.field[f] = acc.moments();
  }
  return t;
}

// Derived statistics, computed once at the end (std uses n - 1).
struct SummaryStats {
  std::uint64_t count;
  double mean, std, sem, min, max;  // NaN where undefined (n < 1, or n < 2 for std/sem)
};

inline SummaryStats summarize(const Moments& m) {
  SummaryStats s{m.n, NAN, NAN, NAN, NAN, NAN};
  if (m.n == 0) return s;
  s.mean = m.value();
  s.min = m.min;
  s.max = m.max;
  if (m.n >= 2) {
    s.std = std::sqrt(m.m2 / static_cast<double>(m.n - 1));
    s.sem = s.std / std::sqrt(static_cast<double>(m.n));
  }
  return s;
}

struct Proportion {
  std::uint64_t count, total;
  double probability, ci95_low, ci95_high;  // NaN when total == 0
};

// Wilson score interval at 95 % (z = Phi^-1(0.975)).
inline Proportion wilson95(std::uint64_t count, std::uint64_t total) {
  Proportion p{count, total, NAN, NAN, NAN};
  if (total == 0) return p;
  const double z = 1.959963984540054;
  const double n = static_cast<double>(total);
  const double ph = static_cast<double>(count) / n;
  const double z2n = z * z / n;
  const double center = (ph + z2n / 2.0) / (1.0 + z2n);
  const double half = z / (1.0 + z2n) * std::sqrt(ph * (1.0 - ph) / n + z2n / (4.0 * n));
  p.probability = ph;
  // Exact ends at 0 and n successes: rounding would otherwise leave p just outside.
  p.ci95_low = count == 0 ? 0.0 : (center - half < 0.0 ? 0.0 : center - half);
  p.ci95_high = count == total ? 1.0 : (center + half > 1.0 ? 1.0 : center + half);
  return p;
}

}  // namespace spillmc
