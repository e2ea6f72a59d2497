// MPI end to end: `mpirun -n N spillmc run` gives the single-process bits for
// N = 1, 2, 3; a failing or interrupted rank ends the whole job with no output.
// Registered only in a build with MPI; skipped when mpirun is missing.
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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "spillmc/backend.hpp"
#include "spillmc/mpi.hpp"
#include "spillmc/result.hpp"

namespace fs = std::filesystem;
using spillmc_test::Cmd;
using spillmc_test::seconds_since;
using spillmc_test::sh;
using namespace spillmc;

namespace {

const std::string kMpirun = SPILLMC_MPIEXEC;

// Many blocks (31, the last one short) and several chunks for every N: the CPU
// backend with one thread takes 8 blocks per rank per chunk.
const std::string kConfig =
    std::string("draws: 2000000\nseed: 3\n") + spillmc_test::kWideParameters;

class Mpi : public testing::Test {
 protected:
  void SetUp() override {
    if (kMpirun.empty() || !fs::exists(kMpirun)) GTEST_SKIP() << "mpirun not found";
    // Containers often run as root; OpenMPI refuses that unless told.
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    tmp_.write("c.yaml", kConfig);
  }
  std::string path(const std::string& name) const { return tmp_.path(name); }
  std::vector<std::string> mpirun_args(int n) const {
    return {kMpirun, "--oversubscribe", "-n", std::to_string(n), SPILLMC_BINARY};
  }
  Cmd mpirun(int n, const std::string& args) const {
    std::string cmd;
    for (const auto& a : mpirun_args(n)) cmd += a + " ";
    return spillmc_test::run_shell(cmd + args);
  }
  int count_files() const { return tmp_.count_files(); }
  spillmc_test::TempDir tmp_{"mpi"};
};

}  // namespace

TEST(MpiSession, WithoutALauncherIsRankZeroOfOne) {
  // The test process is not started by mpirun: no MPI at all.
  int argc = 1;
  char name[] = "test_mpi";
  char* argv_storage[] = {name, nullptr};
  char** argv = argv_storage;
  const MpiSession s(argc, argv);
  EXPECT_FALSE(s.active());
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.size(), 1);
  EXPECT_EQ(s.local_rank(), 0);
  EXPECT_TRUE(s.any(true));
  EXPECT_FALSE(s.any(false));
  EXPECT_TRUE(mpi_compiled());
}

TEST_F(Mpi, OneTwoAndThreeRanksGiveTheSingleProcessBits) {
  const std::string common = " --backend cpu --threads 1 -q";
  const Cmd single = sh("run " + path("c.yaml") + " -o " + path("single.h5") + common);
  ASSERT_EQ(single.status, 0) << single.out;
  const ResultFile a = read_result(path("single.h5"));
  EXPECT_EQ(a.info.device.find("ranks"), std::string::npos) << a.info.device;
  for (int n = 1; n <= 3; ++n) {
    const std::string out = path("mpi" + std::to_string(n) + ".h5");
    const auto t0 = std::chrono::steady_clock::now();
    const Cmd c = mpirun(n, "run " + path("c.yaml") + " -o " + out + common);
    ASSERT_EQ(c.status, 0) << c.out;
    std::printf("mpirun -n %d: %.2f s\n", n, seconds_since(t0));
    const ResultFile b = read_result(out);
    if (n > 1) {
      EXPECT_NE(b.info.device.find("x " + std::to_string(n) + " ranks"), std::string::npos)
          << b.info.device;
    }
    EXPECT_EQ(b.info.backend, "cpu");
    SCOPED_TRACE("mpirun -n " + std::to_string(n));
    spillmc_test::expect_same_numbers(a, b);
    EXPECT_EQ(b.draws_valid + b.draws_invalid, 2000000u);
  }
  EXPECT_GT(a.invalid[I_b_nonpositive], 0u);
  EXPECT_EQ(count_files(), 5);  // config, single, three MPI results: no temporaries
}

