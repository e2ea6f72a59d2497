// Per-draw output throughput against the disk's raw sequential write speed,
// measured side by side in one run (bench/run_draws.sh drives it):
//   raw       write() of 4 MiB blocks + fsync, the same number of bytes (irregular
//             data: see raw_write)
//   none      DrawFile, compression none: construct, append, finish, fsync
//   deflate   the same with shuffle + deflate
// plus, for DrawFile, the finalisation (write_result: summary groups, the
// streamed checksum pass, fsync, rename). Rates are logical bytes (draws x
// bytes per draw) per second. Prints one JSON object on stdout.
//
//   bench_draws DIR [MIB] [REPS]
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/draw_batch.hpp"
#include "spillmc/draw_writer.hpp"
#include "spillmc/result.hpp"
#include "spillmc/tally.hpp"

using namespace spillmc;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bench_draws: %s\n", msg.c_str());
  std::exit(1);
}

void fsync_path(const std::string& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) die("fsync " + p);
  ::close(fd);
}

// Random bytes, every 4 KiB page stamped with a counter: this VM's disk
// writes zeros or repeated blocks at less than half the speed of other data,
// so the raw figure uses data as irregular as the draws.
double raw_write(const std::string& file, std::uint64_t bytes) {
  std::vector<unsigned char> buf(std::size_t{64} << 20);
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(buf.data() + i, &x, 8);
  }
  const std::size_t block = std::size_t{4} << 20;
  std::uint64_t page = 0;
  const auto t0 = Clock::now();
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("open " + file);
  for (std::uint64_t done = 0; done < bytes;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(block, bytes - done));
    unsigned char* p = buf.data() + static_cast<std::size_t>(done % buf.size());
    for (std::size_t o = 0; o + 8 <= n; o += 4096, ++page) std::memcpy(p + o, &page, 8);
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) die("write " + file);
    done += static_cast<std::uint64_t>(w);
  }
  if (::fsync(fd) != 0) die("fsync " + file);
  ::close(fd);
  const double s = since(t0);
  ::unlink(file.c_str());
  return s;
}

struct DrawTimes {
  double stream = 0, finalise = 0;
  std::uint64_t file_bytes = 0;
};

