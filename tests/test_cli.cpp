// End to end: the spillmc binary as users run it. Exit codes, messages, no
// output file on failure or interruption, reproducibility across threads.
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
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "spillmc/backend.hpp"
#include "spillmc/result.hpp"

namespace fs = std::filesystem;
using spillmc_test::Cmd;
using spillmc_test::sh;
using spillmc_test::spawn;
using spillmc_test::wait_exit;
using namespace spillmc;

namespace {

class Cli : public testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.path(name); }
  std::string write(const std::string& name, const std::string& text) const {
    return tmp_.write(name, text);
  }
  int count_files() const { return tmp_.count_files(); }
  spillmc_test::TempDir tmp_{"cli"};
};

const char* kWorked = R"(draws: 1000
seed: 7
parameters:
  a: 10
  b: 1
  c: 2
  A1: 1
  A2: 2
  A2p: 1.5
)";

const std::string kWide = std::string("draws: 200000\nseed: 3\n") + spillmc_test::kWideParameters;

}  // namespace

TEST_F(Cli, VersionAndHelp) {
  Cmd c = sh("--version");
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("spillmc 0."), std::string::npos) << c.out;
  c = sh("--help");
  EXPECT_EQ(c.status, 0);
  EXPECT_NE(c.out.find("run"), std::string::npos);
  c = sh("frobnicate");
  EXPECT_EQ(c.status, 2) << c.out;
}

// The commit is looked up on every build (cmake/git_commit.cmake), so a build
// directory reused across commits still names the checked-out one.
TEST_F(Cli, VersionNamesTheCheckedOutCommit) {
  std::string head =
      spillmc_test::run_shell("git -C '" + std::string(SPILLMC_SOURCE_DIR) + "' rev-parse HEAD")
          .out;
  while (!head.empty() && (head.back() == '\n' || head.back() == '\r')) head.pop_back();
  if (head.size() != 40) GTEST_SKIP() << "no git checkout at " << SPILLMC_SOURCE_DIR;
  const Cmd c = sh("--version");
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("(" + head), std::string::npos) << c.out << "HEAD is " << head;
}

TEST_F(Cli, WorkedExampleEndToEnd) {
  const std::string cfg = write("w.yaml", kWorked);
  const std::string out = path("w.h5");
  const Cmd c = sh("run " + cfg + " -o " + out + " --backend cpu --quiet");
  ASSERT_EQ(c.status, 0) << c.out;
  const ResultFile r = read_result(out);
  EXPECT_EQ(r.info.draws_requested, 1000u);
  EXPECT_EQ(r.draws_valid, 1000u);
  // Every draw is the worked example: means are its exact values, spread 0.
  EXPECT_DOUBLE_EQ(r.summary[F_q12].mean, 5.5);
  EXPECT_DOUBLE_EQ(r.summary[F_pi22].mean, 3.0625);
  EXPECT_DOUBLE_EQ(r.summary[F_pi22_up].mean, 4.515625);
  EXPECT_DOUBLE_EQ(r.summary[F_upgrade_gain].mean, 1.453125);
  EXPECT_NEAR(r.summary[F_A2_crit].mean, 2.86396103067893, 1e-12);
  EXPECT_EQ(r.summary[F_pi12].std, 0.0);
  EXPECT_EQ(r.events[E_leader_gains].count, 0u);
  EXPECT_EQ(r.events[E_upgrade_gain_positive].count, 1000u);
  EXPECT_EQ(r.regime2[R_both_active], 1000);
  // inspect prints the same numbers.
  const Cmd j = sh("inspect --json " + out);
  ASSERT_EQ(j.status, 0) << j.out;
  EXPECT_NE(j.out.find("\"upgrade_gain\""), std::string::npos);
  EXPECT_NE(j.out.find("1.453125"), std::string::npos);
  const Cmd t = sh("inspect " + out);
  ASSERT_EQ(t.status, 0) << t.out;
  EXPECT_NE(t.out.find("leader_loss_up"), std::string::npos);
}

TEST_F(Cli, SameSeedSameBitsForAnyThreadCount) {
  const std::string cfg = write("wide.yaml", kWide);
  ASSERT_EQ(sh("run " + cfg + " -o " + path("t1.h5") + " --backend cpu --threads 1 -q").status, 0);
  ASSERT_EQ(sh("run " + cfg + " -o " + path("t2.h5") + " --backend cpu --threads 2 -q").status, 0);
  const ResultFile a = read_result(path("t1.h5")), b = read_result(path("t2.h5"));
  spillmc_test::expect_same_numbers(a, b);
  EXPECT_GT(a.invalid[I_b_nonpositive], 0u);
  EXPECT_EQ(a.draws_valid + a.draws_invalid, 200000u);
}

