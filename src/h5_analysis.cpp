// HDF5 groups of the analyses beyond the main tally (docs/output.md): the
// shared /summary and /events writers, quantiles and histograms, conditional
// tallies, upgrade paths, sweeps (with dimension scales) and sensitivity.
#include <hdf5.h>
#include <hdf5_hl.h>

#include <array>
#include <string>
#include <vector>

#include "h5util.hpp"
#include "spillmc/histogram.hpp"
#include "spillmc/result.hpp"

namespace spillmc::h5util {

namespace {

Handle open_group(hid_t loc, const std::string& name) {
  return Handle(h5("group " + name, [&] { return H5Gopen2(loc, name.c_str(), H5P_DEFAULT); }),
                H5Gclose);
}

void write_array(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type,
                 const std::vector<hsize_t>& dims, const void* data) {
  const Handle s(
      h5("dataspace " + name,
         [&] { return H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr); }),
      H5Sclose);
  write_dataset(loc, name, file_type, mem_type, s.get(), data);
}

void f64_array(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims,
               const std::vector<double>& v) {
  write_array(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, v.data());
}

void u64_array(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims,
               const std::vector<std::uint64_t>& v) {
  write_array(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, dims, v.data());
}

void strings_attr(hid_t loc, const char* name, const std::vector<std::string>& v) {
  const Handle t = string_type();
  const Handle s = vector_space(v.size());
  std::vector<const char*> p;
  for (const auto& x : v) p.push_back(x.c_str());
  write_attr(loc, name, t.get(), t.get(), s.get(), p.data());
}

void proportion_group(hid_t loc, const std::string& name, std::uint64_t count,
                      std::uint64_t total) {
  const Proportion p = wilson95(count, total);
  const Handle g = make_group(loc, name);
  dataset_u64(g.get(), "count", p.count);
  dataset_f64(g.get(), "probability", p.probability);
  dataset_f64(g.get(), "ci95_low", p.ci95_low);
  dataset_f64(g.get(), "ci95_high", p.ci95_high);
}

void stats_group(hid_t loc, const std::string& name, const Moments& m) {
  const SummaryStats s = summarize(m);
  const Handle g = make_group(loc, name);
  dataset_u64(g.get(), "count", s.count);
  dataset_f64(g.get(), "mean", s.mean);
  dataset_f64(g.get(), "std", s.std);
  dataset_f64(g.get(), "sem", s.sem);
  dataset_f64(g.get(), "min", s.min);
  dataset_f64(g.get(), "max", s.max);
}

// /summary/<field>/{quantiles, quantile_bounds, histogram/{counts, edges}}.
void write_histograms(hid_t file, const AnalysisSpec& a, const Extra& x, const Tally& t) {
  const Handle summary = open_group(file, "summary");
  std::size_t off = 0;
  for (std::size_t h = 0; h < a.hist_fields.size(); ++h) {
    const int f = a.hist_fields[h];
    const HistAxis& ax = a.hist_axes[h];
    const std::uint64_t* counts = x.hist.data() + off;
    off += static_cast<std::size_t>(ax.bins) + 2;
    const Handle g = open_group(summary.get(), kFieldNames[f]);
    const auto q = histogram_quantiles(counts, ax, t.field[f].min, t.field[f].max);
    std::vector<double> values, bounds, levels(kQuantileLevels.begin(), kQuantileLevels.end());
    for (const auto& e : q)
      values.push_back(e.value), bounds.push_back(e.lo), bounds.push_back(e.hi);
    f64_array(g.get(), "quantiles", {kQuantileCount}, values);
    {
      const Handle d(
          h5("dataset quantiles", [&] { return H5Dopen2(g.get(), "quantiles", H5P_DEFAULT); }),
          H5Dclose);
      const Handle s = vector_space(kQuantileCount);
      write_attr(d.get(), "levels", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s.get(), levels.data());
    }
    f64_array(g.get(), "quantile_bounds", {kQuantileCount, 2}, bounds);
    const Handle hg = make_group(g.get(), "histogram");
    const auto bins = static_cast<std::size_t>(ax.bins);
    std::vector<std::uint64_t> c(counts + 1, counts + 1 + bins);
    std::vector<double> edges;
    for (int k = 0; k <= ax.bins; ++k) edges.push_back(hist_edge(ax, k));
    u64_array(hg.get(), "counts", {bins}, c);
    f64_array(hg.get(), "edges", {bins + 1}, edges);
    attr_u64(hg.get(), "underflow", counts[0]);
    attr_u64(hg.get(), "overflow", counts[bins + 1]);
    attr_string(hg.get(), "range_source", a.hist_from_pilot[h] ? "pilot" : "config");
  }
}

void write_paths(hid_t file, const AnalysisOutput& an, const Extra& x, std::uint64_t valid) {
  const Handle g = make_group(file, "paths");
  strings_attr(file, "path_names", an.path_names);
  for (std::size_t p = 0; p < an.path_names.size(); ++p) {
    const Handle pg = make_group(g.get(), an.path_names[p]);
    stats_group(pg.get(), "gain", x.path_gain[p]);
    proportion_group(pg.get(), "best", x.path_best[p], valid);
  }
  proportion_group(g.get(), "none_pays", x.path_best[an.path_names.size()], valid);
}

// Grid datasets of a sweep: shape = axis lengths (+ trailing dims), the axes
// attached as dimension scales so netCDF readers see named dimensions.
class SweepWriter {
 public:
  SweepWriter(hid_t file, const SweepConfig& s) : root_(make_group(file, "sweep")) {
    const Handle axes = make_group(root_.get(), "axes");
    std::vector<std::string> names;
    for (const auto& a : s.axes) {
      names.push_back(a.name);
      dims_.push_back(a.values.size());
      f64_array(root_.get(), a.name, {a.values.size()}, a.values);
      Handle d(h5("dataset sweep/" + a.name,
                  [&] { return H5Dopen2(root_.get(), a.name.c_str(), H5P_DEFAULT); }),
               H5Dclose);
      h5("dimension scale " + a.name, [&] { return H5DSset_scale(d.get(), a.name.c_str()); });
      attr_string(d.get(), "spacing", a.spacing);
      // The same dataset also as /sweep/axes/<name>, where the layout names it.
      h5("link sweep/axes/" + a.name, [&] {
        return H5Lcreate_hard(root_.get(), a.name.c_str(), axes.get(), a.name.c_str(), H5P_DEFAULT,
                              H5P_DEFAULT);
      });
      scales_.push_back(std::move(d));
    }
    strings_attr(file, "sweep_axes", names);
  }
  hid_t root() const { return root_.get(); }
  const std::vector<hsize_t>& dims() const { return dims_; }

