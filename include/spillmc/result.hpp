// A finished run: the reduced tally plus what made it. Written to HDF5 by
// write_result (docs/output.md), read back by read_result for `inspect`.
#pragma once

#include <cstdint>
#include <string>

#include "spillmc/tally.hpp"

namespace spillmc {

constexpr const char* kFormatName = "spillmc-result";
constexpr int kFormatVersion = 1;

struct RunInfo {
  std::string program_version;
  std::string git_commit;
  std::string config_yaml;  // effective config
  std::uint64_t seed = 0;
  std::uint64_t draws_requested = 0;
  std::uint64_t block_draws = kBlockDraws;
  std::string model;    // constrained | paper
  std::string backend;  // cpu | cuda (what actually ran)
  std::string device;   // e.g. "CPU, 2 threads" or "NVIDIA H100 80GB HBM3"
  std::string created;  // UTC, ISO 8601
  double wall_seconds = 0.0;
};

struct Result {
  RunInfo info;
  Tally tally;
};

// The current time as UTC ISO 8601 (2026-11-22T14:03:05Z), for RunInfo::created.
std::string utc_now_iso8601();

// Writes `path` atomically: a temporary file beside it, renamed when complete.
// Refuses an existing file unless `force`. Throws OutputError naming the path
// and the system error; never leaves the temporary file behind.
void write_result(const std::string& path, const Result& result, bool force);

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
};
ResultFile read_result(const std::string& path);

// Human-readable table and JSON renderings of a result file (spillmc inspect).
std::string format_table(const ResultFile& r);
std::string format_json(const ResultFile& r);

}  // namespace spillmc
