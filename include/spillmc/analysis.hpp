// What a run computes beyond the main tally (issues 3 and 4): sweep cells,
// histograms (for quantiles), conditional tallies, upgrade paths and per-draw
// output. One RunPlan describes a whole run; every block of every cell yields
// a Tally and, when the plan asks for more, an Extra. Both are folded in the
// same fixed order (blocks within a segment, then segments), so everything
// stays bit-reproducible across threads, ranks, shards and checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/draw_batch.hpp"
#include "spillmc/histogram.hpp"
#include "spillmc/paths.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

// The analyses every block performs; fixed for the run.
struct AnalysisSpec {
  std::vector<int> hist_fields;       // Field indices
  std::vector<HistAxis> hist_axes;    // one per hist field
  std::vector<bool> hist_from_pilot;  // range source per hist field
  std::vector<Condition> conditions;
  PathsSpec paths{};  // paths.n == 0: none
  DrawsOutputConfig draws;

  bool has_extra() const { return !hist_fields.empty() || !conditions.empty() || paths.n > 0; }
  bool has_draws() const { return draws.select != DrawSelect::none; }
  std::size_t hist_size() const;  // total counters over fields (bins + 2 each)
};

// a[i] += b[i]: integer counts (histograms, best paths) of the same layout;
// an empty side is all zero.
void add_counts(std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b);

// Mergeable state of the analyses for any number of blocks. A block's Extra
// may leave `hist` empty, meaning all zero: the CUDA backend counts a whole
// segment's histogram at once and hands it over with the segment's first block
// of a call (counts add exactly, so where they land within a segment is free).
struct Extra {
  std::vector<std::uint64_t> hist;       // per hist field: underflow, bins..., overflow
  std::vector<Tally> cond;               // one per condition
  std::vector<Moments> path_gain;        // one per path: expected net gain
  std::vector<std::uint64_t> path_best;  // per path: best and pays; [n]: no path pays

  void init(const AnalysisSpec& a);
  // init without histogram counts: the layout of a stored segment's Extra.
  void init_segment(const AnalysisSpec& a);
  bool empty() const { return hist.empty() && cond.empty() && path_gain.empty(); }
  // `o` is the later block or segment: fixed order, as Tally::merge.
  void merge(const Extra& o);
  // Adds the histogram counts to `total` and drops them from this Extra.
  // Stored segments (SegmentProgress, files) keep no counts of their own:
  // counts add exactly, so one total serves every fold, shard merge and
  // resume, and the state does not grow by the histogram with every segment.
  void move_hist_into(std::vector<std::uint64_t>& total);
  // Flat bytes (exact) for MPI and checkpoints; the layout follows the spec.
  std::size_t byte_size() const;
  void to_bytes(unsigned char* out) const;
  void from_bytes(const unsigned char* in);
};

// A whole run: one DrawSpec per sweep cell (one for a plain run), `draws`
// draws per cell. Global block g is block g % blocks_per_cell() of cell
// g / blocks_per_cell(); segments never span two cells.
struct RunPlan {
  std::vector<DrawSpec> cells;
  std::uint64_t draws = 0;
  AnalysisSpec analysis;
  // Blocks per segment (tests use small ones). Backends may rely on it: the
  // driver never folds a segment across this boundary.
  std::uint64_t segment_blocks = kSegmentBlocks;

  std::uint64_t blocks_per_cell() const;
  std::uint64_t segments_per_cell() const;
  std::uint64_t total_blocks() const { return blocks_per_cell() * cells.size(); }
  std::uint64_t total_segments() const { return segments_per_cell() * cells.size(); }
  std::uint64_t total_draws() const { return draws * cells.size(); }
};

// A plain run of one spec, no analyses (tests, benchmarks).
RunPlan plain_plan(const DrawSpec& spec, std::uint64_t draws);

// The plan of a config: sweep cells (cell k: the axis parameters fixed at the
// cell's coordinates, stream k), histogram ranges (explicit or from a pilot
// of the first block of cell 0, evaluated on the host so every process agrees),
// conditions, paths, per-draw output.
RunPlan make_run_plan(const Config& cfg);

// Empty when stored histogram counts `hist` (empty: none) fit `a` and count,
// per histogrammed field, the values that `segments` and `current` (may be
// null) hold of it. Otherwise what is wrong, worded to follow "/state/hist"
// or "the saved state".
std::string hist_problem(const AnalysisSpec& a, const std::vector<std::uint64_t>& hist,
                         const std::vector<Tally>& segments, const Tally* current);

// Refuses combinations this version does not support, with an InputError
// that says what to do instead (per-draw output with shards, MPI ranks or
// checkpoints; sensitivity with shards or correlated inputs).
void check_run_options(const Config& cfg, const RunPlan& plan, bool sharded, int ranks);

// The coordinates of sweep cell k (row-major over the axes, last axis fastest).
std::vector<std::size_t> cell_coords(const SweepConfig& s, std::uint64_t k);

// Names: "leader_gains" or "not_leader_gains".
std::string condition_name(const Condition& c);

// Accumulates the analyses of one block's draws, in draw order (a DrawVisitor
// for the CPU paths); `batch` (may be null) collects the selected draws.
class BlockAnalysis final : public DrawVisitor {
 public:
  BlockAnalysis(const AnalysisSpec& a, const DrawSpec& spec, DrawBatch* batch);
  void visit(std::uint64_t index, int reason, const Outcome& o) override;
  VisitorHistograms take_histograms() override;
  const PathsSpec* take_paths() override;
  void add_path_gains(const double* gains) override;
  bool wants_visits() const override;
  // The block's Extra (moments from the shifted sums).
  void finish(Extra& out) const;

 private:
  const AnalysisSpec& a_;
  const DrawSpec& spec_;
  DrawBatch* batch_;
  Extra x_;
  // add_shifted's sums of every field, by field, so that the loop over the fields
  // vectorizes; each field's sequence of operations is ShiftedSums'.
  struct FieldSums {
    std::uint64_t n = 0, n_crit = 0;  // the draws added; those with A2_crit defined
    double shift[kNumFields] = {}, s1[kNumFields] = {}, s2[kNumFields] = {};
    double lo[kNumFields], hi[kNumFields];
    FieldSums();
    void add(const Outcome& o);
    ShiftedSums field(int f) const;
  };
  std::vector<FieldSums> cond_sums_;  // per condition
  std::vector<ShiftedSums> path_sums_;
  std::vector<std::size_t> hist_offset_;
  bool hist_taken_ = false;   // the caller bins the histograms (take_histograms)
  bool paths_taken_ = false;  // the caller computes the paths' gains (take_paths)
};

}  // namespace spillmc
