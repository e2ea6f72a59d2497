// Batched CPU evaluation (cpu_batch.hpp). W consecutive draws are computed
// together in arrays over lanes; every lane loop is plain arithmetic that the
// compiler vectorizes, and the few steps that need libm (normal tails, exp,
// log, the gamma sampler's rare rejections, the copula's Phi) call the scalar code of
// distributions.hpp for just the lanes concerned, so that each draw gets the
// bits evaluate_draw gives it. Three copies are compiled (baseline x86-64,
// x86-64-v3, x86-64-v4) and picked at run time; no FMA contraction anywhere
// (-ffp-contract=off), so the copies agree bit for bit.
#include "spillmc/cpu_batch.hpp"

#include <cmath>
#include <cstring>

#include "spillmc/histogram.hpp"
#include "spillmc/paths.hpp"

namespace spillmc {
namespace {

using u64 = std::uint64_t;
using u32 = std::uint32_t;
using i64 = std::int64_t;

// Lanes per step: two AVX-512 registers of doubles (16 gave 1.6x the speed
// of 8 by overlapping the long division chains; 32 gained nothing more). Fixed
// for every variant, so that the per-lane sums (and thus the bits) do not
// depend on the instruction set.
constexpr int W = 16;

#define SPILLMC_AI inline __attribute__((always_inline))
#define SPILLMC_AI_LAMBDA __attribute__((always_inline))
#define SPILLMC_LANES _Pragma("omp simd")

constexpr u64 kLow32 = 0xffffffffull;
constexpr i64 kAbsent = kNumInvalid;  // reason of a lane past the block's end

// Philox4x32-10 as Random123 computes it, for draws first .. first+W-1 at one
// counter slot, then DrawRng::uniform2's conversion. 32-bit words live in
// 64-bit lanes so that the 32x32->64 products need no unpacking.
SPILLMC_AI void uniform2_lanes(const DrawSpec& spec, u64 first, u32 slot, double u0[W],
                               double u1[W]) {
  u64 c0[W], c1[W], c2[W], c3[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    const u64 index = first + static_cast<u64>(j);
    c0[j] = index & kLow32;
    c1[j] = index >> 32;
    c2[j] = spec.stream;
    c3[j] = slot;
  }
  u32 k0 = static_cast<u32>(spec.seed), k1 = static_cast<u32>(spec.seed >> 32);
  for (int round = 0; round < 10; ++round) {
    SPILLMC_LANES
    for (int j = 0; j < W; ++j) {
      const u64 p0 = c0[j] * 0xD2511F53ull;
      const u64 p1 = c2[j] * 0xCD9E8D57ull;
      const u64 n0 = (p1 >> 32) ^ c1[j] ^ k0;
      const u64 n2 = (p0 >> 32) ^ c3[j] ^ k1;
      c0[j] = n0;
      c1[j] = p1 & kLow32;
      c2[j] = n2;
      c3[j] = p0 & kLow32;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // (k + 1/2) 2^-52 for the top 52 bits k, via the bit pattern of 1 + k 2^-52:
  // subtracting 1 and adding 2^-53 are exact, so this equals to_open_unit and
  // avoids a 64-bit integer to double conversion, which AVX2 lacks.
  u64 b0[W], b1[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    b0[j] = (((c1[j] << 32) | c0[j]) >> 12) | 0x3FF0000000000000ull;
    b1[j] = (((c3[j] << 32) | c2[j]) >> 12) | 0x3FF0000000000000ull;
  }
  double d0[W], d1[W];
  std::memcpy(d0, b0, sizeof d0);
  std::memcpy(d1, b1, sizeof d1);
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    u0[j] = (d0[j] - 1.0) + 0x1.0p-53;
    u1[j] = (d1[j] - 1.0) + 0x1.0p-53;
  }
}

// normal_quantile over lanes: the central rational function (85 % of draws)
// for all lanes; then, if any lane is in a tail, libm's log for just those
// lanes and both tail rational functions over all lanes, selected per lane.
SPILLMC_AI void normal_quantile_lanes(const double p[W], double z[W]) {
  i64 tail[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    const double q = p[j] - 0.5;
    z[j] = as241_central(q);
    tail[j] = std::fabs(q) <= 0.425 ? 0 : 1;
  }
  // Tail lanes listed without branches, so that their logs cost no mispredictions.
  int list[W], n = 0;
  for (int j = 0; j < W; ++j) {
    list[n] = j;
    n += static_cast<int>(tail[j]);
  }
  if (n == 0) return;
  double lg[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) lg[j] = -1.0;  // keeps the sqrt below finite in central lanes
  for (int i = 0; i < n; ++i) {
    const int j = list[i];
    lg[j] = std::log(p[j] - 0.5 < 0.0 ? p[j] : 1.0 - p[j]);
  }
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    const double q = p[j] - 0.5;
    const double zt = as241_tail(std::sqrt(-lg[j]));
    const double signed_zt = q < 0.0 ? -zt : zt;
    z[j] = tail[j] != 0 ? signed_zt : z[j];
  }
}

// gamma_variate (x of x e^l) over lanes. The first Marsaglia-Tsang candidate is tried for
// every lane at once; lanes that reject it (about 2 % for shape 2) are
// recomputed by the scalar sampler, which starts from the same counters and
// so reaches the same decisions.
SPILLMC_AI void gamma_lanes(double shape, const DrawSpec& spec, u64 first, u32 param, u32 sub,
                            double x[W]) {
  const double k = gamma_boosted(shape) ? shape + 1.0 : shape;
  const double d = k - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  double u1[W], u2[W], z[W];
  uniform2_lanes(spec, first, extra_slot(param, sub, 0), u1, u2);
  normal_quantile_lanes(u1, z);
  i64 ok[W];
  double v[W], z2[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    const double t = 1.0 + c * z[j];
    v[j] = t * t * t;
    z2[j] = z[j] * z[j];
    // 2: t <= 0, the scalar loop's `continue`; 0: the squeeze failed.
    ok[j] = t <= 0.0 ? 2 : (u2[j] < 1.0 - 0.0331 * z2[j] * z2[j] ? 1 : 0);
    x[j] = d * v[j];
  }
  // The exact test for the candidates the squeeze left (about 1 in 10 for
  // shape 2), with the scalar sampler's logarithms.
  for (int j = 0; j < W; ++j)
    if (ok[j] == 0)
      ok[j] = std::log(u2[j]) < 0.5 * z2[j] + d - d * v[j] + d * std::log(v[j]) ? 1 : 2;
  for (int j = 0; j < W; ++j)
    if (ok[j] != 1) {
      const DrawRng rng{spec.seed, first + static_cast<u64>(j), spec.stream};
      x[j] = gamma_variate(shape, rng, param, sub);
    }
}

// beta_order_statistic over lanes: the same uniforms through the same
// compare-exchanges (keep_smallest, with lanes innermost so that they
// vectorize), so each lane gets the scalar sampler's value.
SPILLMC_AI void beta_order_lanes(const Dist& dist, const double u[W], const DrawSpec& spec,
                                 u64 first, u32 param, double x[W]) {
  const BetaOrderPlan plan = BetaOrderPlan::of(dist);
  with_beta_order_k(dist, [&](auto k) SPILLMC_AI_LAMBDA {
    constexpr int K = decltype(k)::value;
    double s[K][W];
    for (int m = 0; m < K; ++m)
      for (int j = 0; j < W; ++j) s[m][j] = 2.0;
    const auto insert = [&](const double v[W]) SPILLMC_AI_LAMBDA {
      double in[W];
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) in[j] = plan.sign * v[j];
      for (int m = 0; m < K; ++m) {
        SPILLMC_LANES
        for (int j = 0; j < W; ++j) keep_lower(s[m][j], in[j]);
      }
    };
    insert(u);
    for (int i = 1; i < plan.n; i += 2) {
      double u0[W], u1[W];
      uniform2_lanes(spec, first, BetaOrderPlan::slot(param, i), u0, u1);
      insert(u0);
      if (i + 1 < plan.n) insert(u1);
    }
    SPILLMC_LANES
    for (int j = 0; j < W; ++j) x[j] = plan.sign * s[K - 1][j];
    return 0.0;
  });
}

// sample() over lanes; the distribution's kind is decided once per step.
SPILLMC_AI void sample_lanes(const Dist& dist, const double u[W], const DrawSpec& spec, u64 first,
                             u32 param, double x[W]) {
  switch (dist.kind) {
    case DistKind::fixed:
      for (int j = 0; j < W; ++j) x[j] = dist.p0;
      return;
    case DistKind::uniform: {
      const double lo = dist.p0, width = dist.p1 - dist.p0;
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) x[j] = lo + u[j] * width;
      return;
    }
    case DistKind::normal: {
      double z[W];
      normal_quantile_lanes(u, z);
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) x[j] = dist.p0 + dist.p1 * z[j];
      return;
    }
    case DistKind::truncnormal: {
      // Without valid per-run constants the scalar sampler recomputes them.
      if (!dist.has_derived || dist.d0 != dist.d0 || dist.d1 != dist.d1) break;
      const TruncInterval t = trunc_interval(dist);
      const double a = t.a, b = t.b;
      const double pa = dist.d0, pb = dist.d1;
      double z[W];
      if (pb > pa) {
        double p[W];
        SPILLMC_LANES
        for (int j = 0; j < W; ++j) p[j] = pa + u[j] * (pb - pa);
        normal_quantile_lanes(p, z);
      } else {
        SPILLMC_LANES
        for (int j = 0; j < W; ++j) z[j] = a + u[j] * (b - a);
      }
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) x[j] = trunc_value(dist, t, z[j]);
      return;
    }
    case DistKind::lognormal: {
      double z[W];
      normal_quantile_lanes(u, z);
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) z[j] = dist.p0 + dist.p1 * z[j];
      for (int j = 0; j < W; ++j) x[j] = std::exp(z[j]);
      return;
    }
    case DistKind::triangular: {
      const double f = dist.has_derived ? dist.d0 : triangular_mode_cdf(dist);
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) x[j] = triangular_value(dist, f, u[j]);
      return;
    }
    case DistKind::beta: {
      double r[W];
      if (beta_by_order_statistic(dist)) {
        beta_order_lanes(dist, u, spec, first, param, r);
      } else {
        // beta_gamma_ratio over lanes.
        double g0[W], g1[W];
        gamma_lanes(dist.p0, spec, first, param, 0, g0);
        gamma_lanes(dist.p1, spec, first, param, 1, g1);
        const bool boosted = gamma_boosted(dist.p0) || gamma_boosted(dist.p1);
        double l0[W] = {}, l1[W] = {};
        if (boosted) {
          double ub[W], unused[W];
          uniform2_lanes(spec, first, gamma_boost_slot(param, 0), ub, unused);
          for (int j = 0; j < W; ++j) l0[j] = gamma_boost_log(dist.p0, ub[j]);
          uniform2_lanes(spec, first, gamma_boost_slot(param, 1), ub, unused);
          for (int j = 0; j < W; ++j) l1[j] = gamma_boost_log(dist.p1, ub[j]);
        }
        for (int j = 0; j < W; ++j) r[j] = gamma_ratio(g0[j], l0[j], g1[j], l1[j], boosted);
      }
      const double lo = dist.p2, width = dist.p3 - dist.p2;
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) x[j] = lo + width * r[j];
      return;
    }
  }
  for (int j = 0; j < W; ++j) {
    const DrawRng rng{spec.seed, first + static_cast<u64>(j), spec.stream};
    x[j] = sample(dist, u[j], rng, param);
  }
}

