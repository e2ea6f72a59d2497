// `spillmc inspect` on files with analyses (src/inspect.cpp and the analysis
// readers of src/h5io.cpp): quantiles and histograms, conditional statistics,
// upgrade paths, Sobol indices and sweeps. Real runs of the binary; the table
// and the JSON are compared with values read straight from the HDF5 file
// (the C API here, and h5py for a walk over the whole JSON when available).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/result.hpp"

using namespace spillmc;
using spillmc_test::Cmd;
using spillmc_test::run_shell;
using spillmc_test::sh;

namespace {

const char* const kPython = "/usr/bin/python3";

// configs/baseline.yaml's parameters, CPU, small.
const std::string kBase = R"(seed: 7
backend: cpu
threads: 2
parameters:
  a: {dist: uniform, low: 8, high: 12}
  b: {dist: triangular, low: 0.8, mode: 1, high: 1.25}
  c: {dist: normal, mean: 2, sd: 0.2}
  A1: {dist: triangular, low: 0.5, mode: 1, high: 2}
  A2_gap: {dist: lognormal, meanlog: 0, sdlog: 0.5}
  theta: {dist: beta, alpha: 2, beta: 2}
)";

// Every analysis of a plain run: default histograms, two conditions, two
// paths (configs/paths.yaml) and Sobol indices of a field and an event.
const std::string kAnalyses = kBase + R"(draws: 20000
conditions: [leader_gains, not_upgrade_gain_positive]
sensitivity: {outputs: [pi22, upgrade_gain_positive], base_draws: 2000}
paths:
  - name: absorb_spillover
    cost: {dist: uniform, low: 0.05, high: 0.3}
    p_success: {dist: beta, alpha: 8, beta: 2}
    theta_success: {dist: triangular, low: 0.15, mode: 0.25, high: 0.4}
  - name: independent_rnd
    cost: {dist: triangular, low: 0.4, mode: 0.8, high: 1.6}
    p_success: {dist: beta, alpha: 2, beta: 3}
    theta_success: {dist: uniform, low: 0.8, high: 1.0}
)";

// A 3 x 2 grid; the middle row has P(upgrade pays) strictly inside (0, 1).
const std::string kSweep = kBase + R"(sweep:
  axes:
    - {param: A2_gap, linspace: [0, 8, 3]}
    - {param: theta, values: [0.2, 0.9]}
  draws_per_cell: 2000
)";

const std::vector<const char*> kConditions = {"leader_gains", "not_upgrade_gain_positive"};
const std::vector<const char*> kPaths = {"absorb_spillover", "independent_rnd"};
const std::vector<const char*> kSensitivityOutputs = {"pi22", "upgrade_gain_positive"};

