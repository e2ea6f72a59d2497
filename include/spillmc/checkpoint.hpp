// Checkpoints (checkpoint: {every: SECONDS}; `spillmc run --resume`): an HDF5
// file of kind "checkpoint" holding the completed segment totals (/state, as in
// result files), the current segment's partial and the next block
// (/checkpoint). Resuming from one gives the bits of an uninterrupted run.
#pragma once

#include <cstdint>
#include <string>

#include "spillmc/result.hpp"
#include "spillmc/run.hpp"

namespace spillmc {

// The checkpoint file's content: `info` (identity of the run; kind set to
// checkpoint here), the segments done of [first_segment, ...) of
// `total_segments`, and the partial. Summary statistics are those so far.
Result make_checkpoint(const RunInfo& info, std::uint64_t first_segment,
                       std::uint64_t total_segments, const SegmentProgress& p);

// Reads the checkpoint at `path` for the run `expect` describes (program
// version, config hash, seed, draws, model, backend, shard) over the global
// segments [first_segment, end_segment) of `plan` (the plan the run computes:
// sweep cells, analyses). InputError (exit 2) naming the difference when it
// belongs to another run or is not a checkpoint; OutputError (exit 3) when it
// is unreadable, truncated or corrupt. Never crashes on a damaged file.
SegmentProgress read_checkpoint(const std::string& path, const RunInfo& expect, const RunPlan& plan,
                                std::uint64_t first_segment, std::uint64_t end_segment);

}  // namespace spillmc
