#include "spillmc/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "spillmc/backend.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/result.hpp"
#include "spillmc/run.hpp"

namespace spillmc {

std::size_t AnalysisSpec::hist_size() const {
  std::size_t n = 0;
  for (const HistAxis& a : hist_axes) n += static_cast<std::size_t>(a.bins) + 2;
  return n;
}

void Extra::init(const AnalysisSpec& a) {
  hist.assign(a.hist_size(), 0);
  cond.assign(a.conditions.size(), Tally());
  path_gain.assign(static_cast<std::size_t>(a.paths.n), Moments());
  path_best.assign(a.paths.n > 0 ? static_cast<std::size_t>(a.paths.n) + 1 : 0, 0);
}

void Extra::init_segment(const AnalysisSpec& a) {
  init(a);
  hist.clear();
}

void add_counts(std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) {
  if (b.empty()) return;
  if (a.empty()) {
    a = b;
    return;
  }
  for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
}

namespace {
// Ordered merges (Tally, Moments): `b` is the later block.
template <class T>
void merge_in_order(std::vector<T>& a, const std::vector<T>& b) {
  if (b.empty()) return;
  if (a.empty()) {
    a = b;
    return;
  }
  for (std::size_t i = 0; i < a.size(); ++i) a[i].merge(b[i]);
}
}  // namespace

void Extra::merge(const Extra& o) {
  add_counts(hist, o.hist);
  merge_in_order(cond, o.cond);
  merge_in_order(path_gain, o.path_gain);
  add_counts(path_best, o.path_best);
}

void Extra::move_hist_into(std::vector<std::uint64_t>& total) {
  add_counts(total, hist);
  hist.clear();
}

std::string hist_problem(const AnalysisSpec& a, const std::vector<std::uint64_t>& hist,
                         const std::vector<Tally>& segments, const Tally* current) {
  if (!hist.empty() && hist.size() != a.hist_size())
    return "holds " + std::to_string(hist.size()) + " histogram counters, expected " +
           std::to_string(a.hist_size()) + " for this config";
  std::size_t off = 0;
  for (std::size_t h = 0; h < a.hist_fields.size(); ++h) {
    const int f = a.hist_fields[h];
    const auto slots = static_cast<std::size_t>(a.hist_axes[h].bins) + 2;
    std::uint64_t counted = 0, held = current ? current->field[f].n : 0;
    for (std::size_t k = 0; k < slots && !hist.empty(); ++k) counted += hist[off + k];
    for (const Tally& t : segments) held += t.field[f].n;
    if (counted != held)
      return "counts " + std::to_string(counted) + " values of " + kFieldNames[f] +
             " in its histogram, where its tallies hold " + std::to_string(held);
    off += slots;
  }
  return {};
}

std::size_t Extra::byte_size() const {
  return hist.size() * sizeof(std::uint64_t) + cond.size() * sizeof(Tally) +
         path_gain.size() * sizeof(Moments) + path_best.size() * sizeof(std::uint64_t);
}

namespace {
template <class T>
void put(unsigned char*& p, const std::vector<T>& v) {
  if (v.empty()) return;
  std::memcpy(p, v.data(), v.size() * sizeof(T));
  p += v.size() * sizeof(T);
}
template <class T>
void get(const unsigned char*& p, std::vector<T>& v) {
  if (v.empty()) return;
  std::memcpy(v.data(), p, v.size() * sizeof(T));
  p += v.size() * sizeof(T);
}
}  // namespace

void Extra::to_bytes(unsigned char* out) const {
  put(out, hist), put(out, cond), put(out, path_gain), put(out, path_best);
}

void Extra::from_bytes(const unsigned char* in) {
  get(in, hist), get(in, cond), get(in, path_gain), get(in, path_best);
}

std::uint64_t RunPlan::blocks_per_cell() const {
  return block_count(draws);
}
std::uint64_t RunPlan::segments_per_cell() const {
  return segment_count(draws, segment_blocks);
}

RunPlan plain_plan(const DrawSpec& spec, std::uint64_t draws) {
  RunPlan p;
  p.cells.push_back(spec);
  p.draws = draws;
  return p;
}

std::vector<std::size_t> cell_coords(const SweepConfig& s, std::uint64_t k) {
  std::vector<std::size_t> c(s.axes.size());
  for (std::size_t i = s.axes.size(); i-- > 0;) {
    const std::uint64_t n = s.axes[i].values.size();
    c[i] = static_cast<std::size_t>(k % n);
    k /= n;
  }
  return c;
}

std::string condition_name(const Condition& c) {
  return (c.negated ? std::string("not_") : std::string()) + kEventNames[c.event];
}

namespace {

// Fixes the parameter an axis names in a cell's spec.
void fix_axis(DrawSpec& spec, const std::string& name, double value) {
  int slot = -1;
  if (name == "a") slot = S_a;
  if (name == "b") slot = S_b;
  if (name == "c") slot = S_c;
  if (name == "A1") slot = S_A1;
  if (name == "A2" || name == "A2_gap") {
    slot = S_A2;
    spec.a2_is_gap = name == "A2_gap";
  }
  if (name == "A2p" || name == "theta") {
    slot = S_A2p;
    spec.a2p_is_theta = name == "theta";
  }
  if (slot < 0) throw InputError("sweep: unknown axis parameter '" + name + "'");
  Dist d;
  d.kind = DistKind::fixed;
  d.p0 = value;
  spec.dist[slot] = prepared(d);
}

// Histogram ranges: explicit ones from the config; the others from a pilot,
// the first block of the first cell evaluated on the host with the scalar
// code (the same bits on every machine, so every shard and rank agrees).
void plan_histograms(const Config& cfg, const DrawSpec& first_cell, AnalysisSpec& a) {
  const HistogramConfig& h = cfg.histograms;
  if (!h.enabled || h.fields.empty()) return;
  std::vector<std::vector<double>> pilot(h.fields.size());
  bool need_pilot = false;
  for (int f : h.fields) {
    bool given = false;
    for (const auto& r : h.ranges) given |= r.first == f;
    need_pilot |= !given;
  }
  if (need_pilot) {
    const std::uint64_t n = std::min<std::uint64_t>(
        cfg.sweep.axes.empty() ? cfg.draws : cfg.sweep.draws_per_cell, kBlockDraws);
    for (auto& v : pilot) v.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n; ++i) {
      Outcome o;
      if (evaluate_draw(first_cell, i, o) >= 0) continue;
      for (std::size_t j = 0; j < h.fields.size(); ++j) {
        const int f = h.fields[j];
        if (f == F_A2_crit && !o.a2crit_defined) continue;
        pilot[j].push_back(o.v[f]);
      }
    }
  }
  for (std::size_t j = 0; j < h.fields.size(); ++j) {
    const int f = h.fields[j];
    a.hist_fields.push_back(f);
    bool given = false;
    for (const auto& r : h.ranges) {
      if (r.first != f) continue;
      a.hist_axes.push_back(make_hist_axis(r.second.first, r.second.second, h.bins));
      given = true;
    }
    if (!given) a.hist_axes.push_back(pilot_axis(pilot[j].data(), pilot[j].size(), h.bins));
    a.hist_from_pilot.push_back(!given);
  }
}

}  // namespace