// sample_at_score over lanes, for the correlated score z of each lane. Normal
// and lognormal use z directly; the others go through Phi (libm's erfc, one
// lane at a time) into sample_lanes, as sample_at_score goes into sample.
SPILLMC_AI void score_lanes(const Dist& dist, const double z[W], const DrawSpec& spec, u64 first,
                            u32 param, double x[W]) {
  switch (dist.kind) {
    case DistKind::normal:
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) x[j] = dist.p0 + dist.p1 * z[j];
      return;
    case DistKind::lognormal: {
      double t[W];
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) t[j] = dist.p0 + dist.p1 * z[j];
      for (int j = 0; j < W; ++j) x[j] = std::exp(t[j]);
      return;
    }
    case DistKind::fixed:  // a sweep cell's fixed slot: sample ignores u, so skip Phi
      for (int j = 0; j < W; ++j) x[j] = dist.p0;
      return;
    default: {
      const bool flip = dist.kind == DistKind::truncnormal && trunc_interval(dist).flip;
      double p[W];
      for (int j = 0; j < W; ++j) p[j] = normal_cdf_open(flip ? -z[j] : z[j]);
      sample_lanes(dist, p, spec, first, param, x);
      return;
    }
  }
}

// sample_slots' copula branch over lanes. Each lane's score is summed as
// there: from 0.0, in column order, zero terms included (signed zeros too).
SPILLMC_AI void copula_lanes(const DrawSpec& spec, const double u[kNumSlots][W], u64 first,
                             double x[][W]) {
  double z[kNumSlots][W];
  for (int s = 0; s < kNumSlots; ++s) {
    if (spec.correlated[s]) {
      normal_quantile_lanes(u[s], z[s]);
    } else {
      for (int j = 0; j < W; ++j) z[s][j] = 0.0;
    }
  }
  for (int s = 0; s < kNumSlots; ++s) {
    const u32 param = static_cast<u32>(s);
    if (!spec.correlated[s]) {
      sample_lanes(spec.dist[s], u[s], spec, first, param, x[s]);
      continue;
    }
    double zs[W];
    for (int j = 0; j < W; ++j) zs[j] = 0.0;
    for (int m = 0; m <= s; ++m) {
      const double l = spec.chol[s][m];
      SPILLMC_LANES
      for (int j = 0; j < W; ++j) zs[j] += l * z[m][j];
    }
    score_lanes(spec.dist[s], zs, spec, first, param, x[s]);
  }
}

