// Checkpoint and resume, end to end through the spillmc binary: a signal
// (SIGTERM, SIGINT, SIGUSR1) ends a run with a checkpoint and exit 75, --resume
// gives the bits of an uninterrupted run however often it is stopped (SIGKILL
// included), also for a sweep, and checkpoints of another run or damaged ones
// are refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "h5_compare.hpp"
#include "harness.hpp"
#include "spillmc/backend.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/result.hpp"
#include "spillmc/run.hpp"
#include "spillmc/shard.hpp"

namespace fs = std::filesystem;
using spillmc_test::Cmd;
using spillmc_test::expect_same_numbers;
using spillmc_test::same_bytes;
using spillmc_test::sh;
using spillmc_test::sleep_s;
using spillmc_test::spawn;
using spillmc_test::wait_exit;
using namespace spillmc;

namespace {

// 80M draws: two segments (the second short). One thread and a beta theta make
// a run last about 3 s even on a fast, quiet machine, so the signals below
// (0.45-0.8 s) always land mid-run; the thread count does not change the bits.
const char* kCheap = R"(draws: 80000000
seed: 5
backend: cpu
threads: 1
parameters:
  a: {dist: uniform, low: 9, high: 11}
  b: {dist: uniform, low: 0.8, high: 1.2}
  c: {dist: uniform, low: 1, high: 3}
  A1: {dist: uniform, low: 0.5, high: 1.5}
  A2_gap: {dist: uniform, low: 0.1, high: 2}
  theta: {dist: beta, alpha: 2, beta: 2}
)";

class Checkpoint : public testing::Test {
 protected:
  void SetUp() override {
    cfg_ = path("cheap.yaml");
    std::ofstream(cfg_) << kCheap << "output:\n  path: " << path("out.h5")
                        << "\ncheckpoint: {every: 0.2}\n";
  }
  void TearDown() override {
    if (HasFailure()) tmp_.keep();
  }
  std::string path(const std::string& name) const { return tmp_.path(name); }
  std::string out() const { return path("out.h5"); }
  std::string ckpt() const { return path("out.h5.ckpt"); }
  std::string log() const { return path("log.txt"); }

  // The uninterrupted run (checkpoints on, never stopped).
  ResultFile reference() const {
    const Cmd c = sh("run " + cfg_ + " -q -o " + path("ref.h5"));
    EXPECT_EQ(c.status, 0) << c.out;
    EXPECT_FALSE(fs::exists(path("ref.h5.ckpt")));  // removed on success
    return read_result(path("ref.h5"));
  }
  // Starts a run, sends `sig` after `after` seconds; returns the exit code.
  int stop(int sig, double after, bool resume) const {
    std::vector<std::string> a = {"run", cfg_, "-q"};
    if (resume) a.push_back("--resume");
    const pid_t pid = spawn(a, log(), {}, /*append_log=*/true);
    sleep_s(after);
    ::kill(pid, sig);
    return wait_exit(pid);
  }
  std::string log_text() const { return spillmc_test::slurp(log()); }
  // Continues the stopped run (unless it already finished) and checks that the
  // result is complete, verified and the same numbers as `ref`.
  void resume_and_compare(const ResultFile& ref, bool resume = true) const {
    if (resume) {
      const Cmd r = sh("run " + cfg_ + " --resume");
      ASSERT_EQ(r.status, 0) << r.out;
      EXPECT_CONTAINS(r.out, "resuming from checkpoint");
    }
    EXPECT_FALSE(fs::exists(ckpt()));
    const ResultFile got = read_result(out());
    EXPECT_TRUE(verify_result(got).empty());
    expect_same_numbers(got, ref);
  }

  spillmc_test::TempDir tmp_{"ckpt"};
  std::string cfg_;
};

}  // namespace

