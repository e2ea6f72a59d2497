// Sobol indices: the block merge, the estimators with their delta-method
// intervals, and the model's pick-freeze design (docs/sensitivity.md).
#include "spillmc/sobol.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

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

namespace {

// What each output reads from an Outcome: a field (>= 0) or event e (-1 - e).
std::vector<int> output_codes(const std::vector<std::string>& outputs) {
  std::vector<int> what;
  for (const auto& name : outputs) {
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
  return what;
}

std::vector<int> sampled_slots(const DrawSpec& spec) {
  std::vector<int> slots = sensitivity_slots(spec);
  if (slots.empty())
    throw InputError(
        "sensitivity: no sampled parameter (every parameter is fixed); give at least one a "
        "distribution");
  return slots;
}

// The design's rows for the host: the shared sobol_sample and sobol_model
// (sobol_design.hpp), as the CUDA kernel evaluates them.
struct HostRows {
  DrawSpec spec_a, spec_b;
  int k = 0, m = 0;
  const int* slot = nullptr;
  const int* what = nullptr;

  HostRows(const DrawSpec& spec, const std::vector<int>& slots, const std::vector<int>& outputs)
      : spec_a(spec),
        spec_b(spec),
        k(static_cast<int>(slots.size())),
        m(static_cast<int>(outputs.size())),
        slot(slots.data()),
        what(outputs.data()) {
    spec_a.stream = kSobolStreamA;
    spec_b.stream = kSobolStreamB;
  }
  explicit HostRows(const SobolDesign& d)
      : spec_a(d.spec_a), spec_b(d.spec_b), k(d.k), m(d.m), slot(d.slot), what(d.what) {}

  void sample(std::uint64_t j, int matrix, double* x) const {
    sobol_sample(matrix == 0 ? spec_a : spec_b, k, slot, j, x);
  }
  bool model(const double* x, double* out) const {
    return sobol_model(spec_a, k, slot, m, what, x, out);
  }
};

// Blocks per sobol_cuda_blocks call: the unit of progress and cancellation.
// A block is 65536 (k + 2) model evaluations; 1024 blocks are a few waves of
// a large GPU, and at most 31 MB of raw sums (29 outputs, k = 6).
constexpr std::uint64_t kCudaChunkBlocks = 1024;

SobolAccumulation accumulate_cuda(
    int device, SobolDesign d, const std::atomic<bool>* cancel,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  const HostRows rows(d);
  SobolAccumulation acc;
  acc.k = d.k;
  acc.m = d.m;
  acc.base_draws = d.base_draws;
  acc.center = sobol_detail::center(
      d.k, d.m, d.base_draws, [&](std::uint64_t j, int mtx, double* x) { rows.sample(j, mtx, x); },
      [&](const double* x, double* out) { return rows.model(x, out); });
  for (int o = 0; o < d.m; ++o) d.center[o] = acc.center[static_cast<std::size_t>(o)];
  const std::size_t stride =
      static_cast<std::size_t>(d.m) * static_cast<std::size_t>(sobol_raw_stride(sobol_dim(d.k)));
  std::vector<std::uint64_t> counts;
  std::vector<double> sums;
  sobol_detail::fold_blocks(
      acc, kCudaChunkBlocks,
      [&](std::uint64_t b0, std::uint64_t nb, SobolCoMoments* part, std::uint64_t* bad) {
        counts.resize(2 * nb);
        sums.resize(nb * stride);
        sobol_cuda_blocks(device, d, b0, nb, counts.data(), sums.data());
        sobol_detail::partials_from_raw(d.k, d.m, nb, counts.data(), sums.data(), part, bad);
      },
      cancel, progress);
  return acc;
}

}  // namespace

namespace sobol_detail {

void fold_blocks(SobolAccumulation& acc, std::uint64_t chunk, const BlockChunkFn& compute,
                 const std::atomic<bool>* cancel,
                 const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  const std::size_t nm = static_cast<std::size_t>(acc.m);
  const int dim = sobol_dim(acc.k);
  acc.invalid = 0;
  acc.moments.assign(nm, SobolCoMoments{});
  for (auto& c : acc.moments) {
    c.dim = dim;
    c.mean.assign(static_cast<std::size_t>(dim), 0.0);
    c.m2.assign(static_cast<std::size_t>(dim * dim), 0.0);
  }
  const std::uint64_t nblocks = (acc.base_draws + kBlockDraws - 1) / kBlockDraws;
  chunk = std::max<std::uint64_t>(1, chunk);
  std::vector<SobolCoMoments> part(static_cast<std::size_t>(std::min(chunk, nblocks)) * nm);
  std::vector<std::uint64_t> bad(static_cast<std::size_t>(std::min(chunk, nblocks)));
  std::uint64_t done = 0;
  for (std::uint64_t b0 = 0; b0 < nblocks; b0 += chunk) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
    const std::uint64_t nb = std::min(chunk, nblocks - b0);
    compute(b0, nb, part.data(), bad.data());
    for (std::uint64_t t = 0; t < nb; ++t) {
      const std::size_t ti = static_cast<std::size_t>(t);
      for (std::size_t o = 0; o < nm; ++o) acc.moments[o].merge(part[ti * nm + o]);
      acc.invalid += bad[ti];
      done += block_length(acc.base_draws, b0 + t);
    }
    if (progress) progress(done, acc.base_draws);
  }
  if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
}

void partials_from_raw(int k, int m, std::uint64_t nblocks, const std::uint64_t* counts,
                       const double* sums, SobolCoMoments* part, std::uint64_t* invalid) {
  const int dim = sobol_dim(k);
  const std::size_t stride = static_cast<std::size_t>(sobol_raw_stride(dim));
  const std::size_t nm = static_cast<std::size_t>(m);
  for (std::uint64_t b = 0; b < nblocks; ++b) {
    const std::size_t bi = static_cast<std::size_t>(b);
    invalid[bi] = counts[2 * bi + 1];
    for (std::size_t o = 0; o < nm; ++o) {
      SobolCoMoments& c = part[bi * nm + o];
      const double* raw = sums + (bi * nm + o) * stride;
      c.n = counts[2 * bi];
      c.dim = dim;
      c.mean.resize(static_cast<std::size_t>(dim));
      c.m2.resize(static_cast<std::size_t>(dim * dim));
      sobol_finish(dim, c.n, raw, raw + dim, c.mean.data(), c.m2.data());
    }
  }
}

void design_block_cpu(const SobolDesign& d, std::uint64_t blk, SobolCoMoments* out,
                      std::uint64_t& invalid) {
  const HostRows rows(d);
  accumulate_block(
      d.k, d.m, blk * kBlockDraws, block_length(d.base_draws, blk), d.center,
      [&](std::uint64_t j, int mtx, double* x) { rows.sample(j, mtx, x); },
      [&](const double* x, double* o) { return rows.model(x, o); }, out, invalid);
}

std::vector<double> design_center(const SobolDesign& d) {
  const HostRows rows(d);
  return center(
      d.k, d.m, d.base_draws, [&](std::uint64_t j, int mtx, double* x) { rows.sample(j, mtx, x); },
      [&](const double* x, double* o) { return rows.model(x, o); });
}

}  // namespace sobol_detail

