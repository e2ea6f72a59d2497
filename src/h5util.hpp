// Internal to the library: the HDF5 and file-system helpers that the result
// writer (h5io.cpp) and the per-draw writer (draw_writer.cpp) share, so that
// both create, lock, seal and publish their files the same way.
#pragma once

#include <hdf5.h>
#include <sys/types.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace spillmc::h5util {

// Failures inside the writers carry errno (0 for an HDF5 failure) and a detail;
// the public functions turn them into OutputError with the user's path in front.
struct Failure {
  int err;            // errno, or 0
  std::string what;   // the step or object, e.g. "dataset 'summary/a/mean'"
  std::string cause;  // HDF5's reason when err is 0
  // For a write the system error is what users can act on (disk full, ...).
  std::string for_write() const { return err != 0 ? std::strerror(err) : what + ": " + cause; }
  // The system error, else the cause alone.
  std::string reason() const { return err != 0 ? std::strerror(err) : cause; }
  // For a read the object is what matters: the file is damaged or foreign.
  std::string for_read() const { return what + ": " + (err != 0 ? std::strerror(err) : cause); }
};

// HDF5's innermost error record of this thread's stack.
std::string hdf5_error_text();

// Runs one HDF5 call; a negative return becomes a Failure with HDF5's reason.
// errno is not used: the library leaves stale values from its internal probes,
// and all disk I/O that could fail with a system error is done by our own calls.
template <class F>
auto h5(const std::string& what, F&& call) {
  auto r = call();
  if (r < 0) throw Failure{0, what, hdf5_error_text()};
  return r;
}

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() : id_(-1), closer_(nullptr) {}
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      close();
      id_ = std::exchange(o.id_, -1);
      closer_ = o.closer_;
    }
    return *this;
  }
  ~Handle() { close(); }
  hid_t get() const { return id_; }
  // Closing a file flushes it, so its result matters.
  herr_t close() {
    const herr_t r = id_ >= 0 ? closer_(id_) : 0;
    id_ = -1;
    return r;
  }

 private:
  hid_t id_;
  Closer closer_;
};

// Turns HDF5's automatic error printing off for the duration of a call: users
// should see our one-line message, not a library back trace. Per thread: the
// thread-safe library keeps one error stack (and its printer) per thread.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

inline std::string quoted(const std::string& path) {
  return "'" + path + "'";
}

// ---- paths, temporary files, locks (h5io.cpp) ------------------------------

struct PathParts {
  std::string prefix;  // directory part including its trailing '/', or "" for the cwd
  std::string base;
};
PathParts split_path(const std::string& path);
std::string directory_of(const PathParts& p);

// Refuses what can never be a result file; `force` decides about an existing one.
void check_target(const std::string& path, bool force);
// Creates a fresh temporary file `.<base>.tmp.<pid>[.<n>]` beside `path`.
std::string create_temp(const std::string& path, mode_t mode);
// The same, returning "" and the reason in `why` instead of throwing.
std::string try_create_temp(const std::string& path, mode_t mode, std::string& why);
// fsync of a directory, best effort.
void sync_directory(const std::string& dir);
// Renames the finished temporary file onto `path` (refusing an existing one
// unless `force`). Throws Failure for a system error, OutputError when it exists.
void publish(const std::string& tmp, const std::string& path, bool force);
// Removes the temporary files `.<base>.tmp.<pid>[.<n>]` beside `path` that
// killed runs left, except this process's own: all others when the caller holds
// the lock on `path` (no other run writes them), else only those whose process
// is gone from this host.
void remove_stale_temps(const std::string& path, bool lock_held);
// An exclusive flock on `.<base>.lock` beside `path`, the lock of every file
// SpillMC writes. `lock` gets that name. Returns the descriptor, or -1 on a
// file system without locks. Throws LockBusy when another process holds it,
// Failure{errno, "create"} when it cannot be created, Failure{.., "lock"} when
// it cannot be taken.
struct LockBusy {};
int lock_beside(const std::string& path, std::string& lock);
// Takes this process's lock on writing `path` (no-op if held); removes stale
// temporary files of killed runs once it holds it.
void lock_output(const std::string& path);
void release_output_lock(const std::string& path);

// ---- writing ----------------------------------------------------------------

Handle string_type();  // variable-length UTF-8
Handle scalar_space();
Handle vector_space(hsize_t n);
Handle make_group(hid_t loc, const std::string& name);
void write_attr(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, hid_t space,
                const void* data);
void attr_string(hid_t loc, const char* name, const std::string& value);
void attr_u64(hid_t loc, const char* name, std::uint64_t value);
void attr_i32(hid_t loc, const char* name, std::int32_t value);
void attr_f64(hid_t loc, const char* name, double value);
void write_dataset(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type, hid_t space,
                   const void* data);
void dataset_u64(hid_t loc, const std::string& name, std::uint64_t value);
void dataset_f64(hid_t loc, const std::string& name, double value);

}  // namespace spillmc::h5util

namespace spillmc {
struct Tally;
struct Result;
struct Extra;
namespace h5util {
// h5_analysis.cpp: groups shared by /summary, /conditional/<c>/summary, ...
void write_summary_group(hid_t loc, const Tally& t);  // <loc>/summary/<field>/...
void write_events_group(hid_t loc, const Tally& t);   // <loc>/events/<event>/...
// Quantiles and histograms, /conditional, /paths, /sweep, /sensitivity.
void write_analysis(hid_t file, const Result& r);
// <g>/extra: uint8 [rows, Extra::byte_size()], rows of Extra::to_bytes
// (absent when rows are empty).
void write_extra_table(hid_t g, const std::vector<Extra>& extras);
}  // namespace h5util
}  // namespace spillmc
