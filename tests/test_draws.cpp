// Per-draw output (output.draws): DrawFile round trips read back with the
// HDF5 C API (every value, chunking, filters), the first/every selection
// against brute force, failures that leave nothing behind, and the on-disk
// file checksum against a whole-file hash computed here.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"
#include "spillmc/analysis.hpp"
#include "spillmc/backend.hpp"
#include "spillmc/config.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/draw_batch.hpp"
#include "spillmc/draw_writer.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/result.hpp"
#include "spillmc/run.hpp"
#include "spillmc/shard.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {
namespace {

using spillmc_test::TempDir;
using spillmc_test::wide_spec;

std::vector<int> all_fields() {
  std::vector<int> f;
  for (int i = 0; i < kNumFields; ++i) f.push_back(i);
  return f;
}

DrawsOutputConfig draws_cfg(DrawSelect sel, std::uint64_t n, std::vector<int> fields,
                            bool compress) {
  DrawsOutputConfig c;
  c.select = sel;
  c.n = n;
  c.fields = std::move(fields);
  c.compress = compress;
  return c;
}

// What draw i should hold in the synthetic round trip: values that would show
// a shifted, swapped or truncated column.
struct Synthetic {
  static int status(std::uint64_t i) { return i % 7 == 3 ? static_cast<int>(i % 3) : -1; }
  static double value(std::uint64_t i, std::size_t k) {
    if (i % 11 == 5 && k % 2 == 1) return NAN;
    return static_cast<double>(i) * 1.5 + static_cast<double>(k) * 1e-3 - 1e6;
  }
};

// A result to put beside /draws: a real tally of `draws` draws.
Result make_result(std::uint64_t draws) {
  const Tally t = accumulate_block(wide_spec(11), draws, 0);
  Result r;
  r.info.program_version = "0.1.0-test";
  r.info.git_commit = "test";
  r.info.config_yaml = "draws: 1\n";
  r.info.seed = 11;
  r.info.draws_requested = draws;
  r.info.config_hash = "fnv1a64:0123456789abcdef";
  r.info.model = "constrained";
  r.info.backend = "cpu";
  r.info.device = "CPU";
  r.info.created = "2026-11-22T14:03:05Z";
  r.tally = t;
  r.state.segment_count_total = 1;
  r.state.segments = {t};
  return r;
}

// Reads a whole 1-D dataset of `file` with the C API (converted to mem_type).
template <class T>
std::vector<T> read_column(hid_t file, const std::string& name, hid_t mem_type, H5T_class_t cls,
                           std::size_t size) {
  const hid_t d = H5Dopen2(file, ("draws/" + name).c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0) << name;
  if (d < 0) return {};
  const hid_t t = H5Dget_type(d);
  EXPECT_EQ(H5Tget_class(t), cls) << name;
  EXPECT_EQ(H5Tget_size(t), size) << name;
  H5Tclose(t);
  const hid_t s = H5Dget_space(d);
  EXPECT_EQ(H5Sget_simple_extent_ndims(s), 1) << name;
  const hssize_t n = H5Sget_simple_extent_npoints(s);
  H5Sclose(s);
  std::vector<T> v(static_cast<std::size_t>(n));
  if (n > 0) {
    EXPECT_GE(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0) << name;
  }
  H5Dclose(d);
  return v;
}

// The columns every /draws group has, besides the fields.
struct CodeColumns {
  std::vector<std::uint64_t> index;
  std::vector<std::int8_t> status, r2, ru;
};

CodeColumns read_codes(hid_t file) {
  return {read_column<std::uint64_t>(file, "index", H5T_NATIVE_UINT64, H5T_INTEGER, 8),
          read_column<std::int8_t>(file, "status", H5T_NATIVE_INT8, H5T_INTEGER, 1),
          read_column<std::int8_t>(file, "regime_stage2", H5T_NATIVE_INT8, H5T_INTEGER, 1),
          read_column<std::int8_t>(file, "regime_upgrade", H5T_NATIVE_INT8, H5T_INTEGER, 1)};
}

// Layout and filters of dataset draws/<name>.
void expect_storage(hid_t file, const std::string& name, std::size_t chunk, bool compress) {
  const hid_t d = H5Dopen2(file, ("draws/" + name).c_str(), H5P_DEFAULT);
  ASSERT_GE(d, 0) << name;
  const hid_t p = H5Dget_create_plist(d);
  EXPECT_EQ(H5Pget_layout(p), H5D_CHUNKED) << name;
  hsize_t dims[1] = {0};
  EXPECT_EQ(H5Pget_chunk(p, 1, dims), 1) << name;
  EXPECT_EQ(dims[0], chunk) << name;
  const int nf = H5Pget_nfilters(p);
  if (!compress) {
    EXPECT_EQ(nf, 0) << name;
  } else {
    ASSERT_EQ(nf, 2) << name;
    unsigned flags = 0;
    std::size_t nelmts = 0;
    EXPECT_EQ(H5Pget_filter2(p, 0, &flags, &nelmts, nullptr, 0, nullptr, nullptr),
              H5Z_FILTER_SHUFFLE);
    nelmts = 1;
    unsigned level = 0;
    EXPECT_EQ(H5Pget_filter2(p, 1, &flags, &nelmts, &level, 0, nullptr, nullptr),
              H5Z_FILTER_DEFLATE);
    EXPECT_GE(level, 1u);
  }
  H5Pclose(p);
  H5Dclose(d);
}

std::vector<unsigned char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}

