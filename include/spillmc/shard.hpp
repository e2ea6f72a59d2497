// Shards, merging and verification: the mergeable per-segment state stored in
// every file (/state, docs/output.md), its flat layout and checksum, the
// identity hash of a config, `--shard I/N` and its Slurm defaults, `spillmc
// merge` and `spillmc verify`.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/result.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

// ---------------------------------------------------------------------------
// Flat layout of one segment's Tally in /state (independent of struct layout).
// counts (uint64): draws, valid, a2crit_undefined, invalid[3], events[5],
// regime2[5], regime_up[5], field n[25]; moments (float64): per field
// mean, mean_lo, m2, min, max.
constexpr int kStateCountColumns = 3 + kNumInvalid + kNumEvents + 2 * kNumRegimes + kNumFields;
constexpr int kStateMomentColumns = 5;
void flatten_tally(const Tally& t, std::uint64_t* counts, double* moments);
Tally unflatten_tally(const std::uint64_t* counts, const double* moments);

// FNV-1a 64: for identity and corruption checks, NOT cryptographic.
std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ull);
// "fnv1a64:<16 hex digits>" over the flat layout of `segments` as little-endian bytes.
std::string state_checksum(const std::vector<Tally>& segments);
// "fnv1a64:<16 hex digits>" of the effective config YAML with output.path,
// threads and checkpoint blanked: the keys that never change the numbers.
std::string config_identity_hash(const Config& cfg);

// ---------------------------------------------------------------------------
// --shard I/N: 0-based index I of N shares of the segments.
struct ShardSpec {
  bool set = false;
  std::uint64_t index = 0, count = 1;
};
ShardSpec parse_shard(const std::string& text);  // InputError naming --shard
// From SLURM_ARRAY_TASK_ID / _COUNT (with _MIN and _STEP mapping the ids to
// 0..N-1); unset when not in an array job. InputError for values that do not map.
ShardSpec shard_from_env();
// Segments [first, end) of shard I of N when the run has S segments.
std::pair<std::uint64_t, std::uint64_t> shard_segments(std::uint64_t total_segments,
                                                       std::uint64_t index, std::uint64_t count);
// results/x.h5 -> results/x.shard-0003-of-0008.h5 (the default for shard files).
std::string shard_output_path(const std::string& path, std::uint64_t index, std::uint64_t count);

// ---------------------------------------------------------------------------
// Problems of a file read by read_result (empty: the file is consistent).
std::vector<std::string> verify_result(const ResultFile& r);

// Reads, checks and merges the shard files into a result (state, tally and
// info; created and wall time set). InputError (exit 2) naming the file and
// the mismatch for inconsistent inputs; OutputError (exit 3) for unreadable or
// corrupt ones. `output_path` is recorded as output.path in the config.
Result merge_shards(const std::vector<std::string>& paths, const std::string& output_path);

}  // namespace spillmc