// Everything evaluate_draw yields for W draws, by field and lane.
struct Chunk {
  double v[kNumFields][W];
  i64 reason[W];  // -1 valid, else InvalidReason; kAbsent past the block's end
  i64 crit[W];    // A2_crit defined
  i64 regime2[W], regime_up[W];
  i64 event[kNumEvents][W];
};

// Lane j of a Chunk with Outcome's members, for evaluate_model to write into.
struct LaneOutcome {
  template <class T>
  struct Column {
    T (*rows)[W];
    int j;
    T& operator[](int row) const { return rows[row][j]; }
  };
  Column<double> v;
  Column<i64> event;
  i64 &regime2, &regime_up, &a2crit_defined;
};

// evaluate_model and check_params for lane j of c: the shared model.hpp,
// written as select chains so that model_lanes' loop vectorizes.
template <bool Paper>
SPILLMC_AI void model_lane(Chunk& c, int j) {
  const Params p{c.v[F_a][j], c.v[F_b][j], c.v[F_c][j], c.v[F_A1][j], c.v[F_A2][j], c.v[F_A2p][j]};
  LaneOutcome o{{c.v, j}, {c.event, j}, c.regime2[j], c.regime_up[j], c.crit[j]};
  evaluate_model(p, Paper ? ModelMode::paper : ModelMode::constrained, o);
  c.reason[j] = check_params(p);
}

