// Checkpoint and resume, end to end through the spillmc binary: a signal
// (SIGTERM, SIGINT, SIGUSR1) ends a run with a checkpoint and exit 75, --resume
// gives the bits of an uninterrupted run however often it is stopped (SIGKILL
// included), also for a sweep, and checkpoints of another run or damaged ones
// are refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include "spillmc/analysis.hpp"
#include "spillmc/backend.hpp"
#include "spillmc/checkpoint.hpp"
#include "spillmc/config.hpp"
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

// Without --resume, a stale checkpoint of this same run is replaced (with a
// warning) and removed at the end. Another run's checkpoint, or a damaged one,
// is refused (exit 3) and left as it was, so that run can still be resumed.
TEST_F(Checkpoint, OnlyAStaleCheckpointOfThisRunIsReplaced) {
  ASSERT_EQ(stop(SIGTERM, 0.6, false), kExitCheckpointed) << log_text();
  ASSERT_TRUE(fs::exists(ckpt()));
  const std::string saved = spillmc_test::slurp(ckpt());
  for (const std::string other :
       {" --seed 6", " --draws 1000", " --set parameters.b=1", " --model paper"}) {
    const Cmd c = sh("run " + cfg_ + " -q" + other);
    EXPECT_EQ(c.status, kExitOutput) << other << "\n" << c.out;
    EXPECT_CONTAINS(c.out, "checkpoint.path '" + ckpt() + "' exists and is not a checkpoint");
    EXPECT_CONTAINS(c.out, "another run");
    EXPECT_EQ(spillmc_test::slurp(ckpt()), saved) << other;
    EXPECT_FALSE(fs::exists(out()));
  }
  {
    std::ofstream(path("half.ckpt"), std::ios::binary) << saved.substr(0, saved.size() / 2);
    const Cmd c = sh("run " + cfg_ + " -q --set checkpoint.path=" + path("half.ckpt"));
    EXPECT_EQ(c.status, kExitOutput) << c.out;
    EXPECT_EQ(fs::file_size(path("half.ckpt")), saved.size() / 2);
    EXPECT_FALSE(fs::exists(out()));
  }
  const Cmd c = sh("run " + cfg_ + " -q");
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_CONTAINS(c.out, "will be replaced");
  EXPECT_FALSE(fs::exists(ckpt()));
  EXPECT_TRUE(verify_result(read_result(out())).empty());
  // This run's checkpoint left beside its complete result: --resume removes it.
  std::ofstream(ckpt(), std::ios::binary) << saved;
  const Cmd r = sh("run " + cfg_ + " --resume");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_CONTAINS(r.out, "already holds the complete result");
  EXPECT_FALSE(fs::exists(ckpt()));
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

// Issue 5 audit, item 3: a checkpoint is one run's for the whole run. A second
// run naming the same checkpoint.path (another -o) is refused with exit 3 and
// leaves it alone; with --shard an explicit checkpoint.path becomes one per
// shard (tagged as shard files are), so array tasks never share one.
TEST_F(Checkpoint, ACheckpointIsLockedAndShardsGetTheirOwn) {
  const std::string shared = " --set checkpoint.path=" + path("shared.ckpt");
  const pid_t first = spawn(
      {"run", cfg_, "-q", "-o", path("a.h5"), "--set", "checkpoint.path=" + path("shared.ckpt")},
      log());
  sleep_s(0.5);
  const Cmd second = sh("run " + cfg_ + " -q -o " + path("b.h5") + shared);
  ::kill(first, SIGTERM);
  ASSERT_EQ(wait_exit(first), kExitCheckpointed) << log_text();
  EXPECT_EQ(second.status, kExitOutput) << second.out;
  EXPECT_CONTAINS(second.out, "checkpoint '" + path("shared.ckpt") + "' is in use by another run");
  EXPECT_FALSE(fs::exists(path("b.h5")));
  // The first run's checkpoint is intact and resumes.
  const Cmd r = sh("run " + cfg_ + " -q --resume -o " + path("a.h5") + shared);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_FALSE(fs::exists(path("shared.ckpt")));
  EXPECT_FALSE(fs::exists(path(".shared.ckpt.lock")));  // released at the end

  // Two shards with one explicit checkpoint.path: each writes its own. Two
  // full segments, so that both shards run about 3 s.
  std::vector<pid_t> pids;
  for (int i = 0; i < 2; ++i)
    pids.push_back(spawn(
        {"run", cfg_, "-q", "--draws", "134217728", "--shard", std::to_string(i) + "/2", "-o",
         path("s" + std::to_string(i) + ".h5"), "--set", "checkpoint.path=" + path("run.ckpt")},
        log(), {}, true));
  sleep_s(0.7);
  for (const pid_t p : pids) ::kill(p, SIGTERM);
  for (const pid_t p : pids) EXPECT_EQ(wait_exit(p), kExitCheckpointed) << log_text();
  EXPECT_FALSE(fs::exists(path("run.ckpt")));
  for (int i = 0; i < 2; ++i) {
    const std::string own = path("run.shard-000" + std::to_string(i) + "-of-0002.ckpt");
    ASSERT_TRUE(fs::exists(own)) << log_text();
    EXPECT_EQ(read_result(own).info.shard_index, static_cast<std::uint64_t>(i));
    const Cmd c = sh("run " + cfg_ + " -q --draws 134217728 --resume --shard " + std::to_string(i) +
                     "/2 -o " + path("s" + std::to_string(i) + ".h5") +
                     " --set checkpoint.path=" + path("run.ckpt"));
    EXPECT_EQ(c.status, 0) << c.out;
    EXPECT_FALSE(fs::exists(own));
  }
  const Cmd m = sh("merge " + path("s0.h5") + " " + path("s1.h5") + " -o " + path("m.h5"));
  ASSERT_EQ(m.status, 0) << m.out;
  EXPECT_TRUE(verify_result(read_result(path("m.h5"))).empty());
}

// Item 4: a checkpoint that cannot be written fails before computing (exit 3,
// naming the path and the system error), not when the signal comes.
TEST_F(Checkpoint, AnUnwritableCheckpointPathFailsBeforeComputing) {
  const auto t0 = std::chrono::steady_clock::now();
  Cmd c = sh("run " + cfg_ + " --set checkpoint.path=" + path("nodir/x.ckpt"));
  EXPECT_EQ(c.status, kExitOutput) << c.out;
  EXPECT_CONTAINS(c.out, "cannot write checkpoint '" + path("nodir/x.ckpt") + "'");
  EXPECT_CONTAINS(c.out, "No such file or directory");
  EXPECT_LT(spillmc_test::seconds_since(t0), 2.0);  // the run takes about 3 s
  fs::create_directory(path("dir.ckpt"));
  c = sh("run " + cfg_ + " --set checkpoint.path=" + path("dir.ckpt"));
  EXPECT_EQ(c.status, kExitOutput) << c.out;
  EXPECT_CONTAINS(c.out, path("dir.ckpt"));
  EXPECT_FALSE(fs::exists(out()));
  EXPECT_EQ(tmp_.count_files(), 2);  // the config and the directory: nothing left
}

// Item 6: temporary checkpoint files a killed run left (.<name>.tmp.<pid>) are
// removed by the next run on that checkpoint, the default path and an explicit one.
TEST_F(Checkpoint, StaleTemporaryCheckpointsAreRemoved) {
  for (const char* name : {".out.h5.ckpt.tmp.999999", ".out.h5.ckpt.tmp.999998.1",
                           ".my.ckpt.tmp.999997", ".out.h5.ckpt.tmp.keep"})
    std::ofstream(path(name)) << "left by a killed run";
  Cmd c = sh("run " + cfg_ + " -q --draws 1000");
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_FALSE(fs::exists(path(".out.h5.ckpt.tmp.999999")));
  EXPECT_FALSE(fs::exists(path(".out.h5.ckpt.tmp.999998.1")));
  EXPECT_TRUE(fs::exists(path(".out.h5.ckpt.tmp.keep")));  // not a temporary name
  c = sh("run " + cfg_ + " -q --draws 1000 -o " + path("o2.h5") +
         " --set checkpoint.path=" + path("my.ckpt"));
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_FALSE(fs::exists(path(".my.ckpt.tmp.999997")));
}

// Item 7: a signal during start-up (config, locks, reading the checkpoint) ends
// with the documented codes: 75 with a checkpoint, 130 without, never a death
// by the signal. It is sent as soon as the process has its handlers (SigCgt in
// /proc: set first thing, before the config is read), so it comes before
// computing: a resumed run's checkpoint is left as it was (no block done).
// (A signal in the first milliseconds, before the program's code runs at all,
// still kills it: exec and loading the libraries.)
namespace {

bool catches(pid_t pid, int sig) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("SigCgt:", 0) == 0)
      return (std::stoull(line.substr(7), nullptr, 16) >> (sig - 1)) & 1u;
  return false;
}

}  // namespace

