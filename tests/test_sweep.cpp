// Sweeps, histograms, conditions and paths wired into the run (issues 3, 4):
// - a sweep cell equals the single run of its parameters and stream, bit for
//   bit, both in the files `spillmc run` writes and in-process;
// - a sweep does not depend on the thread count or the chunking;
// - upgrade paths against a brute-force loop over the same draws;
// - histograms and conditional tallies survive a split into segment ranges
//   (what shards do) and a checkpoint resume, bit for bit, and conditional
//   counts match a brute-force count;
// - a sweep resumes from its checkpoint file after any block, and its shards
//   merge to the single run's grid;
// - config errors for the combinations this version refuses.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "h5_compare.hpp"
#include "harness.hpp"
#include "spillmc/analysis.hpp"
#include "spillmc/backend.hpp"
#include "spillmc/checkpoint.hpp"
#include "spillmc/config.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/paths.hpp"
#include "spillmc/result.hpp"
#include "spillmc/run.hpp"
#include "spillmc/shard.hpp"
#include "spillmc/version.hpp"

using namespace spillmc;
using namespace spillmc_test;

namespace {

// The baseline study's parameters with two of them left for the caller.
std::string base_params(const std::string& a, const std::string& theta) {
  return "parameters:\n"
         "  a: " +
         a +
         "\n"
         "  b: {dist: triangular, low: 0.8, mode: 1, high: 1.25}\n"
         "  c: {dist: normal, mean: 2, sd: 0.2}\n"
         "  A1: {dist: triangular, low: 0.5, mode: 1, high: 2}\n"
         "  A2_gap: {dist: lognormal, meanlog: 0, sdlog: 0.5}\n"
         "  theta: " +
         theta + "\n";
}

// 3 x 2 cells of 70000 draws: every cell spans two blocks (the second short).
constexpr std::uint64_t kCellDraws = 70000;
const std::vector<double> kAxisA = {8.0, 10.5, 12.0};
const std::vector<double> kAxisTheta = {0.25, 0.75};

std::string sweep_yaml() {
  return "draws: 1000\nseed: 7\nbackend: cpu\n" +
         base_params("{dist: uniform, low: 8, high: 12}", "{dist: beta, alpha: 2, beta: 2}") +
         "sweep:\n"
         "  draws_per_cell: 70000\n"
         "  axes:\n"
         "    - {param: a, values: [8, 10.5, 12]}\n"
         "    - {param: theta, values: [0.25, 0.75]}\n";
}

// The single run of cell k, written independently of the sweep: the axis
// parameters fixed at the cell's values (last axis fastest), stream k.
std::string cell_yaml(std::uint64_t k) {
  const double a = kAxisA[k / kAxisTheta.size()], theta = kAxisTheta[k % kAxisTheta.size()];
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", a);
  std::string as = buf;
  std::snprintf(buf, sizeof buf, "%.17g", theta);
  return "draws: " + std::to_string(kCellDraws) +
         "\nseed: 7\nbackend: cpu\nstream: " + std::to_string(k) + "\n" + base_params(as, buf);
}

// --- HDF5 reading (the sweep groups are not in ResultFile) ------------------

// Every element of a numeric dataset as its 8 bytes (float64 or uint64).
std::vector<std::uint64_t> read_bits(const std::string& file, const std::string& name) {
  std::vector<std::uint64_t> out;
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    ADD_FAILURE() << "cannot open " << file;
    return out;
  }
  const hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  if (d < 0) {
    ADD_FAILURE() << "no dataset " << name << " in " << file;
    H5Fclose(f);
    return out;
  }
  const hid_t s = H5Dget_space(d);
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(s));
  const hid_t t = H5Dget_type(d);
  const bool is_float = H5Tget_class(t) == H5T_FLOAT;
  out.resize(n);
  const herr_t rc = H5Dread(d, is_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL,
                            H5P_DEFAULT, out.data());
  EXPECT_GE(rc, 0) << name;
  H5Tclose(t);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  return out;
}

std::uint64_t read_root_u64(const std::string& file, const char* attr) {
  std::uint64_t v = 0;
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t a = H5Aopen(f, attr, H5P_DEFAULT);
  EXPECT_GE(H5Aread(a, H5T_NATIVE_UINT64, &v), 0) << attr;
  H5Aclose(a);
  H5Fclose(f);
  return v;
}