// evaluate_model and its classification (evaluate_params) over lanes. Every
// lane is evaluated; an invalid one's values are ignored.
template <bool Paper>
SPILLMC_AI void model_lanes(Chunk& c) {
  // The body is a function so that p and o, passed by reference, are its
  // locals: `omp simd` would turn the loop's own into per-lane arrays of
  // structs, which GCC does not vectorize.
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) model_lane<Paper>(c, j);
  // outputs_in_range, by field then lane: its loop over fields inside the lane
  // loop would stop that vectorizing.
  // Integer ands, not &&: short-circuits kept GCC from vectorizing these.
  i64 in[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) in[j] = (c.crit[j] == 0) | i64{in_range(c.v[F_A2_crit][j])};
  for (int f = kNumParams; f < kNumAlwaysFields; ++f) {
    SPILLMC_LANES
    for (int j = 0; j < W; ++j) in[j] &= i64{in_range(c.v[f][j])};
  }
  SPILLMC_LANES
  for (int j = 0; j < W; ++j)
    c.reason[j] = c.reason[j] < 0 && in[j] == 0 ? i64{I_nonfinite_output} : c.reason[j];
}

// Draws first .. first+W-1 into c; lanes from `present` on are marked absent.
SPILLMC_AI void evaluate_chunk(const DrawSpec& spec, u64 first, int present, Chunk& c) {
  double u[kNumSlots][W];
  for (int pair = 0; pair < kNumSlots / 2; ++pair) {
    // As in sample_slots: a correlated slot's score is drawn even when fixed.
    const bool needed =
        spec.dist[2 * pair].kind != DistKind::fixed ||
        spec.dist[2 * pair + 1].kind != DistKind::fixed ||
        (spec.copula && (spec.correlated[2 * pair] || spec.correlated[2 * pair + 1]));
    if (needed) {
      uniform2_lanes(spec, first, primary_slot(static_cast<u32>(pair)), u[2 * pair],
                     u[2 * pair + 1]);
    } else {
      for (int j = 0; j < W; ++j) u[2 * pair][j] = u[2 * pair + 1][j] = 0.5;
    }
  }
  if (spec.copula) {
    copula_lanes(spec, u, first, c.v + F_a);
  } else {
    for (int s = 0; s < kNumSlots; ++s)
      sample_lanes(spec.dist[s], u[s], spec, first, static_cast<u32>(s), c.v[F_a + s]);
  }
  if (spec.a2_is_gap) {
    SPILLMC_LANES
    for (int j = 0; j < W; ++j) c.v[F_A2][j] = c.v[F_A1][j] + c.v[F_A2][j];
  }
  if (spec.a2p_is_theta) {
    SPILLMC_LANES
    for (int j = 0; j < W; ++j)
      c.v[F_A2p][j] = c.v[F_A1][j] + c.v[F_A2p][j] * (c.v[F_A2][j] - c.v[F_A1][j]);
  }
  if (spec.mode == ModelMode::paper)
    model_lanes<true>(c);
  else
    model_lanes<false>(c);
  for (int j = present; j < W; ++j) c.reason[j] = kAbsent;
}