TEST_F(Checkpoint, ASignalDuringStartUpEndsWith75Or130) {
  const auto stop_early = [&](int sig, double extra, bool resume) {
    std::vector<std::string> a = {"run", cfg_, "-q"};
    if (resume) a.push_back("--resume");
    const pid_t pid = spawn(a, log(), {}, /*append_log=*/true);
    const auto t0 = std::chrono::steady_clock::now();
    while (!catches(pid, sig) && spillmc_test::seconds_since(t0) < 5) sleep_s(0.0005);
    sleep_s(extra);
    ::kill(pid, sig);
    return wait_exit(pid);
  };
  ASSERT_EQ(stop(SIGTERM, 0.6, false), kExitCheckpointed) << log_text();
  const std::string saved = spillmc_test::slurp(ckpt());
  const std::uint64_t next = read_result(ckpt()).checkpoint.next_block;
  for (const double extra : {0.0, 0.002, 0.005}) {
    std::ofstream(ckpt(), std::ios::binary) << saved;
    EXPECT_EQ(stop_early(SIGUSR1, extra, true), kExitCheckpointed) << extra << "\n" << log_text();
    ASSERT_TRUE(fs::exists(ckpt()));
    const ResultFile c = read_result(ckpt());
    EXPECT_TRUE(c.file_checksum_problem.empty());
    EXPECT_EQ(c.checkpoint.next_block, next) << extra;  // stopped before computing
  }
  // A fresh run with checkpoints on writes one of no blocks done.
  fs::remove(ckpt());
  EXPECT_EQ(stop_early(SIGTERM, 0.0, false), kExitCheckpointed) << log_text();
  ASSERT_TRUE(fs::exists(ckpt()));
  EXPECT_EQ(read_result(ckpt()).checkpoint.next_block, 0u);
  fs::remove(ckpt());
  // Without checkpoints: 130 and nothing written.
  std::ofstream(cfg_) << kCheap << "output:\n  path: " << out() << "\n";
  for (const double extra : {0.0, 0.005})
    EXPECT_EQ(stop_early(SIGTERM, extra, false), kExitInterrupted) << extra << "\n" << log_text();
  EXPECT_FALSE(fs::exists(out()));
  EXPECT_FALSE(fs::exists(ckpt()));
}