DrawTimes draw_write(const std::string& file, const DrawsOutputConfig& cfg, std::uint64_t total,
                     DrawBatch& batch, const Result& result) {
  DrawTimes t;
  const auto t0 = Clock::now();
  {
    DrawFile df(file, false, cfg, total);
    const std::size_t bn = batch.size();
    DrawBatch tail;
    for (std::uint64_t first = 0; first < total; first += bn) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(bn, total - first));
      DrawBatch* b = &batch;
      if (n != bn) {  // the last, short batch: a copy, so `batch` stays whole
        tail = batch;
        tail.index.resize(n), tail.status.resize(n), tail.regime2.resize(n);
        tail.regime_up.resize(n);
        for (auto& v : tail.values) v.resize(n);
        b = &tail;
      }
      for (std::size_t j = 0; j < n; ++j) b->index[j] = first + j;
      df.append(*b);
    }
    df.finish();
    fsync_path(df.temp_path());
    t.stream = since(t0);
    const auto t1 = Clock::now();
    write_result(file, result, false, &df);
    t.finalise = since(t1);
  }
  struct stat st;
  if (::stat(file.c_str(), &st) == 0) t.file_bytes = static_cast<std::uint64_t>(st.st_size);
  ::unlink(file.c_str());
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%.6g", i ? ", " : "", v[i]);
    s += buf;
  }
  return s + "]";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: bench_draws DIR [MIB] [REPS]");
  const std::string dir = argv[1];
  const std::uint64_t mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 512;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;

  // The default fields of output.draws, real draws of a wide config (so
  // that deflate sees realistic data), 2^18 draws reused with new indices.
  const Config cfg0 = parse_config_text(
      "parameters: {a: {dist: uniform, low: 8, high: 12}, b: {dist: uniform, low: 0.5, high: 2},"
      " c: {dist: uniform, low: 1, high: 3}, A1: {dist: uniform, low: -4, high: 3},"
      " A2_gap: {dist: uniform, low: 0, high: 4}, theta: {dist: uniform, low: 0, high: 1}}\n"
      "output: {draws: all}\n",
      "bench");
  DrawsOutputConfig none = cfg0.draws_output, deflate = none;
  deflate.compress = true;
  const DrawSpec spec = cfg0.draw_spec();
  DrawBatch batch;
  batch.reset(none.fields.size());
  // One chunk's worth (2^18 draws): no chunk holds a repeat for deflate to find.
  for (std::uint64_t i = 0; i < (std::uint64_t{1} << 18); ++i) {
    Outcome o{};
    batch.add(i, evaluate_draw(spec, i, o), o, none.fields);
  }
  const std::uint64_t per_draw = 8 + 3 + 8 * none.fields.size();
  const std::uint64_t total = (mib << 20) / per_draw;
  const std::uint64_t bytes = total * per_draw;
  Result result;
  result.info.draws_requested = total;
  result.info.model = "constrained";
  result.info.backend = "cpu";
  result.tally = accumulate_block(spec, 1000, 0);
  result.state.segment_count_total = 1;
  result.state.segments = {result.tally};

  std::vector<double> raw, str_none, fin_none, str_defl, fin_defl, ratio;
  std::uint64_t size_none = 0, size_defl = 0;
  const std::string file = dir + "/bench_draws.h5";
  // One unrecorded round first: page cache, allocator and disk warm-up.
  (void)raw_write(dir + "/bench_raw", bytes / 4);
  (void)draw_write(file, none, total / 4, batch, result);
  for (int r = 0; r < reps; ++r) {
    // Alternate the order so that neither always runs on a fresh page cache.
    DrawTimes tn, td;
    double tr = 0;
    if (r % 2 == 0) {
      tr = raw_write(dir + "/bench_raw", bytes);
      tn = draw_write(file, none, total, batch, result);
    } else {
      tn = draw_write(file, none, total, batch, result);
      tr = raw_write(dir + "/bench_raw", bytes);
    }
    td = draw_write(file, deflate, total, batch, result);
    const double mb = static_cast<double>(bytes) / 1e6;
    raw.push_back(mb / tr);
    str_none.push_back(mb / tn.stream);
    fin_none.push_back(mb / (tn.stream + tn.finalise));
    str_defl.push_back(mb / td.stream);
    fin_defl.push_back(mb / (td.stream + td.finalise));
    ratio.push_back(tr / tn.stream);
    size_none = tn.file_bytes;
    size_defl = td.file_bytes;
    std::fprintf(stderr,
                 "bench_draws: rep %d/%d: raw %.0f MB/s, none %.0f MB/s (%.0f with finalise), "
                 "deflate %.0f MB/s (%.0f)\n",
                 r + 1, reps, raw.back(), str_none.back(), fin_none.back(), str_defl.back(),
                 fin_defl.back());
  }
  const double ratio_med = median(str_none) / median(raw);
  std::printf(
      "{\"bytes\": %llu, \"draws\": %llu, \"bytes_per_draw\": %llu, \"fields\": %zu,"
      " \"reps\": %d, \"dir\": \"%s\",\n"
      " \"MB_per_s\": {\"raw\": %s, \"none_stream\": %s, \"none_with_finalise\": %s,"
      " \"deflate_stream\": %s, \"deflate_with_finalise\": %s},\n"
      " \"median_MB_per_s\": {\"raw\": %.6g, \"none_stream\": %.6g, \"none_with_finalise\": %.6g,"
      " \"deflate_stream\": %.6g, \"deflate_with_finalise\": %.6g},\n"
      " \"file_bytes\": {\"none\": %llu, \"deflate\": %llu},\n"
      " \"ratio_none_vs_raw\": {\"of_medians\": %.4f, \"median_paired\": %.4f,"
      " \"with_finalise_of_medians\": %.4f},\n"
      " \"target\": {\"what\": \"DrawFile, compression none, >= 70%% of the raw sequential write "
      "speed\", \"measured\": %.4f, \"met\": %s}}\n",
      static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(total),
      static_cast<unsigned long long>(per_draw), none.fields.size(), reps, dir.c_str(),
      json_list(raw).c_str(), json_list(str_none).c_str(), json_list(fin_none).c_str(),
      json_list(str_defl).c_str(), json_list(fin_defl).c_str(), median(raw), median(str_none),
      median(fin_none), median(str_defl), median(fin_defl),
      static_cast<unsigned long long>(size_none), static_cast<unsigned long long>(size_defl),
      ratio_med, median(ratio), median(fin_none) / median(raw), ratio_med,
      ratio_med >= 0.7 ? "true" : "false");
  return 0;
}