// Per-lane block accumulators: shifted sums as in accumulate_block, lane j
// taking draws j, j + W, ...
struct LaneSums {
  double s1[kNumFields][W], s2[kNumFields][W], lo[kNumFields][W], hi[kNumFields][W];
  i64 valid[W], crit[W], invalid[kNumInvalid][W], event[kNumEvents][W];
  i64 regime2[kNumRegimes][W], regime_up[kNumRegimes][W];
};

SPILLMC_AI void add_field(LaneSums& acc, int f, const double x[W], const i64 ok[W], double shift) {
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    const bool use = ok[j] != 0;
    const double y = use ? x[j] - shift : 0.0;  // invalid lanes may hold NaN
    acc.s1[f][j] += y;
    acc.s2[f][j] += y * y;
    acc.lo[f][j] = use && x[j] < acc.lo[f][j] ? x[j] : acc.lo[f][j];
    acc.hi[f][j] = use && x[j] > acc.hi[f][j] ? x[j] : acc.hi[f][j];
  }
}

SPILLMC_AI void add_chunk(LaneSums& acc, const Chunk& c, const double shift[kNumFields]) {
  i64 ok[W], ok_crit[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    ok[j] = c.reason[j] < 0 ? 1 : 0;
    ok_crit[j] = ok[j] & c.crit[j];
    acc.valid[j] += ok[j];
    acc.crit[j] += ok_crit[j];
    for (int r = 0; r < kNumInvalid; ++r) acc.invalid[r][j] += c.reason[j] == r ? 1 : 0;
    for (int e = 0; e < kNumEvents; ++e) acc.event[e][j] += ok[j] & c.event[e][j];
    for (int r = 0; r < kNumRegimes; ++r) {
      acc.regime2[r][j] += ok[j] & (c.regime2[j] == r ? 1 : 0);
      acc.regime_up[r][j] += ok[j] & (c.regime_up[j] == r ? 1 : 0);
    }
  }
  for (int f = 0; f < kNumAlwaysFields; ++f) add_field(acc, f, c.v[f], ok, shift[f]);
  add_field(acc, F_A2_crit, c.v[F_A2_crit], ok_crit, shift[F_A2_crit]);
}

// Extreme over lanes. The scalar loop keeps the first of equal values, which
// matters only for +0 vs -0; if lanes disagree there, the caller falls back.
SPILLMC_AI bool combine_extreme(const double v[W], bool is_min, double& out) {
  double m = v[0];
  for (int j = 1; j < W; ++j) m = (is_min ? v[j] < m : v[j] > m) ? v[j] : m;
  for (int j = 0; j < W; ++j)
    if (v[j] == m && std::signbit(v[j]) != std::signbit(m)) return false;
  out = m;
  return true;
}

// Hands the draws of a chunk to a visitor, as Outcomes (not inlined: rare path).
__attribute__((noinline)) void visit_chunk(DrawVisitor& v, u64 first, int present, const Chunk& c) {
  for (int j = 0; j < present; ++j) {
    Outcome o;
    for (int f = 0; f < kNumFields; ++f) o.v[f] = c.v[f][j];
    o.regime2 = static_cast<int>(c.regime2[j]);
    o.regime_up = static_cast<int>(c.regime_up[j]);
    o.a2crit_defined = c.crit[j] != 0;
    for (int e = 0; e < kNumEvents; ++e) o.event[e] = c.event[e][j] != 0;
    v.visit(first + static_cast<u64>(j), static_cast<int>(c.reason[j]), o);
  }
}

// Adds a chunk's valid draws to histograms taken from a visitor (take_histograms): slots over
// lanes (hist_slots), then one add per lane, 0 for lanes that do not count.
SPILLMC_AI void bin_chunk(const VisitorHistograms& hs, const Chunk& c) {
  i64 ok[W], ok_crit[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) {
    ok[j] = c.reason[j] < 0 ? 1 : 0;
    ok_crit[j] = ok[j] & c.crit[j];
  }
  for (std::size_t h = 0; h < hs.n; ++h) {
    const int f = hs.fields[h];
    int slot[W];
    hist_slots<W>(hs.axes[h], c.v[f], slot);
    u64* counts = hs.counts + hs.offsets[h];
    const i64* use = f == F_A2_crit ? ok_crit : ok;
    for (int j = 0; j < W; ++j) counts[slot[j]] += static_cast<u64>(use[j]);
  }
}

