// Sobol indices: the block merge, the estimators with their delta-method
// intervals, and the model's pick-freeze design (docs/sensitivity.md).
#include "spillmc/sobol.hpp"

#include <fmt/format.h>

#include <cmath>

namespace spillmc {

void SobolCoMoments::merge(const SobolCoMoments& o) {
  if (o.n == 0) return;
  if (n == 0) {
    *this = o;
    return;
  }
  const std::size_t d = static_cast<std::size_t>(dim);
  const double na = static_cast<double>(n), nb = static_cast<double>(o.n);
  const double nt = na + nb;
  std::vector<double> delta(d);
  for (std::size_t p = 0; p < d; ++p) delta[p] = o.mean[p] - mean[p];
  for (std::size_t p = 0; p < d; ++p) mean[p] += delta[p] * (nb / nt);
  const double wgt = na * nb / nt;
  for (std::size_t p = 0; p < d; ++p)
    for (std::size_t q = 0; q < d; ++q)
      m2[p * d + q] += o.m2[p * d + q] + delta[p] * delta[q] * wgt;
  n += o.n;
}

namespace {

constexpr double kZ95 = 1.959963984540054;  // Phi^-1(0.975)

// Estimate ratio mu[num] / V with V = mu[q] - mu[s]^2, and its delta-method
// standard error: gradient g over (num, q, s) = (1, -S, 2 mu_s S) / V, and
// Var = g' Cov g / n with Cov = M2 / (n - 1).
void ratio(const SobolCoMoments& c, std::size_t num, double& est, double& lo, double& hi) {
  const std::size_t d = static_cast<std::size_t>(c.dim);
  const std::size_t q = d - 2, s = d - 1;
  const double var = c.mean[q] - c.mean[s] * c.mean[s];
  est = lo = hi = NAN;
  if (c.n == 0 || !(var > 0.0)) return;
  est = c.mean[num] / var;
  if (c.n < 2) return;
  const std::size_t idx[3] = {num, q, s};
  const double g[3] = {1.0 / var, -est / var, 2.0 * c.mean[s] * est / var};
  double v = 0.0;
  for (int x = 0; x < 3; ++x)
    for (int y = 0; y < 3; ++y) v += g[x] * g[y] * c.m2[idx[x] * d + idx[y]];
  v /= static_cast<double>(c.n - 1) * static_cast<double>(c.n);
  const double half = kZ95 * std::sqrt(v > 0.0 ? v : 0.0);
  lo = est - half;
  hi = est + half;
}

}  // namespace

SensitivityIndices sobol_indices(const SobolAccumulation& acc, int o) {
  const SobolCoMoments& c = acc.moments[static_cast<std::size_t>(o)];
  const std::size_t k = static_cast<std::size_t>(acc.k);
  SensitivityIndices r;
  r.n = c.n;
  r.S1.resize(k), r.S1_lo.resize(k), r.S1_hi.resize(k);
  r.ST.resize(k), r.ST_lo.resize(k), r.ST_hi.resize(k);
  const std::size_t d = static_cast<std::size_t>(c.dim);
  r.mean = c.n > 0 ? acc.center[static_cast<std::size_t>(o)] + c.mean[d - 1] : NAN;
  r.variance = c.n > 0 ? c.mean[d - 2] - c.mean[d - 1] * c.mean[d - 1] : NAN;
  if (r.variance < 0.0) r.variance = 0.0;  // rounding of a constant output
  for (std::size_t i = 0; i < k; ++i) {
    ratio(c, i, r.S1[i], r.S1_lo[i], r.S1_hi[i]);
    ratio(c, k + i, r.ST[i], r.ST_lo[i], r.ST_hi[i]);
  }
  return r;
}

std::vector<std::string> sensitivity_output_names() {
  std::vector<std::string> names;
  for (int f = 0; f < kNumFields; ++f)
    if (f != F_A2_crit) names.emplace_back(kFieldNames[f]);
  for (int e = 0; e < kNumEvents; ++e) names.emplace_back(kEventNames[e]);
  return names;
}

std::vector<int> sensitivity_slots(const DrawSpec& spec) {
  std::vector<int> slots;
  for (int s = 0; s < kNumSlots; ++s)
    if (spec.dist[s].kind != DistKind::fixed) slots.push_back(s);
  return slots;
}

std::string slot_name(const DrawSpec& spec, int slot) {
  switch (slot) {
    case S_a:
      return "a";
    case S_b:
      return "b";
    case S_c:
      return "c";
    case S_A1:
      return "A1";
    case S_A2:
      return spec.a2_is_gap ? "A2_gap" : "A2";
    default:
      return spec.a2p_is_theta ? "theta" : "A2p";
  }
}

SensitivityResult run_sensitivity(
    const DrawSpec& spec, const SensitivityConfig& cfg, int threads,
    const std::atomic<bool>* cancel,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  // What each output reads from an Outcome: a field (>= 0) or event e (-1 - e).
  std::vector<int> what;
  for (const auto& name : cfg.outputs) {
    int found = kNumFields;
    for (int f = 0; f < kNumFields; ++f)
      if (name == kFieldNames[f]) found = f;
    for (int e = 0; e < kNumEvents; ++e)
      if (name == kEventNames[e]) found = -1 - e;
    if (found == F_A2_crit)
      throw InputError(
          "sensitivity: output 'A2_crit' is not supported: it is undefined in draws with "
          "d + A1 <= 0, and Sobol indices need the output in every draw");
    if (found == kNumFields)
      throw InputError(fmt::format("sensitivity: unknown output '{}'", name));
    what.push_back(found);
  }
  if (what.empty()) throw InputError("sensitivity: no outputs");
  if (cfg.base_draws < 2)
    throw InputError(fmt::format("sensitivity: base_draws must be >= 2 (got {})", cfg.base_draws));
  const std::vector<int> slots = sensitivity_slots(spec);
  if (slots.empty())
    throw InputError(
        "sensitivity: no sampled parameter (every parameter is fixed); give at least one a "
        "distribution");

  DrawSpec spec_a = spec, spec_b = spec;
  spec_a.stream = kSobolStreamA;
  spec_b.stream = kSobolStreamB;
  const int k = static_cast<int>(slots.size());
  const int m = static_cast<int>(what.size());
  double fixed[kNumSlots];
  for (int s = 0; s < kNumSlots; ++s) fixed[s] = spec.dist[s].p0;

  const auto sample = [&](std::uint64_t j, int matrix, double* x) {
    double all[kNumSlots];
    sample_slots(matrix == 0 ? spec_a : spec_b, j, all);
    for (int i = 0; i < k; ++i) x[i] = all[slots[static_cast<std::size_t>(i)]];
  };
  const auto model = [&](const double* x, double* out) {
    double all[kNumSlots];
    for (int s = 0; s < kNumSlots; ++s) all[s] = fixed[s];
    for (int i = 0; i < k; ++i) all[slots[static_cast<std::size_t>(i)]] = x[i];
    Outcome o;
    if (evaluate_params(params_from_slots(spec, all), spec.mode, o) >= 0) return false;
    for (int r = 0; r < m; ++r) {
      const int w = what[static_cast<std::size_t>(r)];
      out[r] = w >= 0 ? o.v[w] : (o.event[-1 - w] ? 1.0 : 0.0);
    }
    return true;
  };
  const SobolAccumulation acc =
      sobol_accumulate(k, m, cfg.base_draws, sample, model, threads, cancel, progress);

  SensitivityResult res;
  for (int s : slots) res.parameters.push_back(slot_name(spec, s));
  res.base_draws = cfg.base_draws;
  res.base_draws_invalid = acc.invalid;
  res.evaluations = cfg.base_draws * static_cast<std::uint64_t>(k + 2);
  for (int r = 0; r < m; ++r) {
    SensitivityIndices ind = sobol_indices(acc, r);
    ind.output = cfg.outputs[static_cast<std::size_t>(r)];
    res.outputs.push_back(std::move(ind));
  }
  return res;
}

}  // namespace spillmc