// The file_checksum definition, applied here to the whole file in memory:
// FNV-1a 64 of the bytes with the stored hash text put back to the placeholder.
std::string whole_file_checksum(std::vector<unsigned char> bytes, const std::string& stored) {
  const std::string ph = "fnv1a64:????????????????";
  int found = 0;
  for (std::size_t i = 0; i + stored.size() <= bytes.size(); ++i) {
    if (std::memcmp(bytes.data() + i, stored.data(), stored.size()) == 0) {
      std::memcpy(bytes.data() + i, ph.data(), ph.size());
      ++found;
    }
  }
  EXPECT_EQ(found, 1);
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx",
                static_cast<unsigned long long>(fnv1a64(bytes.data(), bytes.size())));
  return buf;
}

// Synthetic batches of uneven sizes through a small buffer (many hand-offs,
// batches straddling buffers), then every value read back.
void synthetic_round_trip(bool compress) {
  TempDir tmp("draws");
  const std::string out = tmp.path("syn.h5");
  const std::vector<int> fields = {F_a, F_pi12, F_A2_crit, F_q11};
  const std::uint64_t total = 100003;
  {
    DrawFile df(out, false, draws_cfg(DrawSelect::all, 0, fields, compress), total, 256 << 10);
    EXPECT_LT(df.chunk_draws(), total);  // several chunks, the last one partial
    EXPECT_EQ(df.buffer_draws() % df.chunk_draws(), 0u);
    DrawBatch b;
    std::uint64_t i = 0, step = 1;
    while (i < total) {
      b.reset(fields.size());
      const std::uint64_t n = std::min<std::uint64_t>(step, total - i);
      for (std::uint64_t j = i; j < i + n; ++j) {
        b.index.push_back(j);
        b.status.push_back(static_cast<std::int8_t>(Synthetic::status(j)));
        b.regime2.push_back(static_cast<std::int8_t>(j % 5));
        b.regime_up.push_back(static_cast<std::int8_t>((j + 2) % 5));
        for (std::size_t k = 0; k < fields.size(); ++k)
          b.values[k].push_back(Synthetic::value(j, k));
      }
      df.append(b);
      i += n;
      step = step * 3 + 1;  // 1, 4, 13, ..., 29524, then again
      if (step > 40000) step = 1;
    }
    EXPECT_EQ(df.appended(), total);
    write_result(out, make_result(1000), false, &df);
    EXPECT_EQ(tmp.count_files(), 1);  // no temporary file, no lock left
  }
  const hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const auto [index, status, r2, ru] = read_codes(f);
  ASSERT_EQ(index.size(), total);
  ASSERT_EQ(status.size(), total);
  ASSERT_EQ(r2.size(), total);
  ASSERT_EQ(ru.size(), total);
  int bad = 0;
  for (std::uint64_t j = 0; j < total && bad < 5; ++j) {
    bad += index[j] != j || status[j] != Synthetic::status(j) || r2[j] != static_cast<int>(j % 5) ||
           ru[j] != static_cast<int>((j + 2) % 5);
  }
  EXPECT_EQ(bad, 0);
  for (std::size_t k = 0; k < fields.size(); ++k) {
    const auto v = read_column<double>(f, kFieldNames[fields[k]], H5T_NATIVE_DOUBLE, H5T_FLOAT, 8);
    ASSERT_EQ(v.size(), total);
    int wrong = 0;
    for (std::uint64_t j = 0; j < total; ++j) {
      const double want = Synthetic::value(j, k);
      wrong += std::isnan(want) ? !std::isnan(v[j]) : v[j] != want;
    }
    EXPECT_EQ(wrong, 0) << kFieldNames[fields[k]];
  }
  {  // gone (its writer thread joined) before read_result forks its probe
    DrawFile probe(tmp.path("probe.h5"), false, draws_cfg(DrawSelect::all, 0, fields, compress),
                   total, 256 << 10);
    for (const char* name : {"index", "status", "regime_stage2", "regime_upgrade", "a", "A2_crit"})
      expect_storage(f, name, probe.chunk_draws(), compress);
  }
  H5Fclose(f);

  // The summary part reads back and the streamed on-disk checksum is the
  // whole-file definition.
  const ResultFile r = read_result(out);
  EXPECT_EQ(r.file_checksum_problem, "");
  EXPECT_EQ(r.info.draws_requested, 1000u);
  EXPECT_EQ(whole_file_checksum(file_bytes(out), r.file_checksum), r.file_checksum);
}

