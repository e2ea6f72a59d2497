// HDF5 result files (src/h5io.cpp) and their renderings for `spillmc inspect`
// (src/inspect.cpp): round trips, refusals, atomicity, and the layout checker
// tests/check_layout.py.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/result.hpp"
#include "spillmc/tally.hpp"

namespace fs = std::filesystem;
using namespace spillmc;

namespace {

const char* const kPython = "/usr/bin/python3";

RunInfo sample_info(std::uint64_t draws) {
  RunInfo info;
  info.program_version = "0.1.0-test";
  info.git_commit = "0123456789abcdef0123456789abcdef01234567-dirty";
  // Quotes, a backslash, a tab and non-ASCII text exercise string storage and JSON escaping.
  info.config_yaml = "draws: 10\nseed: 18446744073709551615\nnote: \"caf\xc3\xa9 \\ \t\"\n";
  info.seed = 18446744073709551615ull;  // full uint64 range
  info.draws_requested = draws;
  info.block_draws = kBlockDraws;
  info.config_hash = "fnv1a64:0123456789abcdef";  // not that of config_yaml: layout tests only
  info.model = "constrained";
  info.backend = "cpu";
  info.device = "CPU, 2 threads";
  info.created = "2026-11-22T14:03:05Z";
  info.wall_seconds = 0.25;
  return info;
}

// 10 draws, 7 valid. A2_crit is undefined in every valid draw, so its
// statistics are all NaN.
Tally hand_tally() {
  Tally t;
  t.draws = 10;
  t.valid = 7;
  t.invalid[I_nonfinite_parameter] = 1;
  t.invalid[I_b_nonpositive] = 2;
  t.invalid[I_nonfinite_output] = 0;
  t.a2crit_undefined = 7;
  const std::uint64_t events[kNumEvents] = {7, 0, 3, 5, 4};
  const std::uint64_t r2[kNumRegimes] = {3, 1, 2, 0, 1};
  const std::uint64_t up[kNumRegimes] = {5, 0, 2, 0, 0};
  for (int e = 0; e < kNumEvents; ++e) t.events[e] = events[e];
  for (int r = 0; r < kNumRegimes; ++r) t.regime2[r] = r2[r], t.regime_up[r] = up[r];
  for (int f = 0; f < kNumFields; ++f) {
    if (f == F_A2_crit) continue;  // n = 0
    Moments& m = t.field[f];
    m.n = 7;
    m.mean = f + 0.5;
    m.m2 = 1.5 * (f + 1);
    m.min = f - 1.0;
    m.max = f + 2.0;
  }
  return t;
}

// One valid draw: std and sem are undefined (NaN), everything else is set.
Tally single_draw_tally() {
  Tally t;
  t.draws = 1;
  t.valid = 1;
  t.events[E_leader_gains] = 1;
  t.regime2[R_both_active] = 1;
  t.regime_up[R_limit_output] = 1;
  for (int f = 0; f < kNumFields; ++f) {
    t.field[f].n = 1;
    t.field[f].mean = t.field[f].min = t.field[f].max = -2.5 * f;
  }
  return t;
}

// No valid draw at all: every statistic and probability is NaN.
Tally all_invalid_tally() {
  Tally t;
  t.draws = 3;
  t.invalid[I_b_nonpositive] = 2;
  t.invalid[I_nonfinite_parameter] = 1;
  return t;
}

// A real block: b can be <= 0 (invalid draws) and d + A1 can be <= 0
// (A2_crit undefined), so every part of the layout holds something.
Tally accumulated_tally(std::uint64_t draws) {
  const DrawSpec spec = spillmc_test::wide_spec(7);
  return accumulate_block(spec, draws, 0);
}

// One segment holding the whole tally.
Result make_result(const Tally& t) {
  Result r{sample_info(t.draws), t};
  r.state.segment_count_total = 1;
  r.state.segments = {t};
  return r;
}

// NaN compares equal to NaN here: "undefined" must survive the round trip.
void expect_same(double want, double got, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": " << got;
  } else {
    EXPECT_EQ(want, got) << what;
  }
}

