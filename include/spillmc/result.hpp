// A finished run: the reduced tally plus what made it. Written to HDF5 by
// write_result (docs/output.md), read back by read_result for `inspect`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spillmc/analysis.hpp"
#include "spillmc/sobol.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

constexpr const char* kFormatName = "spillmc-result";
constexpr int kFormatVersion = 3;
constexpr const char* kKindResult = "result";          // a whole run (or a merge of all its shards)
constexpr const char* kKindShard = "shard";            // one share of the segments (--shard I/N)
constexpr const char* kKindCheckpoint = "checkpoint";  // a run in progress (checkpoint: every)

struct RunInfo {
  std::string program_version;
  std::string git_commit;
  std::string config_yaml;  // effective config
  std::uint64_t seed = 0;
  std::uint64_t draws_requested = 0;
  std::uint64_t block_draws = kBlockDraws;
  std::uint64_t segment_blocks = kSegmentBlocks;
  std::string kind = kKindResult;
  std::uint64_t shard_index = 0, shard_count = 1;  // a result is shard 0 of 1
  std::string config_hash;  // config_identity_hash of the effective config (shard.hpp)
  std::string model;        // constrained | paper
  std::string backend;      // cpu | cuda (what actually ran)
  std::string device;       // e.g. "CPU, 2 threads" or "NVIDIA H100 80GB HBM3"
  std::string created;      // UTC, ISO 8601
  double wall_seconds = 0.0;
};

// The mergeable state the file covers: the totals of segments
// [segment_first, segment_first + segments.size()) of segment_count_total.
struct SegmentState {
  std::uint64_t segment_first = 0;
  std::uint64_t segment_count_total = 0;
  std::vector<Tally> segments;
  std::vector<Extra> extras;  // parallel to segments when the run has analyses; no histograms
  // The histogram counts of every draw the file covers (a checkpoint: its
  // current partial segment's too), one total (Extra::move_hist_into).
  std::vector<std::uint64_t> hist;
};

// What a checkpoint adds to the completed segments of its /state: the left
// fold of the current segment's blocks done so far and the next block to
// compute (/checkpoint, docs/output.md). Only in files of kind "checkpoint".
struct CheckpointPart {
  Tally current;
  Extra current_extra;  // no histograms: SegmentState::hist has them
  std::uint64_t next_block = 0;
};

// Issues 3 and 4: what the run computed beyond the main tally, folded.
struct AnalysisOutput {
  AnalysisSpec spec;                    // histograms, conditions, paths, per-draw output
  std::vector<std::string> path_names;  // one per path of spec.paths
  SweepConfig sweep;                    // axes empty: not a sweep
  Extra extra;                          // a plain run's analyses
  std::vector<Tally> cells;             // a sweep's per-cell totals (cell order)
  std::vector<Extra> cell_extras;       // a sweep's per-cell analyses
  bool has_sensitivity = false;
  SensitivityResult sensitivity;
};

struct Result {
  RunInfo info;
  Tally tally;  // fold_segments(state.segments) for files the program writes (sweeps: all cells)
  SegmentState state = {};
  CheckpointPart checkpoint = {};  // written only when info.kind is kKindCheckpoint
  AnalysisOutput analysis = {};
};

// Fills result.analysis from the config, the plan and result.state (its
// segments and extras, from state.segment_first on): what the file reports
// beyond the main tally.
void fill_analysis(const Config& cfg, const RunPlan& plan, Result& result);

// The current time as UTC ISO 8601 (2026-11-22T14:03:05Z), for RunInfo::created.
std::string utc_now_iso8601();

// The `draws_per_second` attribute: the draws a file covers (valid + invalid;
// a shard covers only its share of draws_requested) over its wall time, 0
// when no time was recorded.
inline double draws_per_second(std::uint64_t draws_covered, double wall_seconds) {
  return wall_seconds > 0.0 ? static_cast<double>(draws_covered) / wall_seconds : 0.0;
}

// Writes `path` atomically: a temporary file beside it, renamed when complete.
// Refuses an existing file unless `force`. Throws OutputError naming the path
// and the system error; never leaves the temporary file behind.
void write_result(const std::string& path, const Result& result, bool force);

