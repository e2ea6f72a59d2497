// `spillmc inspect`: a result file as a terminal table or as one JSON object
// whose keys are the HDF5 names (docs/output.md).
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "spillmc/fields.hpp"
#include "spillmc/result.hpp"

namespace spillmc {
namespace {

double draws_per_second(const RunInfo& info) {
  return info.wall_seconds > 0.0 ? static_cast<double>(info.draws_requested) / info.wall_seconds
                                 : 0.0;
}

double share(std::uint64_t part, std::uint64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : NAN;
}

// ---------------------------------------------------------------------------
// Table.

std::string u64(std::uint64_t v) {
  return std::to_string(v);
}

// 7 significant digits: enough to compare runs by eye, narrow enough for a column.
std::string num(double x) {
  if (std::isnan(x)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", x);
  return buf;
}

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f %%", 100.0 * fraction);
  return buf;
}

std::string left(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string right(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

void header_line(std::string& out, const char* key, const std::string& value) {
  out += "  " + left(key, 18) + value + "\n";
}

constexpr std::size_t kName = 16, kCol = 15, kEvent = 24;

// The columns of SummaryStats (Fields, conditional fields, path gains).
std::string stats_header(const char* first, std::size_t width) {
  std::string out = "  " + left(first, width);
  for (const char* h : {"count", "mean", "std", "sem", "min", "max"}) out += right(h, kCol);
  return out + "\n";
}

std::string stats_row(const std::string& name, std::size_t width, const SummaryStats& s) {
  std::string out = "  " + left(name, width) + right(u64(s.count), kCol);
  for (double x : {s.mean, s.std, s.sem, s.min, s.max}) out += right(num(x), kCol);
  return out + "\n";
}

// The columns of a Proportion (events, conditions, best paths).
std::string proportion_header(const char* first, std::size_t width) {
  return "  " + left(first, width) + right("count", kCol) + right("probability", kCol) +
         right("ci95_low", kCol) + right("ci95_high", kCol) + "\n";
}

std::string proportion_row(const std::string& name, std::size_t width, const Proportion& p) {
  return "  " + left(name, width) + right(u64(p.count), kCol) + right(num(p.probability), kCol) +
         right(num(p.ci95_low), kCol) + right(num(p.ci95_high), kCol) + "\n";
}

// Wide enough for every name, and at least `least`, so that columns stay aligned.
template <class Items, class Name>
std::size_t name_width(const Items& items, Name name, std::size_t least) {
  std::size_t w = least;
  for (const auto& x : items) w = std::max(w, name(x).size() + 2);
  return w;
}

// A level as a column title: 0.05 -> "5 %".
std::string level_title(double level) {
  return num(100.0 * level) + " %";
}

// One row per histogrammed field: the quantiles and the histogram's bin count
// (the counts themselves are in --json and the file).
void quantiles_section(std::string& out, const ResultFile& r) {
  constexpr std::size_t kQ = 14;  // num() is 13 characters at most below 1e100
  out +=
      "\nQuantiles (from each field's histogram; the exact quantile lies within quantile_bounds, "
      "see --json)\n";
  out += "  " + left("field", kName);
  for (double level : r.quantiles.front().levels) out += right(level_title(level), kQ);
  out += right("bins", 8) + "\n";
  for (const ResultFile::Quantiles& q : r.quantiles) {
    out += "  " + left(kFieldNames[q.field], kName);
    for (double x : q.values) out += right(num(x), kQ);
    out += right(u64(q.counts.size()), 8) + "\n";
  }
}

// The main outputs a condition's block shows; --json has all 25 fields.
constexpr int kConditionFields[] = {F_pi11,    F_pi12,         F_pi22,   F_pi12_up,
                                    F_pi22_up, F_upgrade_gain, F_A2_crit};

void conditions_section(std::string& out, const ResultFile& r) {
  const std::size_t w = name_width(
      r.conditional, [](const auto& c) { return c.name; }, kEvent);
  out += "\nConditions (share of valid draws, Wilson 95 % interval)\n";
  out += proportion_header("condition", w);
  for (const ResultFile::Conditional& c : r.conditional) out += proportion_row(c.name, w, c.share);
  for (const ResultFile::Conditional& c : r.conditional) {
    out += "\nGiven " + c.name + " (over the draws where it holds; all 25 fields in --json)\n";
    out += proportion_header("event", kEvent);
    for (int e = 0; e < kNumEvents; ++e) out += proportion_row(kEventNames[e], kEvent, c.events[e]);
    out += stats_header("field", kEvent);
    for (int f : kConditionFields) out += stats_row(kFieldNames[f], kEvent, c.summary[f]);
  }
}

void paths_section(std::string& out, const ResultFile& r) {
  const std::size_t w = name_width(
      r.paths, [](const auto& p) { return p.name; }, kEvent);
  out += "\nUpgrade paths: expected net gain per valid draw\n";
  out += stats_header("path", w);
  for (const ResultFile::PathGain& p : r.paths) out += stats_row(p.name, w, p.gain);
  out += "\nUpgrade paths: best and pays (share of valid draws, Wilson 95 % interval)\n";
  out += proportion_header("path", w);
  for (const ResultFile::PathGain& p : r.paths) out += proportion_row(p.name, w, p.best);
  out += proportion_row("none_pays", w, r.paths_none_pays);
}

void sensitivity_section(std::string& out, const ResultFile& r) {
  const SensitivityResult& s = r.sensitivity;
  out += "\nSensitivity (Sobol indices, 95 % intervals; " + u64(s.base_draws) + " base draws, " +
         u64(s.base_draws_invalid) + " invalid, " + u64(s.evaluations) + " evaluations)\n";
  for (const SensitivityIndices& o : s.outputs) {
    out += "  " + o.output + ": mean " + num(o.mean) + ", variance " + num(o.variance) + ", n " +
           u64(o.n) + "\n";
    out += "  " + left("parameter", kName);
    for (const char* h : {"S1", "S1_ci_low", "S1_ci_high", "ST", "ST_ci_low", "ST_ci_high"})
      out += right(h, kCol);
    out += "\n";
    for (std::size_t i = 0; i < s.parameters.size() && i < o.S1.size(); ++i) {
      out += "  " + left(s.parameters[i], kName);
      for (double x : {o.S1[i], o.S1_lo[i], o.S1_hi[i], o.ST[i], o.ST_lo[i], o.ST_hi[i]})
        out += right(num(x), kCol);
      out += "\n";
    }
  }
}

}  // namespace

std::string format_table(const ResultFile& r) {
  const RunInfo& info = r.info;
  std::string out;
  out += "SpillMC result\n";
  header_line(out, "file", r.path);
  header_line(out, "format", r.format + " version " + std::to_string(r.format_version));
  header_line(out, "program version", info.program_version);
  header_line(out, "git commit", info.git_commit);
  header_line(out, "created", info.created);
  header_line(out, "model", info.model);
  header_line(out, "backend / device", info.backend + " / " + info.device);
  header_line(out, "seed", u64(info.seed));
  header_line(out, "draws requested", u64(info.draws_requested));
  header_line(out, "draws valid", u64(r.draws_valid));
  header_line(out, "draws invalid", u64(r.draws_invalid));
  header_line(out, "block draws", u64(info.block_draws));
  header_line(out, "kind",
              info.kind == "shard"
                  ? "shard " + u64(info.shard_index) + " of " + u64(info.shard_count) + " (0-based)"
                  : info.kind);
  header_line(out, "segments",
              "[" + u64(r.state.segment_first) + ", " + u64(r.segment_end) + ") of " +
                  u64(r.state.segment_count_total) + " (" + u64(info.segment_blocks) +
                  " blocks each)");
  header_line(out, "config hash", info.config_hash);
  header_line(out, "wall time",
              num(info.wall_seconds) + " s (" + num(draws_per_second(info)) + " draws/s)");

  out += "\nFields (valid draws; A2_crit only where d + A1 > 0)\n";
  out += stats_header("field", kName);
  for (int f = 0; f < kNumFields; ++f) out += stats_row(kFieldNames[f], kName, r.summary[f]);
  out += "  A2_crit undefined (d + A1 <= 0): " + u64(r.a2crit_undefined) + " of " +
         u64(r.draws_valid) + " valid draws (" + percent(share(r.a2crit_undefined, r.draws_valid)) +
         ")\n";

  out += "\nEvents (share of valid draws, Wilson 95 % interval)\n";
  out += proportion_header("event", kEvent);
  for (int e = 0; e < kNumEvents; ++e) out += proportion_row(kEventNames[e], kEvent, r.events[e]);

  out += "\nRegimes (share of valid draws)\n";
  out += "  " + left("#  label", 22) + right("stage2", kCol) + right("share", 12) +
         right("upgrade", kCol) + right("share", 12) + "\n";
  for (int g = 0; g < kNumRegimes; ++g) {
    const auto s2 = static_cast<std::uint64_t>(r.regime2[g]);
    const auto up = static_cast<std::uint64_t>(r.regime_up[g]);
    out += "  " + left(std::to_string(g) + "  " + kRegimeLabels[g], 22) + right(u64(s2), kCol) +
           right(percent(share(s2, r.draws_valid)), 12) + right(u64(up), kCol) +
           right(percent(share(up, r.draws_valid)), 12) + "\n";
  }

  out += "\nInvalid draws (share of draws requested)\n";
  for (int i = 0; i < kNumInvalid; ++i) {
    out += "  " + left(kInvalidNames[i], kEvent) + right(u64(r.invalid[i]), kCol) +
           right(percent(share(r.invalid[i], info.draws_requested)), 12) + "\n";
  }

  if (!r.sweep.axes.empty()) {
    const auto& sw = r.sweep;
    const std::size_t cells = sw.valid.size();
    out += "\nSweep: " + std::to_string(cells) + " cells over";
    for (std::size_t i = 0; i < sw.axes.size(); ++i)
      out += (i ? " x " : " ") + sw.axes[i] + " (" + std::to_string(sw.coords[i].size()) + ")";
    out += "\n";
    constexpr std::size_t kMaxRows = 400;
    if (cells > kMaxRows) {
      out += "  (" + std::to_string(cells) +
             " cells: too many to list; read /sweep with h5py or "
             "xarray, or plot with scripts/plot.py)\n";
    } else {
      out += " ";
      for (const auto& a : sw.axes) out += " " + right(a, 12);
      out += " " + right("valid", 12) + " " + right("P(leader)", 12) + " " +
             right("P(upgrade)", 12) + " " + right("mean gain", 12) + "\n";
      for (std::size_t c = 0; c < cells; ++c) {
        std::size_t k = c;
        std::vector<std::size_t> idx(sw.axes.size());
        for (std::size_t i = sw.axes.size(); i-- > 0;) {
          idx[i] = k % sw.coords[i].size();
          k /= sw.coords[i].size();
        }
        out += " ";
        for (std::size_t i = 0; i < sw.axes.size(); ++i)
          out += " " + right(num(sw.coords[i][idx[i]]), 12);
        out += " " + right(u64(sw.valid[c]), 12) + " " + right(num(sw.p_leader_gains[c]), 12) +
               " " + right(num(sw.p_upgrade_pays[c]), 12) + " " +
               right(num(sw.mean_upgrade_gain[c]), 12) + "\n";
      }
    }
  }

  // Before the config, which is long: what the run computed stays in view.
  if (!r.quantiles.empty()) quantiles_section(out, r);
  if (!r.conditional.empty()) conditions_section(out, r);
  if (!r.paths.empty()) paths_section(out, r);
  if (r.has_sensitivity) sensitivity_section(out, r);

  if (!info.config_yaml.empty()) {
    out += "\nConfig\n";
    std::size_t start = 0;
    while (start < info.config_yaml.size()) {
      const std::size_t end = info.config_yaml.find('\n', start);
      const std::size_t stop = end == std::string::npos ? info.config_yaml.size() : end;
      out += "  " + info.config_yaml.substr(start, stop - start) + "\n";
      start = stop + 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON.

namespace {

// Appends `c` as \u escape.
void escape_code(std::string& out, unsigned c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04x", c);
  out += buf;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not valid
// (overlong forms, surrogates and values past U+10FFFF included).
std::size_t utf8_length(const std::string& s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = b(i);
  std::size_t n;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

// A JSON string literal. Bytes that are not UTF-8 (a config written in
// another encoding) become U+FFFD so the output always parses.
std::string jstr(const std::string& s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            escape_code(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      escape_code(out, 0xFFFD);
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out + "\"";
}

// Round-trip precision; JSON has no NaN or infinity, so those become null.
std::string jnum(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string jnum(std::uint64_t v) {
  return std::to_string(v);
}
std::string jnum(std::int64_t v) {
  return std::to_string(v);
}

// Builds one object line by line: members are appended with their already
// rendered values, commas and indentation are handled here.
class Object {
 public:
  explicit Object(int indent) : indent_(indent) {}
  Object& add(const std::string& key, const std::string& rendered) {
    body_ += (body_.empty() ? "" : ",\n") +
             std::string(static_cast<std::size_t>(indent_ + 2), ' ') + jstr(key) + ": " + rendered;
    return *this;
  }
  std::string str() const {
    return "{\n" + body_ + "\n" + std::string(static_cast<std::size_t>(indent_), ' ') + "}";
  }

 private:
  int indent_;
  std::string body_;
};

// Small objects stay on one line: {"count": 1, "mean": 2}.
class Inline {
 public:
  Inline& add(const std::string& key, const std::string& rendered) {
    body_ += (body_.empty() ? "" : ", ") + jstr(key) + ": " + rendered;
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

// A flat row-major array as nested JSON arrays of shape `dims` (the file's shape).
template <class T>
std::string jarray(const T* v, const std::size_t* dims, std::size_t rank) {
  std::size_t stride = 1;
  for (std::size_t i = 1; i < rank; ++i) stride *= dims[i];
  std::string out = "[";
  for (std::size_t i = 0; i < dims[0]; ++i) {
    if (i) out += ", ";
    out += rank == 1 ? jnum(v[i]) : jarray(v + i * stride, dims + 1, rank - 1);
  }
  return out + "]";
}

// `dims` must hold exactly v.size() elements (read_result checks the shapes);
// anything else, or no dims, gives a flat array rather than a read past the end.
template <class T>
std::string jarray(const std::vector<T>& v, std::vector<std::size_t> dims = {}) {
  std::size_t n = dims.empty() ? 0 : 1;
  for (std::size_t d : dims) n *= d;
  if (n != v.size()) dims = {v.size()};
  return jarray(v.data(), dims.data(), dims.size());
}

// (lo, hi) pairs as the file's [n, 2] arrays.
std::string jpairs(const std::vector<double>& lo, const std::vector<double>& hi) {
  std::vector<double> flat;
  for (std::size_t i = 0; i < lo.size() && i < hi.size(); ++i)
    flat.push_back(lo[i]), flat.push_back(hi[i]);
  return jarray(flat, {flat.size() / 2, 2});
}

std::string jstrings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + jstr(v[i]);
  return out + "]";
}

// The datasets of a /summary/<field> group, into an Inline or an Object.
template <class Builder>
Builder& add_stats(Builder& b, const SummaryStats& s) {
  return b.add("count", jnum(s.count))
      .add("mean", jnum(s.mean))
      .add("std", jnum(s.std))
      .add("sem", jnum(s.sem))
      .add("min", jnum(s.min))
      .add("max", jnum(s.max));
}

std::string stats_json(const SummaryStats& s) {
  Inline b;
  return add_stats(b, s).str();
}

// The datasets of an /events/<event> group (and of groups laid out like it).
template <class Builder>
Builder& add_proportion(Builder& b, const Proportion& p) {
  return b.add("count", jnum(p.count))
      .add("probability", jnum(p.probability))
      .add("ci95_low", jnum(p.ci95_low))
      .add("ci95_high", jnum(p.ci95_high));
}

std::string proportion_json(const Proportion& p) {
  Inline b;
  return add_proportion(b, p).str();
}

// A field with quantiles: its statistics, then quantiles (the dataset's
// values and its levels attribute), quantile_bounds and histogram.
std::string field_with_quantiles_json(const SummaryStats& s, const ResultFile::Quantiles& q,
                                      int indent) {
  Object histogram(indent + 2);
  histogram.add("counts", jarray(q.counts))
      .add("edges", jarray(q.edges))
      .add("underflow", jnum(q.underflow))
      .add("overflow", jnum(q.overflow))
      .add("range_source", jstr(q.range_source));
  Object field(indent);
  add_stats(field, s)
      .add("quantiles",
           Inline().add("levels", jarray(q.levels)).add("values", jarray(q.values)).str())
      .add("quantile_bounds", jarray(q.bounds, {q.bounds.size() / 2, 2}))
      .add("histogram", histogram.str());
  return field.str();
}

// A summary group: fields with quantiles (root /summary only) span several lines.
std::string summary_json(const SummaryStats (&summary)[kNumFields],
                         const std::vector<ResultFile::Quantiles>& quantiles, int indent) {
  Object out(indent);
  auto q = quantiles.begin();  // in field order
  for (int f = 0; f < kNumFields; ++f) {
    if (q != quantiles.end() && q->field == f) {
      out.add(kFieldNames[f], field_with_quantiles_json(summary[f], *q++, indent + 2));
    } else {
      out.add(kFieldNames[f], stats_json(summary[f]));
    }
  }
  return out.str();
}

std::string events_json(const Proportion (&events)[kNumEvents], int indent) {
  Object out(indent);
  for (int e = 0; e < kNumEvents; ++e) out.add(kEventNames[e], proportion_json(events[e]));
  return out.str();
}

std::string conditional_json(const ResultFile& r) {
  Object out(2);
  for (const ResultFile::Conditional& c : r.conditional) {
    Object cond(4);
    add_proportion(cond, c.share)
        .add("summary", summary_json(c.summary, {}, 6))
        .add("undefined", Inline().add("A2_crit", jnum(c.a2crit_undefined)).str())
        .add("events", events_json(c.events, 6));
    out.add(c.name, cond.str());
  }
  return out.str();
}

std::string paths_json(const ResultFile& r) {
  Object out(2);
  for (const ResultFile::PathGain& p : r.paths)
    out.add(p.name,
            Object(4).add("gain", stats_json(p.gain)).add("best", proportion_json(p.best)).str());
  out.add("none_pays", proportion_json(r.paths_none_pays));
  return out.str();
}

// The sweep datasets read_result reads, as nested arrays of the grid's shape.
std::string sweep_json(const ResultFile& r) {
  const auto& sw = r.sweep;
  std::vector<std::size_t> grid;
  Object axes(4);
  for (std::size_t i = 0; i < sw.axes.size(); ++i) {
    axes.add(sw.axes[i], jarray(sw.coords[i]));
    grid.push_back(sw.coords[i].size());
  }
  Object events(4);
  events.add("leader_gains", Inline().add("probability", jarray(sw.p_leader_gains, grid)).str())
      .add("upgrade_gain_positive",
           Inline().add("probability", jarray(sw.p_upgrade_pays, grid)).str());
  Object out(2);
  out.add("axes", axes.str())
      .add("counts", Object(4).add("draws_valid", jarray(sw.valid, grid)).str())
      .add("events", events.str())
      .add("summary",
           Object(4)
               .add("upgrade_gain", Inline().add("mean", jarray(sw.mean_upgrade_gain, grid)).str())
               .str());
  return out.str();
}

// /sensitivity: its attributes beside its datasets and output groups.
std::string sensitivity_json(const ResultFile& r) {
  const SensitivityResult& s = r.sensitivity;
  Object out(2);
  out.add("parameters", jstrings(s.parameters))
      .add("base_draws", jnum(s.base_draws))
      .add("base_draws_invalid", jnum(s.base_draws_invalid))
      .add("evaluations", jnum(s.evaluations));
  for (const SensitivityIndices& o : s.outputs)
    out.add(o.output, Object(4)
                          .add("S1", jarray(o.S1))
                          .add("S1_ci", jpairs(o.S1_lo, o.S1_hi))
                          .add("ST", jarray(o.ST))
                          .add("ST_ci", jpairs(o.ST_lo, o.ST_hi))
                          .add("mean", jnum(o.mean))
                          .add("variance", jnum(o.variance))
                          .add("n", jnum(o.n))
                          .str());
  return out.str();
}

std::string regimes_json(const std::int64_t (&counts)[kNumRegimes]) {
  std::string labels = "[", values = "[";
  for (int g = 0; g < kNumRegimes; ++g) {
    labels += (g ? ", " : "") + jstr(kRegimeLabels[g]);
    values += (g ? ", " : "") + jnum(counts[g]);
  }
  return Inline().add("labels", labels + "]").add("counts", values + "]").str();
}

}  // namespace

std::string format_json(const ResultFile& r) {
  const RunInfo& info = r.info;
  Object attributes(2);
  attributes.add("format", jstr(r.format))
      .add("format_version", std::to_string(r.format_version))
      .add("program_version", jstr(info.program_version))
      .add("git_commit", jstr(info.git_commit))
      .add("config", jstr(info.config_yaml))
      .add("seed", jnum(info.seed))
      .add("draws_requested", jnum(info.draws_requested))
      .add("draws_valid", jnum(r.draws_valid))
      .add("draws_invalid", jnum(r.draws_invalid))
      .add("block_draws", jnum(info.block_draws))
      .add("kind", jstr(info.kind))
      .add("shard_index", jnum(info.shard_index))
      .add("shard_count", jnum(info.shard_count))
      .add("config_hash", jstr(info.config_hash))
      .add("file_checksum", jstr(r.file_checksum))
      .add("model", jstr(info.model))
      .add("backend", jstr(info.backend))
      .add("device", jstr(info.device))
      .add("created", jstr(info.created))
      .add("wall_seconds", jnum(info.wall_seconds))
      .add("draws_per_second", jnum(draws_per_second(info)));
  // Root attributes that only files with paths or a sweep have.
  if (!r.paths.empty()) {
    std::vector<std::string> names;
    for (const ResultFile::PathGain& p : r.paths) names.push_back(p.name);
    attributes.add("path_names", jstrings(names));
  }
  if (!r.sweep.axes.empty()) attributes.add("sweep_axes", jstrings(r.sweep.axes));

  Object regimes(2);
  regimes.add("stage2", regimes_json(r.regime2)).add("upgrade", regimes_json(r.regime_up));

  Object invalid(2);
  for (int i = 0; i < kNumInvalid; ++i) invalid.add(kInvalidNames[i], jnum(r.invalid[i]));

  Object top(0);
  top.add("file", jstr(r.path))
      .add("attributes", attributes.str())
      .add("summary", summary_json(r.summary, r.quantiles, 2))
      .add("undefined", Inline().add("A2_crit", jnum(r.a2crit_undefined)).str())
      .add("events", events_json(r.events, 2))
      .add("regimes", regimes.str())
      .add("invalid", invalid.str());
  if (!r.conditional.empty()) top.add("conditional", conditional_json(r));
  if (!r.paths.empty()) top.add("paths", paths_json(r));
  if (!r.sweep.axes.empty()) top.add("sweep", sweep_json(r));
  if (r.has_sensitivity) top.add("sensitivity", sensitivity_json(r));
  return top.str() + "\n";
}

}  // namespace spillmc