// Item 7, the script: requeue.sbatch sets its traps before starting spillmc and
// forwards a signal that comes early; spillmc, stopped before computing, exits
// 75 and the job requeues (fake scontrol on PATH).
TEST_F(Checkpoint, RequeueScriptRequeuesOnAnEarlySignal) {
  const std::string bin = path("bin");
  fs::create_directory(bin);
  std::ofstream(bin + "/scontrol") << "#!/bin/sh\necho \"$@\" >>" << path("scontrol.log") << "\n";
  fs::permissions(bin + "/scontrol", fs::perms::owner_all);
  const std::string script = std::string(SPILLMC_SOURCE_DIR) + "/scripts/slurm/requeue.sbatch";
  for (const double after : {0.03, 0.08}) {
    fs::remove(ckpt());
    fs::remove(path("scontrol.log"));
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::string p = bin + ":" + std::getenv("PATH");
      setenv("PATH", p.c_str(), 1);
      setenv("SPILLMC", SPILLMC_BINARY, 1);
      setenv("SLURM_JOB_ID", "4242", 1);
      for (const char* v : spillmc_test::kSlurmArrayVars) unsetenv(v);
      const int fd = ::open(log().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      execl("/bin/bash", "bash", script.c_str(), cfg_.c_str(), "-q", static_cast<char*>(nullptr));
      _exit(127);
    }
    sleep_s(after);
    ::kill(pid, SIGUSR1);
    EXPECT_EQ(wait_exit(pid), 0) << after << "\n" << log_text();
    EXPECT_EQ(spillmc_test::slurp(path("scontrol.log")), "requeue 4242\n") << log_text();
    EXPECT_TRUE(fs::exists(ckpt())) << after;
    EXPECT_FALSE(fs::exists(out()));
  }
}

