// Progress for long runs: a redrawn bar with rate and ETA on a terminal,
// periodic log lines otherwise (Slurm logs, pipes).
#pragma once

#include <chrono>
#include <cstdint>

namespace spillmc {

class Progress {
 public:
  enum class Mode { off, bar, log };
  // `interval` is the minimum time between log lines (bar redraws are faster).
  Progress(std::uint64_t total, Mode mode, std::chrono::duration<double> interval);
  static Mode default_mode(bool quiet);  // bar if stderr is a terminal, else log
  void update(std::uint64_t done);
  void finish();  // ends the bar's line

 private:
  using Clock = std::chrono::steady_clock;
  std::uint64_t total_;
  Mode mode_;
  std::chrono::duration<double> interval_;
  Clock::time_point start_, last_;
  bool drawn_ = false;
};

}  // namespace spillmc