RunPlan make_run_plan(const Config& cfg) {
  RunPlan plan;
  DrawSpec base = cfg.draw_spec();
  if (cfg.sweep.axes.empty()) {
    plan.cells.push_back(base);
    plan.draws = cfg.draws;
  } else {
    const std::uint64_t ncells = cfg.sweep.cells();
    plan.cells.reserve(static_cast<std::size_t>(ncells));
    for (std::uint64_t k = 0; k < ncells; ++k) {
      DrawSpec s = base;
      const auto c = cell_coords(cfg.sweep, k);
      for (std::size_t i = 0; i < c.size(); ++i)
        fix_axis(s, cfg.sweep.axes[i].name, cfg.sweep.axes[i].values[c[i]]);
      s.stream = static_cast<std::uint32_t>(k);
      plan.cells.push_back(s);
    }
    plan.draws = cfg.sweep.draws_per_cell;
  }
  plan_histograms(cfg, plan.cells.front(), plan.analysis);
  plan.analysis.conditions = cfg.conditions;
  plan.analysis.paths = paths_spec(cfg);
  plan.analysis.draws = cfg.draws_output;
  return plan;
}

void check_run_options(const Config& cfg, const RunPlan& plan, bool sharded, int ranks) {
  if (plan.analysis.has_draws()) {
    if (sharded)
      throw InputError(
          "output.draws: per-draw output is not available with --shard in this "
          "version (run without shards, or drop output.draws)");
    if (ranks > 1)
      throw InputError(
          "output.draws: per-draw output is not available under MPI in this version "
          "(run one process, or drop output.draws)");
    if (cfg.checkpoint_every > 0)
      throw InputError(
          "output.draws: per-draw output cannot be checkpointed in this version "
          "(drop checkpoint or output.draws)");
  }
  if (cfg.sensitivity.enabled) {
    if (sharded) throw InputError("sensitivity: not available with --shard (run it in one job)");
    if (cfg.correlation.enabled)
      throw InputError(
          "sensitivity: Sobol indices assume independent inputs; remove "
          "'correlation' to compute them");
    if (!cfg.sweep.axes.empty())
      throw InputError("sensitivity: not computed per sweep cell; run it without 'sweep'");
  }
}