// path_gain for lane j of c, given the follower's profit before upgrading and
// the path's values by value and lane (a function for the reason model_lane is).
template <bool Paper>
SPILLMC_AI double path_gain_lane(const Chunk& c, const double v[kNumPathValues][W], double pi22,
                                 int j) {
  const Params p{c.v[F_a][j], c.v[F_b][j], c.v[F_c][j], c.v[F_A1][j], c.v[F_A2][j], c.v[F_A2p][j]};
  const double values[kNumPathValues] = {v[PV_cost][j], v[PV_p_success][j], v[PV_theta_success][j],
                                         v[PV_theta_failure][j]};
  return path_gain(values, p, Paper ? ModelMode::paper : ModelMode::constrained, pi22);
}

template <bool Paper>
SPILLMC_AI double pi22_lane(const Chunk& c, int j) {
  const Params p{c.v[F_a][j], c.v[F_b][j], c.v[F_c][j], c.v[F_A1][j], c.v[F_A2][j], c.v[F_A2p][j]};
  return stage2_game(p, Paper ? ModelMode::paper : ModelMode::constrained, p.A1).pi2;
}

// path_gains over lanes: gains[k][j] of path k for draw first + j, the same
// bits (sample_path's uniforms and samplers, path_gain's arithmetic).
template <bool Paper>
SPILLMC_AI void path_gains_lanes(const PathsSpec& ps, const DrawSpec& spec, u64 first,
                                 const Chunk& c, double gains[kMaxPaths][W]) {
  double pi22[W];
  SPILLMC_LANES
  for (int j = 0; j < W; ++j) pi22[j] = pi22_lane<Paper>(c, j);
  for (int k = 0; k < ps.n; ++k) {
    const Dist* d[kNumPathValues] = {&ps.cost[k], &ps.p_success[k], &ps.theta_success[k],
                                     &ps.theta_failure[k]};
    double u[kNumPathValues][W], v[kNumPathValues][W];
    for (int call = 0; call < 2; ++call) {
      if (d[2 * call]->kind != DistKind::fixed || d[2 * call + 1]->kind != DistKind::fixed) {
        uniform2_lanes(spec, first, path_slot(k, call), u[2 * call], u[2 * call + 1]);
      } else {
        for (int j = 0; j < W; ++j) u[2 * call][j] = u[2 * call + 1][j] = 0.5;
      }
    }
    for (int q = 0; q < kNumPathValues; ++q)
      sample_lanes(*d[q], u[q], spec, first, path_param_id(k, q), v[q]);
    SPILLMC_LANES
    for (int j = 0; j < W; ++j) gains[k][j] = path_gain_lane<Paper>(c, v, pi22[j], j);
  }
}

// The paths' gains of a chunk's valid draws, handed to `to` in draw order.
SPILLMC_AI void add_path_chunk(const PathsSpec& ps, const DrawSpec& spec, u64 first, const Chunk& c,
                               DrawVisitor& to) {
  bool any = false;
  for (int j = 0; j < W; ++j) any |= c.reason[j] < 0;
  if (!any) return;
  double gains[kMaxPaths][W];
  if (spec.mode == ModelMode::paper)
    path_gains_lanes<true>(ps, spec, first, c, gains);
  else
    path_gains_lanes<false>(ps, spec, first, c, gains);
  for (int j = 0; j < W; ++j) {
    if (c.reason[j] >= 0) continue;
    double g[kMaxPaths];
    for (int k = 0; k < ps.n; ++k) g[k] = gains[k][j];
    to.add_path_gains(g);
  }
}

// block_shift's shifts, found on the way: the values of the block's first
// valid draw and A2_crit's of its first draw where it is defined. Until a
// field's shift is found no draw has added to it, so a block needs no separate
// scan (which cost a block without valid draws a second, scalar pass).
struct ShiftFinder {
  double shift[kNumFields] = {};
  bool need_main = true, need_crit = true;

  SPILLMC_AI bool pending() const { return need_main || need_crit; }
  // Called for every chunk, and not inlined: inlined, or behind an
  // `if (pending())`, it made GCC's draw loop up to 25 % slower while a block
  // had no valid draw yet (measured on the avx512 variant).
  __attribute__((noinline)) void look(const Chunk& c, int present) {
    for (int j = 0; j < present && pending(); ++j) {
      if (c.reason[j] >= 0) continue;
      if (need_main) {
        for (int f = 0; f < kNumFields; ++f)
          if (f != F_A2_crit) shift[f] = c.v[f][j];
        need_main = false;
      }
      if (need_crit && c.crit[j] != 0) {
        shift[F_A2_crit] = c.v[F_A2_crit][j];
        need_crit = false;
      }
    }
  }
};