const char* const kSummaryStats[] = {"count", "mean", "std", "sem", "min", "max"};
const char* const kEventStats[] = {"count", "probability", "ci95_low", "ci95_high"};

// Every /sweep/summary and /sweep/events dataset name.
std::vector<std::pair<std::string, std::string>> sweep_datasets() {
  std::vector<std::pair<std::string, std::string>> v;  // (sweep path, single-run path)
  for (int f = 0; f < kNumFields; ++f)
    for (const char* s : kSummaryStats) {
      const std::string tail = std::string(kFieldNames[f]) + "/" + s;
      v.push_back({"/sweep/summary/" + tail, "/summary/" + tail});
    }
  for (int e = 0; e < kNumEvents; ++e)
    for (const char* s : kEventStats) {
      const std::string tail = std::string(kEventNames[e]) + "/" + s;
      v.push_back({"/sweep/events/" + tail, "/events/" + tail});
    }
  return v;
}

Config sweep_config() {
  return parse_config_text(sweep_yaml(), "sweep.yaml");
}

// Per-cell totals of a whole plan.
void run_cells(Backend& b, const RunPlan& plan, std::uint64_t chunk, std::vector<Tally>& cells,
               std::vector<Extra>& extras) {
  const SegmentProgress p =
      run_plan_segments(b, plan, 0, plan.total_segments(), {}, nullptr, chunk);
  ASSERT_EQ(p.segments.size(), plan.total_segments());
  fold_cells(plan, p.segments, p.extras, 0, cells, extras);
}