std::vector<Extra> extras_from_bytes(const AnalysisSpec& spec,
                                     const std::vector<unsigned char>& bytes, std::size_t rows) {
  std::vector<Extra> out;
  if (!spec.has_extra()) return out;
  Extra proto;
  proto.init_segment(spec);
  const std::size_t row = proto.byte_size();
  if (bytes.size() != rows * row)
    throw InputError("the stored analysis state holds " + std::to_string(bytes.size()) +
                     " bytes, expected " + std::to_string(rows) + " rows of " +
                     std::to_string(row) + " for this config");
  for (std::size_t j = 0; j < rows; ++j) {
    out.push_back(proto);
    out.back().from_bytes(bytes.data() + j * row);
  }
  return out;
}

void fill_analysis(const Config& cfg, const RunPlan& plan, Result& result) {
  AnalysisOutput& an = result.analysis;
  an.spec = plan.analysis;
  an.sweep = cfg.sweep;
  an.path_names.clear();
  for (const auto& p : cfg.paths) an.path_names.push_back(p.name);
  const SegmentState& st = result.state;
  if (!cfg.sweep.axes.empty()) {
    fold_cells(plan, st.segments, st.extras, st.segment_first, an.cells, an.cell_extras);
    // A shard covers only some cells (or none): the others hold zero counts in
    // the spec's layout, so /sweep has every cell (NaN where nothing is valid).
    if (plan.analysis.has_extra()) {
      an.cell_extras.resize(plan.cells.size());
      for (Extra& x : an.cell_extras)
        if (x.empty()) x.init(plan.analysis);
    }
  } else {
    an.extra = Extra();
    for (const Extra& x : st.extras) an.extra.merge(x);
    an.extra.hist = st.hist;
  }
}

BlockAnalysis::BlockAnalysis(const AnalysisSpec& a, const DrawSpec& spec, DrawBatch* batch)
    : a_(a), spec_(spec), batch_(batch) {
  x_.init(a);
  cond_sums_.resize(a.conditions.size());
  path_sums_.resize(static_cast<std::size_t>(a.paths.n));
  std::size_t off = 0;
  for (const HistAxis& ax : a.hist_axes) {
    hist_offset_.push_back(off);
    off += static_cast<std::size_t>(ax.bins) + 2;
  }
}

namespace {
// Shifted sums whose shift is the first value added: deterministic in draw
// order and keeps the sums small at large offsets.
inline void add_shifted(ShiftedSums& s, double x) {
  if (s.n == 0) s.shift = x;
  s.add(x);
}
}  // namespace

BlockAnalysis::FieldSums::FieldSums() {
  for (int f = 0; f < kNumFields; ++f) lo[f] = INFINITY, hi[f] = -INFINITY;
}

// add_shifted on every field, A2_crit only where defined.
void BlockAnalysis::FieldSums::add(const Outcome& o) {
  if (n == 0)
    for (int f = 0; f < kNumAlwaysFields; ++f) shift[f] = o.v[f];
  ++n;
  for (int f = 0; f < kNumAlwaysFields; ++f)
    add_shifted_value(o.v[f], shift[f], s1[f], s2[f], lo[f], hi[f]);
  if (!o.a2crit_defined) return;
  const int f = F_A2_crit;
  if (n_crit++ == 0) shift[f] = o.v[f];
  add_shifted_value(o.v[f], shift[f], s1[f], s2[f], lo[f], hi[f]);
}