// Item 9: wall_seconds and draws_per_second of a resumed run cover every leg:
// the checkpoint records the time spent so far, the resume adds its own.
TEST_F(Checkpoint, WallSecondsCoverEveryLeg) {
  ASSERT_EQ(stop(SIGTERM, 0.8, false), kExitCheckpointed) << log_text();
  const double first = read_result(ckpt()).info.wall_seconds;
  EXPECT_GT(first, 0.4);
  EXPECT_LT(first, 2.0);
  ASSERT_EQ(stop(SIGTERM, 0.8, true), kExitCheckpointed) << log_text();
  const double second = read_result(ckpt()).info.wall_seconds;
  EXPECT_GT(second, first + 0.4);
  const Cmd r = sh("run " + cfg_ + " --resume");
  ASSERT_EQ(r.status, 0) << r.out;
  const ResultFile got = read_result(out());
  EXPECT_GT(got.info.wall_seconds, second);
  // The log line reports the same total.
  EXPECT_CONTAINS(r.out, "in ");
}

// Item 10: a checkpoint written by another build (git_commit) is continued with
// a warning naming both commits.
TEST_F(Checkpoint, AnotherBuildsCheckpointIsContinuedWithAWarning) {
  ASSERT_EQ(stop(SIGTERM, 0.6, false), kExitCheckpointed) << log_text();
  const Config cfg = load_config(cfg_, {});
  const RunPlan plan = make_run_plan(cfg);
  const ResultFile f = read_result(ckpt());
  RunInfo info = f.info;
  const SegmentProgress p = read_checkpoint(ckpt(), info, plan, 0, plan.total_segments());
  const std::string other = "0123456789abcdef0123456789abcdef01234567-dirty";
  info.git_commit = other;
  write_checkpoint(ckpt(), make_checkpoint(info, 0, plan.total_segments(), p));
  const Cmd r = sh("run " + cfg_ + " --resume");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_CONTAINS(r.out, "was written by the build of commit " + other + ", this run is commit " +
                             f.info.git_commit);
}

// Item 12: verify on an intact checkpoint says what it is in one line (exit 0);
// a damaged one fails (exit 3).
TEST_F(Checkpoint, VerifyOnACheckpointSaysSoInOneLine) {
  ASSERT_EQ(stop(SIGTERM, 0.6, false), kExitCheckpointed) << log_text();
  Cmd c = sh("verify " + ckpt());
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(std::count(c.out.begin(), c.out.end(), '\n'), 1) << c.out;
  EXPECT_CONTAINS(c.out,
                  "CHECKPOINT: " + ckpt() + ": a checkpoint (kind checkpoint), checksums OK");
  EXPECT_CONTAINS(c.out, "--resume");
  EXPECT_EQ(c.out.find("FAIL"), std::string::npos) << c.out;
  {
    std::fstream f(ckpt(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(ckpt()) / 2));
    f.write("\x5a\xa5\x5a\xa5", 4);
  }
  c = sh("verify " + ckpt());
  EXPECT_EQ(c.status, kExitOutput) << c.out;
  EXPECT_CONTAINS(c.out, "FAIL: " + ckpt());
}