void expect_matches(const Result& w, const ResultFile& r) {
  const Tally& t = w.tally;
  EXPECT_EQ(r.format, kFormatName);
  EXPECT_EQ(r.format_version, kFormatVersion);
  EXPECT_EQ(r.info.program_version, w.info.program_version);
  EXPECT_EQ(r.info.git_commit, w.info.git_commit);
  EXPECT_EQ(r.info.config_yaml, w.info.config_yaml);
  EXPECT_EQ(r.info.seed, w.info.seed);
  EXPECT_EQ(r.info.draws_requested, w.info.draws_requested);
  EXPECT_EQ(r.info.block_draws, w.info.block_draws);
  EXPECT_EQ(r.info.model, w.info.model);
  EXPECT_EQ(r.info.backend, w.info.backend);
  EXPECT_EQ(r.info.device, w.info.device);
  EXPECT_EQ(r.info.created, w.info.created);
  EXPECT_EQ(r.info.wall_seconds, w.info.wall_seconds);
  EXPECT_EQ(r.draws_valid, t.valid);
  EXPECT_EQ(r.draws_invalid, t.draws - t.valid);
  for (int f = 0; f < kNumFields; ++f) {
    const SummaryStats s = summarize(t.field[f]);
    const std::string n = kFieldNames[f];
    EXPECT_EQ(r.summary[f].count, s.count) << n;
    expect_same(s.mean, r.summary[f].mean, n + "/mean");
    expect_same(s.std, r.summary[f].std, n + "/std");
    expect_same(s.sem, r.summary[f].sem, n + "/sem");
    expect_same(s.min, r.summary[f].min, n + "/min");
    expect_same(s.max, r.summary[f].max, n + "/max");
  }
  EXPECT_EQ(r.a2crit_undefined, t.a2crit_undefined);
  for (int e = 0; e < kNumEvents; ++e) {
    const Proportion p = wilson95(t.events[e], t.valid);
    const std::string n = kEventNames[e];
    EXPECT_EQ(r.events[e].count, p.count) << n;
    EXPECT_EQ(r.events[e].total, t.valid) << n;
    expect_same(p.probability, r.events[e].probability, n + "/probability");
    expect_same(p.ci95_low, r.events[e].ci95_low, n + "/ci95_low");
    expect_same(p.ci95_high, r.events[e].ci95_high, n + "/ci95_high");
  }
  for (int g = 0; g < kNumRegimes; ++g) {
    EXPECT_EQ(r.regime2[g], static_cast<std::int64_t>(t.regime2[g])) << g;
    EXPECT_EQ(r.regime_up[g], static_cast<std::int64_t>(t.regime_up[g])) << g;
  }
  for (int i = 0; i < kNumInvalid; ++i) EXPECT_EQ(r.invalid[i], t.invalid[i]) << kInvalidNames[i];
}

int exit_status(int system_result) {
  return system_result != -1 && WIFEXITED(system_result) ? WEXITSTATUS(system_result) : -1;
}

bool have_python() {
  return ::access(kPython, X_OK) == 0;
}