  void f64(hid_t loc, const std::string& name, const std::vector<double>& v,
           std::vector<hsize_t> extra = {}, hid_t extra_scale = -1) {
    write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v.data(), extra, extra_scale);
  }
  void u64(hid_t loc, const std::string& name, const std::vector<std::uint64_t>& v,
           std::vector<hsize_t> extra = {}) {
    write(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, v.data(), extra, -1);
  }
  void i64(hid_t loc, const std::string& name, const std::vector<std::int64_t>& v,
           std::vector<hsize_t> extra, hid_t extra_scale) {
    write(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, v.data(), extra, extra_scale);
  }
  // A string dimension scale `name` in `loc` (regime labels, path names).
  Handle label_scale(hid_t loc, const char* name, const std::vector<std::string>& labels) {
    const Handle t = string_type();
    const Handle s = vector_space(labels.size());
    std::vector<const char*> p;
    for (const auto& x : labels) p.push_back(x.c_str());
    write_dataset(loc, name, t.get(), t.get(), s.get(), p.data());
    Handle d(h5(std::string("dataset ") + name, [&] { return H5Dopen2(loc, name, H5P_DEFAULT); }),
             H5Dclose);
    h5(std::string("dimension scale ") + name, [&] { return H5DSset_scale(d.get(), name); });
    return d;
  }

 private:
  void write(hid_t loc, const std::string& name, hid_t ft, hid_t mt, const void* data,
             const std::vector<hsize_t>& extra, hid_t extra_scale) {
    std::vector<hsize_t> dims = dims_;
    dims.insert(dims.end(), extra.begin(), extra.end());
    write_array(loc, name, ft, mt, dims, data);
    Handle d(h5("dataset " + name, [&] { return H5Dopen2(loc, name.c_str(), H5P_DEFAULT); }),
             H5Dclose);
    for (std::size_t i = 0; i < scales_.size(); ++i)
      h5("attach scale " + name,
         [&] { return H5DSattach_scale(d.get(), scales_[i].get(), static_cast<unsigned>(i)); });
    if (extra_scale >= 0)
      h5("attach scale " + name, [&] {
        return H5DSattach_scale(d.get(), extra_scale, static_cast<unsigned>(scales_.size()));
      });
  }

  Handle root_;
  std::vector<hsize_t> dims_;
  std::vector<Handle> scales_;
};

