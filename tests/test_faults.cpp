// Faults and bad conditions, end to end through the spillmc binary: two runs on
// one output, a full disk, a read-only directory, SIGKILL at random moments.
// `spillmc verify` is the oracle: the output path holds nothing or a file it accepts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace fs = std::filesystem;
using spillmc_test::Cmd;
using spillmc_test::seconds_since;
using spillmc_test::sh;
using spillmc_test::slurp;
using spillmc_test::spawn;
using spillmc_test::wait_exit;

namespace {

// The test hook that pauses a run before its final rename (h5io.cpp publish()).
std::vector<std::pair<std::string, std::string>> pause_before_rename(int ms) {
  if (ms <= 0) return {};
  return {{"SPILLMC_TEST_PAUSE_BEFORE_RENAME_MS", std::to_string(ms)}};
}

const std::string kConfig = std::string("seed: 3\n") + spillmc_test::kWideParameters;

class Faults : public testing::Test {
 protected:
  void SetUp() override {
    unsetenv("SPILLMC_TEST_PAUSE_BEFORE_RENAME_MS");
    tmp_.write("c.yaml", kConfig);
  }
  // Before tmp_ removes the directory.
  void TearDown() override {
    for (const std::string& m : mounts_) umount2(m.c_str(), MNT_DETACH);
  }
  std::string path(const std::string& name) const { return tmp_.path(name); }
  // Names in `dir` (dot files included: temporaries and locks).
  static std::vector<std::string> names(const fs::path& dir) {
    std::vector<std::string> n;
    for (const auto& e : fs::directory_iterator(dir)) n.push_back(e.path().filename().string());
    return n;
  }
  static std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + " ";
    return s;
  }
  // Mounts a tmpfs at dir_/NAME in a mount namespace of this test process
  // (its children, the spillmc runs, see it; the host does not). Empty on
  // success, else why it could not (the test then skips).
  std::string mount_tmpfs(const std::string& name, const std::string& options) {
    const std::string at = path(name);
    fs::create_directory(at);
    if (!in_namespace_) {
      if (unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + strerror(errno);
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return std::string("making mounts private: ") + strerror(errno);
      in_namespace_ = true;
    }
    if (mount("tmpfs", at.c_str(), "tmpfs", 0, options.c_str()) != 0)
      return "mount -t tmpfs -o " + options + ": " + strerror(errno);
    mounts_.push_back(at);
    return {};
  }
  Cmd run(const std::string& out, const std::string& extra = "") {
    return sh("run " + path("c.yaml") + " -o " + out + " --backend cpu --threads 1 -q " + extra);
  }
  Cmd verify(const std::string& file) { return sh("verify " + file); }

  spillmc_test::TempDir tmp_{"faults"};
  const fs::path dir_ = tmp_.dir();
  std::vector<std::string> mounts_;
  bool in_namespace_ = false;
};

}  // namespace

TEST_F(Faults, ASecondRunOnTheSameOutputIsRefusedAndAKilledRunBlocksNothing) {
  const std::string out = path("x.h5");
  const pid_t first = spawn({"run", path("c.yaml"), "-o", out, "--draws", "1000000000000",
                             "--backend", "cpu", "--threads", "1", "-q"},
                            path("first.log"));
  // The lock is taken before computing; wait for it.
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(path(".x.h5.lock")) && seconds_since(t0) < 20)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(path(".x.h5.lock"))) << slurp(path("first.log"));

  Cmd c = run(out, "--draws 1000");
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_NE(c.out.find("'" + out + "'"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("another run is writing it"), std::string::npos) << c.out;
  c = run(out, "--draws 1000 --force");  // --force does not override a live writer
  EXPECT_EQ(c.status, 3) << c.out;

  kill(first, SIGKILL);
  EXPECT_EQ(wait_exit(first), -SIGKILL);
  EXPECT_FALSE(fs::exists(out));
  // What a run killed during the final write leaves: a stale temporary file.
  std::ofstream(path(".x.h5.tmp.999999")) << "partial";
  std::ofstream(path(".x.h5.tmp.999999.1")) << "partial";
  std::ofstream(path(".x.h5.tmp.mine")) << "not ours: kept";

  c = run(out, "--draws 1000");
  ASSERT_EQ(c.status, 0) << c.out;
  c = verify(out);
  EXPECT_EQ(c.status, 0) << c.out;
  // The lock is released with the file in place; the stale temporaries are gone.
  const std::vector<std::string> left = names(dir_);
  EXPECT_EQ(left.size(), 4u) << joined(left);  // c.yaml first.log x.h5 .x.h5.tmp.mine
  EXPECT_FALSE(fs::exists(path(".x.h5.lock"))) << joined(left);
  EXPECT_FALSE(fs::exists(path(".x.h5.tmp.999999"))) << joined(left);
  EXPECT_FALSE(fs::exists(path(".x.h5.tmp.999999.1"))) << joined(left);
  EXPECT_TRUE(fs::exists(path(".x.h5.tmp.mine"))) << joined(left);
}

