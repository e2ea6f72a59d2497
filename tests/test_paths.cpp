// Upgrade paths (docs/paths.md): the upgrade gain at a chosen theta against the
// draw's own upgrade_gain and against hand-computed values of model.md's
// worked example, the expected net gain formula, the best-path rule, the
// sampled path values' moments against closed forms, the counter slots, and
// the config's paths section.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/paths.hpp"

namespace spillmc {
namespace {

bool same_bits(double x, double y) {
  return std::memcmp(&x, &y, sizeof x) == 0;
}

// The baseline config's parameter distributions (configs/baseline.yaml).
DrawSpec baseline_spec(ModelMode mode) {
  DrawSpec spec;
  spec.seed = 42;
  spec.mode = mode;
  spec.dist[S_a] = {DistKind::uniform, 8, 12};
  spec.dist[S_b] = {DistKind::triangular, 0.8, 1, 1.25};
  spec.dist[S_c] = {DistKind::normal, 2, 0.2};
  spec.dist[S_A1] = {DistKind::triangular, 0.5, 1, 2};
  spec.dist[S_A2] = {DistKind::lognormal, 0, 0.5};
  spec.dist[S_A2p] = {DistKind::beta, 2, 2, 0, 1};
  spec.a2_is_gap = spec.a2p_is_theta = true;
  return spec;
}

const Params kWorked{10, 1, 2, 1, 2, 1.5};  // model.md's worked example

// ---- the upgrade gain at a chosen theta ----------------------------------------------

// At the draw's own theta the path code must reproduce evaluate_model's
// upgrade_gain bit for bit: both go through stage2_game and the same A2p.
TEST(UpgradeGainAt, OwnThetaGivesTheDrawsUpgradeGainBitForBit) {
  for (const ModelMode mode : {ModelMode::constrained, ModelMode::paper}) {
    const DrawSpec spec = baseline_spec(mode);
    int valid = 0;
    for (std::uint64_t i = 0; i < 20000; ++i) {
      Outcome o;
      if (evaluate_draw(spec, i, o) >= 0) continue;
      ++valid;
      double x[kNumSlots];
      sample_slots(spec, i, x);
      const Params p = params_from_slots(spec, x);
      const double A2p = level_at(p, x[S_A2p]);
      ASSERT_TRUE(same_bits(A2p, o.v[F_A2p])) << i;
      ASSERT_TRUE(same_bits(upgrade_gain_at(p, mode, A2p), o.v[F_upgrade_gain])) << i;
    }
    EXPECT_GT(valid, 19000);
  }
}

// a = 10, b = 1, c = 2, A1 = 1, A2 = 2: d = 8, leader margin m1 = 10 and the
// upgraded follower's m2 = 9 + theta, x = m1/m2 in (1/2, 3/2): regime 0 for
// every theta in [0, 1], so pi22_up = (3 m2 - 2 m1)^2 / 16 = (7 + 3 theta)^2 / 16
// and pi22 = 49/16, G(theta) = (42 theta + 9 theta^2) / 16. All values are exact
// in binary.
TEST(UpgradeGainAt, WorkedExampleByHand) {
  struct Case {
    double theta, gain;
  };
  for (const ModelMode mode : {ModelMode::constrained, ModelMode::paper}) {
    for (const Case c : {Case{0, 0}, Case{0.25, 11.0625 / 16}, Case{0.5, 1.453125},
                         Case{0.75, (31.5 + 5.0625) / 16}, Case{1, 3.1875}}) {
      EXPECT_EQ(upgrade_gain_at(kWorked, mode, level_at(kWorked, c.theta)), c.gain)
          << "theta " << c.theta;
    }
  }
  Outcome o;
  evaluate_model(kWorked, ModelMode::constrained, o);
  EXPECT_EQ(o.v[F_upgrade_gain], 1.453125);  // model.md's value, A2p = 1.5
}

// A1 = 0, A2 = 6 (d = 8): before upgrading m1 = 14, m2 = 8, x = 1.75, the
// follower is deterred (regime 1, pi22 = 0) while the paper's literal formula
// gives (3*8 - 2*14)^2 / 16 = 1. At theta = 1/2, A2p = 3, m2 = 11, x = 14/11:
// regime 0, pi22_up = (33 - 28)^2 / 16 = 25/16. At theta = 1/4, A2p = 1.5,
// m2 = 9.5: pi22_up = (28.5 - 28)^2 / 16 = 1/64.
TEST(UpgradeGainAt, DeterredFollowerByHandInBothModes) {
  const Params p{10, 1, 2, 0, 6, 0};
  EXPECT_EQ(upgrade_gain_at(p, ModelMode::constrained, level_at(p, 0.5)), 25.0 / 16);
  EXPECT_EQ(upgrade_gain_at(p, ModelMode::paper, level_at(p, 0.5)), 25.0 / 16 - 1);
  EXPECT_EQ(upgrade_gain_at(p, ModelMode::constrained, level_at(p, 0.25)), 1.0 / 64);
  EXPECT_EQ(upgrade_gain_at(p, ModelMode::paper, level_at(p, 0.25)), 1.0 / 64 - 1);
  EXPECT_EQ(upgrade_gain_at(p, ModelMode::constrained, level_at(p, 0)), 0.0);
}

// ---- the expected net gain ------------------------------------------------------------

PathsSpec fixed_paths(std::vector<std::vector<double>> rows) {
  PathsSpec s;
  s.n = static_cast<int>(rows.size());
  for (int k = 0; k < s.n; ++k) {
    const auto& r = rows[static_cast<std::size_t>(k)];
    s.cost[k] = {DistKind::fixed, r[0]};
    s.p_success[k] = {DistKind::fixed, r[1]};
    s.theta_success[k] = {DistKind::fixed, r[2]};
    s.theta_failure[k] = {DistKind::fixed, r[3]};
  }
  return s;
}

// g = p G(ts) + (1 - p) G(tf) - cost with the hand values above.
TEST(PathGains, WorkedExampleByHand) {
  const PathsSpec s = fixed_paths({
      {0.25, 0.5, 1, 0.25},  // 0.5 * 3.1875 + 0.5 * 0.69140625 - 0.25
      {0, 1, 0.5, 0},        // G(0.5)
      {0.5, 0.75, 0.5, 0},   // 0.75 * 1.453125 - 0.5
      {4, 0.5, 1, 1},        // G(1) - 4 < 0
      {0.1, 0, 1, 0},        // fails for sure: -cost
  });
  double g[kMaxPaths];
  path_gains(s, 1, 0, 0, kWorked, ModelMode::constrained, g);
  EXPECT_EQ(g[0], 1.689453125);
  EXPECT_EQ(g[1], 1.453125);
  EXPECT_EQ(g[2], 0.75 * 1.453125 - 0.5);
  EXPECT_EQ(g[3], 3.1875 - 4);
  EXPECT_EQ(g[4], -0.1);
  EXPECT_EQ(best_path(g, s.n), 0);
}

// Sure success at no cost: g is G(theta_success) exactly, whatever the draw.
TEST(PathGains, SureSuccessAtNoCostIsTheUpgradeGain) {
  PathsSpec s;
  s.n = 2;
  for (int k = 0; k < 2; ++k) {
    s.cost[k] = {DistKind::fixed, 0};
    s.p_success[k] = {DistKind::fixed, 1};
    s.theta_failure[k] = {DistKind::uniform, 0, 1};
  }
  s.theta_success[0] = {DistKind::beta, 2, 5, 0, 1};
  s.theta_success[1] = prepared({DistKind::truncnormal, 0.7, 0.2, 0, 1});
  for (const ModelMode mode : {ModelMode::constrained, ModelMode::paper}) {
    const DrawSpec spec = baseline_spec(mode);
    for (std::uint64_t i = 0; i < 5000; ++i) {
      const Params p = sample_params(spec, i);
      if (check_params(p) >= 0) continue;
      double g[kMaxPaths];
      path_gains(s, spec.seed, 3, i, p, mode, g);
      const DrawRng rng{spec.seed, i, 3};
      for (int k = 0; k < 2; ++k) {
        double v[kNumPathValues];
        sample_path(s, rng, k, v);
        ASSERT_TRUE(same_bits(g[k], upgrade_gain_at(p, mode, level_at(p, v[PV_theta_success]))))
            << "draw " << i << " path " << k;
      }
    }
  }
}

// Under the constrained model G is never negative for theta in [0, 1]
// (model.md), so a free path with theta_failure = 0 never loses.
TEST(PathGains, FreePathNeverLosesUnderTheConstrainedModel) {
  PathsSpec s;
  s.n = 1;
  s.p_success[0] = {DistKind::uniform, 0, 1};
  s.theta_success[0] = {DistKind::uniform, 0, 1};
  const DrawSpec spec = baseline_spec(ModelMode::constrained);
  for (std::uint64_t i = 0; i < 5000; ++i) {
    const Params p = sample_params(spec, i);
    if (check_params(p) >= 0) continue;
    double g[kMaxPaths];
    path_gains(s, spec.seed, 0, i, p, spec.mode, g);
    ASSERT_GE(g[0], 0.0) << i;
  }
}

TEST(PathGains, DependOnSeedStreamAndIndexOnly) {
  PathsSpec s;
  s.n = 3;
  for (int k = 0; k < 3; ++k) {
    s.cost[k] = {DistKind::uniform, 0, 1};
    s.p_success[k] = {DistKind::beta, 2, 2, 0, 1};
    s.theta_success[k] = {DistKind::uniform, 0.5, 1};
  }
  double g1[kMaxPaths], g2[kMaxPaths], g3[kMaxPaths], g4[kMaxPaths];
  path_gains(s, 9, 1, 123, kWorked, ModelMode::constrained, g1);
  path_gains(s, 9, 1, 123, kWorked, ModelMode::constrained, g2);
  path_gains(s, 9, 2, 123, kWorked, ModelMode::constrained, g3);
  path_gains(s, 9, 1, 124, kWorked, ModelMode::constrained, g4);
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(same_bits(g1[k], g2[k]));
    EXPECT_NE(g1[k], g3[k]);
    EXPECT_NE(g1[k], g4[k]);
  }
  EXPECT_NE(g1[0], g1[1]);  // paths have their own slots
}

// ---- the best path ----------------------------------------------------------------------

TEST(BestPath, ArgmaxLowestIndexOnTiesMinusOneWhenNothingPays) {
  {
    const double g[] = {0.5, 2, 1, 2};
    EXPECT_EQ(best_path(g, 4), 1);
    EXPECT_EQ(best_path(g, 1), 0);
  }
  {
    const double g[] = {-1, 0, -0.0, -3};
    EXPECT_EQ(best_path(g, 4), -1);  // a gain of exactly 0 does not pay
  }
  {
    const double g[] = {0, 1e-300, 1e-300};
    EXPECT_EQ(best_path(g, 3), 1);
  }
  {
    const double g[] = {NAN, 0.25, NAN};
    EXPECT_EQ(best_path(g, 3), 1);
    EXPECT_EQ(best_path(g, 1), -1);
  }
  EXPECT_EQ(best_path(nullptr, 0), -1);
}

// ---- sampling ----------------------------------------------------------------------------

// Every slot a path uses: distinct from each other and from the parameters'.
TEST(PathSampling, SlotsNeverCollide) {
  std::set<std::uint32_t> params;
  for (std::uint32_t pair = 0; pair < 3; ++pair) params.insert(primary_slot(pair));
  for (std::uint32_t id = 0; id < 16; ++id) {
    for (std::uint32_t sub = 0; sub < 3; ++sub) {  // 0, 1: gamma variates; 2: order statistic
      for (std::uint32_t iter : {0u, 1u, 0xfffeu, 0xffffu})
        params.insert(extra_slot(id, sub, iter));
    }
  }
  std::set<std::uint32_t> paths;
  std::size_t expected = 0;
  for (int p = 0; p < kMaxPaths; ++p) {
    for (int call = 0; call < 2; ++call) paths.insert(path_slot(p, call)), ++expected;
    for (int v = 0; v < kNumPathValues; ++v) {
      for (std::uint32_t sub = 0; sub < 3; ++sub) {
        for (std::uint32_t iter : {0u, 1u, 0xfffeu, 0xffffu}) {
          const std::uint32_t slot = extra_slot(path_param_id(p, v), sub, iter);
          EXPECT_EQ(slot & 0x03000000u, 0x03000000u);  // bits 24 and 25
          paths.insert(slot), ++expected;
        }
      }
    }
  }
  EXPECT_EQ(paths.size(), expected);
  for (const std::uint32_t s : paths) {
    EXPECT_EQ(params.count(s), 0u) << std::hex << s;
    EXPECT_NE(s & 0x02000000u, 0u) << std::hex << s;
  }
}

struct Moments {
  double mean, var, m4, min, max;
};

Moments moments_of(const std::vector<double>& x) {
  Moments m{0, 0, 0, x[0], x[0]};
  for (const double v : x) m.mean += v, m.min = std::min(m.min, v), m.max = std::max(m.max, v);
  m.mean /= static_cast<double>(x.size());
  for (const double v : x) {
    const double c = v - m.mean;
    m.var += c * c, m.m4 += c * c * c * c;
  }
  m.var /= static_cast<double>(x.size() - 1);
  m.m4 /= static_cast<double>(x.size());
  return m;
}

double phi(double x) {
  return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}
double big_phi(double x) {
  return 0.5 * std::erfc(-x / std::sqrt(2.0));
}

// Sampled path values: each value's mean and variance within 5 standard
// errors of its closed form, inside its support, and values of different
// paths and kinds uncorrelated (a slot collision would correlate them).
TEST(PathSampling, MomentsMatchClosedForms) {
  PathsSpec s;
  s.n = 2;
  struct Want {
    double mean, var, lo, hi;
  };
  Want want[2][kNumPathValues];
  auto uniform = [](double l, double h) { return Want{(l + h) / 2, (h - l) * (h - l) / 12, l, h}; };
  auto beta = [](double a, double b, double l, double h) {
    const double t = a + b, w = h - l;
    return Want{l + w * a / t, w * w * a * b / (t * t * (t + 1)), l, h};
  };
  auto triangular = [](double l, double m, double h) {
    return Want{(l + m + h) / 3, (l * l + m * m + h * h - l * m - l * h - m * h) / 18, l, h};
  };
  auto truncnormal = [](double mu, double sd, double l, double h) {
    const double a = (l - mu) / sd, b = (h - mu) / sd, z = big_phi(b) - big_phi(a);
    const double r = (phi(a) - phi(b)) / z;
    return Want{mu + sd * r, sd * sd * (1 + (a * phi(a) - b * phi(b)) / z - r * r), l, h};
  };
  s.cost[0] = {DistKind::uniform, 0.1, 0.5};
  want[0][PV_cost] = uniform(0.1, 0.5);
  s.p_success[0] = {DistKind::beta, 8, 2, 0, 1};
  want[0][PV_p_success] = beta(8, 2, 0, 1);
  s.theta_success[0] = {DistKind::triangular, 0.2, 0.3, 0.45};
  want[0][PV_theta_success] = triangular(0.2, 0.3, 0.45);
  s.theta_failure[0] = prepared({DistKind::truncnormal, 0.1, 0.05, 0, 0.2});
  want[0][PV_theta_failure] = truncnormal(0.1, 0.05, 0, 0.2);
  s.cost[1] = {DistKind::beta, 2, 3, 0.5, 2};
  want[1][PV_cost] = beta(2, 3, 0.5, 2);
  s.p_success[1] = {DistKind::beta, 2, 5, 0.2, 0.9};
  want[1][PV_p_success] = beta(2, 5, 0.2, 0.9);
  s.theta_success[1] = {DistKind::uniform, 0.5, 1};
  want[1][PV_theta_success] = uniform(0.5, 1);
  s.theta_failure[1] = {DistKind::beta, 0.5, 0.5, 0, 1};  // shape < 1: the boosted gamma
  want[1][PV_theta_failure] = beta(0.5, 0.5, 0, 1);

  const int n = 200000;
  std::vector<double> x[2][kNumPathValues];
  for (std::uint64_t i = 0; i < static_cast<std::uint64_t>(n); ++i) {
    const DrawRng rng{2024, i, 0};
    for (int p = 0; p < 2; ++p) {
      double v[kNumPathValues];
      sample_path(s, rng, p, v);
      for (int k = 0; k < kNumPathValues; ++k) x[p][k].push_back(v[k]);
    }
  }
  Moments m[2][kNumPathValues];
  for (int p = 0; p < 2; ++p) {
    for (int k = 0; k < kNumPathValues; ++k) {
      SCOPED_TRACE("path " + std::to_string(p) + " value " + std::to_string(k));
      const Want& w = want[p][k];
      m[p][k] = moments_of(x[p][k]);
      EXPECT_NEAR(m[p][k].mean, w.mean, 5 * std::sqrt(w.var / n));
      EXPECT_NEAR(m[p][k].var, w.var, 5 * std::sqrt((m[p][k].m4 - w.var * w.var) / n));
      EXPECT_GE(m[p][k].min, w.lo);
      EXPECT_LE(m[p][k].max, w.hi);
    }
  }
  // Pairwise correlations of all eight values: |r| < 5 / sqrt(n) each.
  for (int a = 0; a < 2 * kNumPathValues; ++a) {
    for (int b = a + 1; b < 2 * kNumPathValues; ++b) {
      const auto& xa = x[a / kNumPathValues][a % kNumPathValues];
      const auto& xb = x[b / kNumPathValues][b % kNumPathValues];
      const Moments& ma = m[a / kNumPathValues][a % kNumPathValues];
      const Moments& mb = m[b / kNumPathValues][b % kNumPathValues];
      double c = 0;
      for (std::size_t i = 0; i < xa.size(); ++i) c += (xa[i] - ma.mean) * (xb[i] - mb.mean);
      const double r = c / (n - 1) / std::sqrt(ma.var * mb.var);
      EXPECT_LT(std::fabs(r), 5 / std::sqrt(double(n))) << "values " << a << ", " << b;
    }
  }
}

// Fixed values take no randomness: the fixed value itself.
TEST(PathSampling, FixedValuesAreExact) {
  const PathsSpec s = fixed_paths({{0.3, 0.6, 0.9, 0.1}});
  double v[kNumPathValues];
  sample_path(s, DrawRng{1, 5, 0}, 0, v);
  EXPECT_EQ(v[PV_cost], 0.3);
  EXPECT_EQ(v[PV_p_success], 0.6);
  EXPECT_EQ(v[PV_theta_success], 0.9);
  EXPECT_EQ(v[PV_theta_failure], 0.1);
}

// ---- config -------------------------------------------------------------------------------

const std::string kParams =
    "draws: 100\n"
    "parameters: {a: 10, b: 1, c: 2, A1: 1, A2: 2, theta: 0.5}\n";

std::string error_of(const std::string& text) {
  try {
    parse_config_text(text, "x.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

#define EXPECT_HAS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg) << "\nlacks: " << (part)

TEST(PathsConfig, ReadsPathsWithTheirDefaults) {
  const Config cfg = parse_config_text(
      kParams +
          "paths:\n"
          "  - {name: absorb_spillover, cost: {dist: uniform, low: 0, high: 0.2},\n"
          "     p_success: {dist: beta, alpha: 8, beta: 2}, theta_success: 0.5}\n"
          "  - name: own_rnd\n"
          "    cost: {dist: lognormal, meanlog: 0, sdlog: 0.3}\n"
          "    p_success: {dist: truncnormal, mean: 0.4, sd: 0.2, low: 0, high: 1}\n"
          "    theta_success: {dist: uniform, low: 0.8, high: 1}\n"
          "    theta_failure: {dist: triangular, low: 0, mode: 0.1, high: 0.3}\n",
      "x.yaml");
  ASSERT_EQ(cfg.paths.size(), 2u);
  EXPECT_EQ(cfg.paths[0].name, "absorb_spillover");
  EXPECT_EQ(cfg.paths[0].cost.kind, DistKind::uniform);
  EXPECT_EQ(cfg.paths[0].cost.p1, 0.2);
  EXPECT_EQ(cfg.paths[0].p_success.kind, DistKind::beta);
  EXPECT_EQ(cfg.paths[0].p_success.p3, 1.0);  // beta's default high
  EXPECT_EQ(cfg.paths[0].theta_success.kind, DistKind::fixed);
  EXPECT_EQ(cfg.paths[0].theta_success.p0, 0.5);
  EXPECT_EQ(cfg.paths[0].theta_failure.kind, DistKind::fixed);  // default: no upgrade
  EXPECT_EQ(cfg.paths[0].theta_failure.p0, 0.0);
  EXPECT_EQ(cfg.paths[1].name, "own_rnd");
  EXPECT_EQ(cfg.paths[1].theta_failure.kind, DistKind::triangular);

  const PathsSpec spec = paths_spec(cfg);
  EXPECT_EQ(spec.n, 2);
  EXPECT_EQ(spec.cost[1].kind, DistKind::lognormal);
  EXPECT_TRUE(spec.p_success[1].has_derived);  // prepared truncnormal
  EXPECT_EQ(spec.theta_success[1].p0, 0.8);

  EXPECT_TRUE(parse_config_text(kParams, "x").paths.empty());
  EXPECT_EQ(paths_spec(parse_config_text(kParams, "x")).n, 0);
}

TEST(PathsConfig, EffectiveYamlRoundTrips) {
  Config cfg = parse_config_text(
      kParams + "paths:\n  - {name: 'null', cost: -0.5, p_success: 1, theta_success: 1}\n", "x");
  cfg.paths[0].cost = {DistKind::normal, 1.0 / 3.0, 1e-300};
  cfg.paths[0].theta_failure = {DistKind::beta, 0.7, 1e5, 0.125, 0.875};
  for (int k = 1; k < kMaxPaths; ++k) {
    PathConfig p = cfg.paths[0];
    p.name = "p_" + std::to_string(k);
    p.p_success = {DistKind::truncnormal, -0.0, 5e-324, 0, 1};
    cfg.paths.push_back(p);
  }
  const std::string yaml = effective_yaml(cfg);
  SCOPED_TRACE(yaml);
  const Config back = parse_config_text(yaml, "effective");
  ASSERT_EQ(back.paths.size(), cfg.paths.size());
  for (std::size_t k = 0; k < cfg.paths.size(); ++k) {
    const PathConfig &x = cfg.paths[k], &y = back.paths[k];
    EXPECT_EQ(x.name, y.name);
    const Dist* dx[] = {&x.cost, &x.p_success, &x.theta_success, &x.theta_failure};
    const Dist* dy[] = {&y.cost, &y.p_success, &y.theta_success, &y.theta_failure};
    for (int v = 0; v < kNumPathValues; ++v) {
      EXPECT_EQ(dx[v]->kind, dy[v]->kind);
      EXPECT_TRUE(same_bits(dx[v]->p0, dy[v]->p0) && same_bits(dx[v]->p1, dy[v]->p1) &&
                  same_bits(dx[v]->p2, dy[v]->p2) && same_bits(dx[v]->p3, dy[v]->p3))
          << "path " << k << " value " << v;
    }
  }
  EXPECT_EQ(effective_yaml(back), yaml);
  // No paths: no 'paths' key, so plain configs keep their text.
  EXPECT_EQ(effective_yaml(parse_config_text(kParams, "x")).find("paths"), std::string::npos);
}

TEST(PathsConfig, ErrorsNameThePathAndTheRule) {
  const std::string ok = "cost: 0.1, p_success: 0.5, theta_success: 0.5";
  auto one = [&](const std::string& path) { return kParams + "paths:\n  - " + path + "\n"; };

  // Duplicate names: the later one, with the earlier's index.
  std::string msg = error_of(kParams + "paths:\n  - {name: x, " + ok + "}\n  - {name: y, " + ok +
                             "}\n  - {name: x, " + ok + "}\n");
  EXPECT_HAS(msg, "x.yaml:6:");
  EXPECT_HAS(msg, "paths.2.name: duplicate path name 'x' (also paths.0)");

  // p_success outside [0, 1].
  msg = error_of(one("{name: x, cost: 0, p_success: 1.5, theta_success: 1}"));
  EXPECT_HAS(msg, "paths.0.p_success: p_success is a probability and must stay in [0, 1], but 1.5");
  msg = error_of(
      one("{name: x, cost: 0, p_success: {dist: uniform, low: 0.5, high: 1.2}, theta_success: 1}"));
  EXPECT_HAS(msg, "the support [0.5, 1.2] leaves it");
  msg =
      error_of(one("{name: x, cost: 0, p_success: {dist: beta, alpha: 2, beta: 2, low: -0.1}, "
                   "theta_success: 1}"));
  EXPECT_HAS(msg, "the support [-0.1, 1] leaves it");
  msg = error_of(
      one("{name: x, cost: 0, p_success: {dist: normal, mean: 0.5, sd: 0.1}, theta_success: 1}"));
  EXPECT_HAS(msg, "a normal distribution is unbounded, but p_success is a probability");
  msg = error_of(one("{name: x, cost: 0, p_success: -0.0001, theta_success: 1}"));
  EXPECT_HAS(msg, "must stay in [0, 1]");
  EXPECT_NO_THROW(parse_config_text(
      one("{name: x, cost: 0, p_success: {dist: triangular, low: 0, mode: 1, high: 1}, "
          "theta_success: 1}"),
      "x"));

  // theta outside [0, 1].
  msg = error_of(one("{name: x, cost: 0, p_success: 1, theta_success: 1.5}"));
  EXPECT_HAS(msg, "paths.0.theta_success: theta must lie in [0, 1] (got 1.5)");
  msg = error_of(one("{name: x, " + ok + ", theta_failure: {dist: uniform, low: -1, high: 0}}"));
  EXPECT_HAS(msg, "paths.0.theta_failure: theta must stay in [0, 1]");

  // Too many paths.
  std::string many = kParams + "paths:\n";
  for (int k = 0; k <= kMaxPaths; ++k)
    many += "  - {name: p" + std::to_string(k) + ", " + ok + "}\n";
  msg = error_of(many);
  EXPECT_HAS(msg, "x.yaml:4:3: ");  // the list
  EXPECT_HAS(msg, "paths: at most 8 paths (got 9)");

  // Names, keys, shapes.
  EXPECT_HAS(error_of(one("{name: 1st, " + ok + "}")), "paths.0.name: must be a name of letters");
  EXPECT_HAS(error_of(one("{name: a-b, " + ok + "}")), "must be a name");
  EXPECT_HAS(error_of(one("{name: x, cost: 0, theta_success: 1}")),
             "paths.0: missing 'p_success' (theta_failure is optional, default 0)");
  EXPECT_HAS(error_of(one("{" + ok + "}")), "paths.0: missing 'name'");
  EXPECT_HAS(error_of(one("{name: x, p_sucess: 1, cost: 0, theta_success: 1}")),
             "paths.0: unknown key 'p_sucess' (did you mean 'p_success'?)");
  EXPECT_HAS(error_of(kParams + "paths: []\n"), "paths: is empty");
  EXPECT_HAS(error_of(kParams + "paths: {name: x}\n"), "paths: expected a list of paths");
  EXPECT_HAS(error_of(kParams + "paths:\n  - 3\n"), "paths.0: expected a map");
  EXPECT_HAS(error_of(one("{name: x, cost: {dist: uniform, low: 1, high: 0}, p_success: 1, "
                          "theta_success: 1}")),
             "paths.0.cost: low (1) must be < high (0)");
}

// The bundled study: the paper's four routes on top of the baseline parameters.
TEST(PathsConfig, BundledConfigIsTheFourRoutesOnTheBaseline) {
  const std::string dir = std::string(SPILLMC_SOURCE_DIR) + "/configs/";
  const Config cfg = load_config(dir + "paths.yaml");
  const Config base = load_config(dir + "baseline.yaml");
  EXPECT_EQ(cfg.output_path, "results/paths.h5");
  EXPECT_EQ(cfg.draws, 1000000u);
  EXPECT_EQ(cfg.seed, base.seed);
  EXPECT_EQ(cfg.a2_is_gap, base.a2_is_gap);
  EXPECT_EQ(cfg.a2p_is_theta, base.a2p_is_theta);
  for (int s = 0; s < kNumSlots; ++s) {
    EXPECT_EQ(cfg.dist[s].kind, base.dist[s].kind);
    EXPECT_EQ(cfg.dist[s].p0, base.dist[s].p0);
    EXPECT_EQ(cfg.dist[s].p1, base.dist[s].p1);
    EXPECT_EQ(cfg.dist[s].p2, base.dist[s].p2);
  }
  ASSERT_EQ(cfg.paths.size(), 4u);
  EXPECT_EQ(cfg.paths[0].name, "absorb_spillover");
  EXPECT_EQ(cfg.paths[1].name, "reverse_oem");
  EXPECT_EQ(cfg.paths[2].name, "iur_cluster");
  EXPECT_EQ(cfg.paths[3].name, "independent_rnd");
}

}  // namespace
}  // namespace spillmc