bool have_h5py() {
  static const bool ok =
      have_python() &&
      exit_status(std::system(
          (std::string(kPython) + " -c 'import h5py, numpy' >/dev/null 2>&1").c_str())) == 0;
  return ok;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs tests/check_layout.py; returns its exit status and fills `output`.
int run_check_layout(const fs::path& file, std::string* output) {
  const fs::path log = file.string() + ".check.log";
  const std::string cmd = std::string(kPython) + " " +
                          shell_quote(std::string(SPILLMC_SOURCE_DIR) + "/tests/check_layout.py") +
                          " " + shell_quote(file.string()) + " >" + shell_quote(log.string()) +
                          " 2>&1";
  const int status = exit_status(std::system(cmd.c_str()));
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  *output = ss.str();
  fs::remove(log);
  return status;
}

// Patches attributes of a written file with the plain C API, as a foreign
// tool or a future version of this program would.
class RawFile {
 public:
  explicit RawFile(const fs::path& p) : id_(H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) {}
  ~RawFile() {
    if (id_ >= 0) H5Fclose(id_);
  }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;
  hid_t id() const { return id_; }

  void set_int(const char* name, int value) {
    const hid_t a = H5Aopen(id_, name, H5P_DEFAULT);
    ASSERT_GE(a, 0);
    EXPECT_GE(H5Awrite(a, H5T_NATIVE_INT, &value), 0);
    H5Aclose(a);
  }
  void set_u64(const char* name, std::uint64_t value) {
    const hid_t a = H5Aopen(id_, name, H5P_DEFAULT);
    ASSERT_GE(a, 0);
    EXPECT_GE(H5Awrite(a, H5T_NATIVE_UINT64, &value), 0);
    H5Aclose(a);
  }
  // Replaces a string attribute by a fixed-length one (what some tools write).
  void set_fixed_string(const char* name, const std::string& value) {
    ASSERT_GE(H5Adelete(id_, name), 0);
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, value.size() + 1);
    const hid_t s = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(id_, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(a, 0);
    EXPECT_GE(H5Awrite(a, t, value.c_str()), 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
  }

 private:
  hid_t id_;
};

class H5io : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "spillmc_h5io_XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr) << std::strerror(errno);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  // Everything in the directory (hidden temporary files included).
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
    return names;
  }

  fs::path dir_;
};