TEST_F(Mpi, RankZeroLogsWhereEveryRankComputes) {
  const Cmd c = mpirun(2, "run " + path("c.yaml") + " -o " + path("p.h5") +
                              " --backend cpu --threads 1 --draws 70000");
  ASSERT_EQ(c.status, 0) << c.out;
  for (const char* line : {"rank 0 (node ", "rank 1 (node "})
    EXPECT_NE(c.out.find(line), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("local rank 1): CPU"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("share one GPU"), std::string::npos) << c.out;
}

// Ranks on GPUs: rank r of this node takes GPU r mod (number of GPUs); the bits
// equal one process on one GPU. With fewer GPUs than ranks, ranks share one, with
// a warning and the same numbers.
TEST_F(Mpi, RanksOnGpusGiveTheSingleGpuBits) {
  const int ndev = cuda_device_count();
  if (ndev == 0) GTEST_SKIP() << "no CUDA device";
  const std::string common = " --backend cuda -q";
  const Cmd single = sh("run " + path("c.yaml") + " -o " + path("single.h5") + common);
  ASSERT_EQ(single.status, 0) << single.out;
  const ResultFile a = read_result(path("single.h5"));
  for (int n = 2; n <= 3; ++n) {
    SCOPED_TRACE("mpirun -n " + std::to_string(n));
    const std::string out = path("gpu" + std::to_string(n) + ".h5");
    const Cmd c = mpirun(n, "run " + path("c.yaml") + " -o " + out + " --backend cuda");
    ASSERT_EQ(c.status, 0) << c.out;
    for (int r = 0; r < n; ++r) {
      const auto at = c.out.find("rank " + std::to_string(r) + " (node ");
      ASSERT_NE(at, std::string::npos) << c.out;
      const std::string line = c.out.substr(at, c.out.find('\n', at) - at);
      std::printf("mpirun -n %d: %s\n", n, line.c_str());  // the evidence, in the test's log
      EXPECT_NE(line.find("local rank " + std::to_string(r) + "): "), std::string::npos) << line;
      EXPECT_NE(line.find("(device " + std::to_string(r % ndev) + ", PCI "), std::string::npos)
          << line;
    }
    EXPECT_EQ(c.out.find("share one GPU") != std::string::npos, n > ndev) << c.out;
    const ResultFile b = read_result(out);
    EXPECT_EQ(b.info.backend, "cuda");
    EXPECT_NE(b.info.device.find("x " + std::to_string(n) + " ranks"), std::string::npos)
        << b.info.device;
    spillmc_test::expect_same_numbers(a, b);
  }
}

TEST_F(Mpi, AFailingRankEndsTheJobWithNoFile) {
  const std::string out = path("fail.h5");
  setenv("SPILLMC_TEST_FAIL_RANK", "1", 1);
  const Cmd c = mpirun(3, "run " + path("c.yaml") + " -o " + out + " --backend cpu --threads 1");
  unsetenv("SPILLMC_TEST_FAIL_RANK");
  EXPECT_NE(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("rank 1 of 3 failed"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("SPILLMC_TEST_FAIL_RANK"), std::string::npos) << c.out;
  EXPECT_FALSE(fs::exists(out));
  // Rank 0, killed by mpirun, may leave its empty, unlocked lock file (docs/output.md, Faults).
  fs::remove(path(".fail.h5.lock"));
  EXPECT_EQ(count_files(), 1);  // only the config
}

TEST_F(Mpi, AnOutputProblemOnRankZeroEndsTheJobWithItsExitCode) {
  const Cmd c = mpirun(2, "run " + path("c.yaml") + " -o " + path("no/such/dir/x.h5") +
                              " --backend cpu --threads 1");
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_NE(c.out.find("no/such/dir"), std::string::npos) << c.out;
  EXPECT_EQ(count_files(), 1);
}

TEST_F(Mpi, ASignalToOneRankStopsEveryRankWithExit130AndNoFile) {
  const std::string out = path("long.h5");
  std::vector<std::string> args = mpirun_args(3);
  for (const char* a : {"run", "", "-o", "", "--draws", "1000000000000", "--backend", "cpu",
                        "--threads", "1", "-q"})
    args.emplace_back(a);
  args[6] = path("c.yaml");
  args[8] = out;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Wait for the three ranks (children of mpirun), then signal just one of them,
  // as a node-local signal would: all ranks must leave at the same chunk.
  std::vector<pid_t> ranks;
  const auto t0 = std::chrono::steady_clock::now();
  while (ranks.size() < 3 && seconds_since(t0) < 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ranks.clear();
    for (const auto& e : fs::directory_iterator("/proc")) {
      std::ifstream stat(e.path() / "stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      const auto close = line.rfind(')');
      if (close == std::string::npos || line.find("(spillmc)") == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      char state;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid == pid) ranks.push_back(static_cast<pid_t>(std::stol(e.path().filename())));
    }
  }
  ASSERT_EQ(ranks.size(), 3u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // well into the compute
  kill(ranks[1], SIGTERM);
  int st = 0;
  const auto t1 = std::chrono::steady_clock::now();
  waitpid(pid, &st, 0);
  const double waited = seconds_since(t1);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 130);
  EXPECT_LT(waited, 10.0);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(count_files(), 1);
}

// Issue 5 audit, item 2: rank 0 alone decides how the run starts and hands its
// decision and state to the other ranks. Ranks in different working
// directories (a relative checkpoint.path, node-local storage) where only one
// sees the checkpoint still give the bits of the uninterrupted run, whichever
// rank sees it. Before, each rank decided for itself: MPI_ERR_TRUNCATE, or a
// wrong result that verifies.
TEST_F(Mpi, RanksFollowRankZerosResumeDecision) {
  const std::string cfg =
      tmp_.write("k.yaml", std::string("draws: 80000000\nseed: 5\nbackend: cpu\nthreads: 1\n") +
                               spillmc_test::kWideParameters + "checkpoint: {every: 0.2}\n");
  Cmd c = sh("run " + cfg + " -q -o " + path("ref.h5"));
  ASSERT_EQ(c.status, 0) << c.out;
  const ResultFile ref = read_result(path("ref.h5"));
  // A checkpoint part way (SIGTERM after 0.8 s of about 3 s).
  fs::create_directories(path("d0"));
  fs::create_directories(path("d1"));
  const pid_t pid = spillmc_test::spawn({"run", cfg, "-q", "-o", path("d0/k.h5")}, path("log"));
  spillmc_test::sleep_s(0.8);
  kill(pid, SIGTERM);
  ASSERT_EQ(spillmc_test::wait_exit(pid), 75) << spillmc_test::slurp(path("log"));
  ASSERT_TRUE(fs::exists(path("d0/k.h5.ckpt")));
  const std::string saved = spillmc_test::slurp(path("d0/k.h5.ckpt"));
  std::string launcher;
  for (const auto& a : mpirun_args(2)) launcher += (launcher.empty() ? "" : " ") + a;
  launcher = launcher.substr(0, launcher.rfind(' '));  // without the binary
  for (const int sees : {0, 1}) {
    SCOPED_TRACE("only rank " + std::to_string(sees) + " sees the checkpoint");
    for (const char* d : {"d0", "d1"})
      for (const char* f : {"k.h5", "k.h5.ckpt"}) fs::remove(path(std::string(d) + "/" + f));
    std::ofstream(path("d" + std::to_string(sees) + "/k.h5.ckpt"), std::ios::binary) << saved;
    c = spillmc_test::run_shell(launcher + " bash -c 'cd " + path("d") +
                                "$OMPI_COMM_WORLD_RANK && exec " + SPILLMC_BINARY + " run " + cfg +
                                " -o k.h5 --resume'");
    ASSERT_EQ(c.status, 0) << c.out;
    EXPECT_EQ(c.out.find("resuming from checkpoint") != std::string::npos, sees == 0) << c.out;
    const ResultFile got = read_result(path("d0/k.h5"));
    EXPECT_TRUE(verify_result(got).empty());
    spillmc_test::expect_same_numbers(got, ref);
    EXPECT_FALSE(fs::exists(path("d1/k.h5")));
    EXPECT_FALSE(fs::exists(path("d0/k.h5.ckpt")));
  }
}
