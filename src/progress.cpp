#include "spillmc/progress.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace spillmc {
namespace {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const auto total = static_cast<long long>(s + 0.5);
  char buf[32];
  if (total >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", total / 60, total % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::uint64_t total, Mode mode, std::chrono::duration<double> interval)
    : total_(total), mode_(mode), interval_(interval), start_(Clock::now()), last_(start_) {}

Progress::Mode Progress::default_mode(bool quiet) {
  if (quiet) return Mode::off;
  return isatty(STDERR_FILENO) ? Mode::bar : Mode::log;
}

void Progress::update(std::uint64_t done) {
  if (mode_ == Mode::off) return;
  const auto now = Clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  const bool complete = done >= total_;
  if (mode_ == Mode::bar ? since_last < 0.1 && !complete : since_last < interval_.count()) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double frac = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : NAN;
  if (mode_ == Mode::log) {
    spdlog::info("progress {:5.1f}%  {} / {} draws  {:.3g} draws/s  ETA {}", 100.0 * frac, done,
                 total_, rate, format_duration(eta));
    return;
  }
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), '.');
  std::fprintf(stderr, "\r[%s] %5.1f%%  %.3g draws/s  ETA %s ", bar.c_str(), 100.0 * frac, rate,
               format_duration(eta).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (mode_ == Mode::bar && drawn_) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
}

}  // namespace spillmc