TEST_F(Faults, DifferentOutputsInOneDirectoryRunAtOnce) {
  const pid_t first = spawn({"run", path("c.yaml"), "-o", path("a.h5"), "--draws", "1000000000000",
                             "--backend", "cpu", "--threads", "1", "-q"},
                            path("first.log"));
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(path(".a.h5.lock")) && seconds_since(t0) < 20)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const Cmd c = run(path("b.h5"), "--draws 1000");
  kill(first, SIGKILL);
  wait_exit(first);
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(verify(path("b.h5")).status, 0);
}

TEST_F(Faults, DiskFullFailsWithTheMessageAndLeavesNothing) {
  const std::string why = mount_tmpfs("full", "size=64k");
  if (!why.empty()) {
    GTEST_SKIP() << "cannot mount a small tmpfs: " << why;
  }
  // A result file is about 100 kB: more than the whole file system.
  const std::string out = path("full/x.h5");
  const Cmd c = run(out, "--draws 100000");
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_NE(c.out.find("cannot write '" + out + "'"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("No space left on device"), std::string::npos) << c.out;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(names(path("full")).empty()) << joined(names(path("full")));

  // Nearly full before the run starts: the same.
  std::ofstream(path("full/filler")) << std::string(40000, 'x');
  const Cmd d = run(out, "--draws 100000");
  EXPECT_EQ(d.status, 3) << d.out;
  EXPECT_NE(d.out.find("No space left on device"), std::string::npos) << d.out;
  EXPECT_EQ(names(path("full")), std::vector<std::string>{"filler"}) << joined(names(path("full")));
}

TEST_F(Faults, ReadOnlyDirectoryFailsUpFrontAndLeavesNothing) {
  const std::string why = mount_tmpfs("ro", "size=1m,ro");
  if (!why.empty()) {
    GTEST_SKIP() << "cannot mount a read-only tmpfs: " << why;
  }
  const std::string out = path("ro/x.h5");
  const auto t0 = std::chrono::steady_clock::now();
  // Enough draws to take minutes: the failure must come before computing.
  const Cmd c = run(out, "--draws 1000000000000");
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_NE(c.out.find("cannot write '" + out + "'"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("Read-only file system"), std::string::npos) << c.out;
  EXPECT_TRUE(names(path("ro")).empty()) << joined(names(path("ro")));
  // merge checks its output the same way.
  const Cmd m = sh("merge " + path("c.yaml") + " -o " + out);
  EXPECT_EQ(m.status, 3) << m.out;
  EXPECT_NE(m.out.find("Read-only file system"), std::string::npos) << m.out;
}

// SIGKILL at random moments of compute and final write: the output path holds
// nothing or a file `verify` accepts, and the next run succeeds (no stale lock).
TEST_F(Faults, SigkillAtRandomMomentsLeavesNothingOrAVerifiedFile) {
  const std::string out = path("k.h5");
  const std::string draws = "--draws 12000000";  // about 0.5 s
  // How long one run takes here.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run(out, draws).status, 0);
  const double duration = seconds_since(t0);
  fs::remove(out);

  std::mt19937_64 rng(std::random_device{}());
  int complete = 0, nothing = 0;
  const int kRuns = 20;
  for (int i = 0; i < kRuns; ++i) {
    // Every other run pauses 300 ms with the complete temporary not yet
    // renamed, widening that window; the last three are killed right in it.
    const int pause_ms = i % 2 == 1 ? 300 : 0;
    const bool in_window = i >= kRuns - 3;
    const pid_t pid = spawn({"run", path("c.yaml"), "-o", out, "--draws", "12000000", "--backend",
                             "cpu", "--threads", "1", "-q"},
                            path("kill.log"), pause_before_rename(in_window ? 10000 : pause_ms));
    double delay = 0;
    if (in_window) {
      t0 = std::chrono::steady_clock::now();
      while (slurp(path("kill.log")).find("pausing before rename") == std::string::npos &&
             seconds_since(t0) < 30)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } else {
      // A little past the end too: some runs finish before the kill.
      delay = std::uniform_real_distribution<double>(0, 1.2 * (duration + pause_ms / 1000.0))(rng);
      std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    }
    kill(pid, SIGKILL);
    const int rc = wait_exit(pid);
    const std::string ctx = "run " + std::to_string(i) + ", killed after " + std::to_string(delay) +
                            " s (exit " + std::to_string(rc) + "): " + slurp(path("kill.log"));
    if (fs::exists(out)) {
      EXPECT_FALSE(in_window) << ctx;  // killed before the rename
      ++complete;
      const Cmd v = verify(out);
      ASSERT_EQ(v.status, 0) << ctx << v.out;
      ASSERT_EQ(v.out.rfind("OK: ", 0), 0u) << ctx << v.out;
      fs::remove(out);
    } else {
      ++nothing;
    }
    // A fresh run is not blocked by the killed one's lock or temporary file.
    const Cmd again = run(out, "--draws 1000");
    ASSERT_EQ(again.status, 0) << ctx << again.out;
    ASSERT_EQ(verify(out).status, 0) << ctx;
    fs::remove(out);
    const std::vector<std::string> left = names(dir_);
    ASSERT_EQ(left.size(), 2u) << ctx << joined(left);  // c.yaml and kill.log only
  }
  EXPECT_GE(nothing, 3);  // at least the three killed in the rename window
  std::printf("%d runs killed: %d left a complete file, %d nothing (one run %.2f s)\n", kRuns,
              complete, nothing, duration);
}