TEST(DrawFile, SyntheticRoundTripUncompressed) {
  synthetic_round_trip(false);
}

TEST(DrawFile, SyntheticRoundTripShuffleDeflate) {
  synthetic_round_trip(true);
}

// Real draws (evaluate_draw, every field) with every: K selection; each stored
// value is the one evaluate_draw gives for that index, recomputed here.
TEST(DrawFile, RealDrawsEveryKthRoundTrip) {
  TempDir tmp("draws");
  const std::string out = tmp.path("real.h5");
  const DrawSpec spec = wide_spec(11);
  const std::uint64_t draws = 200000, k = 3;
  const DrawsOutputConfig cfg = draws_cfg(DrawSelect::every, k, all_fields(), false);
  const std::uint64_t total = draws_selected_count(cfg, draws);
  ASSERT_EQ(total, 66667u);
  int invalid = 0, undefined = 0;
  {
    DrawFile df(out, false, cfg, total, 1 << 20);
    DrawBatch b;
    for (std::uint64_t first = 0; first < draws; first += kBlockDraws) {
      b.reset(cfg.fields.size());
      for (std::uint64_t i = first; i < std::min(draws, first + kBlockDraws); ++i) {
        if (!draw_selected(cfg, i)) continue;
        Outcome o{};
        const int reason = evaluate_draw(spec, i, o);
        invalid += reason >= 0;
        undefined += reason < 0 && !o.a2crit_defined;
        b.add(i, reason, o, cfg.fields);
      }
      df.append(b);
    }
    write_result(out, make_result(draws), false, &df);
  }
  EXPECT_GT(invalid, 100);  // the cases the layout documents do occur
  EXPECT_GT(undefined, 100);

  const hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const auto [index, status, r2, ru] = read_codes(f);
  std::vector<std::vector<double>> v;
  for (int fld = 0; fld < kNumFields; ++fld)
    v.push_back(read_column<double>(f, kFieldNames[fld], H5T_NATIVE_DOUBLE, H5T_FLOAT, 8));
  H5Fclose(f);
  ASSERT_EQ(index.size(), total);
  int wrong = 0;
  for (std::uint64_t j = 0; j < total && wrong < 5; ++j) {
    const std::uint64_t i = j * k;  // every K-th draw, from draw 0
    Outcome o{};
    const int reason = evaluate_draw(spec, i, o);
    const bool valid = reason < 0;
    bool ok = index[j] == i && status[j] == reason && r2[j] == (valid ? o.regime2 : -1) &&
              ru[j] == (valid ? o.regime_up : -1);
    for (int fld = 0; fld < kNumFields; ++fld) {
      const bool defined = fld < kNumParams || (valid && (fld != F_A2_crit || o.a2crit_defined));
      const double got = v[static_cast<std::size_t>(fld)][j];
      ok = ok && (defined ? got == o.v[fld] : std::isnan(got));
    }
    wrong += !ok;
    EXPECT_TRUE(ok) << "draw " << i;
  }
  EXPECT_EQ(read_result(out).file_checksum_problem, "");

  // The independent recompute (tests/check_draws.py, NumPy) accepts the file,
  // and notices one changed output.
  const std::string script = std::string(SPILLMC_SOURCE_DIR) + "/tests/check_draws.py";
  const std::string cmd = "/usr/bin/python3 " + script + " " + out + " > " + out + ".log 2>&1";
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) GTEST_SKIP() << "no h5py/NumPy for check_draws.py";
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << spillmc_test::slurp(out + ".log");
  hsize_t at = 0;  // a valid draw with pi12 != 0
  while (std::isnan(v[F_pi12][at]) || v[F_pi12][at] == 0) ++at;
  {
    const hid_t fw = H5Fopen(out.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(fw, 0);
    const hid_t d = H5Dopen2(fw, "draws/pi12", H5P_DEFAULT);
    const hid_t fs = H5Dget_space(d);
    const hsize_t one = 1;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, nullptr, &one, nullptr);
    const hid_t ms = H5Screate_simple(1, &one, nullptr);
    const double x = v[F_pi12][at] * (1 + 1e-9);
    EXPECT_GE(H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &x), 0);
    H5Sclose(ms), H5Sclose(fs), H5Dclose(d), H5Fclose(fw);
  }
  const int rc2 = std::system(cmd.c_str());
  const std::string log = spillmc_test::slurp(out + ".log");
  EXPECT_TRUE(WIFEXITED(rc2) && WEXITSTATUS(rc2) == 1) << log;
  EXPECT_NE(log.find("pi12 of draw " + std::to_string(at * k) + ":"), std::string::npos) << log;
}