TEST_F(Cli, OverridesFromTheCommandLine) {
  const std::string cfg = write("w.yaml", kWorked);
  const Cmd c = sh("run " + cfg + " -o " + path("o.h5") +
                   " --draws 500 --seed 9 --model paper --set parameters.A2=9 -q --backend cpu");
  ASSERT_EQ(c.status, 0) << c.out;
  const ResultFile r = read_result(path("o.h5"));
  EXPECT_EQ(r.info.draws_requested, 500u);
  EXPECT_EQ(r.info.seed, 9u);
  EXPECT_EQ(r.info.model, "paper");
  // Paper mode reports the literal (negative) follower output where x = 17/9.
  EXPECT_DOUBLE_EQ(r.summary[F_q22].mean, (8 + 3 * 1 - 2 * 9) / 4.0);
  EXPECT_NE(r.info.config_yaml.find("paper"), std::string::npos);
}

TEST_F(Cli, OptionsAreNamedInMessagesAndPathsAreTakenLiterally) {
  const std::string cfg = write("w.yaml", kWorked);
  Cmd c = sh("run " + cfg + " --draws 0 -o " + path("z.h5"));
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_NE(c.out.find("--draws"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("--set"), std::string::npos) << c.out;
  // A path YAML would read as a comment or a map is still just a path.
  c = sh("run " + cfg + " -q --backend cpu -o '" + path("#odd: name.h5") + "'");
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_TRUE(fs::exists(path("#odd: name.h5")));
}

TEST_F(Cli, BadConfigNamesTheFieldAndLineAndWritesNothing) {
  const std::string cfg = write("bad.yaml", R"(draws: 100
parameters:
  a: 10
  b: {dist: normal, mean: 1, sd: -2}
  c: 2
  A1: 1
  A2: 2
  A2p: 1.5
)");
  const Cmd c = sh("run " + cfg + " -o " + path("bad.h5"));
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_NE(c.out.find("parameters.b"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("bad.yaml:4:"), std::string::npos) << c.out;
  EXPECT_FALSE(fs::exists(path("bad.h5")));
  EXPECT_EQ(sh("validate " + cfg).status, 2);
  EXPECT_EQ(sh("run " + path("missing.yaml")).status, 2);
}

TEST_F(Cli, ValidatePrintsAnEffectiveConfigThatValidatesAgain) {
  const std::string cfg = write("w.yaml", kWorked);
  const Cmd c = sh("validate " + cfg);
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("draws"), std::string::npos);
  const std::string again = write("again.yaml", c.out);
  const Cmd d = sh("validate " + again);
  EXPECT_EQ(d.status, 0) << d.out;
  EXPECT_EQ(c.out, d.out);
}

TEST_F(Cli, OutputPathProblemsExitThreeAndLeaveNothing) {
  const std::string cfg = write("w.yaml", kWorked);
  Cmd c = sh("run " + cfg + " -o " + path("no/such/dir/x.h5") + " -q");
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_NE(c.out.find("no/such/dir"), std::string::npos) << c.out;
  // Existing file: refused without --force, replaced with it.
  ASSERT_EQ(sh("run " + cfg + " -o " + path("x.h5") + " -q --backend cpu").status, 0);
  c = sh("run " + cfg + " -o " + path("x.h5") + " -q --backend cpu");
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_NE(c.out.find("--force"), std::string::npos) << c.out;
  EXPECT_EQ(sh("run " + cfg + " -o " + path("x.h5") + " -q --force --backend cpu").status, 0);
  EXPECT_EQ(count_files(), 2);  // w.yaml and x.h5: no temporaries left
}

TEST_F(Cli, InterruptStopsCleanlyWithExit130AndNoFile) {
  const std::string cfg = write("long.yaml", std::string(kWide) + "\n");
  const std::string out = path("long.h5");
  const pid_t pid = spawn(
      {"run", cfg, "-o", out, "--draws", "1000000000000", "--backend", "cpu", "-q"}, "/dev/null");
  ASSERT_GE(pid, 0);
  spillmc_test::sleep_s(1.5);
  kill(pid, SIGINT);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_exit(pid), 130);
  EXPECT_LT(spillmc_test::seconds_since(t0), 10.0);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(count_files(), 1);  // only the config
}