// add_path_chunk, compiled once per instruction set (SPILLMC_BATCH_VARIANT).
using PathChunkFn = void (*)(const PathsSpec&, const DrawSpec&, u64, const Chunk&, DrawVisitor&);

// Block body; false if the extremes are ambiguous (see combine_extreme).
// `add_paths` is a call, not inlined: the paths' code inside the draw loop made
// runs without paths about 3 % slower.
SPILLMC_AI bool block_body(const DrawSpec& spec, u64 first, u64 len, Tally& t, DrawVisitor* visitor,
                           PathChunkFn add_paths) {
  // Histograms and paths are done here over lanes; the visitor is called only for what else it
  // does.
  VisitorHistograms hs;
  const PathsSpec* paths = nullptr;  // the paths' gains, computed here over lanes
  DrawVisitor* gains_to = visitor;
  if (visitor) {
    hs = visitor->take_histograms();
    paths = visitor->take_paths();
    if (!visitor->wants_visits()) visitor = nullptr;
  }
  LaneSums acc;
  std::memset(&acc, 0, sizeof acc);
  for (int f = 0; f < kNumFields; ++f)
    for (int j = 0; j < W; ++j) acc.lo[f][j] = INFINITY, acc.hi[f][j] = -INFINITY;
  ShiftFinder shifts;
  const double* shift = shifts.shift;
  Chunk c;
  for (u64 i = 0; i < len; i += W) {
    const u64 rest = len - i;
    const int present = rest < W ? static_cast<int>(rest) : W;
    evaluate_chunk(spec, first + i, present, c);
    shifts.look(c, present);
    add_chunk(acc, c, shift);
    if (hs.n > 0) bin_chunk(hs, c);
    if (paths) add_paths(*paths, spec, first + i, c, *gains_to);
    if (visitor) visit_chunk(*visitor, first + i, present, c);
  }
  // Lanes combined in lane order: fixed, so the bits do not depend on the variant.
  t = Tally{};
  t.draws = len;
  u64 crit_n = 0;
  for (int j = 0; j < W; ++j) {
    t.valid += static_cast<u64>(acc.valid[j]);
    crit_n += static_cast<u64>(acc.crit[j]);
    for (int r = 0; r < kNumInvalid; ++r) t.invalid[r] += static_cast<u64>(acc.invalid[r][j]);
    for (int e = 0; e < kNumEvents; ++e) t.events[e] += static_cast<u64>(acc.event[e][j]);
    for (int r = 0; r < kNumRegimes; ++r) {
      t.regime2[r] += static_cast<u64>(acc.regime2[r][j]);
      t.regime_up[r] += static_cast<u64>(acc.regime_up[r][j]);
    }
  }
  t.a2crit_undefined = t.valid - crit_n;
  for (int f = 0; f < kNumFields; ++f) {
    ShiftedSums s;
    s.n = f == F_A2_crit ? crit_n : t.valid;
    s.shift = shift[f];
    for (int j = 0; j < W; ++j) s.s1 += acc.s1[f][j], s.s2 += acc.s2[f][j];
    if (!combine_extreme(acc.lo[f], true, s.min) || !combine_extreme(acc.hi[f], false, s.max))
      return false;
    t.field[f] = s.moments();
  }
  return true;
}

SPILLMC_AI void draws_body(const DrawSpec& spec, u64 first, u64 n, Outcome* out, int* reason) {
  Chunk c;
  for (u64 i = 0; i < n; i += W) {
    const u64 rest = n - i;
    const int present = rest < W ? static_cast<int>(rest) : W;
    evaluate_chunk(spec, first + i, present, c);
    for (int j = 0; j < present; ++j) {
      Outcome& o = out[i + static_cast<u64>(j)];
      for (int f = 0; f < kNumFields; ++f) o.v[f] = c.v[f][j];
      o.regime2 = static_cast<int>(c.regime2[j]);
      o.regime_up = static_cast<int>(c.regime_up[j]);
      o.a2crit_defined = c.crit[j] != 0;
      for (int e = 0; e < kNumEvents; ++e) o.event[e] = c.event[e][j] != 0;
      reason[i + static_cast<u64>(j)] = static_cast<int>(c.reason[j]);
    }
  }
}