ShiftedSums BlockAnalysis::FieldSums::field(int f) const {
  ShiftedSums s;
  s.n = f == F_A2_crit ? n_crit : n;
  s.shift = shift[f], s.s1 = s1[f], s.s2 = s2[f], s.min = lo[f], s.max = hi[f];
  return s;
}

void BlockAnalysis::visit(std::uint64_t index, int reason, const Outcome& o) {
  if (batch_ && draw_selected(a_.draws, index)) batch_->add(index, reason, o, a_.draws.fields);
  if (reason >= 0) return;
  for (std::size_t h = 0; h < a_.hist_fields.size() && !hist_taken_; ++h) {
    const int f = a_.hist_fields[h];
    if (f == F_A2_crit && !o.a2crit_defined) continue;
    ++x_.hist[hist_offset_[h] + static_cast<std::size_t>(hist_slot(a_.hist_axes[h], o.v[f]))];
  }
  for (std::size_t c = 0; c < a_.conditions.size(); ++c) {
    const Condition& cd = a_.conditions[c];
    if (o.event[cd.event] == cd.negated) continue;
    Tally& t = x_.cond[c];
    ++t.draws;
    ++t.valid;
    cond_sums_[c].add(o);
    if (!o.a2crit_defined) ++t.a2crit_undefined;
    for (int e = 0; e < kNumEvents; ++e) t.events[e] += o.event[e] ? 1 : 0;
    ++t.regime2[o.regime2];
    ++t.regime_up[o.regime_up];
  }
  if (a_.paths.n > 0 && !paths_taken_) {
    const Params p{o.v[F_a], o.v[F_b], o.v[F_c], o.v[F_A1], o.v[F_A2], o.v[F_A2p]};
    double g[kMaxPaths];
    path_gains(a_.paths, spec_.seed, spec_.stream, index, p, spec_.mode, g);
    add_path_gains(g);
  }
}

void BlockAnalysis::add_path_gains(const double* gains) {
  for (int i = 0; i < a_.paths.n; ++i)
    add_shifted(path_sums_[static_cast<std::size_t>(i)], gains[i]);
  const int best = best_path(gains, a_.paths.n);
  ++x_.path_best[best < 0 ? static_cast<std::size_t>(a_.paths.n) : static_cast<std::size_t>(best)];
}

const PathsSpec* BlockAnalysis::take_paths() {
  if (a_.paths.n == 0) return nullptr;
  paths_taken_ = true;
  return &a_.paths;
}

VisitorHistograms BlockAnalysis::take_histograms() {
  hist_taken_ = true;
  VisitorHistograms h;
  h.n = a_.hist_fields.size();
  h.fields = a_.hist_fields.data();
  h.axes = a_.hist_axes.data();
  h.offsets = hist_offset_.data();
  h.counts = x_.hist.data();
  return h;
}

bool BlockAnalysis::wants_visits() const {
  return batch_ != nullptr || !a_.conditions.empty() || (a_.paths.n > 0 && !paths_taken_) ||
         (!hist_taken_ && !a_.hist_fields.empty());
}

void BlockAnalysis::finish(Extra& out) const {
  out = x_;
  for (std::size_t c = 0; c < out.cond.size(); ++c)
    for (int f = 0; f < kNumFields; ++f) out.cond[c].field[f] = cond_sums_[c].field(f).moments();
  for (std::size_t i = 0; i < out.path_gain.size(); ++i) out.path_gain[i] = path_sums_[i].moments();
}

// Backends without their own plan support (the MPI decorator for per-draw
// output, which it refuses earlier): one compute_blocks call per cell's run of blocks.
void Backend::compute_plan_blocks(const RunPlan& plan, std::uint64_t first_block,
                                  std::uint64_t nblocks, Tally* partials, Extra* extras,
                                  DrawBatch* batches) {
  if (extras || batches)
    throw Error("backend " + name() + " does not compute analyses or per-draw output");
  const std::uint64_t bpc = plan.blocks_per_cell();
  std::uint64_t j = 0;
  while (j < nblocks) {
    const std::uint64_t g = first_block + j;
    const std::uint64_t cell = g / bpc, k = g % bpc;
    const std::uint64_t n = std::min(nblocks - j, bpc - k);
    compute_blocks(plan.cells[static_cast<std::size_t>(cell)], plan.draws, k, n, partials + j);
    j += n;
  }
}

}  // namespace spillmc