// checkpoint.path naming the config or the output (any spelling of it, or a
// hard link to it) is refused up front, exit 2; neither file is touched.
TEST_F(Cli, CheckpointPathThatIsTheConfigOrTheOutputIsRefused) {
  const std::string cfg = write("w.yaml", kWorked);
  const std::string out = path("o.h5");
  ASSERT_EQ(sh("run " + cfg + " -o " + out + " -q --backend cpu").status, 0);
  const std::string result = spillmc_test::slurp(out);
  fs::create_directory(path("sub"));
  fs::create_hard_link(cfg, path("cfg_link.yaml"));
  for (const std::string& ck :
       {cfg, path("sub/../w.yaml"), path("cfg_link.yaml"), out, path("./sub/../o.h5")}) {
    for (const std::string resume : {"", " --resume"}) {
      const Cmd c = sh("run " + cfg + " -o " + out + " -q --backend cpu --force" + resume +
                       " --set 'checkpoint={every: 600, path: \"" + ck + "\"}'");
      EXPECT_EQ(c.status, 2) << ck << resume << "\n" << c.out;
      EXPECT_CONTAINS(c.out, "checkpoint.path");
      EXPECT_EQ(spillmc_test::slurp(cfg), kWorked) << ck << resume;
      EXPECT_EQ(spillmc_test::slurp(out), result) << ck << resume;
    }
  }
  // --checkpoint-every with the default path (OUTPUT.ckpt) is fine.
  const Cmd ok =
      sh("run " + cfg + " -o " + out + " -q --backend cpu --force --checkpoint-every 600");
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_FALSE(fs::exists(out + ".ckpt"));
}