void write_sweep(hid_t file, const AnalysisOutput& an) {
  SweepWriter w(file, an.sweep);
  const std::vector<Tally>& cells = an.cells;
  const std::size_t n = cells.size();
  {
    const Handle summary = make_group(w.root(), "summary");
    for (int f = 0; f < kNumFields; ++f) {
      const Handle g = make_group(summary.get(), kFieldNames[f]);
      std::vector<std::uint64_t> count(n);
      std::vector<double> mean(n), sd(n), sem(n), lo(n), hi(n);
      for (std::size_t c = 0; c < n; ++c) {
        const SummaryStats s = summarize(cells[c].field[f]);
        count[c] = s.count, mean[c] = s.mean, sd[c] = s.std, sem[c] = s.sem, lo[c] = s.min,
        hi[c] = s.max;
      }
      w.u64(g.get(), "count", count);
      w.f64(g.get(), "mean", mean);
      w.f64(g.get(), "std", sd);
      w.f64(g.get(), "sem", sem);
      w.f64(g.get(), "min", lo);
      w.f64(g.get(), "max", hi);
    }
  }
  {
    const Handle events = make_group(w.root(), "events");
    for (int e = 0; e < kNumEvents; ++e) {
      const Handle g = make_group(events.get(), kEventNames[e]);
      std::vector<std::uint64_t> count(n);
      std::vector<double> p(n), lo(n), hi(n);
      for (std::size_t c = 0; c < n; ++c) {
        const Proportion x = wilson95(cells[c].events[e], cells[c].valid);
        count[c] = x.count, p[c] = x.probability, lo[c] = x.ci95_low, hi[c] = x.ci95_high;
      }
      w.u64(g.get(), "count", count);
      w.f64(g.get(), "probability", p);
      w.f64(g.get(), "ci95_low", lo);
      w.f64(g.get(), "ci95_high", hi);
    }
  }
  {
    const Handle g = make_group(w.root(), "counts");
    std::vector<std::uint64_t> valid(n), invalid(n);
    for (std::size_t c = 0; c < n; ++c)
      valid[c] = cells[c].valid, invalid[c] = cells[c].draws - cells[c].valid;
    w.u64(g.get(), "draws_valid", valid);
    w.u64(g.get(), "draws_invalid", invalid);
  }
  {
    const Handle g = make_group(w.root(), "regimes");
    std::vector<std::int64_t> r2(n * kNumRegimes), ru(n * kNumRegimes);
    for (std::size_t c = 0; c < n; ++c)
      for (int r = 0; r < kNumRegimes; ++r) {
        const std::size_t i = c * kNumRegimes + static_cast<std::size_t>(r);
        r2[i] = static_cast<std::int64_t>(cells[c].regime2[r]);
        ru[i] = static_cast<std::int64_t>(cells[c].regime_up[r]);
      }
    std::vector<std::string> labels(std::begin(kRegimeLabels), std::end(kRegimeLabels));
    // netCDF readers want a scale on every dimension of a dataset that has any.
    const Handle scale = w.label_scale(g.get(), "regime", labels);
    w.i64(g.get(), "stage2", r2, {kNumRegimes}, scale.get());
    w.i64(g.get(), "upgrade", ru, {kNumRegimes}, scale.get());
    for (const char* name : {"stage2", "upgrade"}) {
      Handle d(h5("dataset", [&] { return H5Dopen2(g.get(), name, H5P_DEFAULT); }), H5Dclose);
      strings_attr(d.get(), "labels", labels);
    }
  }
  if (!an.path_names.empty() && an.cell_extras.size() == n) {
    const Handle g = make_group(w.root(), "paths");
    const std::size_t np = an.path_names.size();
    std::vector<double> share(n * np), none(n), gain(n * np);
    for (std::size_t c = 0; c < n; ++c) {
      const double v = static_cast<double>(cells[c].valid);
      for (std::size_t p = 0; p < np; ++p) {
        share[c * np + p] =
            cells[c].valid ? static_cast<double>(an.cell_extras[c].path_best[p]) / v : NAN;
        gain[c * np + p] = summarize(an.cell_extras[c].path_gain[p]).mean;
      }
      none[c] = cells[c].valid ? static_cast<double>(an.cell_extras[c].path_best[np]) / v : NAN;
    }
    const Handle scale = w.label_scale(g.get(), "path", an.path_names);
    w.f64(g.get(), "best_share", share, {np}, scale.get());
    w.f64(g.get(), "mean_gain", gain, {np}, scale.get());
    w.f64(g.get(), "none_pays", none);
    strings_attr(g.get(), "path_names", an.path_names);
  }
}