// One copy per instruction set; flatten inlines the whole body (and the scalar
// fallbacks) into each, so each is compiled for its target.
#define SPILLMC_BATCH_VARIANT(name, attrs)                                                     \
  attrs __attribute__((flatten, noinline)) void paths_##name(                                  \
      const PathsSpec& ps, const DrawSpec& spec, u64 first, const Chunk& c, DrawVisitor& to) { \
    add_path_chunk(ps, spec, first, c, to);                                                    \
  }                                                                                            \
  attrs __attribute__((flatten)) bool block_##name(const DrawSpec& spec, u64 first, u64 len,   \
                                                   Tally& t, DrawVisitor* visitor) {           \
    return block_body(spec, first, len, t, visitor, paths_##name);                             \
  }                                                                                            \
  attrs __attribute__((flatten)) void draws_##name(const DrawSpec& spec, u64 first, u64 n,     \
                                                   Outcome* out, int* reason) {                \
    draws_body(spec, first, n, out, reason);                                                   \
  }

SPILLMC_BATCH_VARIANT(generic, )
#if defined(__x86_64__) && defined(__GNUC__)
#define SPILLMC_BATCH_X86 1
SPILLMC_BATCH_VARIANT(avx2, __attribute__((target("arch=x86-64-v3"))))
#ifdef __clang__
// Clang takes no tuning in a target attribute, so this copy keeps Clang's 256-bit vectors
// (no zmm in its code): the same bits, probably slower. GCC builds are the ones measured.
SPILLMC_BATCH_VARIANT(avx512, __attribute__((target("arch=x86-64-v4"))))
#else
SPILLMC_BATCH_VARIANT(avx512, __attribute__((target("arch=x86-64-v4,prefer-vector-width=512"))))
#endif

// Clang before 16 knows no level names in __builtin_cpu_supports, so it is asked for the
// levels' vector and bit-manipulation features; the rest of each level (f16c, lzcnt, movbe)
// comes with them on the x86-64 CPUs made so far.
bool cpu_has_x86_64_v3() {
#ifdef __clang__
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
#else
  return __builtin_cpu_supports("x86-64-v3");
#endif
}

bool cpu_has_x86_64_v4() {
#ifdef __clang__
  return cpu_has_x86_64_v3() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return __builtin_cpu_supports("x86-64-v4");
#endif
}
#endif

BatchIsa resolve(BatchIsa isa) {
  if (isa != BatchIsa::best) return isa;
#ifdef SPILLMC_BATCH_X86
  if (cpu_has_x86_64_v4()) return BatchIsa::avx512;
  if (cpu_has_x86_64_v3()) return BatchIsa::avx2;
#endif
  return BatchIsa::generic;
}

}  // namespace

bool batch_isa_supported(BatchIsa isa) {
  switch (isa) {
    case BatchIsa::best:
    case BatchIsa::generic:
      return true;
#ifdef SPILLMC_BATCH_X86
    case BatchIsa::avx2:
      return cpu_has_x86_64_v3();
    case BatchIsa::avx512:
      return cpu_has_x86_64_v4();
#else
    default:
      return false;
#endif
  }
  return false;
}

const char* batch_isa_name(BatchIsa isa) {
  switch (resolve(isa)) {
    case BatchIsa::avx2:
      return "x86-64-v3";
    case BatchIsa::avx512:
      return "x86-64-v4";
    default:
      return "generic";
  }
}

Tally accumulate_block_batched(const DrawSpec& spec, std::uint64_t total_draws, std::uint64_t k,
                               BatchIsa isa, DrawVisitor* visitor) {
  const u64 first = k * kBlockDraws;
  const u64 len = block_length(total_draws, k);
  Tally t;
  bool ok = false;
  switch (resolve(isa)) {
#ifdef SPILLMC_BATCH_X86
    case BatchIsa::avx512:
      ok = block_avx512(spec, first, len, t, visitor);
      break;
    case BatchIsa::avx2:
      ok = block_avx2(spec, first, len, t, visitor);
      break;
#endif
    default:
      ok = block_generic(spec, first, len, t, visitor);
      break;
  }
  // Signed zeros tied for an extreme (never in practice): the sequential
  // order decides which one the scalar path reports, so use the scalar path
  // (the visitor has seen every draw already).
  return ok ? t : accumulate_block(spec, total_draws, k);
}

void evaluate_draws_batched(const DrawSpec& spec, std::uint64_t first, std::uint64_t n,
                            Outcome* out, int* reason, BatchIsa isa) {
  switch (resolve(isa)) {
#ifdef SPILLMC_BATCH_X86
    case BatchIsa::avx512:
      draws_avx512(spec, first, n, out, reason);
      return;
    case BatchIsa::avx2:
      draws_avx2(spec, first, n, out, reason);
      return;
#endif
    default:
      draws_generic(spec, first, n, out, reason);
      return;
  }
}

}  // namespace spillmc
