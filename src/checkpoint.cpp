#include "spillmc/checkpoint.hpp"

#include <string>
#include <vector>

#include "spillmc/analysis.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/shard.hpp"

namespace spillmc {

Result make_checkpoint(const RunInfo& info, std::uint64_t first_segment,
                       std::uint64_t total_segments, const SegmentProgress& p) {
  Result r;
  r.info = info;
  r.info.kind = kKindCheckpoint;
  r.info.created = utc_now_iso8601();
  r.state.segment_first = first_segment;
  r.state.segment_count_total = total_segments;
  r.state.segments = p.segments;
  r.tally = fold_segments(p.segments);
  r.tally.merge(p.current);
  r.checkpoint.current = p.current;
  r.checkpoint.next_block = p.next_block;
  r.state.extras = p.extras;
  r.checkpoint.current_extra = p.current_extra;
  return r;
}

namespace {

std::string q(const std::string& s) {
  return "'" + s + "'";
}

void same(const std::string& path, const char* what, const std::string& have,
          const std::string& want) {
  if (have != want)
    throw InputError("checkpoint " + q(path) + " belongs to another run: its " + what + " is " +
                     have + ", this run's is " + want +
                     " (remove it, or run without --resume to start over)");
}

}  // namespace

SegmentProgress read_checkpoint(const std::string& path, const RunInfo& expect, const RunPlan& plan,
                                std::uint64_t first_segment, std::uint64_t end_segment) {
  const ResultFile f = read_result(path);  // OutputError for unreadable or damaged files
  const auto corrupt = [&](const std::string& why) {
    return OutputError("checkpoint " + q(path) + " is corrupt: " + why);
  };
  if (!f.file_checksum_problem.empty()) throw corrupt(f.file_checksum_problem);
  if (f.info.kind != kKindCheckpoint)
    throw InputError(q(path) + " is not a checkpoint (kind '" + f.info.kind + "')");
  same(path, "program version", f.info.program_version, expect.program_version);
  same(path, "seed", std::to_string(f.info.seed), std::to_string(expect.seed));
  same(path, "draws", std::to_string(f.info.draws_requested),
       std::to_string(expect.draws_requested));
  same(path, "model", f.info.model, expect.model);
  same(path, "backend", f.info.backend, expect.backend);
  same(path, "shard", std::to_string(f.info.shard_index) + "/" + std::to_string(f.info.shard_count),
       std::to_string(expect.shard_index) + "/" + std::to_string(expect.shard_count));
  same(path, "config hash", f.info.config_hash, expect.config_hash);
  same(path, "block_draws", std::to_string(f.info.block_draws), std::to_string(kBlockDraws));
  same(path, "segment_blocks", std::to_string(f.info.segment_blocks),
       std::to_string(kSegmentBlocks));
  if (f.state_checksum != f.state_checksum_data)
    throw corrupt("/state checksum mismatch (stored " + f.state_checksum + ", data gives " +
                  f.state_checksum_data + ")");
  if (f.checkpoint_checksum != f.checkpoint_checksum_data)
    throw corrupt("/checkpoint checksum mismatch (stored " + f.checkpoint_checksum +
                  ", data gives " + f.checkpoint_checksum_data + ")");
  // Segments are numbered over the whole plan: a sweep has segments_per_cell per cell.
  const std::uint64_t total = plan.total_segments();
  if (f.state.segment_first != first_segment || f.state.segment_count_total != total)
    throw corrupt("/state starts at segment " + std::to_string(f.state.segment_first) + " of " +
                  std::to_string(f.state.segment_count_total) + ", expected " +
                  std::to_string(first_segment) + " of " + std::to_string(total));
  SegmentProgress p;
  p.segments = f.state.segments;
  p.current = f.checkpoint.current;
  p.next_block = f.checkpoint.next_block;
  // The analyses' state (histograms, conditions, paths): laid out by the run's
  // plan (the one it computes with, so a plan the backend trimmed reads back).
  if (plan.analysis.has_extra()) {
    try {
      p.extras = extras_from_bytes(plan.analysis, f.state_extra, f.state.segments.size());
      // A checkpoint taken at a segment border has an empty current partial.
      if (f.checkpoint.current.draws > 0)
        p.current_extra = extras_from_bytes(plan.analysis, f.checkpoint_extra, 1).front();
    } catch (const InputError& e) {
      throw corrupt(e.what());
    }
  }
  const std::string problem =
      check_plan_progress(p, plan, first_segment, end_segment, plan.segment_blocks);
  if (!problem.empty()) throw corrupt("the saved state " + problem);
  return p;
}

}  // namespace spillmc
