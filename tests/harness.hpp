// What the end-to-end tests share: running the spillmc binary (in the
// foreground or in the background), a scratch directory, and comparing two
// result files bit for bit. SPILLMC_BINARY is defined by tests/CMakeLists.txt.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "spillmc/draw.hpp"
#include "spillmc/result.hpp"
#include "spillmc/shard.hpp"

#define EXPECT_CONTAINS(text, part)                                                                \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "missing '" << (part) << "' in:\n" \
                                                             << (text)

namespace spillmc_test {

namespace fs = std::filesystem;

// Inside a Slurm array job these would turn every run into a shard.
inline constexpr const char* kSlurmArrayVars[] = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
                                                  "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX",
                                                  "SLURM_ARRAY_TASK_STEP"};

// Wide ranges: invalid draws (b <= 0), undefined A2_crit (a - c + A1 <= 0)
// and several regimes all occur.
inline spillmc::DrawSpec wide_spec(std::uint64_t seed) {
  using spillmc::DistKind;
  spillmc::DrawSpec spec;
  spec.dist[spillmc::S_a] = {DistKind::uniform, 8.0, 12.0};
  spec.dist[spillmc::S_b] = {DistKind::uniform, -0.2, 2.0};
  spec.dist[spillmc::S_c] = {DistKind::uniform, 1.0, 3.0};
  spec.dist[spillmc::S_A1] = {DistKind::uniform, -14.0, 3.0};
  spec.dist[spillmc::S_A2] = {DistKind::uniform, 0.0, 4.0};
  spec.a2_is_gap = true;
  spec.dist[spillmc::S_A2p] = {DistKind::uniform, 0.0, 1.0};
  spec.a2p_is_theta = true;
  spec.seed = seed;
  return spec;
}

// Sparse valid draws at a large offset: b <= 0 in 999 draws of 1 000, a near
// 1e8 with spread 1, A2_crit near -1e8 and defined in about a third of the
// valid draws. A block's shifts (block_shift) then lie far into the block,
// A2_crit's often well after the others', and a backend that took a wrong
// shift would lose the variance to cancellation. Uniform and fixed only, so
// values are the same bits on every backend.
inline spillmc::DrawSpec sparse_offset_spec(std::uint64_t seed) {
  using spillmc::DistKind;
  spillmc::DrawSpec spec;
  spec.dist[spillmc::S_a] = {DistKind::uniform, 1e8, 1e8 + 1};
  spec.dist[spillmc::S_b] = {DistKind::uniform, -999.0, 1.0};
  spec.dist[spillmc::S_c] = {DistKind::fixed, 2.0};
  spec.dist[spillmc::S_A1] = {DistKind::uniform, -1e8 - 1, -1e8 + 3};
  spec.dist[spillmc::S_A2] = {DistKind::uniform, 0.0, 2.0};
  spec.dist[spillmc::S_A2p] = {DistKind::uniform, -1e8, -1e8 + 2};
  for (auto& d : spec.dist) d = spillmc::prepared(d);
  spec.seed = seed;
  return spec;
}

// A config's parameters whose draws hit invalid draws (b ~ N(0.6, 0.5)) and every regime.
inline constexpr const char* kWideParameters = R"(parameters:
  a: {dist: uniform, low: 2, high: 14}
  b: {dist: normal, mean: 0.6, sd: 0.5}
  c: {dist: uniform, low: 0, high: 6}
  A1: {dist: normal, mean: 0, sd: 3}
  A2_gap: {dist: normal, mean: 1, sd: 6}
  theta: {dist: uniform, low: 0, high: 1}
)";

struct Cmd {
  int status;       // exit code, -1 if killed
  std::string out;  // stdout and stderr together
};

// Runs a shell command line, stderr merged into stdout.
inline Cmd run_shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// Runs `spillmc ARGS` with `env` (VAR=value ...) in front and Slurm's array
// variables cleared unless `env` sets them.
inline Cmd sh(const std::string& args, const std::string& env = "") {
  std::string cmd = "env";
  for (const char* v : kSlurmArrayVars) cmd += std::string(" -u ") + v;
  return run_shell(cmd + " " + env + " " + SPILLMC_BINARY + " " + args);
}