template <class F>
std::string output_error_message(F&& f) {
  try {
    f();
  } catch (const OutputError& e) {
    EXPECT_EQ(e.exit_code(), kExitOutput);
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected OutputError, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected OutputError, nothing thrown";
  return {};
}

// ---------------------------------------------------------------------------
// Round trips.

TEST_F(H5io, RoundTripHandBuiltTally) {
  const Result w = make_result(hand_tally());
  const fs::path p = dir_ / "hand.h5";
  write_result(p.string(), w, false);
  const ResultFile r = read_result(p.string());
  EXPECT_EQ(r.path, p.string());
  expect_matches(w, r);
  // The A2_crit statistics really are NaN (no draw defined it).
  EXPECT_EQ(r.summary[F_A2_crit].count, 0u);
  EXPECT_TRUE(std::isnan(r.summary[F_A2_crit].mean));
  EXPECT_EQ(entries(), std::set<std::string>{"hand.h5"});
}

TEST_F(H5io, RoundTripAccumulatedBlock) {
  const Tally t = accumulated_tally(3000);
  ASSERT_EQ(t.draws, 3000u);
  ASSERT_GT(t.invalid[I_b_nonpositive], 0u);
  ASSERT_GT(t.a2crit_undefined, 0u);
  ASSERT_GT(t.field[F_A2_crit].n, 1u);
  const Result w = make_result(t);
  const fs::path p = dir_ / "block.h5";
  write_result(p.string(), w, false);
  expect_matches(w, read_result(p.string()));
}

TEST_F(H5io, RoundTripSingleAndNoValidDraws) {
  for (const Tally& t : {single_draw_tally(), all_invalid_tally()}) {
    const Result w = make_result(t);
    const fs::path p = dir_ / "edge.h5";
    write_result(p.string(), w, true);
    expect_matches(w, read_result(p.string()));
  }
}

namespace {
// The draws_per_second attribute of the file `w` gives, -1 if unreadable.
double written_rate(const fs::path& p, const Result& w) {
  write_result(p.string(), w, false);
  RawFile f(p);
  double rate = -1;
  const hid_t a = H5Aopen(f.id(), "draws_per_second", H5P_DEFAULT);
  if (a < 0 || H5Aread(a, H5T_NATIVE_DOUBLE, &rate) < 0) rate = -1;
  if (a >= 0) H5Aclose(a);
  return rate;
}
}  // namespace

TEST_F(H5io, ZeroWallTimeGivesZeroRate) {
  Result w = make_result(hand_tally());
  w.info.wall_seconds = 0.0;
  EXPECT_EQ(written_rate(dir_ / "fast.h5", w), 0.0);
}

// A shard covers only its share of draws_requested: its rate is that share
// over its own time, not the whole run's draws.
TEST_F(H5io, RateCountsTheDrawsTheFileCovers) {
  Result w = make_result(hand_tally());  // 10 draws
  w.info.draws_requested = 1000;
  w.info.wall_seconds = 4.0;
  EXPECT_EQ(written_rate(dir_ / "share.h5", w), 2.5);
}

// /state's columns follow kFieldNames, so the order docs/output.md gives is
// what readers decode by.
TEST(H5ioDocs, OutputMdListsTheFieldsInKFieldNamesOrder) {
  std::ifstream in(std::string(SPILLMC_SOURCE_DIR) + "/docs/output.md");
  ASSERT_TRUE(in) << "docs/output.md";
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const std::string intro = "in the order of `kFieldNames`:\n`";
  const std::size_t at = doc.find(intro);
  ASSERT_NE(at, std::string::npos) << "no field list after '" << intro << "'";
  const std::size_t begin = at + intro.size(), end = doc.find('`', begin);
  std::istringstream words(doc.substr(begin, end - begin));
  std::vector<std::string> listed;
  for (std::string w; words >> w;) listed.push_back(w);
  const std::vector<std::string> names(kFieldNames, kFieldNames + kNumFields);
  EXPECT_EQ(listed, names);
}

TEST_F(H5io, AttributesHaveDocumentedTypes) {
  Result w = make_result(hand_tally());
  w.info.created.clear();  // the writer fills in the current time
  const fs::path p = dir_ / "types.h5";
  write_result(p.string(), w, false);
  RawFile f(p);
  ASSERT_GE(f.id(), 0);
  for (const char* name : {"format", "program_version", "git_commit", "config", "model", "backend",
                           "device", "created"}) {
    const hid_t a = H5Aopen(f.id(), name, H5P_DEFAULT);
    ASSERT_GE(a, 0) << name;
    const hid_t t = H5Aget_type(a);
    EXPECT_EQ(H5Tget_class(t), H5T_STRING) << name;
    EXPECT_GT(H5Tis_variable_str(t), 0) << name;
    EXPECT_EQ(H5Tget_cset(t), H5T_CSET_UTF8) << name;
    H5Tclose(t);
    H5Aclose(a);
  }
  for (const char* name :
       {"seed", "draws_requested", "draws_valid", "draws_invalid", "block_draws"}) {
    const hid_t a = H5Aopen(f.id(), name, H5P_DEFAULT);
    ASSERT_GE(a, 0) << name;
    const hid_t t = H5Aget_type(a);
    EXPECT_GT(H5Tequal(t, H5T_STD_U64LE), 0) << name;
    H5Tclose(t);
    H5Aclose(a);
  }
  const hid_t a = H5Aopen(f.id(), "draws_per_second", H5P_DEFAULT);
  double rate = 0;
  ASSERT_GE(H5Aread(a, H5T_NATIVE_DOUBLE, &rate), 0);
  H5Aclose(a);
  EXPECT_DOUBLE_EQ(rate, 10 / 0.25);

  const ResultFile r = read_result(p.string());
  ASSERT_EQ(r.info.created.size(), 20u) << r.info.created;  // 2026-11-22T14:03:05Z
  EXPECT_EQ(r.info.created[10], 'T');
  EXPECT_EQ(r.info.created.back(), 'Z');
}

TEST_F(H5io, NewFileModeFollowsUmask) {
  const mode_t old = ::umask(022);
  const fs::path p = dir_ / "mode.h5";
  write_result(p.string(), make_result(hand_tally()), false);
  ::umask(old);
  struct stat st;
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(H5io, RelativePathWithoutDirectory) {
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  EXPECT_NO_THROW(check_output_path("plain.h5", false));
  EXPECT_NO_THROW(write_result("plain.h5", make_result(hand_tally()), false));
  EXPECT_NO_THROW(read_result("plain.h5"));
  fs::current_path(cwd);
  EXPECT_EQ(entries(), std::set<std::string>{"plain.h5"});
}

// ---------------------------------------------------------------------------
// Refusals and atomicity.

TEST_F(H5io, RefusesOverwriteWithoutForce) {
  const fs::path p = dir_ / "x.h5";
  Result w = make_result(hand_tally());
  w.info.seed = 1;
  write_result(p.string(), w, false);

  w.info.seed = 2;
  const std::string msg = output_error_message([&] { write_result(p.string(), w, false); });
  EXPECT_EQ(msg, "'" + p.string() + "' exists; use --force to overwrite");
  EXPECT_EQ(read_result(p.string()).info.seed, 1u);
  EXPECT_EQ(output_error_message([&] { check_output_path(p.string(), false); }), msg);
  EXPECT_EQ(entries(), std::set<std::string>{"x.h5"});

  EXPECT_NO_THROW(check_output_path(p.string(), true));
  write_result(p.string(), w, true);
  EXPECT_EQ(read_result(p.string()).info.seed, 2u);
  EXPECT_EQ(entries(), std::set<std::string>{"x.h5"});
}

TEST_F(H5io, MissingDirectory) {
  const std::string p = (dir_ / "no_such_dir" / "x.h5").string();
  const std::string want = "cannot write '" + p + "': No such file or directory";
  EXPECT_EQ(output_error_message([&] { check_output_path(p, false); }), want);
  EXPECT_EQ(output_error_message([&] { write_result(p, make_result(hand_tally()), false); }), want);
  EXPECT_TRUE(entries().empty());
}

TEST_F(H5io, ParentIsAFile) {
  std::ofstream(dir_ / "plain").put('x');
  const std::string p = (dir_ / "plain" / "x.h5").string();
  EXPECT_CONTAINS(output_error_message([&] { check_output_path(p, true); }),
                  "cannot write '" + p + "': Not a directory");
  EXPECT_EQ(entries(), std::set<std::string>{"plain"});
}

TEST_F(H5io, BadPathsAreRefused) {
  EXPECT_EQ(output_error_message([] { check_output_path("", true); }), "output path is empty");
  EXPECT_EQ(output_error_message([] { write_result("", Result{}, true); }), "output path is empty");

  // An existing directory, with or without a trailing slash, even with --force.
  const std::string d = dir_.string();
  EXPECT_EQ(output_error_message([&] { check_output_path(d, true); }),
            "cannot write '" + d + "': Is a directory");
  EXPECT_EQ(output_error_message([&] { write_result(d, make_result(hand_tally()), true); }),
            "cannot write '" + d + "': Is a directory");
  EXPECT_CONTAINS(output_error_message([&] { check_output_path(d + "/", true); }),
                  "names a directory");

  // A device is never replaced, whatever --force says (as root rename() would do it).
  EXPECT_CONTAINS(output_error_message([] { check_output_path("/dev/null", true); }),
                  "not a regular file");
  EXPECT_TRUE(entries().empty());
}

TEST_F(H5io, ReadOnlyDirectory) {
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  // Root (CAP_DAC_OVERRIDE) writes into a read-only directory anyway.
  const fs::path canary = dir_ / "canary";
  const int fd = ::open(canary.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd >= 0) {
    ::close(fd);
    ::unlink(canary.c_str());
    GTEST_SKIP() << "directory permissions do not stop this user (root?)";
  }
  const std::string p = (dir_ / "x.h5").string();
  const std::string want = "cannot write '" + p + "': Permission denied";
  EXPECT_EQ(output_error_message([&] { check_output_path(p, false); }), want);
  EXPECT_EQ(output_error_message([&] { write_result(p, make_result(hand_tally()), false); }), want);
  EXPECT_TRUE(entries().empty());
}

// Restores a resource limit and a signal disposition when the test ends.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);  // make write() fail with EFBIG instead
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit lim = old_;
    lim.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &lim) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
  bool ok_ = false;
};