void write_sensitivity(hid_t file, const SensitivityResult& r) {
  const Handle g = make_group(file, "sensitivity");
  {
    const Handle t = string_type();
    const Handle s = vector_space(r.parameters.size());
    std::vector<const char*> p;
    for (const auto& x : r.parameters) p.push_back(x.c_str());
    write_dataset(g.get(), "parameters", t.get(), t.get(), s.get(), p.data());
  }
  attr_u64(g.get(), "base_draws", r.base_draws);
  attr_u64(g.get(), "base_draws_invalid", r.base_draws_invalid);
  attr_u64(g.get(), "evaluations", r.evaluations);
  const hsize_t k = r.parameters.size();
  for (const SensitivityIndices& o : r.outputs) {
    const Handle og = make_group(g.get(), o.output);
    std::vector<double> s1ci, stci;
    for (std::size_t i = 0; i < o.S1.size(); ++i) {
      s1ci.push_back(o.S1_lo[i]), s1ci.push_back(o.S1_hi[i]);
      stci.push_back(o.ST_lo[i]), stci.push_back(o.ST_hi[i]);
    }
    f64_array(og.get(), "S1", {k}, o.S1);
    f64_array(og.get(), "S1_ci", {k, 2}, s1ci);
    f64_array(og.get(), "ST", {k}, o.ST);
    f64_array(og.get(), "ST_ci", {k, 2}, stci);
    attr_f64(og.get(), "mean", o.mean);
    attr_f64(og.get(), "variance", o.variance);
    attr_u64(og.get(), "n", o.n);
  }
}

}  // namespace

void write_summary_group(hid_t loc, const Tally& t) {
  const Handle summary = make_group(loc, "summary");
  for (int f = 0; f < kNumFields; ++f) stats_group(summary.get(), kFieldNames[f], t.field[f]);
}

void write_events_group(hid_t loc, const Tally& t) {
  const Handle events = make_group(loc, "events");
  for (int e = 0; e < kNumEvents; ++e)
    proportion_group(events.get(), kEventNames[e], t.events[e], t.valid);
}

void write_analysis(hid_t file, const Result& r) {
  const AnalysisOutput& an = r.analysis;
  const bool sweep = !an.sweep.axes.empty();
  if (!sweep && !an.spec.hist_fields.empty() && !an.extra.hist.empty())
    write_histograms(file, an.spec, an.extra, r.tally);
  if (!sweep && !an.spec.conditions.empty() && an.extra.cond.size() == an.spec.conditions.size()) {
    const Handle g = make_group(file, "conditional");
    for (std::size_t c = 0; c < an.spec.conditions.size(); ++c) {
      const Tally& t = an.extra.cond[c];
      const Handle cg = make_group(g.get(), condition_name(an.spec.conditions[c]));
      const Proportion p = wilson95(t.valid, r.tally.valid);
      dataset_u64(cg.get(), "count", p.count);
      dataset_f64(cg.get(), "probability", p.probability);
      dataset_f64(cg.get(), "ci95_low", p.ci95_low);
      dataset_f64(cg.get(), "ci95_high", p.ci95_high);
      write_summary_group(cg.get(), t);
      write_events_group(cg.get(), t);
      {
        const Handle u = make_group(cg.get(), "undefined");
        dataset_u64(u.get(), "A2_crit", t.a2crit_undefined);
      }
    }
  }
  if (!sweep && an.spec.paths.n > 0 && !an.extra.path_gain.empty())
    write_paths(file, an, an.extra, r.tally.valid);
  if (sweep) write_sweep(file, an);
  if (an.has_sensitivity) write_sensitivity(file, an.sensitivity);
}

// /state/extra (and /checkpoint/extra): the analyses' exact state, one row of
// Extra::to_bytes per segment; none when the rows are empty (histograms only).
void write_extra_table(hid_t g, const std::vector<Extra>& extras) {
  if (extras.empty() || extras.front().byte_size() == 0) return;
  const std::size_t row = extras.front().byte_size();
  std::vector<unsigned char> bytes(extras.size() * row);
  for (std::size_t j = 0; j < extras.size(); ++j) extras[j].to_bytes(bytes.data() + j * row);
  write_array(g, "extra", H5T_STD_U8LE, H5T_NATIVE_UCHAR, {extras.size(), row}, bytes.data());
}

}  // namespace spillmc::h5util
