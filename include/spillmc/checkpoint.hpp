// Checkpoints (checkpoint: {every: SECONDS}; `spillmc run --resume`): an HDF5
// file of kind "checkpoint" holding the completed segment totals (/state, as in
// result files), the current segment's partial and the next block
// (/checkpoint). Resuming from one gives the bits of an uninterrupted run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spillmc/result.hpp"
#include "spillmc/run.hpp"

namespace spillmc {

// The checkpoint file's content: `info` (identity of the run; kind set to
// checkpoint here), the segments done of [first_segment, ...) of
// `total_segments`, and the partial. Summary statistics are those so far.
Result make_checkpoint(const RunInfo& info, std::uint64_t first_segment,
                       std::uint64_t total_segments, const SegmentProgress& p);

// Why checkpoint file f belongs to another run than `expect` describes ("its
// seed is 42, this run's is 43"), or "" when it is this run's. An empty
// expect.backend is not compared (before the backend is chosen).
std::string checkpoint_identity_problem(const ResultFile& f, const RunInfo& expect);

// Reads the checkpoint at `path` for the run `expect` describes (program
// version, config hash, seed, draws, model, backend, shard) over the global
// segments [first_segment, end_segment) of `plan` (the plan the run computes:
// sweep cells, analyses). InputError (exit 2) naming the difference when it
// belongs to another run or is not a checkpoint; OutputError (exit 3) when it
// is unreadable, truncated or corrupt. Never crashes on a damaged file.
// `saved` (may be null) receives the checkpoint's own RunInfo: wall_seconds is
// the computing time of the legs before it (0 in checkpoints written before
// 0.3.0's wall-time fix), git_commit the build that wrote it. A git_commit
// other than expect.git_commit is a warning naming both (as merge warns).
SegmentProgress read_checkpoint(const std::string& path, const RunInfo& expect, const RunPlan& plan,
                                std::uint64_t first_segment, std::uint64_t end_segment,
                                RunInfo* saved = nullptr);

// A run's progress as bytes and back (to hand rank 0's resume state to the
// other MPI ranks): exact, laid out by the plan's analyses `a`. InputError
// when the bytes do not fit `a`.
std::vector<unsigned char> progress_to_bytes(const SegmentProgress& p, const AnalysisSpec& a);
SegmentProgress progress_from_bytes(const std::vector<unsigned char>& bytes, const AnalysisSpec& a);

// The lock on a checkpoint for a whole run: flock(LOCK_EX) on `.<name>.lock`
// beside `path` (as the output's lock, docs/output.md "Faults"). A second
// holder is refused with an OutputError (exit 3) naming the path; a killed
// holder's lock goes with it. Once held, temporary checkpoint files
// (`.<name>.tmp.<pid>[.<n>]`) that killed runs left beside `path` are removed.
// On a file system without locks the run goes on unprotected, and only
// temporary files of processes no longer alive on this host are removed.
class CheckpointLock {
 public:
  explicit CheckpointLock(const std::string& path);
  ~CheckpointLock();  // removes the lock file while still holding it
  CheckpointLock(const CheckpointLock&) = delete;
  CheckpointLock& operator=(const CheckpointLock&) = delete;

 private:
  std::string lock_;
  int fd_ = -1;
};

// Checks up front that a checkpoint can be written at `path`: creates a
// temporary file beside it and removes it again. OutputError (exit 3) naming
// the path and the system error (missing or read-only directory, a directory
// or device at `path`), so a run with checkpoints fails before computing.
void probe_checkpoint_path(const std::string& path);

}  // namespace spillmc