// A write that fails half-way (here: the file size limit, as a full disk
// would) leaves neither the temporary file nor a target behind, and says why.
TEST_F(H5io, FailureWhileWritingLeavesNothing) {
  const std::string p = (dir_ / "big.h5").string();
  std::string msg;
  {
    FileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    msg = output_error_message([&] { write_result(p, make_result(hand_tally()), false); });
  }
  EXPECT_EQ(msg, "cannot write '" + p + "': File too large");
  EXPECT_TRUE(entries().empty());
  // The next attempt (limit gone) works and is complete.
  write_result(p, make_result(hand_tally()), false);
  expect_matches(make_result(hand_tally()), read_result(p));
  EXPECT_EQ(entries(), std::set<std::string>{"big.h5"});
}

TEST_F(H5io, CheckOutputPathLeavesNoProbe) {
  const std::string p = (dir_ / "later.h5").string();
  EXPECT_NO_THROW(check_output_path(p, false));
  EXPECT_NO_THROW(check_output_path(p, true));
  // Only the output lock, held until write_result renames the file into place.
  EXPECT_EQ(entries(), (std::set<std::string>{".later.h5.lock"}));
}

// A stale temporary file (a crashed run with the same pid) does not block a run.
// (Taking the lock removes stale ones; this one appears after, so it is stepped over.)
TEST_F(H5io, StaleTemporaryFileIsSteppedOver) {
  const fs::path stale = dir_ / (".x.h5.tmp." + std::to_string(::getpid()));
  const std::string p = (dir_ / "x.h5").string();
  EXPECT_NO_THROW(check_output_path(p, false));
  std::ofstream(stale).put('x');
  write_result(p, make_result(hand_tally()), false);
  EXPECT_EQ(entries(), (std::set<std::string>{"x.h5", stale.filename().string()}));
}