TEST(DrawSelection, CountsMatchBruteForce) {
  for (const DrawSelect sel : {DrawSelect::all, DrawSelect::first, DrawSelect::every}) {
    for (const std::uint64_t n : {1u, 2u, 3u, 7u, 64u, 1000u}) {
      for (const std::uint64_t draws : {1u, 2u, 6u, 7u, 8u, 63u, 64u, 65u, 999u, 1000u, 1001u}) {
        DrawsOutputConfig c;
        c.select = sel;
        c.n = n;
        std::uint64_t count = 0;
        for (std::uint64_t i = 0; i < draws; ++i) count += draw_selected(c, i);
        EXPECT_EQ(draws_selected_count(c, draws), count)
            << static_cast<int>(sel) << " n=" << n << " draws=" << draws;
      }
    }
  }
  DrawsOutputConfig off;
  EXPECT_EQ(draws_selected_count(off, 100), 0u);
  EXPECT_FALSE(draw_selected(off, 0));
}

// Records what the driver hands a backend, and computes on the CPU.
class RecordingBackend final : public Backend {
 public:
  std::string name() const override { return "recording"; }
  std::string device() const override { return inner_->device(); }
  std::uint64_t preferred_chunk_blocks() const override { return 1000; }  // a GPU-sized chunk
  void compute_blocks(const DrawSpec& spec, std::uint64_t total, std::uint64_t first,
                      std::uint64_t n, Tally* partials) override {
    inner_->compute_blocks(spec, total, first, n, partials);
  }
  void compute_plan_blocks(const RunPlan& plan, std::uint64_t first, std::uint64_t n,
                           Tally* partials, Extra* extras, DrawBatch* batches) override {
    max_blocks = std::max(max_blocks, n);
    segment_blocks.push_back(plan.segment_blocks);
    inner_->compute_plan_blocks(plan, first, n, partials, extras, batches);
  }
  std::uint64_t max_blocks = 0;
  std::vector<std::uint64_t> segment_blocks;