// A file at checkpoint.path that is not this run's checkpoint is neither
// replaced nor removed: with checkpoints on the run refuses it (exit 3, naming
// it, nothing written); with them off it is left alone.
TEST_F(Cli, AFileAtCheckpointPathThatIsNotThisRunsCheckpointIsKept) {
  const std::string cfg = write("w.yaml", kWorked);
  const std::string precious = write("precious.txt", "precious\n");
  const std::string out = path("o.h5");
  Cmd c = sh("run " + cfg + " -o " + out +
             " -q --backend cpu --set 'checkpoint={every: 600, path: " + precious + "}'");
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "checkpoint.path '" + precious + "'");
  EXPECT_CONTAINS(c.out, "not a checkpoint of this run");
  EXPECT_EQ(spillmc_test::slurp(precious), "precious\n");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(count_files(), 2);  // w.yaml and precious.txt: no temporaries, no lock
  // A SpillMC result file there is not a checkpoint either.
  ASSERT_EQ(sh("run " + cfg + " -o " + path("r.h5") + " -q --backend cpu").status, 0);
  const std::string r = spillmc_test::slurp(path("r.h5"));
  c = sh("run " + cfg + " -o " + out +
         " -q --backend cpu --checkpoint-every 600 --set "
         "checkpoint.path=" +
         path("r.h5"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_CONTAINS(c.out, "kind 'result'");
  EXPECT_EQ(spillmc_test::slurp(path("r.h5")), r);
  EXPECT_FALSE(fs::exists(out));
  // Checkpoints off: the file at the default checkpoint path (OUTPUT.ckpt) stays.
  const std::string ck = write("o.h5.ckpt", "not mine\n");
  c = sh("run " + cfg + " -o " + out + " -q --backend cpu");
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(spillmc_test::slurp(ck), "not mine\n");
  // ... also when --resume finds the complete result: only a checkpoint of this run goes.
  c = sh("run " + cfg + " -o " + out + " --backend cpu --resume");
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_CONTAINS(c.out, "already holds the complete result");
  EXPECT_EQ(spillmc_test::slurp(ck), "not mine\n");
  // A directory there is refused too.
  fs::create_directory(path("d.ckpt"));
  c = sh("run " + cfg + " -o " + path("o2.h5") +
         " -q --backend cpu --checkpoint-every 600 --set "
         "checkpoint.path=" +
         path("d.ckpt"));
  EXPECT_EQ(c.status, 3) << c.out;
  EXPECT_TRUE(fs::is_directory(path("d.ckpt")));
  EXPECT_FALSE(fs::exists(path("o2.h5")));
}

// The dedicated options never fall back silently: an empty value, or one that
// YAML reads as null (which would remove the key), is an error naming the option.
TEST_F(Cli, EmptyOrNullOptionValuesAreErrorsNamingTheOption) {
  const std::string cfg = write("w.yaml", kWorked);
  const std::string out = path("e.h5");
  for (const std::string opt :
       {"-o", "--draws", "--seed", "--threads", "--model", "--backend", "--checkpoint-every"}) {
    const Cmd c = sh("run " + cfg + " -q " + opt + " ''" + (opt == "-o" ? "" : " -o " + out));
    EXPECT_EQ(c.status, 2) << opt << "\n" << c.out;
    EXPECT_CONTAINS(c.out, opt + ": empty");
  }
  for (const auto& [opt, value] :
       std::vector<std::pair<std::string, std::string>>{{"--draws", "null"},
                                                        {"--seed", "~"},
                                                        {"--draws", "#10"},
                                                        {"--model", "null"},
                                                        {"--backend", "NULL"},
                                                        {"--threads", "---"},
                                                        {"--checkpoint-every", "' # 5'"},
                                                        {"--seed", "' '"}}) {
    const std::string v = value.front() == '\'' ? value : "'" + value + "'";
    const Cmd c = sh("run " + cfg + " -q -o " + out + " " + opt + " " + v);
    EXPECT_EQ(c.status, 2) << opt << " " << v << "\n" << c.out;
    EXPECT_CONTAINS(c.out, opt + ":");
  }
  EXPECT_EQ(count_files(), 1);  // only the config
  const Cmd m = sh("merge " + cfg + " -o ''");
  EXPECT_EQ(m.status, 2) << m.out;
  EXPECT_CONTAINS(m.out, "-o: empty");
  // Values YAML does not read as null are still values.
  const Cmd ok = sh("run " + cfg + " -q -o " + out + " --draws ' 500' --backend cpu");
  ASSERT_EQ(ok.status, 0) << ok.out;
  EXPECT_EQ(read_result(out).info.draws_requested, 500u);
}

// -o is never altered: control characters are escaped for YAML, not folded (a
// raw line break in a quoted scalar would become a space). The path is then
// either written exactly as given or refused (config validation refuses
// control characters in paths: exit 2, naming -o); never a different file.
TEST_F(Cli, OutputPathWithControlCharactersIsNeverAltered) {
  const std::string cfg = write("w.yaml", kWorked);
  int written = 0;
  for (const char* name : {"a\nb.h5", "c\td\r.h5", "e\x01\x7f\x1f.h5"}) {
    const pid_t pid =
        spawn({"run", cfg, "-o", path(name), "-q", "--backend", "cpu"}, path("log.txt"));
    ASSERT_GE(pid, 0);
    const int rc = wait_exit(pid);
    const std::string log = spillmc_test::slurp(path("log.txt"));
    if (rc == 0) {
      ASSERT_TRUE(fs::exists(path(name))) << name;
      EXPECT_EQ(read_result(path(name)).draws_valid, 1000u);
      ++written;
    } else {
      EXPECT_EQ(rc, 2) << log;
      EXPECT_CONTAINS(log, "-o");
      EXPECT_FALSE(fs::exists(path(name)));
    }
    fs::remove(path("log.txt"));
  }
  EXPECT_FALSE(fs::exists(path("a b.h5")));
  EXPECT_FALSE(fs::exists(path("c d .h5")));
  EXPECT_EQ(count_files(), 1 + written);  // the config and what was written as named
}

// inspect shows no numbers of a file whose checksum fails: the problem as
// verify words it, exit 3 (table and --json).
TEST_F(Cli, InspectRefusesACorruptFile) {
  const std::string cfg = write("w.yaml", kWorked);
  const std::string out = path("g.h5");
  ASSERT_EQ(sh("run " + cfg + " -o " + out + " -q --backend cpu --set histograms=false").status, 0);
  // Every q12 is 5.5: change the first stored 5.5 to 100 (data, not structure).
  std::string bytes = spillmc_test::slurp(out);
  const double from = 5.5, to = 100.0;
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&from), sizeof from));
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, sizeof to, std::string(reinterpret_cast<const char*>(&to), sizeof to));
  std::ofstream(path("c.h5"), std::ios::binary) << bytes;
  ASSERT_EQ(sh("verify " + path("c.h5")).status, 3);
  for (const std::string json : {"", "--json "}) {
    const Cmd c = sh("inspect " + json + path("c.h5"));
    EXPECT_EQ(c.status, 3) << json << c.out;
    EXPECT_CONTAINS(c.out, "FAIL: " + path("c.h5") + ": file checksum mismatch");
    EXPECT_CONTAINS(c.out, "corrupt");
    EXPECT_EQ(c.out.find("leader_loss_up"), std::string::npos) << c.out;
    EXPECT_EQ(c.out.find("\"summary\""), std::string::npos) << c.out;
  }
  // The intact file is shown as before.
  EXPECT_EQ(sh("inspect " + out).status, 0);
  EXPECT_EQ(sh("inspect --json " + out).status, 0);
}