// ---------------------------------------------------------------------------
// read_result refusals.

TEST_F(H5io, ReadRejectsMissingDirectoryAndEmpty) {
  const std::string p = (dir_ / "absent.h5").string();
  EXPECT_EQ(output_error_message([&] { read_result(p); }),
            "cannot read '" + p + "': No such file or directory");
  EXPECT_EQ(output_error_message([&] { read_result(dir_.string()); }),
            "cannot read '" + dir_.string() + "': Is a directory");
  EXPECT_EQ(output_error_message([] { read_result(""); }), "result file path is empty");
}

TEST_F(H5io, ReadRejectsNonHdf5File) {
  const fs::path p = dir_ / "notes.h5";
  std::ofstream(p) << "draws: 10\n";
  EXPECT_EQ(output_error_message([&] { read_result(p.string()); }),
            "'" + p.string() + "' is not an HDF5 file");
  const fs::path empty = dir_ / "empty.h5";
  std::ofstream{empty};
  EXPECT_EQ(output_error_message([&] { read_result(empty.string()); }),
            "'" + empty.string() + "' is not an HDF5 file");
}

TEST_F(H5io, ReadRejectsOtherFormatVersion) {
  const fs::path p = dir_ / "v1.h5";
  write_result(p.string(), make_result(hand_tally()), false);
  RawFile(p).set_int("format_version", 1);  // the layout before /state
  EXPECT_EQ(output_error_message([&] { read_result(p.string()); }),
            "'" + p.string() + "' has format_version 1; this program reads format_version 3");
}

