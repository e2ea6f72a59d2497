#include "config_input.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include "spillmc/analysis.hpp"
#include "spillmc/config.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/errors.hpp"

namespace spillmc::fuzz {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw Violation(what);
}

// The draws sampled per cell: the first few, and some near the end of the counter range,
// where a draw index no longer fits a double exactly.
constexpr std::uint64_t kDrawIndices[] = {
    0, 1, 2, 3, 65535, (std::uint64_t{1} << 53) + 1, ~std::uint64_t{0}};
constexpr std::size_t kCellsSampled = 4;

void check_draws(const DrawSpec& spec) {
  for (const std::uint64_t i : kDrawIndices) {
    Outcome o{};
    const int reason = evaluate_draw(spec, i, o);
    const std::string at = "draw " + std::to_string(i) + ": ";
    if (reason >= 0) {
      require(reason < kNumInvalid, at + "invalid reason " + std::to_string(reason));
      continue;
    }
    require(o.v[F_b] > 0, at + "a valid draw with b <= 0");
    for (int f = 0; f < kNumAlwaysFields; ++f)
      require(std::isfinite(o.v[f]), at + "valid, but " + kFieldNames[f] + " is not finite");
    require(!o.a2crit_defined || std::isfinite(o.v[F_A2_crit]),
            at + "valid, but a defined A2_crit is not finite");
    require(
        o.regime2 >= 0 && o.regime2 < kNumRegimes && o.regime_up >= 0 && o.regime_up < kNumRegimes,
        at + "regime out of range");
  }
}

bool same_dist(const Dist& x, const Dist& y) {
  return x.kind == y.kind && x.p0 == y.p0 && x.p1 == y.p1 && x.p2 == y.p2 && x.p3 == y.p3;
}

// Everything a run takes from the config, compared field by field: an effective YAML that
// loses a key or a digit would still read back as itself, so the round trip alone would pass.
void require_same_settings(const Config& x, const Config& y) {
  require(x.draws == y.draws && x.seed == y.seed && x.model == y.model && x.backend == y.backend &&
              x.threads == y.threads && x.stream == y.stream,
          "a top-level setting changed");
  for (int i = 0; i < kNumSlots; ++i)
    require(same_dist(x.dist[i], y.dist[i]), "parameter slot " + std::to_string(i) + " changed");
  require(x.a2_is_gap == y.a2_is_gap && x.a2p_is_theta == y.a2p_is_theta,
          "A2_gap or theta changed");
  require(x.output_path == y.output_path && x.checkpoint_every == y.checkpoint_every &&
              x.checkpoint_file() == y.checkpoint_file(),
          "output or checkpoint changed");
  require(x.sweep.draws_per_cell == y.sweep.draws_per_cell &&
              x.sweep.axes.size() == y.sweep.axes.size(),
          "sweep changed");
  for (std::size_t i = 0; i < x.sweep.axes.size(); ++i)
    require(x.sweep.axes[i].name == y.sweep.axes[i].name &&
                x.sweep.axes[i].values == y.sweep.axes[i].values,
            "sweep axis " + std::to_string(i) + " changed");
  const auto& hx = x.histograms;
  const auto& hy = y.histograms;
  require(hx.enabled == hy.enabled && hx.bins == hy.bins && hx.fields == hy.fields &&
              hx.ranges == hy.ranges,
          "histograms changed");
  require(x.draws_output.select == y.draws_output.select && x.draws_output.n == y.draws_output.n &&
              x.draws_output.fields == y.draws_output.fields &&
              x.draws_output.compress == y.draws_output.compress,
          "output.draws changed");
  require(x.conditions.size() == y.conditions.size(), "conditions changed");
  for (std::size_t i = 0; i < x.conditions.size(); ++i)
    require(condition_name(x.conditions[i]) == condition_name(y.conditions[i]),
            "condition " + std::to_string(i) + " changed");
  require(x.correlation.enabled == y.correlation.enabled, "correlation changed");
  for (int i = 0; i < kNumSlots; ++i)
    for (int j = 0; j < kNumSlots; ++j)
      require(x.correlation.r[i][j] == y.correlation.r[i][j], "a correlation changed");
  require(x.sensitivity.enabled == y.sensitivity.enabled &&
              x.sensitivity.outputs == y.sensitivity.outputs &&
              x.sensitivity.base_draws == y.sensitivity.base_draws,
          "sensitivity changed");
  require(x.paths.size() == y.paths.size(), "paths changed");
  for (std::size_t i = 0; i < x.paths.size(); ++i) {
    const PathConfig &px = x.paths[i], &py = y.paths[i];
    require(px.name == py.name && same_dist(px.cost, py.cost) &&
                same_dist(px.p_success, py.p_success) &&
                same_dist(px.theta_success, py.theta_success) &&
                same_dist(px.theta_failure, py.theta_failure),
            "path " + std::to_string(i) + " changed");
  }
}

// What `spillmc validate` and the start of `spillmc run` do with the text.
void check_valid_config(const Config& cfg) {
  // Read back as inspect, verify and merge read the config a result file stores.
  const std::string yaml = effective_yaml(cfg);
  Config again;
  try {
    again = parse_config_text(yaml, "effective.yaml");
  } catch (const InputError& e) {
    throw Violation(std::string("the effective config does not parse: ") + e.what() +
                    "\n--- effective config ---\n" + yaml);
  }
  const std::string yaml_again = effective_yaml(again);
  require(yaml_again == yaml, "the effective config reads back differently:\n--- first ---\n" +
                                  yaml + "--- read back ---\n" + yaml_again);
  try {
    require_same_settings(cfg, again);
  } catch (const Violation& v) {
    throw Violation(std::string("the effective config reads back with ") + v.what() +
                    "\n--- effective config ---\n" + yaml);
  }

  RunPlan plan;
  try {
    plan = make_run_plan(cfg);
    check_run_options(cfg, plan, false, 1);
  } catch (const InputError&) {
    return;  // refused before any draw, with a message: allowed
  }
  require(!plan.cells.empty(), "a plan without cells");
  for (std::size_t k = 0; k < plan.cells.size() && k < kCellsSampled; ++k)
    check_draws(plan.cells[k]);
}

}  // namespace

void check_config_input(const std::uint8_t* data, std::size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  const void* nul = std::memchr(text, '\0', size);
  const std::size_t yaml_size =
      nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - text) : size;
  const std::string yaml(text, yaml_size);
  std::vector<Override> overrides;
  Config cfg;
  try {
    if (nul) {
      std::string rest(text + yaml_size + 1, size - yaml_size - 1);
      std::size_t start = 0;
      while (start <= rest.size()) {
        std::size_t end = rest.find('\n', start);
        if (end == std::string::npos) end = rest.size();
        if (end > start) overrides.push_back(parse_override(rest.substr(start, end - start)));
        start = end + 1;
      }
    }
    cfg = load_config_text(yaml, "fuzz.yaml", overrides);
  } catch (const InputError& e) {
    require(std::strlen(e.what()) > 0, "an InputError without a message");
    return;
  }
  check_valid_config(cfg);
}

}  // namespace spillmc::fuzz
