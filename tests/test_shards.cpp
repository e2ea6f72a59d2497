// Shards, merge and verify, end to end through the spillmc binary: shards
// merged give the single run's bits, inconsistent inputs are refused (exit 2),
// damaged files are refused (exit 3), and Slurm's array variables pick the shard.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "h5_compare.hpp"
#include "harness.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/result.hpp"
#include "spillmc/run.hpp"
#include "spillmc/shard.hpp"

namespace fs = std::filesystem;
using spillmc_test::Cmd;
using spillmc_test::expect_same_numbers;
using spillmc_test::sh;
using namespace spillmc;

namespace {

// Cheap, all-uniform: fast enough to span several 2^26-draw segments in a test.
const char* kCheap = R"(draws: 1000
seed: 5
parameters:
  a: {dist: uniform, low: 9, high: 11}
  b: {dist: uniform, low: 0.8, high: 1.2}
  c: {dist: uniform, low: 1, high: 3}
  A1: {dist: uniform, low: 0.5, high: 1.5}
  A2_gap: {dist: uniform, low: 0.1, high: 2}
  theta: {dist: uniform, low: 0, high: 1}
)";

constexpr std::uint64_t kSegmentDraws = kSegmentBlocks * kBlockDraws;
// Four segments, the last one short.
const std::uint64_t kLongDraws = 3 * kSegmentDraws + 12345;

class Shards : public testing::Test {
 protected:
  void SetUp() override {
    cfg_ = path("cheap.yaml");
    std::ofstream(cfg_) << kCheap << "output:\n  path: " << path("out.h5") << "\n";
  }
  std::string path(const std::string& name) const { return tmp_.path(name); }
  std::string run(const std::string& extra) const {
    return "run " + cfg_ + " --backend cpu -q " + extra;
  }
  spillmc_test::TempDir tmp_{"shards"};
  const fs::path dir_ = tmp_.dir();
  std::string cfg_;
};

}  // namespace

TEST(ShardState, RoundTripIsExactIncludingEmptyFields) {
  const spillmc_test::TempDir tmp("state");
  const fs::path& dir = tmp.dir();
  const DrawSpec spec = spillmc_test::wide_spec(7);
  Result r;
  Tally empty;  // min +inf, max -inf, n 0
  r.state.segments = {accumulate_block(spec, 3 * kBlockDraws, 0), empty,
                      accumulate_block(spec, 3 * kBlockDraws, 2)};
  r.state.segment_first = 5;
  r.state.segment_count_total = 9;
  r.tally = fold_segments(r.state.segments);
  r.state.hist = {0, 1, ~std::uint64_t{0}, 1ull << 53, 7};  // one total, stored as is
  r.info.config_yaml = "x";
  const std::string p = (dir / "s.h5").string();
  write_result(p, r, false);
  const ResultFile back = read_result(p);
  EXPECT_EQ(back.state.hist, r.state.hist);
  EXPECT_EQ(back.state.segment_first, 5u);
  EXPECT_EQ(back.segment_end, 8u);
  EXPECT_EQ(back.state.segment_count_total, 9u);
  ASSERT_EQ(back.state.segments.size(), 3u);
  for (std::size_t j = 0; j < 3; ++j)
    EXPECT_EQ(spillmc_test::tally_bits(back.state.segments[j]),
              spillmc_test::tally_bits(r.state.segments[j]))
        << j;
  EXPECT_EQ(back.state_checksum, back.state_checksum_data);
  EXPECT_TRUE(back.file_checksum_problem.empty()) << back.file_checksum_problem;
}

TEST(ShardState, ShardRangesCoverEverySegmentOnce) {
  for (std::uint64_t s : {0ull, 1ull, 4ull, 7ull, 1000ull}) {
    for (std::uint64_t n : {1ull, 2ull, 3ull, 6ull, 13ull}) {
      std::uint64_t next = 0;
      for (std::uint64_t i = 0; i < n; ++i) {
        const auto r = shard_segments(s, i, n);
        EXPECT_EQ(r.first, next);
        EXPECT_LE(r.first, r.second);
        next = r.second;
      }
      EXPECT_EQ(next, s);
    }
  }
  EXPECT_EQ(shard_output_path("results/x.h5", 3, 8), "results/x.shard-0003-of-0008.h5");
  EXPECT_EQ(shard_output_path("a.b/x", 0, 1), "a.b/x.shard-0000-of-0001");
  EXPECT_THROW(parse_shard("3/3"), InputError);
  EXPECT_THROW(parse_shard("1-3"), InputError);
  EXPECT_THROW(parse_shard("-1/3"), InputError);
  EXPECT_EQ(parse_shard("2/3").index, 2u);
}