TEST_F(Checkpoint, SigtermWritesACheckpointAndResumeIsBitIdentical) {
  const ResultFile ref = reference();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(stop(SIGTERM, 0.8, false), kExitCheckpointed) << log_text();
  const double stop_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(stop_s, 0.8 + 2.0);  // the chunk in hand and one checkpoint, well under Slurm's 30 s
  EXPECT_TRUE(fs::exists(ckpt()));
  EXPECT_FALSE(fs::exists(out()));
  EXPECT_CONTAINS(log_text(), "--resume");
  {
    const ResultFile c = read_result(ckpt());
    EXPECT_EQ(c.info.kind, kKindCheckpoint);
    EXPECT_GT(c.checkpoint.next_block, 0u);
    EXPECT_LT(c.checkpoint.next_block, block_count(80000000));
    EXPECT_TRUE(c.file_checksum_problem.empty());
    EXPECT_EQ(c.checkpoint_checksum, c.checkpoint_checksum_data);
  }
  resume_and_compare(ref);
}

TEST_F(Checkpoint, RepeatedStopsWithEachSignalThenResumeIsBitIdentical) {
  const ResultFile ref = reference();
  const int sigs[] = {SIGUSR1, SIGINT, SIGTERM, SIGUSR1};
  std::uint64_t last = 0;
  for (int i = 0; i < 4; ++i) {
    const int rc = stop(sigs[i], 0.45, i > 0);
    if (rc == 0) break;  // finished before the signal: fine
    ASSERT_EQ(rc, kExitCheckpointed) << "signal " << sigs[i] << "\n" << log_text();
    ASSERT_TRUE(fs::exists(ckpt()));
    ASSERT_FALSE(fs::exists(out()));
    const ResultFile c = read_result(ckpt());
    EXPECT_GE(c.checkpoint.next_block, last);  // never goes back
    last = c.checkpoint.next_block;
  }
  const Cmd r = sh("run " + cfg_ + " --resume -q");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_FALSE(fs::exists(ckpt()));
  expect_same_numbers(read_result(out()), ref);
}

// A sweep of two cells of 50M draws (one segment each, about 2.5 s in all):
// stopped repeatedly (the checkpoints land in either cell), then resumed. The
// grid and the totals are the uninterrupted run's, bit for bit.
TEST_F(Checkpoint, SweepStoppedRepeatedlyThenResumedIsBitIdentical) {
  std::ofstream(cfg_) << kCheap << "output:\n  path: " << out()
                      << "\ncheckpoint: {every: 0.2}\n"
                         "sweep:\n  draws_per_cell: 50000000\n"
                         "  axes:\n    - {param: c, values: [1.5, 2.5]}\n";
  const ResultFile ref = reference();
  ASSERT_EQ(ref.sweep.valid.size(), 2u);
  ASSERT_EQ(ref.state.segments.size(), 2u);
  const std::uint64_t blocks = 2 * block_count(50000000);
  const int sigs[] = {SIGTERM, SIGUSR1, SIGTERM, SIGINT, SIGTERM};
  std::uint64_t last = 0;
  bool finished = false;
  for (int i = 0; i < 5; ++i) {
    const int rc = stop(sigs[i], i == 0 ? 0.8 : 0.45, i > 0);
    finished = rc == 0;  // finished before the signal: fine
    if (finished) break;
    ASSERT_EQ(rc, kExitCheckpointed) << "signal " << sigs[i] << "\n" << log_text();
    ASSERT_FALSE(fs::exists(out()));
    const ResultFile c = read_result(ckpt());
    EXPECT_EQ(c.state.segment_count_total, 2u);
    EXPECT_GE(c.checkpoint.next_block, last);
    EXPECT_LT(c.checkpoint.next_block, blocks);
    last = c.checkpoint.next_block;
  }
  EXPECT_GT(last, 0u);
  resume_and_compare(ref, !finished);
  EXPECT_GT(spillmc_test::expect_same_group(path("ref.h5"), out(), "/sweep"),
            std::size_t{kNumFields} * 6);
}

TEST_F(Checkpoint, WithoutCheckpointingASignalStillWritesNothing) {
  std::ofstream(cfg_) << kCheap << "output:\n  path: " << out() << "\n";
  EXPECT_EQ(stop(SIGTERM, 0.5, false), kExitInterrupted) << log_text();
  EXPECT_FALSE(fs::exists(out()));
  EXPECT_FALSE(fs::exists(ckpt()));
}