// The CPU backend starts no more threads than a chunk has blocks: a thread
// count far beyond what the system can start works on a small chunk.
TEST(CpuBackend, StartsNoMoreThreadsThanTheChunkHasBlocks) {
  EXPECT_EXIT(
      {
        const DrawSpec spec = spillmc_test::wide_spec(3);
        auto backend = make_cpu_backend(1000000);
        std::vector<Tally> partials(2);
        backend->compute_blocks(spec, 2 * kBlockDraws, 0, 2, partials.data());
        std::exit(partials[0].draws == kBlockDraws && partials[1].draws == kBlockDraws ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

TEST_F(Cli, CudaBackendWithoutDeviceExitsFour) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const std::string cfg = write("w.yaml", kWorked);
  const Cmd c = sh("run " + cfg + " -o " + path("c.h5") + " --backend cuda -q");
  EXPECT_EQ(c.status, 4) << c.out;
  EXPECT_NE(c.out.find("CUDA"), std::string::npos) << c.out;
  EXPECT_FALSE(fs::exists(path("c.h5")));
  // auto falls back to the CPU and says so.
  const Cmd a = sh("run " + cfg + " -o " + path("a.h5"));
  EXPECT_EQ(a.status, 0) << a.out;
  EXPECT_NE(a.out.find("backend auto: cpu"), std::string::npos) << a.out;
}

// A device fault (the kernel traps in block 1 through the test hook) in the
// plain kernel and in the analysis kernel (default histograms): a message naming
// CUDA, exit 4, and neither an output file nor a temporary one.
TEST_F(Cli, CudaDeviceFaultExitsFourAndLeavesNothing) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const std::string cfg = write("w.yaml", kWide);
  for (const std::string extra : {" --set histograms=false", ""}) {
    const Cmd c = sh("run " + cfg + " -o " + path("f.h5") + " --backend cuda -q" + extra,
                     "SPILLMC_TEST_CUDA_FAULT_BLOCK=1");
    EXPECT_EQ(c.status, 4) << extra << ": " << c.out;
    EXPECT_NE(c.out.find("CUDA error"), std::string::npos) << c.out;
    EXPECT_FALSE(fs::exists(path("f.h5"))) << extra;
    EXPECT_EQ(count_files(), 1) << extra;  // only the config
  }
  // The hook is what failed: the same run without it succeeds.
  const Cmd ok = sh("run " + cfg + " -o " + path("f.h5") + " --backend cuda -q");
  EXPECT_EQ(ok.status, 0) << ok.out;
}

TEST(Repo, CiRunsTheReadmeTestCommand) {
  std::ifstream readme(std::string(SPILLMC_SOURCE_DIR) + "/README.md");
  std::stringstream rs;
  rs << readme.rdbuf();
  std::ifstream ci(std::string(SPILLMC_SOURCE_DIR) + "/.ci/run");
  std::stringstream cs;
  cs << ci.rdbuf();
  // The README's second command (in its first code block) is the test command.
  const std::string text = rs.str();
  const auto start = text.find("```");
  ASSERT_NE(start, std::string::npos);
  std::istringstream block(text.substr(text.find('\n', start) + 1));
  std::string first, second;
  std::getline(block, first);
  std::getline(block, second);
  ASSERT_NE(second.find("ctest"), std::string::npos) << second;
  EXPECT_NE(cs.str().find(second), std::string::npos) << ".ci/run does not run: " << second;
}

TEST(Repo, BundledConfigsWriteIntoDirectoriesThatExist) {
  // The README's first command runs configs/baseline.yaml on a fresh clone.
  int n = 0;
  for (const auto& e : fs::directory_iterator(std::string(SPILLMC_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".yaml") continue;
    const Cmd c = sh("validate " + e.path().string());
    ASSERT_EQ(c.status, 0) << e.path() << c.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(c.out, m, std::regex("path: \"?([^\"\\n]+)\"?"))) << c.out;
    const fs::path out = fs::path(SPILLMC_SOURCE_DIR) / m[1].str();
    EXPECT_TRUE(fs::is_directory(out.parent_path())) << e.path() << " writes into " << out;
    ++n;
  }
  EXPECT_GE(n, 3);
}