// The table's and the JSON's number formats, written out independently.
std::string g7(double x) {
  if (std::isnan(x)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", x);
  return buf;
}

std::string g17(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string g17(std::uint64_t v) {
  return std::to_string(v);
}

// A flat row-major array as nested JSON arrays of shape `dims`.
template <class T>
std::string nested(const std::vector<T>& v, const std::vector<std::size_t>& dims,
                   std::size_t level = 0, std::size_t offset = 0) {
  std::size_t stride = 1;
  for (std::size_t i = level + 1; i < dims.size(); ++i) stride *= dims[i];
  std::string out = "[";
  for (std::size_t i = 0; i < dims[level]; ++i) {
    if (i) out += ", ";
    out += level + 1 == dims.size() ? g17(v.at(offset + i))
                                    : nested(v, dims, level + 1, offset + i * stride);
  }
  return out + "]";
}

// The file through the HDF5 C API, independent of read_result.
class H5File {
 public:
  explicit H5File(const std::string& path)
      : id_(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) {
    EXPECT_GE(id_, 0) << path;
  }
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;
  ~H5File() {
    if (id_ >= 0) H5Fclose(id_);
  }
  bool has(const std::string& name) const { return H5Lexists(id_, name.c_str(), H5P_DEFAULT) > 0; }
  std::vector<double> f64s(const std::string& name) const {
    return read<double>(name, H5T_NATIVE_DOUBLE);
  }
  std::vector<std::uint64_t> u64s(const std::string& name) const {
    return read<std::uint64_t>(name, H5T_NATIVE_UINT64);
  }
  double f64(const std::string& name) const { return one(f64s(name), name); }
  std::uint64_t u64(const std::string& name) const { return one(u64s(name), name); }
  std::vector<double> attr_f64s(const std::string& obj, const char* attr) const {
    std::vector<double> v;
    const hid_t a = H5Aopen_by_name(id_, obj.c_str(), attr, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
      ADD_FAILURE() << "no attribute " << attr << " of " << obj;
      return v;
    }
    const hid_t s = H5Aget_space(a);
    v.resize(static_cast<std::size_t>(H5Sget_simple_extent_npoints(s)));
    EXPECT_GE(H5Aread(a, H5T_NATIVE_DOUBLE, v.data()), 0);
    H5Sclose(s);
    H5Aclose(a);
    return v;
  }
  std::uint64_t attr_u64(const std::string& obj, const char* attr) const {
    std::uint64_t v = 0;
    const hid_t a = H5Aopen_by_name(id_, obj.c_str(), attr, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(a, 0) << attr << " of " << obj;
    if (a >= 0) {
      EXPECT_GE(H5Aread(a, H5T_NATIVE_UINT64, &v), 0);
      H5Aclose(a);
    }
    return v;
  }

 private:
  template <class T>
  std::vector<T> read(const std::string& name, hid_t mem) const {
    std::vector<T> v;
    const hid_t d = H5Dopen2(id_, name.c_str(), H5P_DEFAULT);
    if (d < 0) {
      ADD_FAILURE() << "no dataset " << name;
      return v;
    }
    const hid_t s = H5Dget_space(d);
    v.resize(static_cast<std::size_t>(H5Sget_simple_extent_npoints(s)));
    EXPECT_GE(H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0) << name;
    H5Sclose(s);
    H5Dclose(d);
    return v;
  }
  template <class T>
  static T one(const std::vector<T>& v, const std::string& name) {
    EXPECT_EQ(v.size(), 1u) << name;
    return v.empty() ? T{} : v[0];
  }
  hid_t id_;
};

// The lines of the table from the one starting with `title` to the next blank line.
std::string section(const std::string& table, const std::string& title) {
  const std::size_t at = table.find("\n" + title);
  if (at == std::string::npos) return "";
  const std::size_t end = table.find("\n\n", at + 1);
  return table.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
}

std::vector<std::string> lines(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> split(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> tokens;
  for (std::string t; in >> t;) tokens.push_back(t);
  return tokens;
}

// The cells after the name of the row `name` in `text` (lines "  name ...").
std::vector<std::string> row(const std::string& text, const std::string& name) {
  const std::size_t at = text.find("\n  " + name + " ");
  if (at == std::string::npos) return {"(no row " + name + ")"};
  const std::size_t end = text.find('\n', at + 1);
  std::vector<std::string> t = split(text.substr(at + 1, end - at - 1));
  t.erase(t.begin());
  return t;
}

std::vector<std::string> stats_cells(const H5File& f, const std::string& g) {
  std::vector<std::string> cells = {std::to_string(f.u64(g + "/count"))};
  for (const char* s : {"mean", "std", "sem", "min", "max"})
    cells.push_back(g7(f.f64(g + "/" + s)));
  return cells;
}

std::vector<std::string> proportion_cells(const H5File& f, const std::string& g) {
  std::vector<std::string> cells = {std::to_string(f.u64(g + "/count"))};
  for (const char* s : {"probability", "ci95_low", "ci95_high"})
    cells.push_back(g7(f.f64(g + "/" + s)));
  return cells;
}

std::string json_list(const std::vector<double>& v) {
  return nested(v, {v.size()});
}

// Walks the JSON's analysis sections against the file with h5py: every key
// must name a group, dataset or attribute there with equal values, and every
// dataset and attribute of the mirrored groups must be in the JSON.
constexpr const char* kWalkScript = R"PY(
import json, sys
import h5py, numpy as np

def bad(tok): raise ValueError('non-standard token ' + tok)
f = h5py.File(sys.argv[1], 'r')
d = json.load(open(sys.argv[2], encoding='utf-8'), parse_constant=bad)
required = sys.argv[3].split(',')
problems, compared = [], 0

def text(x):
    return x.decode() if isinstance(x, bytes) else str(x)

def same(j, h, where):
    global compared
    compared += 1
    h = np.asarray(h)
    if h.dtype.kind in 'OSU':
        ok = [text(x) for x in h.ravel()] == (j if isinstance(j, list) else [j])
    elif h.dtype.kind in 'ui':
        ok = np.array(j).shape == h.shape and np.array_equal(np.array(j, dtype=h.dtype), h)
    else:
        jj = np.array(j, dtype=float)  # null -> NaN
        ok = jj.shape == h.shape and np.array_equal(jj, h, equal_nan=True)
    if not ok:
        problems.append('%s: JSON %.200r, file %.200r' % (where, j, h))

def walk(j, path):
    node = f[path]
    for k, v in j.items():
        p = path + '/' + k
        if k in node and isinstance(node[k], h5py.Group):
            walk(v, p)
        elif k in node:
            ds = node[k]
            if isinstance(v, dict):  # a dataset with its attributes: quantiles
                for a, av in v.items():
                    same(av, ds[()] if a == 'values' else ds.attrs[a], p + '/' + a)
            else:
                same(v, ds[()], p)
        elif k in node.attrs:
            same(v, node.attrs[k], p)
        else:
            problems.append(p + ': in the JSON, not in the file')

def in_json(path):
    j = d
    for part in path.strip('/').split('/'):
        if not isinstance(j, dict) or part not in j:
            return False
        j = j[part]
    return True

for s in required:
    if s not in d:
        problems.append('no section ' + s)
for s in ('summary', 'conditional', 'paths', 'sensitivity', 'sweep'):
    if (s in f) != (s in d):
        problems.append('%s: in the file %s, in the JSON %s' % (s, s in f, s in d))
    elif s in d:
        walk(d[s], '/' + s)

# Completeness of the mirrored groups (the sweep shows only what the table does).
expected = []
def collect(name, obj):
    if isinstance(obj, h5py.Dataset):
        expected.append(obj.name)
    expected.extend(obj.name + '/' + a for a in obj.attrs)
for s in ('summary', 'conditional', 'paths', 'sensitivity'):
    if s in f:
        expected.extend('/%s/%s' % (s, a) for a in f[s].attrs)
        f[s].visititems(collect)
if 'sweep' in f:
    expected += ['/sweep/axes/' + text(a) for a in f.attrs['sweep_axes']]
    expected += ['/sweep/counts/draws_valid', '/sweep/events/leader_gains/probability',
                 '/sweep/events/upgrade_gain_positive/probability', '/sweep/summary/upgrade_gain/mean']
for p in expected:
    if not in_json(p):
        problems.append(p + ': in the file, not in the JSON')
for a in ('path_names', 'sweep_axes'):
    if a in f.attrs:
        if a in d['attributes']:
            same(d['attributes'][a], f.attrs[a], 'attributes/' + a)
        else:
            problems.append('attributes/' + a + ': missing')
if compared < 100:
    problems.append('only %d values compared' % compared)
print('\n'.join(problems) or 'compared %d values' % compared)
sys.exit(1 if problems else 0)
)PY";

bool have_h5py() {
  static const bool ok = run_shell(std::string(kPython) + " -c 'import h5py, numpy'").status == 0;
  return ok;
}

class Inspect : public testing::Test {
 protected:
  spillmc_test::TempDir dir_{"inspect"};

  // Runs `yaml` into NAME.h5 and returns its path.
  std::string run(const std::string& name, const std::string& yaml) {
    const std::string cfg = dir_.write(name + ".yaml", yaml);
    const std::string out = dir_.path(name + ".h5");
    const Cmd c = sh("run " + cfg + " -o " + out + " --quiet");
    EXPECT_EQ(c.status, 0) << c.out;
    return out;
  }

  std::string inspect(const std::string& args) {
    const Cmd c = sh("inspect " + args);
    EXPECT_EQ(c.status, 0) << c.out;
    return c.out;
  }

  // The h5py walk over `json` (skips the test without h5py).
  void walk_json(const std::string& h5, const std::string& json, const std::string& required) {
    if (!have_h5py()) GTEST_SKIP() << kPython << " with h5py and numpy not available";
    const std::string script = dir_.write("walk.py", kWalkScript);
    const std::string jf = dir_.write("out.json", json);
    const Cmd c =
        run_shell(std::string(kPython) + " " + script + " " + h5 + " " + jf + " " + required);
    EXPECT_EQ(c.status, 0) << c.out;
    EXPECT_CONTAINS(c.out, "compared ");
  }
};

TEST_F(Inspect, TableShowsQuantilesConditionsPathsAndSensitivity) {
  const std::string h5 = run("all", kAnalyses);
  const std::string table = inspect(h5);
  const H5File f(h5);

  // Quantiles: one row per histogrammed field (by default the 19 outputs):
  // the 7 values and the bin count, and nothing of the counts themselves.
  const std::string quantiles = section(table, "Quantiles");
  ASSERT_NE(quantiles, "") << table;
  int fields = 0;
  for (const char* name : kFieldNames) {
    const std::string g = std::string("summary/") + name;
    if (!f.has(g + "/quantiles")) {
      EXPECT_EQ(quantiles.find("\n  " + std::string(name) + " "), std::string::npos) << name;
      continue;
    }
    ++fields;
    std::vector<std::string> want;
    for (double q : f.f64s(g + "/quantiles")) want.push_back(g7(q));
    want.push_back(std::to_string(f.u64s(g + "/histogram/counts").size()));
    EXPECT_EQ(row(quantiles, name), want) << name;
  }
  EXPECT_EQ(fields, 19);
  const std::vector<std::string> qlines = lines(quantiles);
  ASSERT_EQ(qlines.size(), 2u + 19u) << quantiles;
  EXPECT_EQ(split(qlines[1]),
            (std::vector<std::string>{"field", "1", "%", "5", "%", "25", "%", "50", "%", "75", "%",
                                      "95", "%", "99", "%", "bins"}));
  for (std::size_t i = 2; i < qlines.size(); ++i)
    EXPECT_EQ(split(qlines[i]).size(), 9u) << qlines[i];

  // Conditions: the share of each, then per condition its events and main outputs.
  const std::string conditions = section(table, "Conditions");
  for (const char* c : kConditions) {
    const std::string g = std::string("conditional/") + c;
    EXPECT_EQ(row(conditions, c), proportion_cells(f, g)) << c;
    const std::string given = section(table, std::string("Given ") + c + " ");
    ASSERT_NE(given, "") << c << "\n" << table;
    for (const char* e : kEventNames)
      EXPECT_EQ(row(given, e), proportion_cells(f, g + "/events/" + e)) << c << " " << e;
    for (const char* field : {"pi12", "pi22", "upgrade_gain", "A2_crit"})
      EXPECT_EQ(row(given, field), stats_cells(f, g + "/summary/" + field)) << c << " " << field;
  }
  // The events restrict: P(leader_gains | leader_gains) is 1 with the condition's count.
  EXPECT_EQ(row(section(table, "Given leader_gains "), "leader_gains")[1], "1");

  // Paths: gain statistics, best shares and none_pays.
  const std::string gains = section(table, "Upgrade paths: expected");
  const std::string best = section(table, "Upgrade paths: best");
  for (const char* p : kPaths) {
    EXPECT_EQ(row(gains, p), stats_cells(f, std::string("paths/") + p + "/gain")) << p;
    EXPECT_EQ(row(best, p), proportion_cells(f, std::string("paths/") + p + "/best")) << p;
  }
  EXPECT_EQ(row(best, "none_pays"), proportion_cells(f, "paths/none_pays"));

  // Sensitivity: per output, S1 and ST with their intervals per parameter.
  const std::string sens = section(table, "Sensitivity");
  EXPECT_CONTAINS(sens, std::to_string(f.attr_u64("sensitivity", "base_draws")) + " base draws");
  EXPECT_CONTAINS(sens, std::to_string(f.attr_u64("sensitivity", "evaluations")) + " evaluations");
  const std::vector<std::string> params = {"a", "b", "c", "A1", "A2_gap", "theta"};
  for (std::size_t o = 0; o < kSensitivityOutputs.size(); ++o) {
    const std::string out = kSensitivityOutputs[o];
    const std::size_t from = sens.find("\n  " + out + ": mean ");
    ASSERT_NE(from, std::string::npos) << sens;
    const std::size_t to =
        o + 1 < kSensitivityOutputs.size()
            ? sens.find(std::string("\n  ") + kSensitivityOutputs[o + 1] + ": mean ")
            : std::string::npos;
    const std::string block = sens.substr(from, to == std::string::npos ? to : to - from);
    EXPECT_CONTAINS(block, "mean " + g7(f.attr_f64s("sensitivity/" + out, "mean").at(0)));
    const std::string g = "sensitivity/" + out;
    const auto s1 = f.f64s(g + "/S1"), s1ci = f.f64s(g + "/S1_ci"), st = f.f64s(g + "/ST"),
               stci = f.f64s(g + "/ST_ci");
    ASSERT_EQ(s1.size(), params.size());
    for (std::size_t i = 0; i < params.size(); ++i)
      EXPECT_EQ(row(block, params[i]),
                (std::vector<std::string>{g7(s1[i]), g7(s1ci[2 * i]), g7(s1ci[2 * i + 1]),
                                          g7(st[i]), g7(stci[2 * i]), g7(stci[2 * i + 1])}))
          << out << " " << params[i];
  }
  // pi22 depends on a more than on theta: the numbers are the real indices.
  EXPECT_GT(f.f64s("sensitivity/pi22/S1").at(0), 0.2);

  // The sections sit between the main ones and the config, in this order.
  const std::size_t invalid = table.find("\nInvalid draws"), q = table.find("\nQuantiles"),
                    c = table.find("\nConditions"), p = table.find("\nUpgrade paths"),
                    s = table.find("\nSensitivity"), config = table.find("\nConfig\n");
  EXPECT_TRUE(invalid < q && q < c && c < p && p < s && s < config) << table;
}

TEST_F(Inspect, JsonMirrorsTheAnalysisGroups) {
  const std::string h5 = run("all", kAnalyses);
  const std::string json = inspect("--json " + h5);
  const H5File f(h5);

  // Quantiles beside the statistics of the field, as in /summary/<field>/.
  const std::vector<double> levels = f.attr_f64s("summary/pi22/quantiles", "levels");
  EXPECT_CONTAINS(json, "\"quantiles\": {\"levels\": " + json_list(levels) +
                            ", \"values\": " + json_list(f.f64s("summary/pi22/quantiles")) + "}");
  EXPECT_CONTAINS(json,
                  "\"quantile_bounds\": " + nested(f.f64s("summary/pi22/quantile_bounds"), {7, 2}));
  const std::vector<std::uint64_t> counts = f.u64s("summary/pi22/histogram/counts");
  EXPECT_CONTAINS(json, "\"counts\": " + nested(counts, {counts.size()}));
  EXPECT_CONTAINS(json, "\"edges\": " + json_list(f.f64s("summary/pi22/histogram/edges")));
  EXPECT_CONTAINS(
      json, "\"underflow\": " + std::to_string(f.attr_u64("summary/pi22/histogram", "underflow")));
  // A parameter has no histogram: its summary stays on one line.
  EXPECT_CONTAINS(json, "\"a\": {\"count\": 20000, \"mean\": " + g17(f.f64("summary/a/mean")));

  // Conditional: the condition's own numbers, then its summary and events.
  const std::string g = "conditional/leader_gains/";
  EXPECT_CONTAINS(json,
                  "\"leader_gains\": {\n      \"count\": " + std::to_string(f.u64(g + "count")) +
                      ",\n      \"probability\": " + g17(f.f64(g + "probability")));
  EXPECT_CONTAINS(json, "\"pi12\": {\"count\": " + std::to_string(f.u64(g + "summary/pi12/count")) +
                            ", \"mean\": " + g17(f.f64(g + "summary/pi12/mean")));
  EXPECT_CONTAINS(
      json, "\"upgrade_gain_positive\": {\"count\": " +
                std::to_string(f.u64(g + "events/upgrade_gain_positive/count")) +
                ", \"probability\": " + g17(f.f64(g + "events/upgrade_gain_positive/probability")));

  // Paths and none_pays.
  EXPECT_CONTAINS(json, "\"gain\": {\"count\": 20000, \"mean\": " +
                            g17(f.f64("paths/independent_rnd/gain/mean")));
  EXPECT_CONTAINS(json,
                  "\"none_pays\": {\"count\": " + std::to_string(f.u64("paths/none_pays/count")));
  EXPECT_CONTAINS(json, "\"path_names\": [\"absorb_spillover\", \"independent_rnd\"]");

  // Sensitivity: datasets and attributes side by side.
  EXPECT_CONTAINS(json, "\"parameters\": [\"a\", \"b\", \"c\", \"A1\", \"A2_gap\", \"theta\"]");
  EXPECT_CONTAINS(json, "\"S1\": " + json_list(f.f64s("sensitivity/pi22/S1")));
  EXPECT_CONTAINS(json, "\"ST_ci\": " + nested(f.f64s("sensitivity/pi22/ST_ci"), {6, 2}));
  EXPECT_CONTAINS(json,
                  "\"evaluations\": " + std::to_string(f.attr_u64("sensitivity", "evaluations")));
  EXPECT_EQ(json.find("\"sweep\""), std::string::npos);

  walk_json(h5, json, "summary,conditional,paths,sensitivity");
}

TEST_F(Inspect, SweepJsonHasTheGrid) {
  const std::string h5 = run("sweep", kSweep);
  const std::string json = inspect("--json " + h5);
  const H5File f(h5);
  const std::vector<std::size_t> grid = {3, 2};
  EXPECT_CONTAINS(json, "\"sweep_axes\": [\"A2_gap\", \"theta\"]");
  EXPECT_CONTAINS(json, "\"A2_gap\": " + json_list(f.f64s("sweep/A2_gap")));
  EXPECT_CONTAINS(json, "\"theta\": " + json_list(f.f64s("sweep/axes/theta")));
  EXPECT_CONTAINS(json, "\"draws_valid\": " + nested(f.u64s("sweep/counts/draws_valid"), grid));
  const std::vector<double> pays = f.f64s("sweep/events/upgrade_gain_positive/probability");
  EXPECT_CONTAINS(json, "\"upgrade_gain_positive\": {\"probability\": " + nested(pays, grid) + "}");
  EXPECT_CONTAINS(json, "\"leader_gains\": {\"probability\": " +
                            nested(f.f64s("sweep/events/leader_gains/probability"), grid) + "}");
  const std::vector<double> gain = f.f64s("sweep/summary/upgrade_gain/mean");
  EXPECT_CONTAINS(json, "\"upgrade_gain\": {\"mean\": " + nested(gain, grid) + "}");
  // Row-major order matters: the cells differ.
  EXPECT_NE(gain.at(2), gain.at(3));
  // A sweep has no histograms by default, and inspect adds no empty sections.
  EXPECT_EQ(json.find("\"quantiles\""), std::string::npos);
  EXPECT_EQ(json.find("\"conditional\""), std::string::npos);

  walk_json(h5, json, "sweep");
}

TEST_F(Inspect, FileWithoutAnalysesShowsNoNewSection) {
  const std::string h5 = run("plain", kBase + "draws: 5000\nhistograms: false\n");
  const std::string table = inspect(h5);
  for (const char* s :
       {"\nQuantiles", "\nConditions", "\nGiven ", "\nUpgrade paths", "\nSensitivity"})
    EXPECT_EQ(table.find(s), std::string::npos) << s;
  EXPECT_CONTAINS(table, "nonfinite_output                      0    0.0000 %\n\nConfig\n");
  const std::string json = inspect("--json " + h5);
  for (const char* k : {"\"quantiles\"", "\"histogram\"", "\"conditional\"", "\"paths\"",
                        "\"sensitivity\"", "\"sweep\"", "\"path_names\"", "\"sweep_axes\""})
    EXPECT_EQ(json.find(k), std::string::npos) << k;
  // The JSON ends with the main groups, as before the analyses existed.
  EXPECT_CONTAINS(json, "\"nonfinite_output\": 0\n  }\n}\n");
  const ResultFile r = read_result(h5);
  EXPECT_TRUE(r.quantiles.empty() && r.conditional.empty() && r.paths.empty() &&
              !r.has_sensitivity && r.sweep.axes.empty());
}

// A damaged analysis group is refused with the name of the object, like the
// main groups.
TEST_F(Inspect, ReaderNamesTheBrokenAnalysisObject) {
  const std::string h5 = run("all", kAnalyses);
  int copies = 0;
  const auto message_after = [&](const auto& damage) {
    const std::string copy = dir_.path("damaged-" + std::to_string(copies++) + ".h5");
    std::filesystem::copy_file(h5, copy);
    const hid_t file = H5Fopen(copy.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT_GE(file, 0);
    damage(file);
    H5Fclose(file);
    try {
      (void)read_result(copy);
    } catch (const OutputError& e) {
      return std::string(e.what());
    }
    return std::string("(read without error)");
  };
  const auto without = [&](const char* name) {
    return message_after([&](hid_t file) { EXPECT_GE(H5Ldelete(file, name, H5P_DEFAULT), 0); });
  };
  EXPECT_CONTAINS(without("conditional/leader_gains/summary/pi12/mean"),
                  "dataset 'conditional/leader_gains/summary/pi12/mean'");
  EXPECT_CONTAINS(without("conditional/not_upgrade_gain_positive/undefined/A2_crit"),
                  "dataset 'conditional/not_upgrade_gain_positive/undefined/A2_crit'");
  EXPECT_CONTAINS(without("paths/none_pays/ci95_high"), "dataset 'paths/none_pays/ci95_high'");
  EXPECT_CONTAINS(without("summary/q22/histogram/edges"), "dataset 'summary/q22/histogram/edges'");
  EXPECT_CONTAINS(without("sensitivity/upgrade_gain_positive/ST_ci"),
                  "dataset 'sensitivity/upgrade_gain_positive/ST_ci'");
  EXPECT_CONTAINS(
      message_after([](hid_t file) {
        EXPECT_GE(H5Adelete_by_name(file, "summary/pi22/quantiles", "levels", H5P_DEFAULT), 0);
      }),
      "attribute 'levels' of 'summary/pi22/quantiles'");
  // A dataset of the wrong shape: S1 with 2 values for 6 parameters.
  EXPECT_CONTAINS(message_after([](hid_t file) {
                    EXPECT_GE(H5Ldelete(file, "sensitivity/pi22/S1", H5P_DEFAULT), 0);
                    const hsize_t n = 2;
                    const double v[2] = {0.5, 0.5};
                    const hid_t s = H5Screate_simple(1, &n, nullptr);
                    const hid_t d = H5Dcreate2(file, "sensitivity/pi22/S1", H5T_IEEE_F64LE, s,
                                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                    EXPECT_GE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
                    H5Dclose(d);
                    H5Sclose(s);
                  }),
                  "dataset 'sensitivity/pi22/S1': of shape [2], expected [6]");
}

}  // namespace
