// The OEM's upgrade paths (docs/paths.md): per draw, each path's expected net
// gain from reaching A2p = A1 + theta (A2 - A1), and the best path. Plain
// host/device functions, like the model they call.
#pragma once

#include <cstdint>

#include "spillmc/distributions.hpp"
#include "spillmc/hd.hpp"
#include "spillmc/model.hpp"
#include "spillmc/rng.hpp"

namespace spillmc {

constexpr int kMaxPaths = 8;

// The four random values of one path, in the order of their uniforms.
enum PathValue : int { PV_cost, PV_p_success, PV_theta_success, PV_theta_failure, kNumPathValues };

// Trivially copyable (kernels take it by value or from constant memory).
// Distributions must be prepared() (paths_spec in config.hpp does it).
struct PathsSpec {
  int n = 0;  // paths in use, 0 .. kMaxPaths
  Dist cost[kMaxPaths], p_success[kMaxPaths], theta_success[kMaxPaths], theta_failure[kMaxPaths];
};

// Counter slots (ctr[3]) of the paths, all with bit 25 set, so they never meet
// the model parameters' slots (0..2, or bit 24 with parameter ids 0..15).
// Primary: call 0 of path p gives (cost, p_success), call 1 (theta_success,
// theta_failure).
SPILLMC_HD_INLINE std::uint32_t path_slot(int path, int call) {
  return 0x02000000u | (static_cast<std::uint32_t>(path) << 1) | static_cast<std::uint32_t>(call);
}

// The `param` id under which value v of path p draws extra uniforms (beta's
// gamma variates, through extra_slot). extra_slot puts the id at bit 20 up and
// sets bit 24 itself, so id bit 4 would alias that flag: ids skip it. k =
// 4p + v runs over 0..31; id = 32 | (k & 15) | (k >> 4) << 6 gives extra slots
// with bits 24 and 25 set, k & 15 in bits 20..23 and k >> 4 in bit 26.
SPILLMC_HD_INLINE std::uint32_t path_param_id(int path, int value) {
  const auto k = static_cast<std::uint32_t>(path * kNumPathValues + value);
  return 32u | (k & 15u) | ((k >> 4) << 6);
}

// The values of path `path` for the draw whose generator is `rng`. A Philox
// call is skipped when both of its values are fixed (as sample_slots does).
SPILLMC_HD_INLINE void sample_path(const PathsSpec& spec, const DrawRng& rng, int path,
                                   double v[kNumPathValues]) {
  const Dist* d[kNumPathValues] = {&spec.cost[path], &spec.p_success[path],
                                   &spec.theta_success[path], &spec.theta_failure[path]};
  double u[kNumPathValues];
  for (int call = 0; call < 2; ++call) {
    if (d[2 * call]->kind != DistKind::fixed || d[2 * call + 1]->kind != DistKind::fixed) {
      rng.uniform2(path_slot(path, call), u[2 * call], u[2 * call + 1]);
    } else {
      u[2 * call] = u[2 * call + 1] = 0.5;
    }
  }
  for (int k = 0; k < kNumPathValues; ++k) v[k] = sample(*d[k], u[k], rng, path_param_id(path, k));
}

// The follower's level after reaching share theta of the way from A1 to A2,
// written as params_from_slots writes it, so theta gives the same A2p bits.
SPILLMC_HD_INLINE double level_at(const Params& p, double theta) {
  return p.A1 + theta * (p.A2 - p.A1);
}

// G(A2p) = pi22_up - pi22: the follower's stage-2 profit gain from upgrading
// to A2p (model.md); equals evaluate_model's upgrade_gain when A2p = p.A2p.
SPILLMC_HD_INLINE double upgrade_gain_at(const Params& p, ModelMode mode, double A2p) {
  return stage2_game(p, mode, A2p).pi2 - stage2_game(p, mode, p.A1).pi2;
}

// Expected net gain of a path with values v, given the follower's profit
// before upgrading, pi22: g = p G(theta_s) + (1 - p) G(theta_f) - cost.
SPILLMC_HD_INLINE double path_gain(const double v[kNumPathValues], const Params& p, ModelMode mode,
                                   double pi22) {
  const double gs = stage2_game(p, mode, level_at(p, v[PV_theta_success])).pi2 - pi22;
  const double gf = stage2_game(p, mode, level_at(p, v[PV_theta_failure])).pi2 - pi22;
  const double ps = v[PV_p_success];
  return ps * gs + (1.0 - ps) * gf - v[PV_cost];
}

// Every path's expected net gain for draw `index` (parameters p, already
// sampled and valid); gains[k] for k >= spec.n is left untouched.
SPILLMC_HD_INLINE void path_gains(const PathsSpec& spec, std::uint64_t seed, std::uint32_t stream,
                                  std::uint64_t index, const Params& p, ModelMode mode,
                                  double gains[kMaxPaths]) {
  const DrawRng rng{seed, index, stream};
  const double pi22 = stage2_game(p, mode, p.A1).pi2;
  for (int k = 0; k < spec.n; ++k) {
    double v[kNumPathValues];
    sample_path(spec, rng, k, v);
    gains[k] = path_gain(v, p, mode, pi22);
  }
}

// The path with the largest gain (the lowest index among ties), or -1 when no
// path pays: every gain <= 0. A NaN gain is never best.
SPILLMC_HD_INLINE int best_path(const double* gains, int n) {
  int best = -1;
  double top = 0.0;
  for (int k = 0; k < n; ++k) {
    if (gains[k] > top) top = gains[k], best = k;
  }
  return best;
}

}  // namespace spillmc