TEST_F(Shards, ThreeShardsMergeToTheSingleRunBitForBit) {
  const std::string d = " --draws " + std::to_string(kLongDraws);
  ASSERT_EQ(segment_count(kLongDraws), 4u);
  Cmd c = sh(run(d + " -o " + path("single.h5")));
  ASSERT_EQ(c.status, 0) << c.out;
  for (int i = 0; i < 3; ++i) {
    c = sh(run(d + " --threads " + std::to_string(1 + i % 2) + " --shard " + std::to_string(i) +
               "/3 -o " + path("s" + std::to_string(i) + ".h5")));
    ASSERT_EQ(c.status, 0) << c.out;
  }
  // Any order on the command line.
  c = sh("merge " + path("s2.h5") + " " + path("s0.h5") + " " + path("s1.h5") + " -o " +
         path("merged.h5"));
  ASSERT_EQ(c.status, 0) << c.out;
  const ResultFile single = read_result(path("single.h5"));
  const ResultFile merged = read_result(path("merged.h5"));
  EXPECT_EQ(merged.info.kind, "result");
  EXPECT_EQ(single.state.segments.size(), 4u);
  expect_same_numbers(single, merged);
  const ResultFile s2 = read_result(path("s2.h5"));
  EXPECT_EQ(s2.info.kind, "shard");
  EXPECT_EQ(s2.info.shard_index, 2u);
  EXPECT_EQ(s2.state.segment_first, 2u);
  EXPECT_EQ(s2.segment_end, 4u);
  EXPECT_EQ(s2.draws_valid + s2.draws_invalid, kSegmentDraws + 12345);

  c = sh("verify " + path("single.h5") + " " + path("merged.h5") + " " + path("s0.h5") + " " +
         path("s1.h5") + " " + path("s2.h5"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_CONTAINS(c.out, "OK: " + path("merged.h5") + ": result");
  EXPECT_CONTAINS(c.out, "OK: " + path("s1.h5") + ": shard 1/3");
  // The merged file is refused as an input to another merge, and -o must be new.
  c = sh("merge " + path("merged.h5") + " -o " + path("again.h5"));
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, path("merged.h5"));
  c = sh("merge " + path("s2.h5") + " " + path("s0.h5") + " " + path("s1.h5") + " -o " +
         path("merged.h5"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "--force");
}

TEST_F(Shards, MoreShardsThanSegmentsStillMerge) {
  const std::uint64_t draws = kSegmentDraws + 999;  // two segments, six shards
  const std::string d = " --draws " + std::to_string(draws);
  ASSERT_EQ(sh(run(d + " -o " + path("single.h5"))).status, 0);
  std::string inputs;
  for (int i = 0; i < 6; ++i) {
    const std::string p = path("s" + std::to_string(i) + ".h5");
    const Cmd c = sh(run(d + " --shard " + std::to_string(i) + "/6 -o " + p));
    ASSERT_EQ(c.status, 0) << c.out;
    inputs += " " + p;
  }
  const ResultFile empty = read_result(path("s0.h5"));
  EXPECT_TRUE(empty.state.segments.empty());
  EXPECT_EQ(empty.draws_valid, 0u);
  EXPECT_EQ(sh("verify" + inputs).status, 0);
  const Cmd c = sh("merge" + inputs + " -o " + path("merged.h5"));
  ASSERT_EQ(c.status, 0) << c.out;
  expect_same_numbers(read_result(path("single.h5")), read_result(path("merged.h5")));
}

// A sweep of two cells of one segment and a short one each: four segments, so
// shard 0/3 is cell 0's first segment, 1/3 its short second one, 2/3 all of
// cell 1. Cell 0 is folded from two shards.
TEST_F(Shards, SweepShardsMergeToTheSingleRunBitForBit) {
  std::ofstream(cfg_) << kCheap << "sweep:\n  draws_per_cell: " << kSegmentDraws + 12345
                      << "\n  axes:\n    - {param: theta, values: [0.2, 0.8]}\n";
  Cmd c = sh(run("-o " + path("single.h5")));
  ASSERT_EQ(c.status, 0) << c.out;
  for (int i = 0; i < 3; ++i) {
    c = sh(run("--threads " + std::to_string(1 + i % 2) + " --shard " + std::to_string(i) +
               "/3 -o " + path("s" + std::to_string(i) + ".h5")));
    ASSERT_EQ(c.status, 0) << c.out;
  }
  const ResultFile s1 = read_result(path("s1.h5"));
  EXPECT_EQ(s1.state.segment_first, 1u);
  EXPECT_EQ(s1.segment_end, 2u);
  EXPECT_EQ(s1.state.segment_count_total, 4u);
  EXPECT_EQ(s1.draws_valid + s1.draws_invalid, 12345u);
  c = sh("merge " + path("s2.h5") + " " + path("s0.h5") + " " + path("s1.h5") + " -o " +
         path("merged.h5"));
  ASSERT_EQ(c.status, 0) << c.out;
  const ResultFile single = read_result(path("single.h5"));
  ASSERT_EQ(single.sweep.valid.size(), 2u);
  EXPECT_EQ(single.state.segments.size(), 4u);
  expect_same_numbers(single, read_result(path("merged.h5")));
  // Every /sweep dataset (summary, events, counts, regimes, coordinates, labels).
  EXPECT_GT(spillmc_test::expect_same_group(path("single.h5"), path("merged.h5"), "/sweep"),
            std::size_t{kNumFields} * 6);
  c = sh("verify " + path("merged.h5") + " " + path("s0.h5") + " " + path("s1.h5") + " " +
         path("s2.h5"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_CONTAINS(c.out, "OK: " + path("s1.h5") + ": shard 1/3, segments [1, 2) of 4");
  // A shard's grid holds the cells of its own segments; the others are empty.
  c = sh("inspect " + path("s2.h5"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_CONTAINS(c.out, "Sweep: 2 cells over theta (2)");
  const ResultFile s2 = read_result(path("s2.h5"));
  ASSERT_EQ(s2.sweep.valid.size(), 2u);
  EXPECT_EQ(s2.sweep.valid[0], 0u);
  EXPECT_EQ(s2.sweep.valid[1], single.sweep.valid[1]);
}

// Shards of another sweep (other axis values, other cell size) do not merge,
// and a shard whose grid does not match its /state fails verify.
TEST_F(Shards, SweepShardsOfAnotherSweepAreRefused) {
  const std::string sweep = "sweep:\n  draws_per_cell: 70000\n  axes:\n";
  std::ofstream(cfg_) << kCheap << sweep << "    - {param: c, values: [1.5, 2, 2.5]}\n";
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(
        sh(run("--shard " + std::to_string(i) + "/2 -o " + path("s" + std::to_string(i) + ".h5")))
            .status,
        0);
  const std::string other = path("other.yaml");
  std::ofstream(other) << kCheap << sweep << "    - {param: c, values: [1.5, 2, 2.6]}\n";
  Cmd c = sh("run " + other + " --backend cpu -q --shard 1/2 -o " + path("o1.h5"));
  ASSERT_EQ(c.status, 0) << c.out;
  c = sh(run("--set sweep.draws_per_cell=80000 --shard 1/2 -o " + path("d1.h5")));
  ASSERT_EQ(c.status, 0) << c.out;
  for (const char* bad : {"o1.h5", "d1.h5"}) {
    c = sh("merge " + path("s0.h5") + " " + path(bad) + " -o " + path("m.h5"));
    EXPECT_EQ(c.status, 2) << c.out;
    EXPECT_CONTAINS(c.out, path(bad) + "' does not belong with");
  }
  EXPECT_FALSE(fs::exists(path("m.h5")));
  // A cell count patched in the grid (the file checksum catches it too).
  fs::copy_file(path("s1.h5"), path("patched.h5"));
  {
    const hid_t f = H5Fopen(path("patched.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t d = H5Dopen2(f, "sweep/counts/draws_valid", H5P_DEFAULT);
    ASSERT_GE(d, 0);
    const std::uint64_t v[3] = {1, 2, 3};
    EXPECT_GE(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Dclose(d);
    H5Fclose(f);
  }
  c = sh("verify " + path("patched.h5"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "/sweep cell 0 differs from the fold of /state");
  c = sh("merge " + path("s0.h5") + " " + path("s1.h5") + " -o " + path("m.h5"));
  EXPECT_EQ(c.status, 0) << c.out;
}

TEST_F(Shards, InconsistentInputsAreRefusedNamingTheFile) {
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(
        sh(run("--shard " + std::to_string(i) + "/3 -o " + path("s" + std::to_string(i) + ".h5")))
            .status,
        0);
  const std::string s0 = path("s0.h5"), s1 = path("s1.h5"), s2 = path("s2.h5");
  const std::string out = " -o " + path("m.h5");
  // Missing shard: named by its index.
  Cmd c = sh("merge " + s0 + " " + s2 + out);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, "1 of 3 shards missing (0-based): 1");
  // Repeated shard (another copy of the same file).
  fs::copy_file(s1, path("copy.h5"));
  c = sh("merge " + s0 + " " + s1 + " " + path("copy.h5") + " " + s2 + out);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, path("copy.h5") + "' repeats shard 1/3");
  // Another seed, another config, another shard count.
  ASSERT_EQ(sh(run("--seed 6 --shard 1/3 -o " + path("seed.h5"))).status, 0);
  c = sh("merge " + s0 + " " + path("seed.h5") + " " + s2 + out);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, path("seed.h5"));
  // The message names what differs, not the config hash that follows from it
  // (issue 5 audit, item 13).
  const std::uint64_t seed = read_result(s0).info.seed;
  EXPECT_CONTAINS(c.out, ": seed 6 vs " + std::to_string(seed));
  EXPECT_EQ(c.out.find("config_hash"), std::string::npos) << c.out;
  const std::uint64_t draws = read_result(s0).info.draws_requested;
  ASSERT_EQ(
      sh(run("--draws " + std::to_string(draws + 1000) + " --shard 1/3 -o " + path("draws.h5")))
          .status,
      0);
  c = sh("merge " + s0 + " " + path("draws.h5") + " " + s2 + out);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(
      c.out, ": draws_requested " + std::to_string(draws + 1000) + " vs " + std::to_string(draws));
  ASSERT_EQ(sh(run("--model paper --shard 1/3 -o " + path("model.h5"))).status, 0);
  c = sh("merge " + s0 + " " + path("model.h5") + " " + s2 + out);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, ": model paper vs ");
  ASSERT_EQ(sh(run("--set parameters.a.high=12 --shard 1/3 -o " + path("cfg.h5"))).status, 0);
  c = sh("merge " + s0 + " " + path("cfg.h5") + " " + s2 + out);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, path("cfg.h5") + "' does not belong with");
  ASSERT_EQ(sh(run("--shard 1/4 -o " + path("n4.h5"))).status, 0);
  c = sh("merge " + s0 + " " + path("n4.h5") + " " + s2 + out);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, "shard_count");
  // A result is not a shard; a missing or damaged file is exit 3.
  ASSERT_EQ(sh(run("-o " + path("whole.h5"))).status, 0);
  c = sh("merge " + path("whole.h5") + out);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, "is not a shard");
  c = sh("merge " + s0 + " " + s1 + " " + path("nope.h5") + out);
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, path("nope.h5"));
  fs::resize_file(path("copy.h5"), fs::file_size(path("copy.h5")) / 2);
  c = sh("merge " + s0 + " " + path("copy.h5") + " " + s2 + out);
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, path("copy.h5"));
  EXPECT_FALSE(fs::exists(path("m.h5")));
  // All three: fine.
  c = sh("merge " + s0 + " " + s1 + " " + s2 + out);
  EXPECT_EQ(c.status, 0) << c.out;
  expect_same_numbers(read_result(path("whole.h5")), read_result(path("m.h5")));
}

TEST_F(Shards, SlurmArrayVariablesPickTheShard) {
  // --array=1-3: task 3 is shard 2 of 3, written beside output.path.
  Cmd c = sh(run(""),
             "SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=3 "
             "SLURM_ARRAY_TASK_COUNT=3");
  ASSERT_EQ(c.status, 0) << c.out;
  const ResultFile r = read_result(path("out.shard-0002-of-0003.h5"));
  EXPECT_EQ(r.info.kind, "shard");
  EXPECT_EQ(r.info.shard_index, 2u);
  EXPECT_EQ(r.info.shard_count, 3u);
  // Without _MIN the id is the index; --shard wins over the variables.
  c = sh(run("-o " + path("x.h5")), "SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=2");
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(read_result(path("x.h5")).info.shard_index, 0u);
  c = sh(run("--shard 1/2 -o " + path("y.h5")), "SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=2");
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(read_result(path("y.h5")).info.shard_index, 1u);
  EXPECT_EQ(sh("verify " + path("x.h5") + " " + path("y.h5")).status, 0);
  EXPECT_EQ(sh("merge " + path("y.h5") + " " + path("x.h5") + " -o " + path("xy.h5")).status, 0);
  // An id that does not map to 0..N-1 is a usage error.
  c = sh(run("-o " + path("z.h5")), "SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_COUNT=3");
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, "SLURM_ARRAY_TASK_ID 5");
  c = sh(run("--shard 3/3 -o " + path("z.h5")));
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_CONTAINS(c.out, "--shard");
  EXPECT_FALSE(fs::exists(path("z.h5")));
}