 private:
  std::unique_ptr<Backend> inner_ = make_cpu_backend(0);
};

// A chunk's selected draws stay within the driver's 256 MiB budget whatever
// chunk the backend prefers (a GPU's thousands of blocks would hold GBs), the
// backend sees the segment size the driver folds with, and neither changes a bit.
TEST(DrawChunks, HostStateStaysWithinBudget) {
  RunPlan plan = plain_plan(wide_spec(11), 25 * kBlockDraws);
  plan.analysis.draws = draws_cfg(DrawSelect::all, 0, all_fields(), false);
  const std::uint64_t per_block = kBlockDraws * (8 + 3 + 8 * kNumFields);
  RecordingBackend rec;
  std::uint64_t rows = 0;
  const DrawsFn count = [&rows](std::uint64_t, const DrawBatch& b) { rows += b.size(); };
  const SegmentProgress got =
      run_plan_segments(rec, plan, 0, 13, {}, nullptr, 0, 2, nullptr, {}, count);
  EXPECT_EQ(rows, plan.draws);
  EXPECT_LE(rec.max_blocks * per_block, std::uint64_t{256} << 20);
  EXPECT_GT(rec.max_blocks, 1u);
  for (const std::uint64_t sb : rec.segment_blocks) EXPECT_EQ(sb, 2u);
  auto cpu = make_cpu_backend(0);
  const SegmentProgress want = run_plan_segments(*cpu, plan, 0, 13, {}, nullptr, 1, 2);
  ASSERT_EQ(got.segments.size(), want.segments.size());
  for (std::size_t j = 0; j < want.segments.size(); ++j)
    EXPECT_EQ(std::memcmp(&got.segments[j], &want.segments[j], sizeof(Tally)), 0) << j;
}

