// Typed errors, each mapped to one documented exit code (README, "Exit codes").
#pragma once

#include <stdexcept>
#include <string>

namespace spillmc {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,  // a bug or an unexpected library failure
  kExitBadInput = 2,  // config file, command line
  kExitOutput = 3,    // output path cannot be written, file to read is bad
  kExitCuda = 4,      // CUDA runtime error
  kExitCheckpointed =
      75,                 // stopped by a signal after writing a checkpoint: resume it (EX_TEMPFAIL)
  kExitInterrupted = 130  // SIGINT / SIGTERM / SIGUSR1 without checkpointing
};

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
  virtual int exit_code() const { return kExitInternal; }
};

// Bad config or command line. The message names the key path and, for a
// config file, FILE:LINE:COLUMN.
struct InputError : Error {
  using Error::Error;
  int exit_code() const override { return kExitBadInput; }
};

// A path that cannot be written or read; the message names the path and the system error.
struct OutputError : Error {
  using Error::Error;
  int exit_code() const override { return kExitOutput; }
};

struct CudaError : Error {
  using Error::Error;
  int exit_code() const override { return kExitCuda; }
};

struct Interrupted : Error {
  Interrupted() : Error("interrupted") {}
  int exit_code() const override { return kExitInterrupted; }
};

}  // namespace spillmc