TEST_F(H5io, ReadRejectsOtherFormatName) {
  const fs::path p = dir_ / "other.h5";
  write_result(p.string(), make_result(hand_tally()), false);
  // Fixed-length this time: the reader must understand both string kinds.
  RawFile(p).set_fixed_string("format", "other-format");
  EXPECT_CONTAINS(output_error_message([&] { read_result(p.string()); }),
                  "is not a SpillMC result file (format is 'other-format'");

  // A plain HDF5 file from another program.
  const fs::path foreign = dir_ / "foreign.h5";
  H5Fclose(H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  EXPECT_EQ(output_error_message([&] { read_result(foreign.string()); }),
            "'" + foreign.string() + "' is not a SpillMC result file (no 'format' attribute)");
}

TEST_F(H5io, ReadNamesMissingDatasetQuietly) {
  const fs::path p = dir_ / "cut.h5";
  write_result(p.string(), make_result(hand_tally()), false);
  {
    RawFile f(p);
    ASSERT_GE(H5Ldelete(f.id(), "summary/pi12/mean", H5P_DEFAULT), 0);
  }
  testing::internal::CaptureStderr();
  const std::string msg = output_error_message([&] { read_result(p.string()); });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_CONTAINS(msg, "cannot read '" + p.string() + "': dataset 'summary/pi12/mean'");
  EXPECT_EQ(err, "") << "HDF5 printed its own error stack";
}

TEST_F(H5io, FixedLengthStringsAreReadToo) {
  const fs::path p = dir_ / "fixed.h5";
  write_result(p.string(), make_result(hand_tally()), false);
  RawFile(p).set_fixed_string("device", "Some GPU");
  EXPECT_EQ(read_result(p.string()).info.device, "Some GPU");
}

// ---------------------------------------------------------------------------
// Renderings.

TEST_F(H5io, TableMentionsEverything) {
  const fs::path p = dir_ / "t.h5";
  write_result(p.string(), make_result(accumulated_tally(2000)), false);
  const std::string table = format_table(read_result(p.string()));
  EXPECT_CONTAINS(table, p.string());
  for (const char* s : {"0.1.0-test", "0123456789abcdef", "2026-11-22T14:03:05Z", "constrained",
                        "cpu / CPU, 2 threads", "18446744073709551615", "2000", "draws/s",
                        "A2_crit undefined", "ci95_low", "Config"})
    EXPECT_CONTAINS(table, s);
  for (const char* n : kFieldNames) EXPECT_CONTAINS(table, std::string("\n  ") + n + " ");
  for (const char* n : kEventNames) EXPECT_CONTAINS(table, n);
  for (const char* n : kRegimeLabels) EXPECT_CONTAINS(table, n);
  for (const char* n : kInvalidNames) EXPECT_CONTAINS(table, n);
}

TEST_F(H5io, TableShowsUndefinedAsNa) {
  const fs::path p = dir_ / "t.h5";
  write_result(p.string(), make_result(all_invalid_tally()), false);
  const std::string table = format_table(read_result(p.string()));
  EXPECT_CONTAINS(table, "n/a");
  EXPECT_EQ(table.find("nan"), std::string::npos) << table;
}

TEST_F(H5io, JsonHasNoNanAndParses) {
  const fs::path p = dir_ / "j.h5";
  write_result(p.string(), make_result(hand_tally()), false);
  const std::string json = format_json(read_result(p.string()));
  EXPECT_EQ(json.find("nan"), std::string::npos);
  EXPECT_CONTAINS(json, "\"A2_crit\": {\"count\": 0, \"mean\": null");
  EXPECT_CONTAINS(json, "\"seed\": 18446744073709551615");
  if (!have_python()) GTEST_SKIP() << kPython << " not found; JSON not parsed";

  const fs::path jf = dir_ / "j.json";
  std::ofstream(jf) << json;
  // Strict parse (no NaN/Infinity tokens), then compare values from the file.
  const std::string script =
      "import json, sys\n"
      "def bad(tok): raise ValueError('non-standard token ' + tok)\n"
      "d = json.load(open(sys.argv[1], encoding='utf-8'), parse_constant=bad)\n"
      "a = d['attributes']\n"
      "assert set(d) == {'file', 'attributes', 'summary', 'events', 'regimes', 'invalid', "
      "'undefined'}, sorted(d)\n"
      "assert a['format'] == 'spillmc-result' and a['format_version'] == 3\n"
      "assert a['seed'] == 18446744073709551615\n"
      "assert a['config'] == 'draws: 10\\nseed: 18446744073709551615\\nnote: \"caf\\u00e9 \\\\ "
      "\\t\"\\n', repr(a['config'])\n"
      "assert a['draws_valid'] == 7 and a['draws_invalid'] == 3\n"
      "assert a['draws_per_second'] == 40.0\n"
      "assert d['summary']['A2_crit']['mean'] is None\n"
      "assert d['summary']['b']['count'] == 7\n"
      "assert d['summary']['b']['mean'] == 1.5\n"
      "assert d['undefined'] == {'A2_crit': 7}\n"
      "assert d['events']['leader_gains']['probability'] == 1.0\n"
      "assert d['regimes']['stage2']['labels'][4] == 'nobody_produces'\n"
      "assert d['regimes']['stage2']['counts'] == [3, 1, 2, 0, 1]\n"
      "assert d['invalid'] == {'nonfinite_parameter': 1, 'b_nonpositive': 2, "
      "'nonfinite_output': 0}\n"
      "assert len(d['summary']) == " +
      std::to_string(kNumFields) + "\n";
  const fs::path sf = dir_ / "check.py";
  std::ofstream(sf) << script;
  const std::string cmd =
      std::string(kPython) + " " + shell_quote(sf.string()) + " " + shell_quote(jf.string());
  EXPECT_EQ(exit_status(std::system(cmd.c_str())), 0) << json;
}

TEST_F(H5io, JsonEscapesAwkwardStrings) {
  ResultFile r{};
  r.path = "dir/\"odd\"\\name.h5";
  r.format = kFormatName;
  r.format_version = 1;
  r.info.device = "ctl\x01\x1f bad\xff utf8 \xe2\x82\xac";
  r.info.config_yaml = "a: 1\r\nb: 2\n";
  const std::string json = format_json(r);
  EXPECT_CONTAINS(json, "\"file\": \"dir/\\\"odd\\\"\\\\name.h5\"");
  EXPECT_CONTAINS(json, "\"device\": \"ctl\\u0001\\u001f bad\\ufffd utf8 \xe2\x82\xac\"");
  EXPECT_CONTAINS(json, "\"config\": \"a: 1\\r\\nb: 2\\n\"");
  if (!have_python()) GTEST_SKIP() << kPython << " not found; JSON not parsed";
  const fs::path jf = dir_ / "odd.json";
  std::ofstream(jf) << json;
  const std::string cmd =
      std::string(kPython) +
      " -c 'import json, sys; d = json.load(open(sys.argv[1], encoding=\"utf-8\")); "
      "assert d[\"attributes\"][\"device\"] == \"ctl\\x01\\x1f bad\\ufffd utf8 \\u20ac\"' " +
      shell_quote(jf.string());
  EXPECT_EQ(exit_status(std::system(cmd.c_str())), 0) << json;
}

// ---------------------------------------------------------------------------
// tests/check_layout.py against files this writer produced (and one it did not).

TEST_F(H5io, CheckLayoutScriptAcceptsWrittenFiles) {
  if (!have_h5py()) GTEST_SKIP() << kPython << " with h5py and numpy not available";
  const std::pair<const char*, Tally> cases[] = {{"hand.h5", hand_tally()},
                                                 {"block.h5", accumulated_tally(5000)},
                                                 {"single.h5", single_draw_tally()},
                                                 {"invalid.h5", all_invalid_tally()}};
  for (const auto& [name, tally] : cases) {
    const fs::path p = dir_ / name;
    Result r = make_result(tally);
    r.info.config_yaml += "histograms: false\n";  // none written here (tests/layout_of_outputs.sh)
    write_result(p.string(), r, false);
    std::string out;
    EXPECT_EQ(run_check_layout(p, &out), 0) << name << ":\n" << out;
  }
}

TEST_F(H5io, CheckLayoutScriptRejectsInconsistentFile) {
  if (!have_h5py()) GTEST_SKIP() << kPython << " with h5py and numpy not available";
  const fs::path p = dir_ / "bad.h5";
  write_result(p.string(), make_result(hand_tally()), false);
  RawFile(p).set_u64("draws_valid", 8);
  std::string out;
  EXPECT_EQ(run_check_layout(p, &out), 1) << out;
  EXPECT_CONTAINS(out, "draws_requested");
  EXPECT_CONTAINS(out, "/regimes/stage2: counts sum to 7, expected draws_valid 8");
}

}  // namespace