// A file whose /draws bytes were changed fails the checksum: a small one
// (checked in raw bytes before HDF5 reads it) and one above 64 MiB (read in a
// child process first, whose verdict the reader takes over, h5io.cpp).
void expect_changed_draw_bytes_fail(std::uint64_t total, bool large) {
  TempDir tmp("draws");
  const std::string out = tmp.path("x.h5");
  const std::vector<int> fields = {F_a};
  {
    DrawFile df(out, false, draws_cfg(DrawSelect::first, total, fields, false), total);
    DrawBatch b;
    b.reset(1);
    for (std::uint64_t j = 0; j < total; ++j) {
      b.index.push_back(j), b.status.push_back(-1), b.regime2.push_back(0);
      b.regime_up.push_back(0), b.values[0].push_back(0.25);
    }
    df.append(b);
    write_result(out, make_result(100), false, &df);
  }
  ASSERT_EQ(read_result(out).file_checksum_problem, "");
  // 0.25 is 00 00 00 00 00 00 d0 3f: change one such value in the file.
  std::vector<unsigned char> bytes = file_bytes(out);
  EXPECT_EQ(bytes.size() > (std::size_t{64} << 20), large) << bytes.size();
  EXPECT_EQ(whole_file_checksum(bytes, read_result(out).file_checksum),
            read_result(out).file_checksum);
  const unsigned char quarter[8] = {0, 0, 0, 0, 0, 0, 0xd0, 0x3f};
  std::size_t at = 0;
  for (std::size_t i = bytes.size() / 2; i + 8 <= bytes.size() && at == 0; ++i)
    if (std::memcmp(bytes.data() + i, quarter, 8) == 0) at = i;
  ASSERT_NE(at, 0u);
  bytes[at + 6] = 0xe0;  // 0.5
  std::ofstream(out, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  EXPECT_NE(read_result(out).file_checksum_problem.find("mismatch"), std::string::npos);
}

TEST(DrawFile, ChangedDrawBytesFailTheChecksum) {
  expect_changed_draw_bytes_fail(50000, false);
}

TEST(DrawFile, ChangedDrawBytesFailTheChecksumAbove64MiB) {
  expect_changed_draw_bytes_fail(3700000, true);  // 19 bytes per draw
}

TEST(DrawFile, DroppedWithoutPublishingLeavesNothing) {
  TempDir tmp("draws");
  const std::vector<int> fields = {F_a, F_b};
  const DrawsOutputConfig cfg = draws_cfg(DrawSelect::all, 0, fields, false);
  {
    DrawFile df(tmp.path("x.h5"), false, cfg, 10);
    EXPECT_EQ(tmp.count_files(), 2);  // the temporary file and the lock
  }
  EXPECT_EQ(tmp.count_files(), 0);
  {
    // Finished but never published (the run failed in between).
    DrawFile df(tmp.path("x.h5"), false, cfg, 1);
    DrawBatch b;
    b.reset(2);
    b.index = {0}, b.status = {-1}, b.regime2 = {0}, b.regime_up = {0};
    b.values = {{1.0}, {2.0}};
    df.append(b);
    df.finish();
  }
  EXPECT_EQ(tmp.count_files(), 0);
  // An existing output without force: refused up front.
  tmp.write("x.h5", "old");
  try {
    DrawFile df(tmp.path("x.h5"), false, cfg, 1);
    ADD_FAILURE() << "accepted an existing output";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("exists"), std::string::npos) << e.what();
  }
  EXPECT_EQ(tmp.count_files(), 1);
}

// The disk refuses writes part-way (RLIMIT_FSIZE: EFBIG, as a full disk gives
// ENOSPC): append or finish throws OutputError naming the path, and nothing
// is left. In a child process, so the limit and the signal stay there.
TEST(DrawFile, FailureMidwayLeavesNoFile) {
  TempDir tmp("draws");
  const std::string out = tmp.path("big.h5");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int rc = 0;
    try {
      std::signal(SIGXFSZ, SIG_IGN);
      const std::vector<int> fields = {F_a, F_b, F_c};
      const std::uint64_t total = 1000000;  // 35 MB
      DrawFile df(out, false, draws_cfg(DrawSelect::all, 0, fields, false), total, 4 << 20);
      rlimit lim{8 << 20, 8 << 20};
      setrlimit(RLIMIT_FSIZE, &lim);
      DrawBatch b;
      rc = 10;  // no error seen
      try {
        for (std::uint64_t first = 0; first < total; first += 10000) {
          b.reset(fields.size());
          for (std::uint64_t j = first; j < first + 10000; ++j) {
            b.index.push_back(j), b.status.push_back(-1), b.regime2.push_back(0);
            b.regime_up.push_back(0);
            for (auto& v : b.values) v.push_back(static_cast<double>(j));
          }
          df.append(b);
        }
        write_result(out, make_result(100), false, &df);
      } catch (const OutputError& e) {
        const std::string msg = e.what();
        rc = msg.find("cannot write '" + out + "'") != std::string::npos &&
                     msg.find("File too large") != std::string::npos
                 ? 0
                 : 11;
        if (rc != 0) std::fprintf(stderr, "message: %s\n", msg.c_str());
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "unexpected: %s\n", e.what());
      rc = 12;
    }
    std::fflush(nullptr);
    std::exit(rc);  // a normal exit: the HDF5 library shuts down too
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st)) << "child died with signal " << WTERMSIG(st);
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_EQ(tmp.count_files(), 0);
}

}  // namespace
}  // namespace spillmc