TEST_F(Checkpoint, ResumeWithoutACheckpointStartsFromTheBeginning) {
  const Cmd r = sh("run " + cfg_ + " --resume --draws 1000");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_CONTAINS(r.out, "no checkpoint at");
  EXPECT_TRUE(fs::exists(out()));
  EXPECT_FALSE(fs::exists(ckpt()));
  // And again: the complete result is recognized, nothing is recomputed.
  const Cmd again = sh("run " + cfg_ + " --resume --draws 1000");
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_CONTAINS(again.out, "already holds the complete result");
}

TEST_F(Checkpoint, AnotherRunsCheckpointIsRefusedAndADamagedOneToo) {
  ASSERT_EQ(stop(SIGTERM, 0.6, false), kExitCheckpointed) << log_text();
  ASSERT_TRUE(fs::exists(ckpt()));
  fs::copy_file(ckpt(), path("good.ckpt"));

  const Cmd seed = sh("run " + cfg_ + " --resume --seed 6");
  EXPECT_EQ(seed.status, kExitBadInput) << seed.out;
  EXPECT_CONTAINS(seed.out, "belongs to another run: its seed is 5, this run's is 6");
  const Cmd draws = sh("run " + cfg_ + " --resume --draws 90000000");
  EXPECT_EQ(draws.status, kExitBadInput) << draws.out;
  EXPECT_CONTAINS(draws.out, "draws");
  const Cmd param = sh("run " + cfg_ + " --resume --set parameters.b=1");
  EXPECT_EQ(param.status, kExitBadInput) << param.out;
  EXPECT_CONTAINS(param.out, "config hash");
  const Cmd model = sh("run " + cfg_ + " --resume --model paper");
  EXPECT_EQ(model.status, kExitBadInput) << model.out;
  // A result file where a checkpoint is expected.
  ASSERT_EQ(sh("run " + cfg_ + " -q --draws 1000 -o " + path("small.h5")).status, 0);
  const Cmd kind = sh("run " + cfg_ + " --resume --set checkpoint.path=" + path("small.h5"));
  EXPECT_EQ(kind.status, kExitBadInput) << kind.out;
  EXPECT_CONTAINS(kind.out, "is not a checkpoint");
  EXPECT_FALSE(fs::exists(out()));

  // Truncated: refused with exit 3, nothing written.
  const auto size = fs::file_size(path("good.ckpt"));
  for (const std::uintmax_t keep : {size / 2, size - 1, std::uintmax_t{100}}) {
    fs::copy_file(path("good.ckpt"), ckpt(), fs::copy_options::overwrite_existing);
    fs::resize_file(ckpt(), keep);
    const Cmd t = sh("run " + cfg_ + " --resume");
    EXPECT_EQ(t.status, kExitOutput) << keep << "\n" << t.out;
    EXPECT_FALSE(fs::exists(out()));
  }
  // Bytes flipped in the middle (the data or the metadata): refused, exit 3.
  for (const double at : {0.3, 0.5, 0.9}) {
    fs::copy_file(path("good.ckpt"), ckpt(), fs::copy_options::overwrite_existing);
    {
      std::fstream f(ckpt(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(static_cast<double>(size) * at));
      f.write("\x5a\xa5\x5a\xa5\x5a\xa5\x5a\xa5", 8);
    }
    const Cmd t = sh("run " + cfg_ + " --resume");
    EXPECT_EQ(t.status, kExitOutput) << at << "\n" << t.out;
    EXPECT_FALSE(fs::exists(out()));
  }
  // The intact one still resumes.
  fs::copy_file(path("good.ckpt"), ckpt(), fs::copy_options::overwrite_existing);
  const Cmd ok = sh("run " + cfg_ + " --resume -q");
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_TRUE(verify_result(read_result(out())).empty());
}

TEST_F(Checkpoint, SigkillAtRandomMomentsThenResumeIsBitIdentical) {
  const ResultFile ref = reference();
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> when(0.05, 0.7);
  for (int i = 0; i < 10; ++i) {
    const int rc = stop(SIGKILL, when(rng), true);
    EXPECT_TRUE(rc == -SIGKILL || rc == 0) << rc << "\n" << log_text();
    // The output path holds nothing or a complete, verified result.
    if (fs::exists(out())) {
      const ResultFile r = read_result(out());
      EXPECT_TRUE(verify_result(r).empty());
    }
    // A checkpoint, when there is one, is complete and consistent.
    if (fs::exists(ckpt())) {
      const ResultFile c = read_result(ckpt());
      EXPECT_TRUE(c.file_checksum_problem.empty());
      EXPECT_EQ(c.info.kind, kKindCheckpoint);
    }
  }
  const Cmd r = sh("run " + cfg_ + " --resume -q");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_FALSE(fs::exists(ckpt()));
  expect_same_numbers(read_result(out()), ref);
}

TEST(CheckpointConfig, EveryMustBePositiveAndKeysAreChecked) {
  const spillmc_test::TempDir tmp("ckptcfg");
  const fs::path& dir = tmp.dir();
  const std::string cfg = (dir / "c.yaml").string();
  std::ofstream(cfg) << kCheap << "checkpoint: {every: 0}\n";
  Cmd c = sh("validate " + cfg);
  EXPECT_EQ(c.status, kExitBadInput) << c.out;
  EXPECT_CONTAINS(c.out, "checkpoint.every");
  EXPECT_CONTAINS(c.out, "must be > 0");
  std::ofstream(cfg) << kCheap << "checkpoint: {evry: 5}\n";
  c = sh("validate " + cfg);
  EXPECT_EQ(c.status, kExitBadInput) << c.out;
  EXPECT_CONTAINS(c.out, "every");
  std::ofstream(cfg) << kCheap << "checkpoint: {every: 1.5, path: x.ckpt}\n";
  c = sh("validate " + cfg);
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_CONTAINS(c.out, "checkpoint:\n  every: 1.5\n  path: \"x.ckpt\"");
  std::ofstream(cfg) << kCheap;
  c = sh("run " + cfg + " --checkpoint-every -1 -o " + (dir / "o.h5").string());
  EXPECT_EQ(c.status, kExitBadInput) << c.out;
  EXPECT_CONTAINS(c.out, "--checkpoint-every");
}

// In process: resuming run_segments from the state after any chunk, with
// another chunking, gives the same segment totals bit for bit; states that do
// not fit the range are refused.
TEST(CheckpointState, ResumeFromEveryChunkIsBitIdentical) {
  const DrawSpec spec = spillmc_test::wide_spec(11);
  const std::uint64_t sb = 3;                         // blocks per segment (test only)
  const std::uint64_t draws = 10 * kBlockDraws + 77;  // 11 blocks, 4 segments
  auto backend = make_cpu_backend(2);
  for (const auto& range : {std::pair<std::uint64_t, std::uint64_t>{0, 4}, {1, 3}}) {
    std::vector<SegmentProgress> states;
    const std::vector<Tally> full =
        run_segments(*backend, spec, draws, range.first, range.second, {}, nullptr, 2, sb, nullptr,
                     [&](const SegmentProgress& p) { states.push_back(p); });
    ASSERT_FALSE(states.empty());
    for (const SegmentProgress& s : states) {
      EXPECT_EQ(check_segment_progress(s, draws, range.first, range.second, sb), "");
      const std::vector<Tally> resumed =
          run_segments(*backend, spec, draws, range.first, range.second, {}, nullptr, 3, sb, &s);
      ASSERT_EQ(resumed.size(), full.size());
      for (std::size_t j = 0; j < full.size(); ++j)
        EXPECT_TRUE(same_bytes(&resumed[j], &full[j], sizeof(Tally)))
            << "resumed at block " << s.next_block << ", segment " << j;
    }
    SegmentProgress bad = states[0];
    bad.current.draws += 1;
    EXPECT_NE(check_segment_progress(bad, draws, range.first, range.second, sb), "");
    EXPECT_THROW(
        run_segments(*backend, spec, draws, range.first, range.second, {}, nullptr, 3, sb, &bad),
        InputError);
    bad = states.back();
    bad.segments.pop_back();
    EXPECT_NE(check_segment_progress(bad, draws, range.first, range.second, sb), "");
  }
}