std::vector<std::uint64_t> extra_bits(const Extra& x) {
  std::vector<unsigned char> b(x.byte_size());
  x.to_bytes(b.data());
  std::vector<std::uint64_t> out((b.size() + 7) / 8, 0);
  if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// 1. A sweep cell is the single run of its parameters and stream.

TEST(SweepCell, FileEqualsSingleRunBitForBit) {
  TempDir tmp("sweep");
  const std::string cfg = tmp.write("sweep.yaml", sweep_yaml());
  const std::string out = tmp.path("sweep.h5");
  const Cmd r = sh("run " + cfg + " -o " + out + " --threads 2 -q");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(read_bits(out, "/sweep/a").size(), kAxisA.size());
  EXPECT_EQ(read_bits(out, "/sweep/theta").size(), kAxisTheta.size());
  const auto datasets = sweep_datasets();
  const auto valid = read_bits(out, "/sweep/counts/draws_valid");
  const auto invalid = read_bits(out, "/sweep/counts/draws_invalid");
  ASSERT_EQ(valid.size(), 6u);
  // Cells (0, 0), (0, 1) and (2, 0): flat index k = i * 2 + j (row-major, last axis
  // fastest). Cell 0 runs on stream 0 like a plain run; the others need `stream: k`.
  for (std::uint64_t k : {0u, 1u, 4u}) {
    const auto coords = cell_coords(sweep_config().sweep, k);
    ASSERT_EQ(coords.size(), 2u);
    EXPECT_EQ(coords[0] * 2 + coords[1], k);
    SCOPED_TRACE("cell " + std::to_string(k));
    const std::string single_cfg = tmp.write("cell.yaml", cell_yaml(k));
    const std::string single = tmp.path("cell" + std::to_string(k) + ".h5");
    const Cmd s = sh("run " + single_cfg + " -o " + single + " --threads 2 -q");
    ASSERT_EQ(s.status, 0) << s.out;
    EXPECT_EQ(valid[k], read_root_u64(single, "draws_valid"));
    EXPECT_EQ(invalid[k], read_root_u64(single, "draws_invalid"));
    EXPECT_EQ(valid[k] + invalid[k], kCellDraws);
    for (const auto& [sw, one] : datasets) {
      const auto grid = read_bits(out, sw);
      const auto scalar = read_bits(single, one);
      ASSERT_EQ(grid.size(), 6u) << sw;
      ASSERT_EQ(scalar.size(), 1u) << one;
      EXPECT_EQ(grid[k], scalar[0]) << sw << " vs " << one;
    }
  }
}

TEST(SweepCell, InProcessEqualsRunBlocksOfTheCellConfig) {
  const Config cfg = sweep_config();
  const RunPlan plan = make_run_plan(cfg);
  ASSERT_EQ(plan.cells.size(), 6u);
  ASSERT_EQ(plan.draws, kCellDraws);
  EXPECT_FALSE(plan.analysis.has_extra());  // histograms are off in sweeps
  auto backend = make_cpu_backend(2);
  std::vector<Tally> cells;
  std::vector<Extra> extras;
  run_cells(*backend, plan, 0, cells, extras);
  ASSERT_EQ(cells.size(), 6u);
  for (std::uint64_t k = 0; k < 6; ++k) {
    SCOPED_TRACE("cell " + std::to_string(k));
    const Config one = parse_config_text(cell_yaml(k), "cell.yaml");
    ASSERT_EQ(one.stream, k);
    // `stream: k` must reach the spec the run uses (docs/config.md).
    EXPECT_EQ(one.draw_spec().stream, k) << "Config::draw_spec() drops cfg.stream";
    // The rest of the comparison does not hinge on that: the stream set by hand.
    DrawSpec spec = one.draw_spec();
    spec.stream = one.stream;
    const Tally t = run_blocks(*backend, spec, kCellDraws);
    EXPECT_EQ(tally_bits(cells[k]), tally_bits(t));
  }
  // Different cells really differ (stream and parameters are used).
  EXPECT_NE(tally_bits(cells[0]), tally_bits(cells[1]));
}

// Paths in a sweep: each cell's path extras equal the single run of the cell.
TEST(SweepCell, PathExtrasEqualSingleRunOfTheCell) {
  const std::string file = std::string(SPILLMC_SOURCE_DIR) + "/configs/paths.yaml";
  const Config sw = load_config(
      file, {Override("backend", "cpu"), Override("sweep",
                                                  "{draws_per_cell: 70000, axes: [{param: "
                                                  "c, values: [1.5, 2.5]}]}")});
  const RunPlan plan = make_run_plan(sw);
  ASSERT_EQ(plan.cells.size(), 2u);
  ASSERT_EQ(plan.analysis.paths.n, 4);
  auto backend = make_cpu_backend(2);
  std::vector<Tally> cells;
  std::vector<Extra> extras;
  run_cells(*backend, plan, 0, cells, extras);
  ASSERT_EQ(extras.size(), 2u);
  for (std::uint64_t k = 0; k < 2; ++k) {
    SCOPED_TRACE("cell " + std::to_string(k));
    Config one = load_config(file, {Override("backend", "cpu"), Override("draws", "70000"),
                                    Override("parameters.c", k == 0 ? "1.5" : "2.5"),
                                    Override("stream", std::to_string(k))});
    RunPlan single = plain_plan(one.draw_spec(), one.draws);
    single.cells[0].stream = one.stream;  // see InProcessEqualsRunBlocksOfTheCellConfig
    single.analysis.paths = paths_spec(one);
    const SegmentProgress p = run_plan_segments(*backend, single, 0, single.total_segments());
    Extra x;
    for (const Extra& e : p.extras) x.merge(e);
    EXPECT_EQ(tally_bits(cells[k]), tally_bits(fold_segments(p.segments)));
    EXPECT_EQ(extra_bits(extras[k]), extra_bits(x));
  }
  EXPECT_NE(extra_bits(extras[0]), extra_bits(extras[1]));
}

// ---------------------------------------------------------------------------
// 2. Threads and chunking do not change a sweep.

TEST(SweepThreads, OneAndTwoThreadsAndAnyChunkingGiveTheSameBits) {
  const RunPlan plan = make_run_plan(sweep_config());
  auto one = make_cpu_backend(1), two = make_cpu_backend(2);
  std::vector<Tally> c1, c2, c3;
  std::vector<Extra> x1, x2, x3;
  run_cells(*one, plan, 0, c1, x1);
  run_cells(*two, plan, 0, c2, x2);
  run_cells(*two, plan, 3, c3, x3);  // chunks that straddle cells
  for (std::size_t k = 0; k < c1.size(); ++k) {
    EXPECT_EQ(tally_bits(c1[k]), tally_bits(c2[k])) << "cell " << k;
    EXPECT_EQ(tally_bits(c1[k]), tally_bits(c3[k])) << "cell " << k;
  }
}

TEST(SweepThreads, FilesWithOneAndTwoThreadsAgree) {
  TempDir tmp("sweepthr");
  const std::string cfg = tmp.write("sweep.yaml", sweep_yaml());
  const Cmd a = sh("run " + cfg + " -o " + tmp.path("t1.h5") + " --threads 1 -q");
  const Cmd b = sh("run " + cfg + " -o " + tmp.path("t2.h5") + " --threads 2 -q");
  ASSERT_EQ(a.status, 0) << a.out;
  ASSERT_EQ(b.status, 0) << b.out;
  auto names = sweep_datasets();
  names.push_back({"/sweep/counts/draws_valid", ""});
  names.push_back({"/sweep/regimes/stage2", ""});
  names.push_back({"/sweep/regimes/upgrade", ""});
  for (const auto& n : names)
    EXPECT_EQ(read_bits(tmp.path("t1.h5"), n.first), read_bits(tmp.path("t2.h5"), n.first))
        << n.first;
}

// ---------------------------------------------------------------------------
// 5. Upgrade paths against a brute-force loop over the same draws.

TEST(PathsRun, PlanExtrasMatchBruteForce) {
  const Config cfg = load_config(std::string(SPILLMC_SOURCE_DIR) + "/configs/paths.yaml",
                                 {Override("draws", "150000"), Override("backend", "cpu")});
  const RunPlan plan = make_run_plan(cfg);
  ASSERT_EQ(plan.analysis.paths.n, 4);
  auto backend = make_cpu_backend(2);
  const SegmentProgress p = run_plan_segments(*backend, plan, 0, plan.total_segments());
  Extra x;
  for (const Extra& e : p.extras) x.merge(e);
  ASSERT_EQ(x.path_gain.size(), 4u);
  ASSERT_EQ(x.path_best.size(), 5u);

  const DrawSpec spec = cfg.draw_spec();
  const PathsSpec ps = paths_spec(cfg);
  std::uint64_t valid = 0, best[kMaxPaths + 1] = {};
  double sum[kMaxPaths] = {}, lo[kMaxPaths], hi[kMaxPaths];
  std::fill(lo, lo + kMaxPaths, INFINITY);
  std::fill(hi, hi + kMaxPaths, -INFINITY);
  for (std::uint64_t i = 0; i < cfg.draws; ++i) {
    Outcome o;
    if (evaluate_draw(spec, i, o) >= 0) continue;
    ++valid;
    const Params prm{o.v[F_a], o.v[F_b], o.v[F_c], o.v[F_A1], o.v[F_A2], o.v[F_A2p]};
    double g[kMaxPaths];
    path_gains(ps, spec.seed, spec.stream, i, prm, spec.mode, g);
    for (int k = 0; k < ps.n; ++k)
      sum[k] += g[k], lo[k] = std::min(lo[k], g[k]), hi[k] = std::max(hi[k], g[k]);
    const int b = best_path(g, ps.n);
    ++best[b < 0 ? ps.n : b];
  }
  ASSERT_GT(valid, 0u);
  std::uint64_t best_total = 0;
  for (int k = 0; k < ps.n; ++k) {
    SCOPED_TRACE(cfg.paths[static_cast<std::size_t>(k)].name);
    const Moments& m = x.path_gain[static_cast<std::size_t>(k)];
    EXPECT_EQ(m.n, valid);
    EXPECT_EQ(m.min, lo[k]);
    EXPECT_EQ(m.max, hi[k]);
    const double mean = sum[k] / static_cast<double>(valid);
    EXPECT_NEAR(m.value(), mean, 1e-12 * (std::fabs(mean) + hi[k] - lo[k]));
    EXPECT_EQ(x.path_best[static_cast<std::size_t>(k)], best[k]);
    best_total += best[k];
  }
  EXPECT_EQ(x.path_best[4], best[4]);
  EXPECT_EQ(best_total + best[4], valid);
  // Every path is best somewhere with these parameters, so the test can tell paths apart.
  for (int k = 0; k < ps.n; ++k) EXPECT_GT(best[k], 0u) << k;
}

// ---------------------------------------------------------------------------
// 6. Segment ranges (shards) and checkpoints keep the analyses exactly.

namespace {

// Baseline parameters, histograms (pilot ranges) and two conditions; 5 blocks,
// the last short, so with 2 blocks per segment there are 3 segments.
Config analysis_config() {
  return parse_config_text(
      "draws: 300000\nseed: 11\nbackend: cpu\n" +
          base_params("{dist: uniform, low: 8, high: 12}", "{dist: beta, alpha: 2, beta: 2}") +
          "histograms: {bins: 64}\n"
          "conditions: [upgrade_gain_positive, not_leader_gains]\n",
      "analysis.yaml");
}

constexpr std::uint64_t kSegBlocks = 2;

void expect_same_progress(const SegmentProgress& a, const SegmentProgress& b) {
  ASSERT_EQ(a.segments.size(), b.segments.size());
  ASSERT_EQ(a.extras.size(), b.extras.size());
  for (std::size_t j = 0; j < a.segments.size(); ++j) {
    EXPECT_EQ(tally_bits(a.segments[j]), tally_bits(b.segments[j])) << "segment " << j;
    EXPECT_EQ(extra_bits(a.extras[j]), extra_bits(b.extras[j])) << "extra " << j;
  }
  EXPECT_EQ(a.hist, b.hist);
}

}  // namespace

TEST(AnalysisShards, SegmentRangesConcatenateToTheWholeRun) {
  const Config cfg = analysis_config();
  const RunPlan plan = make_run_plan(cfg);
  ASSERT_TRUE(plan.analysis.has_extra());
  ASSERT_EQ(plan.analysis.conditions.size(), 2u);
  ASSERT_FALSE(plan.analysis.hist_fields.empty());
  auto backend = make_cpu_backend(2);
  const SegmentProgress whole = run_plan_segments(*backend, plan, 0, 3, {}, nullptr, 0, kSegBlocks);
  ASSERT_EQ(whole.segments.size(), 3u);
  // Two "shards": [0, 1) and [1, 3), one with another thread count and chunking.
  auto one = make_cpu_backend(1);
  const SegmentProgress s0 = run_plan_segments(*one, plan, 0, 1, {}, nullptr, 1, kSegBlocks);
  const SegmentProgress s1 = run_plan_segments(*backend, plan, 1, 3, {}, nullptr, 3, kSegBlocks);
  SegmentProgress joined;
  for (const auto* s : {&s0, &s1}) {
    joined.segments.insert(joined.segments.end(), s->segments.begin(), s->segments.end());
    joined.extras.insert(joined.extras.end(), s->extras.begin(), s->extras.end());
    add_counts(joined.hist, s->hist);
  }
  expect_same_progress(whole, joined);
  // Histogram counts are one total, not a copy per segment.
  for (const Extra& e : whole.extras) EXPECT_TRUE(e.hist.empty());
  EXPECT_EQ(whole.hist.size(), plan.analysis.hist_size());

  // The folded extras (as merge does) and an independent count of the conditions.
  Extra xa, xb;
  for (const Extra& e : whole.extras) xa.merge(e);
  for (const Extra& e : joined.extras) xb.merge(e);
  xa.hist = whole.hist;
  xb.hist = joined.hist;
  EXPECT_EQ(extra_bits(xa), extra_bits(xb));
  const Tally total = fold_segments(whole.segments);
  const DrawSpec spec = cfg.draw_spec();
  std::uint64_t gain_pos = 0, not_leader = 0;
  for (std::uint64_t i = 0; i < cfg.draws; ++i) {
    Outcome o;
    if (evaluate_draw(spec, i, o) >= 0) continue;
    gain_pos += o.v[F_upgrade_gain] > 0 ? 1 : 0;
    not_leader += o.v[F_pi12] >= o.v[F_pi11] ? 0 : 1;
  }
  ASSERT_EQ(xa.cond.size(), 2u);
  EXPECT_EQ(xa.cond[0].valid, gain_pos);
  EXPECT_EQ(xa.cond[1].valid, not_leader);
  EXPECT_EQ(xa.cond[0].events[E_upgrade_gain_positive], gain_pos);
  EXPECT_EQ(xa.cond[1].events[E_leader_gains], 0u);
  // Each histogram holds every valid draw once (A2_crit: the defined ones).
  std::size_t off = 0;
  for (std::size_t h = 0; h < plan.analysis.hist_fields.size(); ++h) {
    const int f = plan.analysis.hist_fields[h];
    const auto n = static_cast<std::size_t>(plan.analysis.hist_axes[h].bins) + 2;
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += xa.hist[off + i];
    EXPECT_EQ(sum, total.field[f].n) << kFieldNames[f];
    off += n;
  }
  EXPECT_EQ(off, xa.hist.size());
}

TEST(AnalysisCheckpoint, ResumeMidSegmentWithOtherChunksGivesTheSameBits) {
  const RunPlan plan = make_run_plan(analysis_config());
  auto backend = make_cpu_backend(2);
  const SegmentProgress whole = run_plan_segments(*backend, plan, 0, 3, {}, nullptr, 0, kSegBlocks);
  // Stop after block 3: segment 0 done, segment 1 half done.
  SegmentProgress saved;
  bool have = false;
  const ChunkFn capture = [&](const SegmentProgress& s) {
    if (s.next_block == 3) saved = s, have = true;
  };
  const SegmentProgress first =
      run_plan_segments(*backend, plan, 0, 3, {}, nullptr, 1, kSegBlocks, nullptr, capture);
  expect_same_progress(whole, first);
  ASSERT_TRUE(have);
  ASSERT_EQ(saved.segments.size(), 1u);
  ASSERT_EQ(saved.extras.size(), 1u);
  ASSERT_FALSE(saved.current_extra.empty());
  // Through the checkpoint's byte form, as a file would carry it.
  SegmentProgress restored = saved;
  std::vector<unsigned char> bytes(saved.current_extra.byte_size());
  saved.current_extra.to_bytes(bytes.data());
  restored.current_extra.init_segment(plan.analysis);
  restored.current_extra.from_bytes(bytes.data());
  ASSERT_FALSE(saved.hist.empty());  // the counts of blocks 0..2
  EXPECT_TRUE(check_plan_progress(restored, plan, 0, 3, kSegBlocks).empty());
  const SegmentProgress resumed =
      run_plan_segments(*backend, plan, 0, 3, {}, nullptr, 2, kSegBlocks, &restored);
  expect_same_progress(whole, resumed);
}

// A sweep checkpointed after any block (mid-cell and at cell borders), through
// the checkpoint file, resumed with another chunking: the segments (and the
// path extras) of the uninterrupted run, bit for bit; also over a shard's range
// of segments. The sweep's segments are numbered over all cells (3 cells of
// one segment each), not over cells x draws_per_cell draws (one segment).
TEST(SweepCheckpoint, ResumeFromTheFileAfterEveryBlockIsBitIdentical) {
  TempDir tmp("sweepckpt");
  const Config cfg = load_config(
      std::string(SPILLMC_SOURCE_DIR) + "/configs/paths.yaml",
      {Override("backend", "cpu"),
       Override("sweep", "{draws_per_cell: 140000, axes: [{param: c, values: [1.5, 2, 2.5]}]}")});
  const RunPlan plan = make_run_plan(cfg);
  ASSERT_EQ(plan.cells.size(), 3u);
  ASSERT_EQ(plan.blocks_per_cell(), 3u);  // the last one short
  ASSERT_EQ(plan.total_segments(), 3u);
  ASSERT_EQ(segment_count(plan.total_draws()), 1u);
  ASSERT_TRUE(plan.analysis.has_extra());
  RunInfo info;
  info.program_version = kProgramVersion;
  info.config_yaml = effective_yaml(cfg);
  info.config_hash = config_identity_hash(cfg);
  info.seed = cfg.seed;
  info.draws_requested = plan.total_draws();
  info.model = to_string(cfg.model);
  info.backend = "cpu";
  auto backend = make_cpu_backend(2);
  const std::string ckpt = tmp.path("run.ckpt");
  for (const auto& range : {std::pair<std::uint64_t, std::uint64_t>{0, 3}, {1, 3}}) {
    SCOPED_TRACE("segments [" + std::to_string(range.first) + ", " + std::to_string(range.second) +
                 ")");
    std::vector<SegmentProgress> states;
    const SegmentProgress whole =
        run_plan_segments(*backend, plan, range.first, range.second, {}, nullptr, 1, kSegmentBlocks,
                          nullptr, [&](const SegmentProgress& p) { states.push_back(p); });
    ASSERT_EQ(states.size(), 3 * (range.second - range.first));
    for (const SegmentProgress& st : states) {
      SCOPED_TRACE("checkpoint before block " + std::to_string(st.next_block));
      write_checkpoint(ckpt, make_checkpoint(info, range.first, plan.total_segments(), st));
      const SegmentProgress back = read_checkpoint(ckpt, info, plan, range.first, range.second);
      EXPECT_EQ(back.next_block, st.next_block);
      const SegmentProgress resumed = run_plan_segments(*backend, plan, range.first, range.second,
                                                        {}, nullptr, 2, kSegmentBlocks, &back);
      expect_same_progress(whole, resumed);
    }
    // The checkpoint of one range does not resume another.
    EXPECT_THROW(read_checkpoint(ckpt, info, plan, range.first == 0 ? 1 : 0, 3), OutputError);
  }
}

// The same through the binary: a run below one segment split as --shard 0/2
// (all its draws) and 1/2 (none), merged, reports the same histograms,
// quantiles, conditional statistics and paths as the run in one piece.
TEST(AnalysisShards, MergedShardFilesKeepTheAnalyses) {
  TempDir tmp("sweepshard");
  const std::string cfg = std::string(SPILLMC_SOURCE_DIR) + "/configs/paths.yaml";
  const std::string opts =
      " --set draws=140000 --set backend=cpu --threads 2 -q"
      " --set 'conditions=[upgrade_gain_positive, not_leader_gains]'";
  const Cmd w = sh("run " + cfg + " -o " + tmp.path("whole.h5") + opts);
  ASSERT_EQ(w.status, 0) << w.out;
  for (const char* i : {"0", "1"}) {
    const Cmd s = sh("run " + cfg + " -o " + tmp.path(std::string("s") + i + ".h5") + opts +
                     " --shard " + i + "/2");
    ASSERT_EQ(s.status, 0) << s.out;
  }
  const Cmd m =
      sh("merge " + tmp.path("s0.h5") + " " + tmp.path("s1.h5") + " -o " + tmp.path("merged.h5"));
  ASSERT_EQ(m.status, 0) << m.out;
  std::vector<std::string> names;
  for (int f = kNumParams; f < kNumFields; ++f) {
    const std::string g = std::string("/summary/") + kFieldNames[f];
    for (const char* d :
         {"/quantiles", "/quantile_bounds", "/histogram/counts", "/histogram/edges"})
      names.push_back(g + d);
  }
  for (const char* c : {"upgrade_gain_positive", "not_leader_gains"}) {
    const std::string g = std::string("/conditional/") + c;
    names.push_back(g + "/count");
    names.push_back(g + "/undefined/A2_crit");
    for (int f = 0; f < kNumFields; ++f)
      for (const char* st : kSummaryStats)
        names.push_back(g + "/summary/" + kFieldNames[f] + "/" + st);
    for (int e = 0; e < kNumEvents; ++e)
      names.push_back(g + "/events/" + kEventNames[e] + "/count");
  }
  const Config pc = load_config(cfg);
  for (const auto& p : pc.paths) {
    for (const char* st : kSummaryStats) names.push_back("/paths/" + p.name + "/gain/" + st);
    names.push_back("/paths/" + p.name + "/best/count");
  }
  names.push_back("/paths/none_pays/count");
  for (const auto& n : names) {
    const auto a = read_bits(tmp.path("whole.h5"), n), b = read_bits(tmp.path("merged.h5"), n);
    EXPECT_FALSE(a.empty()) << n;
    EXPECT_EQ(a, b) << n;
  }
}

// A sweep with paths split into 4 shards of its 3 one-segment cells (shard 0
// empty, each other one cell): merged, every /sweep dataset (paths included)
// and /state equal the run in one piece.
TEST(SweepShards, MergedShardFilesEqualTheSingleRunWithPaths) {
  TempDir tmp("sweepshards");
  const std::string cfg = std::string(SPILLMC_SOURCE_DIR) + "/configs/paths.yaml";
  const std::string opts =
      " --set backend=cpu --threads 2 -q"
      " --set 'sweep={draws_per_cell: 70000, axes: [{param: c, values: [1.5, 2, 2.5]}]}'";
  const Cmd w = sh("run " + cfg + " -o " + tmp.path("whole.h5") + opts);
  ASSERT_EQ(w.status, 0) << w.out;
  std::string shards;
  for (const char* i : {"3", "1", "0", "2"}) {
    const std::string s = tmp.path(std::string("s") + i + ".h5");
    const Cmd r = sh("run " + cfg + " -o " + s + opts + " --shard " + i + "/4");
    ASSERT_EQ(r.status, 0) << r.out;
    shards += " " + s;
  }
  const Cmd v = sh("verify" + shards);
  EXPECT_EQ(v.status, 0) << v.out;
  const Cmd m = sh("merge" + shards + " -o " + tmp.path("merged.h5"));
  ASSERT_EQ(m.status, 0) << m.out;
  EXPECT_EQ(read_bits(tmp.path("whole.h5"), "/sweep/paths/best_share").size(), 3u * 4u);
  EXPECT_GT(expect_same_group(tmp.path("whole.h5"), tmp.path("merged.h5"), "/sweep"),
            std::size_t{kNumFields} * 6);
  for (const char* g : {"/summary", "/events", "/state"})
    EXPECT_GT(expect_same_group(tmp.path("whole.h5"), tmp.path("merged.h5"), g), 0u) << g;
}

// ---------------------------------------------------------------------------
// 7. Config errors.

namespace {
std::string config_error(const std::string& text, const std::vector<Override>& o = {}) {
  try {
    parse_config_text(text, "bad.yaml", o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}
const std::string kPlain = "draws: 1000\n" + base_params("{dist: uniform, low: 8, high: 12}",
                                                         "{dist: beta, alpha: 2, beta: 2}");
}  // namespace

TEST(SweepConfigErrors, SweepWithConditionsNamesConditions) {
  const std::string e = config_error(sweep_yaml() + "conditions: [leader_gains]\n");
  EXPECT_CONTAINS(e, "conditions");
  EXPECT_CONTAINS(e, "sweep");
}

TEST(SweepConfigErrors, DuplicateAxes) {
  const std::string head = kPlain + "sweep:\n  draws_per_cell: 10\n  axes:\n";
  EXPECT_CONTAINS(config_error(head + "    - {param: a, values: [8, 9]}\n"
                                      "    - {param: a, values: [10]}\n"),
                  "'a' and 'a'");
  // A2 and A2_gap fix the same slot.
  EXPECT_CONTAINS(config_error(head + "    - {param: A2_gap, values: [1]}\n"
                                      "    - {param: A2, values: [3]}\n"),
                  "same parameter");
}

TEST(SweepConfigErrors, ZeroBins) {
  const std::string e = config_error(kPlain + "histograms: {bins: 0}\n");
  EXPECT_CONTAINS(e, "bins");
  EXPECT_CONTAINS(e, ">= 1");
}

TEST(SweepConfigErrors, UnknownConditionSuggestsTheName) {
  const std::string e = config_error(kPlain + "conditions: [upgrade_gain_postive]\n");
  EXPECT_CONTAINS(e, "upgrade_gain_postive");
  EXPECT_CONTAINS(e, "did you mean 'upgrade_gain_positive'");
  EXPECT_CONTAINS(config_error(kPlain + "conditions: [not_leader_gain]\n"),
                  "did you mean 'not_leader_gains'");
}

TEST(SweepConfigErrors, ZeroDrawsPerCellFromSet) {
  const std::string e = config_error(sweep_yaml(), {Override("sweep.draws_per_cell", "0")});
  EXPECT_CONTAINS(e, "draws_per_cell");
  EXPECT_CONTAINS(e, "--set");
  // The command line says the same and exits non-zero.
  TempDir tmp("sweepbad");
  const Cmd r = sh("run " + tmp.write("s.yaml", sweep_yaml()) + " -o " + tmp.path("o.h5") +
                   " --set sweep.draws_per_cell=0 -q");
  EXPECT_NE(r.status, 0);
  EXPECT_CONTAINS(r.out, "draws_per_cell");
  EXPECT_FALSE(fs::exists(tmp.path("o.h5")));
}
