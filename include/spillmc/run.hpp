// The driver: hands chunks of blocks to a backend and folds the partials in
// a fixed two-level order (blocks within a segment, then segments) into one
// Tally. Memory is one chunk of partials plus one Tally per segment.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "spillmc/backend.hpp"
#include "spillmc/config.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

// Called after each chunk with (draws done, draws total).
using ProgressFn = std::function<void(std::uint64_t, std::uint64_t)>;

// Blocks and segments of a run of `draws` draws (the last of each may be short).
std::uint64_t block_count(std::uint64_t draws);
std::uint64_t segment_count(std::uint64_t draws, std::uint64_t segment_blocks = kSegmentBlocks);
// Draws in segment j of a run of `draws` draws.
std::uint64_t segment_draws(std::uint64_t draws, std::uint64_t j,
                            std::uint64_t segment_blocks = kSegmentBlocks);

// Where a run of segments stands between chunks: the totals of the segments
// completed so far (from first_segment on), the left fold of the blocks of
// the current segment done so far, and the first block not yet folded. What
// a checkpoint stores; run_segments continues from it bit-identically.
// Histogram counts are not kept per segment (Extra::move_hist_into): `hist`
// holds those of every block folded so far, and the Extras hold none.
struct SegmentProgress {
  std::vector<Tally> segments;
  std::vector<Extra> extras;  // parallel to segments when the plan has analyses
  Tally current;
  Extra current_extra;
  std::vector<std::uint64_t> hist;  // empty: none counted yet
  std::uint64_t next_block = 0;
};

// Receives the selected draws of each block (output.draws), in global block
// order, on the driver's thread: `cell` is the sweep cell (0 for a plain run).
using DrawsFn = std::function<void(std::uint64_t cell, const DrawBatch&)>;

// Called after each chunk (after the progress callback) with the state so far.
using ChunkFn = std::function<void(const SegmentProgress&)>;

// The totals of segments [first_segment, end_segment) (clipped to the run's
// segments), each a left fold of its blocks in block order. Progress reports
// (draws done, draws in the range). Checks `cancel` between chunks and throws
// Interrupted when it is set. `segment_blocks` other than kSegmentBlocks is
// for tests only: files always use kSegmentBlocks. With `resume` (a state an
// earlier call passed to `after_chunk`, same arguments otherwise) continues
// from its next_block; InputError when it does not fit the range.
std::vector<Tally> run_segments(Backend& backend, const DrawSpec& spec, std::uint64_t draws,
                                std::uint64_t first_segment, std::uint64_t end_segment,
                                const ProgressFn& progress = {},
                                const std::atomic<bool>* cancel = nullptr,
                                std::uint64_t chunk_blocks = 0,
                                std::uint64_t segment_blocks = kSegmentBlocks,
                                const SegmentProgress* resume = nullptr,
                                const ChunkFn& after_chunk = {});

// run_segments for a whole plan (sweep cells, analyses): global segments
// [first_segment, end_segment) of plan.total_segments(). Returns the segment
// totals (and their Extras) in order, next_block at the range's end.
SegmentProgress run_plan_segments(Backend& backend, const RunPlan& plan,
                                  std::uint64_t first_segment, std::uint64_t end_segment,
                                  const ProgressFn& progress = {},
                                  const std::atomic<bool>* cancel = nullptr,
                                  std::uint64_t chunk_blocks = 0,
                                  std::uint64_t segment_blocks = kSegmentBlocks,
                                  const SegmentProgress* resume = nullptr,
                                  const ChunkFn& after_chunk = {}, const DrawsFn& draws = {});

// Per-cell totals of a plan's segments (segments[j] is global segment
// first_segment + j): cell c folds segments [c spc, (c + 1) spc) in order, spc =
// plan.segments_per_cell(), exactly as fold_segments does for one cell.
void fold_cells(const RunPlan& plan, const std::vector<Tally>& segments,
                const std::vector<Extra>& extras, std::uint64_t first_segment,
                std::vector<Tally>& cells, std::vector<Extra>& cell_extras);

// Draws in global segment j of a plan, and the global block it starts at.
std::uint64_t plan_segment_draws(const RunPlan& plan, std::uint64_t j);
std::uint64_t plan_first_block(const RunPlan& plan, std::uint64_t j);

std::string check_plan_progress(const SegmentProgress& p, const RunPlan& plan,
                                std::uint64_t first_segment, std::uint64_t end_segment,
                                std::uint64_t segment_blocks = kSegmentBlocks);

// Empty when `p` is a state that run_segments over [first_segment,
// end_segment) can reach (segment count, next block and the partial's draws
// agree); else what is wrong.
std::string check_segment_progress(const SegmentProgress& p, std::uint64_t draws,
                                   std::uint64_t first_segment, std::uint64_t end_segment,
                                   std::uint64_t segment_blocks = kSegmentBlocks);

// Left fold of segment totals in order: ((s0 + s1) + s2) + ...
Tally fold_segments(const std::vector<Tally>& segments);

// fold_segments(run_segments(all segments)). Checks `cancel`
// between chunks and throws Interrupted when it is set.
Tally run_blocks(Backend& backend, const DrawSpec& spec, std::uint64_t draws,
                 const ProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr,
                 std::uint64_t chunk_blocks = 0 /* 0: backend's preference */);

// auto: cuda when compiled in and a device is present, else cpu; logs the choice.
// cuda when unavailable: throws CudaError. The CUDA device is `device_index`
// modulo the device count (an MPI rank passes its node-local rank).
std::unique_ptr<Backend> select_backend(BackendChoice choice, int threads, int device_index = 0);

}  // namespace spillmc