SobolDesign make_sobol_design(const DrawSpec& spec, const std::vector<std::string>& outputs) {
  const std::vector<int> what = output_codes(outputs);
  const std::vector<int> slots = sampled_slots(spec);
  if (what.size() > static_cast<std::size_t>(kSobolMaxOutputs))
    throw InputError(fmt::format("sensitivity: {} outputs; a design holds at most {}", what.size(),
                                 kSobolMaxOutputs));
  SobolDesign d;
  d.spec_a = d.spec_b = spec;
  d.spec_a.stream = kSobolStreamA;
  d.spec_b.stream = kSobolStreamB;
  d.k = static_cast<int>(slots.size());
  d.m = static_cast<int>(what.size());
  for (int i = 0; i < d.k; ++i) d.slot[i] = slots[static_cast<std::size_t>(i)];
  for (int o = 0; o < d.m; ++o) d.what[o] = what[static_cast<std::size_t>(o)];
  return d;
}

SensitivityResult run_sensitivity(const DrawSpec& spec, const SensitivityConfig& cfg, int threads,
                                  const std::atomic<bool>* cancel,
                                  const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                                  int cuda_device) {
  const std::vector<int> what = output_codes(cfg.outputs);
  if (cfg.base_draws < 2)
    throw InputError(fmt::format("sensitivity: base_draws must be >= 2 (got {})", cfg.base_draws));
  // The config reader's limit (sobol.hpp), for a Config built in code.
  if (cfg.base_draws > kMaxBaseDraws)
    throw InputError(fmt::format("sensitivity: base_draws must be at most {} (2^50; got {})",
                                 kMaxBaseDraws, cfg.base_draws));
  const std::vector<int> slots = sampled_slots(spec);
  const int k = static_cast<int>(slots.size());
  const int m = static_cast<int>(what.size());

  SobolAccumulation acc;
  if (cuda_device >= 0 && m <= kSobolMaxOutputs) {
    SobolDesign d = make_sobol_design(spec, cfg.outputs);
    d.base_draws = cfg.base_draws;
    spdlog::info("sensitivity: blocks on CUDA device {}", cuda_device);
    acc = accumulate_cuda(cuda_device, d, cancel, progress);
  } else {
    if (cuda_device >= 0)
      spdlog::info(
          "sensitivity: {} outputs, more than the CUDA path's {}; the design runs on the CPU", m,
          kSobolMaxOutputs);
    const HostRows rows(spec, slots, what);
    acc = sobol_accumulate(
        k, m, cfg.base_draws, [&](std::uint64_t j, int mtx, double* x) { rows.sample(j, mtx, x); },
        [&](const double* x, double* out) { return rows.model(x, out); }, threads, cancel,
        progress);
  }

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