TEST_F(Shards, VerifyRefusesDamagedAndPatchedFiles) {
  ASSERT_EQ(sh(run("--draws 200000 -o " + path("r.h5"))).status, 0);
  const std::string good = path("r.h5");
  const auto size = fs::file_size(good);
  // Truncated to half.
  fs::copy_file(good, path("half.h5"));
  fs::resize_file(path("half.h5"), size / 2);
  Cmd c = sh("verify " + path("half.h5"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "FAIL: " + path("half.h5"));
  // An intact file (its bytes hash to its file_checksum) is read without the
  // guarding child, so the child's test hook does not fire.
  c = sh("verify " + good, "SPILLMC_TEST_PROBE_EXIT=7");
  EXPECT_EQ(c.status, 0) << c.out;
  // Bytes flipped at many places (densely in the metadata at the start, where
  // HDF5 itself can crash): always refused, never a crash.
  std::vector<std::uintmax_t> offsets;
  for (std::uintmax_t k = 1; k < 16; ++k) offsets.push_back(size * k / 16);
  for (std::uintmax_t at = 0; at < 4096 && at < size; at += 101) offsets.push_back(at);
  for (std::size_t k = 0; k < offsets.size(); ++k) {
    const std::string p = path("flip" + std::to_string(k) + ".h5");
    fs::copy_file(good, p);
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offsets[k]));
    f.write("\xff\x13\x77\x00", 4);
    f.close();
    c = sh("verify " + p);
    EXPECT_EQ(c.status, 3) << offsets[k] << ": " << c.out;
    EXPECT_CONTAINS(c.out, "FAIL: " + p);
    const int inspect = sh("inspect " + p).status;
    EXPECT_TRUE(inspect == 0 || inspect == 3) << offsets[k] << ": " << inspect;
  }
  // A summary value patched in place with the HDF5 C API: inconsistent.
  fs::copy_file(good, path("patched.h5"));
  {
    const hid_t f = H5Fopen(path("patched.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t d = H5Dopen2(f, "summary/pi12/mean", H5P_DEFAULT);
    ASSERT_GE(d, 0);
    const double v = 42.0;
    EXPECT_GE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v), 0);
    H5Dclose(d);
    H5Fclose(f);
  }
  c = sh("verify " + path("patched.h5"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "/summary/pi12 differs from the fold of /state");
  EXPECT_CONTAINS(c.out, "file checksum mismatch");
  // Any other file is read in a child first; one that ends with an unexpected
  // status (as HDF5 under a sanitizer does): refused.
  c = sh("verify " + path("patched.h5"), "SPILLMC_TEST_PROBE_EXIT=7");
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "is corrupt: reading it failed in the HDF5 library (exit 7)");
  // Histogram counts patched: in /state/hist (no longer what the segments
  // hold), or in a histogram under /summary (no longer /state/hist's).
  const auto add_one = [&](const std::string& file, const char* dataset, hsize_t at) {
    fs::copy_file(good, file);
    const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t d = H5Dopen2(f, dataset, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    const hid_t all = H5Dget_space(d);
    std::vector<std::uint64_t> v(static_cast<std::size_t>(H5Sget_simple_extent_npoints(all)));
    ASSERT_GT(v.size(), at);
    EXPECT_GE(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
    ++v[at];
    EXPECT_GE(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
    H5Sclose(all);
    H5Dclose(d);
    H5Fclose(f);
  };
  add_one(path("hist.h5"), "state/hist", 1);
  c = sh("verify " + path("hist.h5"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out,
                  "/state/hist counts 200001 values of q11 in its histogram, where its "
                  "tallies hold 200000");
  add_one(path("bins.h5"), "summary/pi22/histogram/counts", 5);
  c = sh("verify " + path("bins.h5"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "/summary/pi22/histogram differs from /state/hist");
  // Not a file at all.
  c = sh("verify " + path("missing.h5"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "No such file");
  EXPECT_EQ(sh("verify " + good).status, 0);
}