// Starts `spillmc ARGS...` in the background with stdout and stderr going to
// `log` (appended to, or truncated first) and `env` set in the child only.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log,
                   const std::vector<std::pair<std::string, std::string>>& env = {},
                   bool append_log = false) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd =
      open(log.c_str(), O_WRONLY | O_CREAT | (append_log ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  for (const char* v : kSlurmArrayVars) unsetenv(v);
  for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
  std::vector<std::string> all = {SPILLMC_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

// Exit code of a spawned run, or -signal when it was killed.
inline int wait_exit(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::string tmpl = "/tmp/spillmc-" + tag + "-XXXXXX";
    dir_ = mkdtemp(tmpl.data());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (!keep_) fs::remove_all(dir_);
  }
  // Leaves the directory for a look after a failure.
  void keep() { keep_ = true; }
  const fs::path& dir() const { return dir_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
    return path(name);
  }
  // Entries in the directory, dot files (temporaries, locks) included.
  int count_files() const {
    int n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++n;
    return n;
  }

 private:
  fs::path dir_;
  bool keep_ = false;
};

inline bool same_bytes(const void* a, const void* b, std::size_t n) {
  return std::memcmp(a, b, n) == 0;
}

// One Tally as its exact bits: the flat /state record, doubles as integers.
inline std::vector<std::uint64_t> tally_bits(const spillmc::Tally& t) {
  std::vector<std::uint64_t> c(spillmc::kStateCountColumns);
  std::vector<double> m(spillmc::kNumFields * spillmc::kStateMomentColumns);
  spillmc::flatten_tally(t, c.data(), m.data());
  for (double d : m) {
    std::uint64_t v;
    std::memcpy(&v, &d, sizeof v);
    c.push_back(v);
  }
  return c;
}

// Every statistic of two result files, bit for bit (summary, events, regimes,
// invalid, undefined); with `with_state`, the config hash and /state too.
inline void expect_same_numbers(const spillmc::ResultFile& a, const spillmc::ResultFile& b,
                                bool with_state = true) {
  using namespace spillmc;
  EXPECT_EQ(a.draws_valid, b.draws_valid);
  EXPECT_EQ(a.draws_invalid, b.draws_invalid);
  for (int f = 0; f < kNumFields; ++f)
    EXPECT_TRUE(same_bytes(&a.summary[f], &b.summary[f], sizeof(SummaryStats))) << kFieldNames[f];
  for (int e = 0; e < kNumEvents; ++e)
    EXPECT_TRUE(same_bytes(&a.events[e], &b.events[e], sizeof(Proportion))) << kEventNames[e];
  EXPECT_TRUE(same_bytes(a.regime2, b.regime2, sizeof a.regime2));
  EXPECT_TRUE(same_bytes(a.regime_up, b.regime_up, sizeof a.regime_up));
  EXPECT_TRUE(same_bytes(a.invalid, b.invalid, sizeof a.invalid));
  EXPECT_EQ(a.a2crit_undefined, b.a2crit_undefined);
  // The analyses: quantiles and histograms, conditional groups, paths.
  ASSERT_EQ(a.quantiles.size(), b.quantiles.size());
  for (std::size_t i = 0; i < a.quantiles.size(); ++i) {
    const ResultFile::Quantiles &x = a.quantiles[i], &y = b.quantiles[i];
    SCOPED_TRACE(kFieldNames[x.field]);
    EXPECT_EQ(x.field, y.field);
    EXPECT_EQ(x.counts, y.counts);
    EXPECT_EQ(x.underflow, y.underflow);
    EXPECT_EQ(x.overflow, y.overflow);
    EXPECT_TRUE(x.values.size() == y.values.size() &&
                same_bytes(x.values.data(), y.values.data(), x.values.size() * sizeof(double)));
    EXPECT_TRUE(x.edges.size() == y.edges.size() &&
                same_bytes(x.edges.data(), y.edges.data(), x.edges.size() * sizeof(double)));
  }
  ASSERT_EQ(a.conditional.size(), b.conditional.size());
  for (std::size_t i = 0; i < a.conditional.size(); ++i) {
    SCOPED_TRACE(a.conditional[i].name);
    EXPECT_TRUE(same_bytes(a.conditional[i].summary, b.conditional[i].summary,
                           sizeof a.conditional[i].summary));
    EXPECT_TRUE(same_bytes(a.conditional[i].events, b.conditional[i].events,
                           sizeof a.conditional[i].events));
  }
  ASSERT_EQ(a.paths.size(), b.paths.size());
  for (std::size_t i = 0; i < a.paths.size(); ++i)
    EXPECT_TRUE(same_bytes(&a.paths[i].gain, &b.paths[i].gain, sizeof a.paths[i].gain))
        << a.paths[i].name;
  if (!with_state) return;
  EXPECT_EQ(a.state.hist, b.state.hist);
  EXPECT_EQ(a.state_extra, b.state_extra);
  EXPECT_EQ(a.info.config_hash, b.info.config_hash);
  EXPECT_EQ(a.state_checksum, b.state_checksum);
  EXPECT_EQ(a.state.segment_first, b.state.segment_first);
  EXPECT_EQ(a.state.segment_count_total, b.state.segment_count_total);
  ASSERT_EQ(a.state.segments.size(), b.state.segments.size());
  for (std::size_t j = 0; j < a.state.segments.size(); ++j)
    EXPECT_EQ(tally_bits(a.state.segments[j]), tally_bits(b.state.segments[j])) << "segment " << j;
}

}  // namespace spillmc_test