// Writes a checkpoint (info.kind kKindCheckpoint) to `path`: a temporary file
// beside it, fsync, rename over the previous checkpoint, which stays intact
// until the new one is complete. OutputError naming the path on failure.
void write_checkpoint(const std::string& path, const Result& checkpoint);

// Checks up front that `path` could be written (directory exists and is
// writable, file absent or `force`), so a run fails before computing.
void check_output_path(const std::string& path, bool force);

// Reads a result file; throws OutputError for a missing/unreadable file or a
// format name/version this program does not know.
struct ResultFile {
  std::string path;  // as given to read_result (shown by format_table/format_json)
  RunInfo info;
  std::uint64_t draws_valid = 0, draws_invalid = 0;
  std::string format;
  int format_version = 0;
  SummaryStats summary[kNumFields];
  std::uint64_t a2crit_undefined = 0;
  Proportion events[kNumEvents];
  std::int64_t regime2[kNumRegimes], regime_up[kNumRegimes];
  std::uint64_t invalid[kNumInvalid];
  SegmentState state;
  std::uint64_t segment_end = 0;      // attribute as stored
  std::string state_checksum;         // attribute as stored
  std::string state_checksum_data;    // recomputed from the stored /state data
  std::string file_checksum;          // attribute as stored
  std::string file_checksum_problem;  // empty when the file's bytes match file_checksum
  // Kind "checkpoint" only: /checkpoint as stored, its checksum attribute and
  // the checksum recomputed from its data.
  CheckpointPart checkpoint;
  std::string checkpoint_checksum, checkpoint_checksum_data;
  // /state/extra and /checkpoint/extra as stored (rows of Extra::to_bytes
  // without histograms; extras_from_bytes turns them back with the analysis
  // spec of the config); /state/hist is in state.hist (checked by hist_problem).
  std::vector<unsigned char> state_extra, checkpoint_extra;
  std::size_t state_extra_row = 0;
  // A sweep's grid, for `inspect` (empty axes: not a sweep): coordinates and,
  // per cell (row-major), valid draws, P(leader_gains), P(upgrade_gain_positive)
  // and the mean upgrade_gain.
  struct Sweep {
    std::vector<std::string> axes;
    std::vector<std::vector<double>> coords;
    std::vector<std::uint64_t> valid;
    std::vector<double> p_leader_gains, p_upgrade_pays, mean_upgrade_gain;
  } sweep;
  // The analysis groups (docs/output.md, "Analyses"), each empty when the
  // file has none. Per histogrammed field, in field order:
  // /summary/<field>/quantiles (with its levels attribute), quantile_bounds
  // ([kQuantileCount, 2], row-major) and histogram/.
  struct Quantiles {
    int field = 0;
    std::vector<double> levels, values, bounds;
    std::vector<std::uint64_t> counts;  // histogram/counts, [bins]
    std::vector<double> edges;          // histogram/edges, [bins + 1]
    std::uint64_t underflow = 0, overflow = 0;
    std::string range_source;
  };
  std::vector<Quantiles> quantiles;
  // /conditional/<name>, in the config's order: the condition among valid
  // draws, and the main groups over the draws where it holds.
  struct Conditional {
    std::string name;
    Proportion share{};
    SummaryStats summary[kNumFields];
    Proportion events[kNumEvents];
    std::uint64_t a2crit_undefined = 0;
  };
  std::vector<Conditional> conditional;
  // /paths/<name> in the order of the root attribute path_names, and
  // /paths/none_pays (meaningful when paths is not empty).
  struct PathGain {
    std::string name;
    SummaryStats gain{};
    Proportion best{};
  };
  std::vector<PathGain> paths;
  Proportion paths_none_pays{};
  // /sensitivity, outputs in the config's order.
  bool has_sensitivity = false;
  SensitivityResult sensitivity;
};

// Rows of Extra::to_bytes back into Extras laid out for `spec` as a stored
// segment's (Extra::init_segment: no histograms). InputError when the row
// size does not match what the spec gives (a file of another config).
std::vector<Extra> extras_from_bytes(const AnalysisSpec& spec,
                                     const std::vector<unsigned char>& bytes, std::size_t rows);
ResultFile read_result(const std::string& path);

// Human-readable table and JSON renderings of a result file (spillmc inspect).
std::string format_table(const ResultFile& r);
std::string format_json(const ResultFile& r);

}  // namespace spillmc
