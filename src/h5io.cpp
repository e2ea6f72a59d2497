// HDF5 result files (layout: docs/output.md). Built in memory with the HDF5 C
// API, written to a temporary file beside the target and renamed into place,
// so a reader never sees a half-written result and a failed run leaves nothing.
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "h5util.hpp"
#include "spillmc/analysis.hpp"
#include "spillmc/config.hpp"
#include "spillmc/draw_writer.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/histogram.hpp"
#include "spillmc/result.hpp"
#include "spillmc/shard.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Shared with draw_writer.cpp (h5util.hpp): everything up to the checksum.
namespace h5util {

// HDF5's innermost error record says what actually went wrong; the outer
// ones only repeat which API call failed.
herr_t take_innermost(unsigned n, const H5E_error2_t* e, void* out) {
  if (n == 0 && e != nullptr && e->desc != nullptr) *static_cast<std::string*>(out) = e->desc;
  return 0;
}

std::string hdf5_error_text() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, &text);
  return text.empty() ? "HDF5 library error" : text;
}

// ---------------------------------------------------------------------------
// Paths.

PathParts split_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

std::string directory_of(const PathParts& p) {
  return p.prefix.empty() ? "." : p.prefix;
}

// Refuses what can never be a result file; `force` decides about an existing one.
void check_target(const std::string& path, bool force) {
  if (path.empty()) throw OutputError("output path is empty");
  if (path.back() == '/')
    throw OutputError("cannot write " + quoted(path) + ": the path names a directory");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      throw OutputError("cannot write " + quoted(path) + ": " + std::strerror(EISDIR));
    // rename() would replace a device node or FIFO (/dev/null as root) with our file.
    if (!S_ISREG(st.st_mode))
      throw OutputError("cannot write " + quoted(path) + ": not a regular file");
    if (!force) throw OutputError(quoted(path) + " exists; use --force to overwrite");
  } else if (errno != ENOENT) {
    throw OutputError("cannot write " + quoted(path) + ": " + std::strerror(errno));
  }
  // ENOENT also covers a missing directory; creating the temporary file reports it.
}

// Creates a fresh temporary file beside `path` and returns its name. The pid
// keeps concurrent runs apart; the counter steps over a stale file that a
// crashed run with the same pid (common in containers) left behind.
std::string try_create_temp(const std::string& path, mode_t mode, std::string& why) {
  const PathParts parts = split_path(path);
  const std::string stem = parts.prefix + "." + parts.base + ".tmp." + std::to_string(::getpid());
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string tmp = attempt == 0 ? stem : stem + "." + std::to_string(attempt);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0) {
      ::close(fd);
      return tmp;
    }
    if (errno != EEXIST) {
      why = std::strerror(errno);
      return "";
    }
  }
  why = "too many stale temporary files beside it";
  return "";
}

std::string create_temp(const std::string& path, mode_t mode) {
  std::string why;
  std::string tmp = try_create_temp(path, mode, why);
  if (tmp.empty()) throw OutputError("cannot write " + quoted(path) + ": " + why);
  return tmp;
}

// Makes the rename itself durable. Best effort: some file systems refuse
// fsync on a directory, and the result file is already complete either way.
void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// Moves the finished temporary file onto `path`. Without `force`, the kernel
// refuses to replace a file that appeared since the up-front check.
void publish(const std::string& tmp, const std::string& path, bool force) {
  // Test hook (tests/test_faults.cpp), not a user setting: pause with the
  // temporary file complete but not yet renamed, so a test can kill the run there.
  if (const char* ms = std::getenv("SPILLMC_TEST_PAUSE_BEFORE_RENAME_MS")) {
    std::fprintf(stderr, "test hook: %s complete, pausing before rename\n", tmp.c_str());
    std::fflush(stderr);
    ::usleep(static_cast<useconds_t>(std::strtoul(ms, nullptr, 10) * 1000));
  }
  if (!force) {
#ifdef RENAME_NOREPLACE
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return;
    if (errno == EEXIST) throw OutputError(quoted(path) + " exists; use --force to overwrite");
    if (errno != EINVAL && errno != ENOSYS) throw Failure{errno, "rename", ""};
#endif
    // No RENAME_NOREPLACE here (old kernel, or a file system without it):
    // check, then rename, leaving a small window.
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0)
      throw OutputError(quoted(path) + " exists; use --force to overwrite");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw Failure{errno, "rename", ""};
}

// ---------------------------------------------------------------------------
// Output locks: one writer per output path. A run takes flock(LOCK_EX) on
// `.<basename>.lock` beside the target in check_output_path and holds it until
// the file is renamed into place; a second run is refused. The kernel drops
// the lock when the process dies, so a killed run never blocks the next one
// (its lock file stays, empty and harmless, and the next run reuses it). The
// holder removes the file on release; a run that opened a file just removed
// sees that it is no longer the one at the name and takes the new one.

struct HeldLock {
  std::string target, lock;
  int fd;
};

class OutputLocks {
 public:
  OutputLocks() = default;
  OutputLocks(const OutputLocks&) = delete;
  OutputLocks& operator=(const OutputLocks&) = delete;
  ~OutputLocks() {  // normal exit with a lock still held (error, interruption)
    for (const HeldLock& l : held_) drop(l);
  }
  bool holds(const std::string& target) const {
    for (const HeldLock& l : held_)
      if (l.target == target) return true;
    return false;
  }
  void add(HeldLock l) { held_.push_back(std::move(l)); }
  void release(const std::string& target) {
    for (std::size_t i = 0; i < held_.size(); ++i)
      if (held_[i].target == target) {
        drop(held_[i]);
        held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
  }

 private:
  static void drop(const HeldLock& l) {
    ::unlink(l.lock.c_str());  // while still locked: no other run holds this file
    ::close(l.fd);
  }
  std::vector<HeldLock> held_;
};

OutputLocks& output_locks() {
  static OutputLocks locks;
  return locks;
}

void remove_stale_temps(const std::string& path, bool lock_held) {
  const PathParts parts = split_path(path);
  const std::string stem = "." + parts.base + ".tmp.";
  DIR* d = ::opendir(directory_of(parts).c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() <= stem.size() || name.compare(0, stem.size(), stem) != 0) continue;
    const std::string rest = name.substr(stem.size());
    if (rest.find_first_not_of("0123456789.") != std::string::npos || rest[0] == '.') continue;
    const long pid = std::strtol(rest.c_str(), nullptr, 10);
    if (pid == static_cast<long>(::getpid())) continue;  // this process's own
    if (!lock_held && (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH))
      continue;
    stale.push_back(parts.prefix + name);
  }
  ::closedir(d);
  for (const std::string& f : stale) (void)::unlink(f.c_str());
}

int lock_beside(const std::string& path, std::string& lock) {
  const PathParts parts = split_path(path);
  lock = parts.prefix + "." + parts.base + ".lock";
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) throw Failure{errno, "create", ""};
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) throw LockBusy{};
      if (err == EINTR) continue;
      if (err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS) return -1;
      throw Failure{err, "lock", ""};
    }
    struct stat held, named;
    if (::fstat(fd, &held) == 0 && ::stat(lock.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino)
      return fd;
    ::close(fd);  // its holder removed it as we opened it: take the new one
  }
  throw Failure{0, "lock", "it keeps being replaced"};
}

// Takes the lock on `path` for this process (no-op if held already).
void lock_output(const std::string& path) {
  if (output_locks().holds(path)) return;
  std::string lock;
  int fd = -1;
  try {
    fd = lock_beside(path, lock);
  } catch (const LockBusy&) {
    throw OutputError("cannot write " + quoted(path) + ": another run is writing it (it holds " +
                      quoted(lock) + ")");
  } catch (const Failure& f) {
    if (f.what == "create") throw OutputError("cannot write " + quoted(path) + ": " + f.reason());
    throw OutputError("cannot lock " + quoted(lock) + ": " + f.reason());
  }
  // A file system without locks: go on unprotected, as before locks existed.
  if (fd < 0) return;
  output_locks().add({path, lock, fd});
  remove_stale_temps(path, true);
}

// ---------------------------------------------------------------------------
// Writing.

// Variable-length UTF-8: h5py reads it as str, h5dump prints it as text.
Handle string_type() {
  Handle t(h5("string type", [] { return H5Tcopy(H5T_C_S1); }), H5Tclose);
  h5("string type", [&] { return H5Tset_size(t.get(), H5T_VARIABLE); });
  h5("string type", [&] { return H5Tset_cset(t.get(), H5T_CSET_UTF8); });
  return t;
}

Handle scalar_space() {
  return Handle(h5("dataspace", [] { return H5Screate(H5S_SCALAR); }), H5Sclose);
}

Handle vector_space(hsize_t n) {
  return Handle(h5("dataspace", [&] { return H5Screate_simple(1, &n, nullptr); }), H5Sclose);
}

Handle make_group(hid_t loc, const std::string& name) {
  return Handle(
      h5("group " + name,
         [&] { return H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT); }),
      H5Gclose);
}

void write_attr(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, hid_t space,
                const void* data) {
  const std::string what = std::string("attribute ") + name;
  Handle a(
      h5(what, [&] { return H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT); }),
      H5Aclose);
  h5(what, [&] { return H5Awrite(a.get(), mem_type, data); });
}

void attr_string(hid_t loc, const char* name, const std::string& value) {
  const Handle t = string_type();
  const Handle s = scalar_space();
  const char* p = value.c_str();
  write_attr(loc, name, t.get(), t.get(), s.get(), &p);
}

void attr_u64(hid_t loc, const char* name, std::uint64_t value) {
  const Handle s = scalar_space();
  write_attr(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, s.get(), &value);
}

void attr_i32(hid_t loc, const char* name, std::int32_t value) {
  const Handle s = scalar_space();
  write_attr(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, s.get(), &value);
}

void attr_f64(hid_t loc, const char* name, double value) {
  const Handle s = scalar_space();
  write_attr(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s.get(), &value);
}

void write_dataset(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type, hid_t space,
                   const void* data) {
  Handle d(h5("dataset " + name,
              [&] {
                return H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                                  H5P_DEFAULT);
              }),
           H5Dclose);
  h5("dataset " + name,
     [&] { return H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data); });
}

void dataset_u64(hid_t loc, const std::string& name, std::uint64_t value) {
  const Handle s = scalar_space();
  write_dataset(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, s.get(), &value);
}

void dataset_f64(hid_t loc, const std::string& name, double value) {
  const Handle s = scalar_space();
  write_dataset(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s.get(), &value);
}

void regime_dataset(hid_t loc, const char* name, const std::uint64_t (&counts)[kNumRegimes]) {
  std::int64_t values[kNumRegimes];
  for (int r = 0; r < kNumRegimes; ++r) values[r] = static_cast<std::int64_t>(counts[r]);
  const Handle s = vector_space(kNumRegimes);
  write_dataset(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, s.get(), values);
  Handle d(h5(std::string("dataset ") + name, [&] { return H5Dopen2(loc, name, H5P_DEFAULT); }),
           H5Dclose);
  const Handle t = string_type();
  const char* labels[kNumRegimes];
  for (int r = 0; r < kNumRegimes; ++r) labels[r] = kRegimeLabels[r];
  write_attr(d.get(), "labels", t.get(), t.get(), s.get(), labels);
}

void release_output_lock(const std::string& path) {
  output_locks().release(path);
}

}  // namespace h5util

using namespace h5util;

namespace {

// The whole-file checksum: the attribute is written with this placeholder, the
// image hashed, and the placeholder's bytes replaced by the hash (same length).
// A reader puts the placeholder back and hashes again (file_checksum_problem).
constexpr const char* kFileChecksumPlaceholder = "fnv1a64:????????????????";

// Offsets of `needle` in `hay`, at most two.
std::vector<std::size_t> find_all(const std::vector<unsigned char>& hay,
                                  const std::string& needle) {
  std::vector<std::size_t> at;
  if (needle.empty() || hay.size() < needle.size()) return at;
  for (std::size_t i = 0; i + needle.size() <= hay.size() && at.size() < 2; ++i)
    if (std::memcmp(hay.data() + i, needle.data(), needle.size()) == 0) at.push_back(i);
  return at;
}

std::string image_hash(const std::vector<unsigned char>& image) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx",
                static_cast<unsigned long long>(fnv1a64(image.data(), image.size())));
  return buf;
}

void seal_image(std::vector<unsigned char>& image) {
  const std::string ph = kFileChecksumPlaceholder;
  const std::vector<std::size_t> at = find_all(image, ph);
  if (at.size() != 1) throw Failure{0, "file checksum", "placeholder not found once"};
  const std::string h = image_hash(image);
  std::memcpy(image.data() + at[0], h.data(), h.size());
}

// FNV-1a 64 of the file's bytes (from its current offset) with every
// occurrence of `stored` read as the placeholder: image_hash of the bytes a
// reader would restore. Streams 1 MiB at a time, so a file with per-draw
// output (any size) costs no memory. `at` gets the first two offsets.
std::uint64_t hash_file(int fd, const std::string& stored, std::vector<std::uint64_t>& at) {
  const std::string ph = kFileChecksumPlaceholder;
  const std::size_t m = stored.size();
  std::vector<unsigned char> buf((std::size_t{1} << 20) + m);
  std::size_t have = 0;    // bytes in buf not hashed yet
  std::uint64_t base = 0;  // file offset of buf[0]
  std::uint64_t h = fnv1a64(nullptr, 0);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Failure{errno, "read", ""};
    have += static_cast<std::size_t>(n);
    const bool eof = n == 0;
    // Occurrences that end inside buf; one that starts in the last m - 1
    // bytes is found next time, when those bytes lead the buffer.
    std::size_t i = 0;
    while (m > 0 && i + m <= have) {
      const void* p = std::memchr(buf.data() + i, stored[0], have - m + 1 - i);
      if (p == nullptr) break;
      i = static_cast<std::size_t>(static_cast<const unsigned char*>(p) - buf.data());
      if (std::memcmp(buf.data() + i, stored.data(), m) == 0) {
        if (at.size() < 2) at.push_back(base + i);
        std::memcpy(buf.data() + i, ph.data(), m);
        i += m;
      } else {
        ++i;
      }
    }
    const std::size_t done = eof ? have : have >= m ? have - (m - 1) : 0;
    h = fnv1a64(buf.data(), done, h);
    std::memmove(buf.data(), buf.data() + done, have - done);
    have -= done;
    base += done;
    if (eof) return h;
  }
}

std::string hash_text(std::uint64_t h) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Empty when the file's bytes hash to its file_checksum attribute.
std::string file_checksum_problem(const std::string& path, const std::string& stored) {
  const std::string ph = kFileChecksumPlaceholder;
  if (stored.size() != ph.size() || stored.compare(0, 8, "fnv1a64:") != 0)
    return "file_checksum '" + stored + "' is malformed";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string("cannot read the file: ") + std::strerror(errno);
  std::vector<std::uint64_t> at;
  std::uint64_t h = 0;
  try {
    h = hash_file(fd, stored, at);
  } catch (const Failure& f) {
    ::close(fd);
    return "cannot read the file: " + f.for_write();
  }
  ::close(fd);
  if (at.size() != 1) return "file_checksum not found once in the file's bytes";
  const std::string got = hash_text(h);
  if (got != stored)
    return "file checksum mismatch: stored " + stored + ", the bytes give " + got +
           " (the file was modified or is corrupt)";
  return {};
}

// The on-disk counterpart of seal_image for a file written in place (per-draw
// output): hashes it with the placeholder, writes the hash over the
// placeholder and fsyncs.
void seal_file(const std::string& file) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw Failure{errno, "open", ""};
  try {
    std::vector<std::uint64_t> at;
    const std::string h = hash_text(hash_file(fd, kFileChecksumPlaceholder, at));
    if (at.size() != 1) throw Failure{0, "file checksum", "placeholder not found once"};
    std::size_t done = 0;
    while (done < h.size()) {
      const ssize_t n =
          ::pwrite(fd, h.data() + done, h.size() - done, static_cast<off_t>(at[0] + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Failure{n < 0 ? errno : EIO, "write", ""};
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) throw Failure{errno, "fsync", ""};
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw Failure{errno, "close", ""};
}

// Tallies as the datasets `counts` (n x kStateCountColumns) and `moments` (n x
// fields x 5) in group `g`: the flat layout of shard.hpp, exact. Shared by
// /state and a checkpoint's /checkpoint.
void write_tally_table(hid_t g, const std::vector<Tally>& segs) {
  const hsize_t n = segs.size();
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(n) * kStateCountColumns);
  std::vector<double> moments(static_cast<std::size_t>(n) * kNumFields * kStateMomentColumns);
  for (std::size_t j = 0; j < segs.size(); ++j)
    flatten_tally(segs[j], counts.data() + j * kStateCountColumns,
                  moments.data() + j * kNumFields * kStateMomentColumns);
  {
    const hsize_t dims[2] = {n, kStateCountColumns};
    const Handle s(h5("dataspace", [&] { return H5Screate_simple(2, dims, nullptr); }), H5Sclose);
    const std::uint64_t none = 0;
    write_dataset(g, "counts", H5T_STD_U64LE, H5T_NATIVE_UINT64, s.get(),
                  n > 0 ? counts.data() : &none);
  }
  {
    const hsize_t dims[3] = {n, kNumFields, kStateMomentColumns};
    const Handle s(h5("dataspace", [&] { return H5Screate_simple(3, dims, nullptr); }), H5Sclose);
    const double none = 0;
    write_dataset(g, "moments", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s.get(),
                  n > 0 ? moments.data() : &none);
  }
}

// /state: the per-segment tallies and analysis rows, and the histogram counts.
void write_state(hid_t file, const RunInfo& info, const SegmentState& st) {
  const Handle g = make_group(file, "state");
  const std::vector<Tally>& segs = st.segments;
  const hsize_t n = segs.size();
  write_tally_table(g.get(), segs);
  write_extra_table(g.get(), st.extras);
  if (!st.hist.empty()) {
    const hsize_t dims[1] = {st.hist.size()};
    const Handle s(h5("dataspace", [&] { return H5Screate_simple(1, dims, nullptr); }), H5Sclose);
    write_dataset(g.get(), "hist", H5T_STD_U64LE, H5T_NATIVE_UINT64, s.get(), st.hist.data());
  }
  attr_u64(g.get(), "segment_first", st.segment_first);
  attr_u64(g.get(), "segment_end", st.segment_first + n);
  attr_u64(g.get(), "segment_count_total", st.segment_count_total);
  attr_u64(g.get(), "segment_blocks", info.segment_blocks);
  attr_string(g.get(), "checksum", state_checksum(segs));
}

void write_layout(hid_t file, const Result& result) {
  const RunInfo& info = result.info;
  const Tally& t = result.tally;
  const std::uint64_t invalid = t.draws - t.valid;

  attr_string(file, "format", kFormatName);
  attr_i32(file, "format_version", kFormatVersion);
  attr_string(file, "program_version", info.program_version);
  attr_string(file, "git_commit", info.git_commit);
  attr_string(file, "config", info.config_yaml);
  attr_u64(file, "seed", info.seed);
  attr_u64(file, "draws_requested", info.draws_requested);
  attr_u64(file, "draws_valid", t.valid);
  attr_u64(file, "draws_invalid", invalid);
  attr_u64(file, "block_draws", info.block_draws);
  attr_string(file, "kind", info.kind);
  attr_u64(file, "shard_index", info.shard_index);
  attr_u64(file, "shard_count", info.shard_count);
  attr_string(file, "config_hash", info.config_hash);
  attr_string(file, "model", info.model);
  attr_string(file, "backend", info.backend);
  attr_string(file, "device", info.device);
  attr_string(file, "created", info.created.empty() ? utc_now_iso8601() : info.created);
  attr_f64(file, "wall_seconds", info.wall_seconds);
  attr_f64(file, "draws_per_second", draws_per_second(t.draws, info.wall_seconds));

  write_summary_group(file, t);
  {
    const Handle undefined = make_group(file, "undefined");
    dataset_u64(undefined.get(), "A2_crit", t.a2crit_undefined);
  }
  write_events_group(file, t);
  {
    const Handle regimes = make_group(file, "regimes");
    regime_dataset(regimes.get(), "stage2", t.regime2);
    regime_dataset(regimes.get(), "upgrade", t.regime_up);
  }
  {
    const Handle inv = make_group(file, "invalid");
    for (int i = 0; i < kNumInvalid; ++i) dataset_u64(inv.get(), kInvalidNames[i], t.invalid[i]);
  }
  write_analysis(file, result);
  write_state(file, info, result.state);
  if (info.kind == kKindCheckpoint) {
    const Handle g = make_group(file, "checkpoint");
    const std::vector<Tally> current = {result.checkpoint.current};
    write_tally_table(g.get(), current);
    if (!result.state.extras.empty() || !result.checkpoint.current_extra.empty())
      write_extra_table(g.get(), {result.checkpoint.current_extra});
    attr_u64(g.get(), "next_block", result.checkpoint.next_block);
    attr_string(g.get(), "checksum", state_checksum(current));
  }
  attr_string(file, "file_checksum", kFileChecksumPlaceholder);
}

// The file is built in memory (core driver, no backing store) and its image
// written with plain POSIX calls. Disk errors (ENOSPC, EFBIG, EIO) then come
// back as errno, and HDF5 never holds a half-written file: in 1.10 a file
// whose H5Fclose failed on a full disk crashes the library at exit.
std::vector<unsigned char> build_image(const std::string& name, const Result& result) {
  Handle fapl(h5("file access list", [] { return H5Pcreate(H5P_FILE_ACCESS); }), H5Pclose);
  h5("file access list", [&] { return H5Pset_fapl_core(fapl.get(), 1 << 20, 0); });
  h5("file access list", [&] { return H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG); });
  Handle file(h5("create file",
                 [&] { return H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()); }),
              H5Fclose);
  write_layout(file.get(), result);
  h5("flush", [&] { return H5Fflush(file.get(), H5F_SCOPE_GLOBAL); });
  const ssize_t size = h5("file image", [&] { return H5Fget_file_image(file.get(), nullptr, 0); });
  std::vector<unsigned char> image(static_cast<std::size_t>(size));
  h5("file image", [&] { return H5Fget_file_image(file.get(), image.data(), image.size()); });
  h5("close", [&] { return file.close(); });
  seal_image(image);
  return image;
}

// Writes all of `data` to the (existing, empty) file and fsyncs it.
void write_file(const std::string& file, const std::vector<unsigned char>& data) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) throw Failure{errno, "open", ""};
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      throw Failure{err, "write", ""};
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    throw Failure{err, "fsync", ""};
  }
  // close() can report a deferred write error (NFS).
  if (::close(fd) != 0) throw Failure{errno, "close", ""};
}

// ---------------------------------------------------------------------------
// Reading. Each reader checks the object's class and shape, so a file from
// another program fails with the name of the object rather than garbage.

void require_scalar(hid_t space, const std::string& what) {
  const H5S_class_t cls = H5Sget_simple_extent_type(space);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (!(cls == H5S_SCALAR || (cls == H5S_SIMPLE && n == 1))) throw Failure{0, what, "not a scalar"};
}

void require_class(hid_t type, H5T_class_t want, const std::string& what) {
  if (H5Tget_class(type) != want) {
    const char* kind = want == H5T_INTEGER ? "an integer"
                       : want == H5T_FLOAT ? "a float"
                                           : "a string";
    throw Failure{0, what, std::string("not ") + kind};
  }
}

// How messages name attribute `name` of object `obj` ("." is the location itself).
std::string attr_what(const char* name, const std::string& obj) {
  return obj == "." ? std::string("attribute '") + name + "'"
                    : std::string("attribute '") + name + "' of '" + obj + "'";
}

// An attribute opened for reading, with its type and dataspace; `what` names it in messages.
struct Attr {
  std::string what;
  Handle a, t, s;
  herr_t read(hid_t mem_type, void* buf) const { return H5Aread(a.get(), mem_type, buf); }
};

Attr open_attr(hid_t loc, const std::string& obj, const char* name) {
  Attr r{attr_what(name, obj), {}, {}, {}};
  r.a = Handle(h5(r.what,
                  [&] {
                    return obj == "."
                               ? H5Aopen(loc, name, H5P_DEFAULT)
                               : H5Aopen_by_name(loc, obj.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
                  }),
               H5Aclose);
  r.t = Handle(h5(r.what, [&] { return H5Aget_type(r.a.get()); }), H5Tclose);
  r.s = Handle(h5(r.what, [&] { return H5Aget_space(r.a.get()); }), H5Sclose);
  return r;
}

// Reads a numeric scalar attribute into `out` (converted by HDF5 to mem_type).
void read_attr_number(hid_t loc, const char* name, H5T_class_t cls, hid_t mem_type, void* out,
                      const std::string& obj = ".") {
  const Attr x = open_attr(loc, obj, name);
  require_class(x.t.get(), cls, x.what);
  require_scalar(x.s.get(), x.what);
  h5(x.what, [&] { return x.read(mem_type, out); });
}

std::uint64_t read_attr_u64(hid_t loc, const char* name, const std::string& obj = ".") {
  std::uint64_t v = 0;
  read_attr_number(loc, name, H5T_INTEGER, H5T_NATIVE_UINT64, &v, obj);
  return v;
}

double read_attr_f64(hid_t loc, const char* name, const std::string& obj = ".") {
  double v = 0;
  read_attr_number(loc, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, &v, obj);
  return v;
}

// The values of a float attribute of shape [n].
std::vector<double> read_attr_f64s(hid_t loc, const char* name, const std::string& obj, hsize_t n) {
  const Attr x = open_attr(loc, obj, name);
  require_class(x.t.get(), H5T_FLOAT, x.what);
  hsize_t dims[1] = {0};
  if (H5Sget_simple_extent_ndims(x.s.get()) != 1 ||
      H5Sget_simple_extent_dims(x.s.get(), dims, nullptr) != 1 || dims[0] != n)
    throw Failure{0, x.what, "not " + std::to_string(n) + " values"};
  std::vector<double> v(static_cast<std::size_t>(n));
  h5(x.what, [&] { return x.read(H5T_NATIVE_DOUBLE, v.data()); });
  return v;
}

// Every string of a string attribute or dataset (type `t`, space `s`),
// variable- or fixed-length (h5py writes either). read(mem_type, buffer)
// reads the whole object.
template <class Read>
std::vector<std::string> read_strings(hid_t t, hid_t s, const std::string& what, Read&& read) {
  require_class(t, H5T_STRING, what);
  const hssize_t points = H5Sget_simple_extent_npoints(s);
  if (points < 0 || points > (1 << 20)) throw Failure{0, what, "implausible size"};
  const auto n = static_cast<std::size_t>(points);
  std::vector<std::string> values;
  if (h5(what, [&] { return H5Tis_variable_str(t); }) > 0) {
    Handle mem(h5(what, [] { return H5Tcopy(H5T_C_S1); }), H5Tclose);
    h5(what, [&] { return H5Tset_size(mem.get(), H5T_VARIABLE); });
    h5(what, [&] { return H5Tset_cset(mem.get(), H5Tget_cset(t)); });
    std::vector<char*> p(n, nullptr);
    h5(what, [&] { return read(mem.get(), p.data()); });
    for (char* x : p) {
      values.emplace_back(x != nullptr ? x : "");
      H5free_memory(x);
    }
    return values;
  }
  const std::size_t size = H5Tget_size(t);
  std::vector<char> buf(n * size + 1, '\0');
  h5(what, [&] { return read(t, buf.data()); });
  for (std::size_t i = 0; i < n; ++i) {
    const char* x = buf.data() + i * size;
    std::string value(x, strnlen(x, size));  // stops at the first NUL (NULLTERM/NULLPAD)
    if (H5Tget_strpad(t) == H5T_STR_SPACEPAD) {
      const std::size_t end = value.find_last_not_of(' ');
      value.erase(end == std::string::npos ? 0 : end + 1);
    }
    values.push_back(std::move(value));
  }
  return values;
}

// Scalar string attribute.
std::string read_attr_string(hid_t loc, const char* name, const std::string& obj = ".") {
  const Attr x = open_attr(loc, obj, name);
  require_class(x.t.get(), H5T_STRING, x.what);
  require_scalar(x.s.get(), x.what);
  return read_strings(x.t.get(), x.s.get(), x.what,
                      [&](hid_t mem, void* buf) { return x.read(mem, buf); })
      .front();
}

// String attribute of shape [n] (root path_names).
std::vector<std::string> read_attr_strings(hid_t loc, const char* name, const std::string& obj) {
  const Attr x = open_attr(loc, obj, name);
  if (H5Sget_simple_extent_ndims(x.s.get()) != 1) throw Failure{0, x.what, "not of rank 1"};
  return read_strings(x.t.get(), x.s.get(), x.what,
                      [&](hid_t mem, void* buf) { return x.read(mem, buf); });
}

// String dataset of shape [n] (/sensitivity/parameters).
std::vector<std::string> read_dataset_strings(hid_t loc, const std::string& name) {
  const std::string what = "dataset '" + name + "'";
  Handle d(h5(what, [&] { return H5Dopen2(loc, name.c_str(), H5P_DEFAULT); }), H5Dclose);
  const Handle t(h5(what, [&] { return H5Dget_type(d.get()); }), H5Tclose);
  const Handle s(h5(what, [&] { return H5Dget_space(d.get()); }), H5Sclose);
  if (H5Sget_simple_extent_ndims(s.get()) != 1) throw Failure{0, what, "not of rank 1"};
  return read_strings(t.get(), s.get(), what, [&](hid_t mem, void* buf) {
    return H5Dread(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  });
}

void read_dataset(hid_t loc, const std::string& name, H5T_class_t cls, hid_t mem_type,
                  hsize_t count, void* out) {
  const std::string what = "dataset '" + name + "'";
  Handle d(h5(what, [&] { return H5Dopen2(loc, name.c_str(), H5P_DEFAULT); }), H5Dclose);
  const Handle t(h5(what, [&] { return H5Dget_type(d.get()); }), H5Tclose);
  const Handle s(h5(what, [&] { return H5Dget_space(d.get()); }), H5Sclose);
  require_class(t.get(), cls, what);
  if (count == 0) {
    // Shape checked by the caller.
  } else if (count == 1) {
    require_scalar(s.get(), what);
  } else {
    hsize_t dims[1] = {0};
    if (H5Sget_simple_extent_ndims(s.get()) != 1 ||
        H5Sget_simple_extent_dims(s.get(), dims, nullptr) != 1 || dims[0] != count)
      throw Failure{0, what, "not " + std::to_string(count) + " values"};
  }
  h5(what, [&] { return H5Dread(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out); });
}

std::uint64_t read_u64(hid_t loc, const std::string& name) {
  std::uint64_t v = 0;
  read_dataset(loc, name, H5T_INTEGER, H5T_NATIVE_UINT64, 1, &v);
  return v;
}

double read_f64(hid_t loc, const std::string& name) {
  double v = 0;
  read_dataset(loc, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, 1, &v);
  return v;
}

// A dimension of read_array's shape that may have any length.
constexpr hsize_t kAnyLength = ~hsize_t{0};

std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + (dims[i] == kAnyLength ? std::string("n") : std::to_string(dims[i]));
  return s + "]";
}

// A whole dataset of class `cls` and shape `shape` (kAnyLength: any length
// in that dimension) as a flat row-major vector.
template <class T>
std::vector<T> read_array(hid_t loc, const std::string& name, H5T_class_t cls, hid_t mem_type,
                          const std::vector<hsize_t>& shape) {
  const std::string what = "dataset '" + name + "'";
  Handle d(h5(what, [&] { return H5Dopen2(loc, name.c_str(), H5P_DEFAULT); }), H5Dclose);
  const Handle t(h5(what, [&] { return H5Dget_type(d.get()); }), H5Tclose);
  const Handle s(h5(what, [&] { return H5Dget_space(d.get()); }), H5Sclose);
  require_class(t.get(), cls, what);
  const int rank = static_cast<int>(shape.size());
  std::vector<hsize_t> dims(shape.size());
  if (H5Sget_simple_extent_ndims(s.get()) != rank ||
      H5Sget_simple_extent_dims(s.get(), dims.data(), nullptr) != rank)
    throw Failure{0, what, "not of shape " + shape_text(shape)};
  // Beyond any grid or histogram (/state/hist: 25 fields x 2^20 + 2 counters at
  // most), so that a corrupt size fails.
  constexpr hsize_t kLimit = hsize_t{1} << 26;
  hsize_t n = 1;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] != kAnyLength && dims[i] != shape[i])
      throw Failure{0, what, "of shape " + shape_text(dims) + ", expected " + shape_text(shape)};
    if (dims[i] > kLimit || n * dims[i] > kLimit) throw Failure{0, what, "implausible size"};
    n *= dims[i];
  }
  std::vector<T> v(static_cast<std::size_t>(n));
  if (n > 0)
    h5(what, [&] { return H5Dread(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()); });
  return v;
}

std::vector<double> read_f64s(hid_t loc, const std::string& name,
                              const std::vector<hsize_t>& shape) {
  return read_array<double>(loc, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, shape);
}

std::vector<std::uint64_t> read_u64s(hid_t loc, const std::string& name,
                                     const std::vector<hsize_t>& shape) {
  return read_array<std::uint64_t>(loc, name, H5T_INTEGER, H5T_NATIVE_UINT64, shape);
}

bool has_link(hid_t loc, const std::string& name) {
  return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0;
}

// <g>count, mean, std, sem, min, max (g ends in '/'): a /summary/<field> group
// and every group laid out like it.
void read_stats(hid_t file, const std::string& g, SummaryStats& s) {
  s.count = read_u64(file, g + "count");
  s.mean = read_f64(file, g + "mean");
  s.std = read_f64(file, g + "std");
  s.sem = read_f64(file, g + "sem");
  s.min = read_f64(file, g + "min");
  s.max = read_f64(file, g + "max");
}

// <g>count, probability, ci95_low, ci95_high: an /events/<event> group and
// every group laid out like it; `total` is what the probability is a share of.
void read_proportion(hid_t file, const std::string& g, std::uint64_t total, Proportion& p) {
  p.count = read_u64(file, g + "count");
  p.total = total;
  p.probability = read_f64(file, g + "probability");
  p.ci95_low = read_f64(file, g + "ci95_low");
  p.ci95_high = read_f64(file, g + "ci95_high");
}

// <prefix>summary, <prefix>undefined and <prefix>events: the main groups at
// the root (prefix "") and in each /conditional/<name>/.
void read_tally_groups(hid_t file, const std::string& prefix, std::uint64_t valid,
                       SummaryStats (&summary)[kNumFields], std::uint64_t& a2crit_undefined,
                       Proportion (&events)[kNumEvents]) {
  for (int f = 0; f < kNumFields; ++f)
    read_stats(file, prefix + "summary/" + kFieldNames[f] + "/", summary[f]);
  a2crit_undefined = read_u64(file, prefix + "undefined/A2_crit");
  for (int e = 0; e < kNumEvents; ++e)
    read_proportion(file, prefix + "events/" + kEventNames[e] + "/", valid, events[e]);
}

// Shape of a /state dataset: rank and trailing dimensions fixed, first free
// (but bounded by what the file could hold, so a corrupt size fails cleanly).
hsize_t state_rows(hid_t loc, const char* name, int rank, const hsize_t* trailing) {
  const std::string what = std::string("dataset 'state/") + name + "'";
  Handle d(h5(what, [&] { return H5Dopen2(loc, name, H5P_DEFAULT); }), H5Dclose);
  const Handle s(h5(what, [&] { return H5Dget_space(d.get()); }), H5Sclose);
  hsize_t dims[3] = {0, 0, 0};
  if (H5Sget_simple_extent_ndims(s.get()) != rank ||
      H5Sget_simple_extent_dims(s.get(), dims, nullptr) != rank)
    throw Failure{0, what, "not of rank " + std::to_string(rank)};
  for (int i = 1; i < rank; ++i)
    if (dims[i] != trailing[i - 1]) throw Failure{0, what, "wrong shape"};
  if (dims[0] > (1ull << 32)) throw Failure{0, what, "implausible size"};
  return dims[0];
}

// The tallies of write_tally_table; `group` names the group in messages.
std::vector<Tally> read_tally_table(hid_t g, const std::string& group) {
  const hsize_t ctrail[1] = {kStateCountColumns};
  const hsize_t mtrail[2] = {kNumFields, kStateMomentColumns};
  const hsize_t n = state_rows(g, "counts", 2, ctrail);
  if (state_rows(g, "moments", 3, mtrail) != n)
    throw Failure{0, "group '" + group + "'", "counts and moments differ in length"};
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(n) * kStateCountColumns);
  std::vector<double> moments(static_cast<std::size_t>(n) * kNumFields * kStateMomentColumns);
  if (n > 0) {
    read_dataset(g, "counts", H5T_INTEGER, H5T_NATIVE_UINT64, 0, counts.data());
    read_dataset(g, "moments", H5T_FLOAT, H5T_NATIVE_DOUBLE, 0, moments.data());
  }
  std::vector<Tally> tallies;
  for (std::size_t j = 0; j < n; ++j)
    tallies.push_back(unflatten_tally(counts.data() + j * kStateCountColumns,
                                      moments.data() + j * kNumFields * kStateMomentColumns));
  return tallies;
}

// <g>/extra of write_extra_table, as raw rows (their layout comes from the
// config, which the caller has): empty when absent.
std::vector<unsigned char> read_extra_table(hid_t g, std::size_t& row_bytes) {
  row_bytes = 0;
  if (H5Lexists(g, "extra", H5P_DEFAULT) <= 0) return {};
  Handle d(h5("dataset 'extra'", [&] { return H5Dopen2(g, "extra", H5P_DEFAULT); }), H5Dclose);
  const Handle s(h5("dataset 'extra'", [&] { return H5Dget_space(d.get()); }), H5Sclose);
  hsize_t dims[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(s.get()) != 2 ||
      H5Sget_simple_extent_dims(s.get(), dims, nullptr) != 2 || dims[0] * dims[1] > (1ull << 34))
    throw Failure{0, "dataset 'extra'", "not a plausible [rows, bytes] table"};
  std::vector<unsigned char> bytes(static_cast<std::size_t>(dims[0] * dims[1]));
  if (!bytes.empty())
    h5("dataset 'extra'", [&] {
      return H5Dread(d.get(), H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
    });
  row_bytes = static_cast<std::size_t>(dims[1]);
  return bytes;
}

void read_state(hid_t file, ResultFile& r) {
  const Handle g(h5("group 'state'", [&] { return H5Gopen2(file, "state", H5P_DEFAULT); }),
                 H5Gclose);
  r.state.segment_first = read_attr_u64(g.get(), "segment_first");
  r.segment_end = read_attr_u64(g.get(), "segment_end");
  r.state.segment_count_total = read_attr_u64(g.get(), "segment_count_total");
  r.info.segment_blocks = read_attr_u64(g.get(), "segment_blocks");
  r.state_checksum = read_attr_string(g.get(), "checksum");
  r.state.segments = read_tally_table(g.get(), "state");
  r.state_checksum_data = state_checksum(r.state.segments);
  r.state_extra = read_extra_table(g.get(), r.state_extra_row);
  if (has_link(g.get(), "hist")) r.state.hist = read_u64s(g.get(), "hist", {kAnyLength});
}

// /checkpoint of a checkpoint file: one row, the current segment's partial.
void read_checkpoint_part(hid_t file, ResultFile& r) {
  const Handle g(
      h5("group 'checkpoint'", [&] { return H5Gopen2(file, "checkpoint", H5P_DEFAULT); }),
      H5Gclose);
  r.checkpoint.next_block = read_attr_u64(g.get(), "next_block");
  r.checkpoint_checksum = read_attr_string(g.get(), "checksum");
  const std::vector<Tally> rows = read_tally_table(g.get(), "checkpoint");
  if (rows.size() != 1) throw Failure{0, "group 'checkpoint'", "not exactly one row"};
  r.checkpoint.current = rows[0];
  std::size_t row = 0;
  r.checkpoint_extra = read_extra_table(g.get(), row);
  r.checkpoint_checksum_data = state_checksum(rows);
}

// /summary/<field>/{quantiles, quantile_bounds, histogram/} of the fields
// that have them (the writer's choice: by default the outputs).
void read_quantiles(hid_t file, ResultFile& r) {
  for (int f = 0; f < kNumFields; ++f) {
    const std::string g = std::string("summary/") + kFieldNames[f] + "/";
    if (!has_link(file, g + "quantiles")) continue;
    ResultFile::Quantiles q;
    q.field = f;
    q.values = read_f64s(file, g + "quantiles", {kQuantileCount});
    q.levels = read_attr_f64s(file, "levels", g + "quantiles", kQuantileCount);
    q.bounds = read_f64s(file, g + "quantile_bounds", {kQuantileCount, 2});
    const std::string h = g + "histogram";
    q.counts = read_u64s(file, h + "/counts", {kAnyLength});
    q.edges = read_f64s(file, h + "/edges", {q.counts.size() + 1});
    q.underflow = read_attr_u64(file, "underflow", h);
    q.overflow = read_attr_u64(file, "overflow", h);
    q.range_source = read_attr_string(file, "range_source", h);
    r.quantiles.push_back(std::move(q));
  }
}

// /paths: one group per name of the root attribute path_names, and none_pays.
void read_paths(hid_t file, ResultFile& r) {
  for (const std::string& name : read_attr_strings(file, "path_names", ".")) {
    ResultFile::PathGain p;
    p.name = name;
    read_stats(file, "paths/" + name + "/gain/", p.gain);
    read_proportion(file, "paths/" + name + "/best/", r.draws_valid, p.best);
    r.paths.push_back(std::move(p));
  }
  read_proportion(file, "paths/none_pays/", r.draws_valid, r.paths_none_pays);
}

// /conditional/<name> for each condition of the config.
void read_conditional(hid_t file, const Config& cfg, ResultFile& r) {
  for (const Condition& c : cfg.conditions) {
    ResultFile::Conditional x;
    x.name = condition_name(c);
    const std::string g = "conditional/" + x.name + "/";
    read_proportion(file, g, r.draws_valid, x.share);
    read_tally_groups(file, g, x.share.count, x.summary, x.a2crit_undefined, x.events);
    r.conditional.push_back(std::move(x));
  }
}

// A sweep's grid, for `inspect`: coordinates, and per cell what its table shows.
void read_sweep(hid_t file, const Config& cfg, ResultFile& r) {
  auto& s = r.sweep;
  std::vector<hsize_t> grid;
  for (const auto& a : cfg.sweep.axes) {
    s.axes.push_back(a.name);
    s.coords.push_back(read_f64s(file, "sweep/" + a.name, {kAnyLength}));
    grid.push_back(s.coords.back().size());
  }
  s.valid = read_u64s(file, "sweep/counts/draws_valid", grid);
  s.p_leader_gains = read_f64s(file, "sweep/events/leader_gains/probability", grid);
  s.p_upgrade_pays = read_f64s(file, "sweep/events/upgrade_gain_positive/probability", grid);
  s.mean_upgrade_gain = read_f64s(file, "sweep/summary/upgrade_gain/mean", grid);
}

// Splits a [k, 2] array of (lo, hi) pairs.
void split_pairs(const std::vector<double>& pairs, std::vector<double>& lo,
                 std::vector<double>& hi) {
  for (std::size_t i = 0; i + 1 < pairs.size(); i += 2) {
    lo.push_back(pairs[i]);
    hi.push_back(pairs[i + 1]);
  }
}

// /sensitivity: the parameters, the design's attributes and, per output of
// the config, S1, ST and their intervals.
void read_sensitivity(hid_t file, const Config& cfg, ResultFile& r) {
  SensitivityResult& s = r.sensitivity;
  s.parameters = read_dataset_strings(file, "sensitivity/parameters");
  s.base_draws = read_attr_u64(file, "base_draws", "sensitivity");
  s.base_draws_invalid = read_attr_u64(file, "base_draws_invalid", "sensitivity");
  s.evaluations = read_attr_u64(file, "evaluations", "sensitivity");
  const hsize_t k = s.parameters.size();
  for (const std::string& output : cfg.sensitivity.outputs) {
    SensitivityIndices o;
    o.output = output;
    const std::string g = "sensitivity/" + output;
    o.S1 = read_f64s(file, g + "/S1", {k});
    split_pairs(read_f64s(file, g + "/S1_ci", {k, 2}), o.S1_lo, o.S1_hi);
    o.ST = read_f64s(file, g + "/ST", {k});
    split_pairs(read_f64s(file, g + "/ST_ci", {k, 2}), o.ST_lo, o.ST_hi);
    o.mean = read_attr_f64(file, "mean", g);
    o.variance = read_attr_f64(file, "variance", g);
    o.n = read_attr_u64(file, "n", g);
    s.outputs.push_back(std::move(o));
  }
  r.has_sensitivity = true;
}

// The analysis groups the file holds. Groups without an index of their own
// take their names from the stored config, parsed only when one is present.
void read_analyses(hid_t file, ResultFile& r) {
  read_quantiles(file, r);
  if (has_link(file, "paths")) read_paths(file, r);
  const bool conditional = has_link(file, "conditional"), sweep = has_link(file, "sweep"),
             sensitivity = has_link(file, "sensitivity");
  if (!conditional && !sweep && !sensitivity) return;
  const Config cfg = parse_config_text(r.info.config_yaml, "attribute 'config'");
  if (conditional) read_conditional(file, cfg, r);
  if (sweep) read_sweep(file, cfg, r);
  if (sensitivity) read_sensitivity(file, cfg, r);
}

void read_layout(hid_t file, ResultFile& r) {
  RunInfo& info = r.info;
  info.program_version = read_attr_string(file, "program_version");
  info.git_commit = read_attr_string(file, "git_commit");
  info.config_yaml = read_attr_string(file, "config");
  info.seed = read_attr_u64(file, "seed");
  info.draws_requested = read_attr_u64(file, "draws_requested");
  r.draws_valid = read_attr_u64(file, "draws_valid");
  r.draws_invalid = read_attr_u64(file, "draws_invalid");
  info.block_draws = read_attr_u64(file, "block_draws");
  info.kind = read_attr_string(file, "kind");
  info.shard_index = read_attr_u64(file, "shard_index");
  info.shard_count = read_attr_u64(file, "shard_count");
  info.config_hash = read_attr_string(file, "config_hash");
  info.model = read_attr_string(file, "model");
  info.backend = read_attr_string(file, "backend");
  info.device = read_attr_string(file, "device");
  info.created = read_attr_string(file, "created");
  info.wall_seconds = read_attr_f64(file, "wall_seconds");

  read_tally_groups(file, "", r.draws_valid, r.summary, r.a2crit_undefined, r.events);
  read_dataset(file, "regimes/stage2", H5T_INTEGER, H5T_NATIVE_INT64, kNumRegimes, r.regime2);
  read_dataset(file, "regimes/upgrade", H5T_INTEGER, H5T_NATIVE_INT64, kNumRegimes, r.regime_up);
  for (int i = 0; i < kNumInvalid; ++i)
    r.invalid[i] = read_u64(file, std::string("invalid/") + kInvalidNames[i]);
  read_state(file, r);
  read_analyses(file, r);
  if (info.kind == kKindCheckpoint) read_checkpoint_part(file, r);
}

bool looks_like_hdf5(const std::string& path) {
#if H5_VERSION_GE(1, 12, 0)
  return H5Fis_accessible(path.c_str(), H5P_DEFAULT) > 0;
#else
  return H5Fis_hdf5(path.c_str()) > 0;
#endif
}

}  // namespace

// ---------------------------------------------------------------------------

void check_output_path(const std::string& path, bool force) {
  check_target(path, force);
  // Held until write_result has renamed the file into place (or the process ends).
  lock_output(path);
  try {
    // Creating (and removing) a file is the only reliable test: access(W_OK)
    // ignores read-only mounts, ACLs and quotas.
    const std::string probe = create_temp(path, 0600);
    if (::unlink(probe.c_str()) != 0)
      throw OutputError("cannot write " + quoted(path) + ": " + std::strerror(errno));
  } catch (...) {
    output_locks().release(path);
    throw;
  }
}

void write_checkpoint(const std::string& path, const Result& checkpoint) {
  const QuietHdf5 quiet;
  check_target(path, true);
  const std::string tmp = create_temp(path, 0666);
  try {
    write_file(tmp, build_image(tmp, checkpoint));
    publish(tmp, path, true);
  } catch (const Failure& f) {
    ::unlink(tmp.c_str());
    throw OutputError("cannot write checkpoint " + quoted(path) + ": " + f.for_write());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  sync_directory(directory_of(split_path(path)));
}

void write_result(const std::string& path, const Result& result, bool force) {
  const QuietHdf5 quiet;
  check_target(path, force);
  lock_output(path);  // already held when check_output_path ran first
  std::string tmp;
  try {
    // 0666 as for any new file, so the umask decides (mkstemp's 0600 would not).
    tmp = create_temp(path, 0666);
    write_file(tmp, build_image(tmp, result));
    publish(tmp, path, force);
  } catch (const Failure& f) {
    if (!tmp.empty()) ::unlink(tmp.c_str());
    output_locks().release(path);
    throw OutputError("cannot write " + quoted(path) + ": " + f.for_write());
  } catch (...) {
    if (!tmp.empty()) ::unlink(tmp.c_str());
    output_locks().release(path);
    throw;
  }
  sync_directory(directory_of(split_path(path)));
  output_locks().release(path);
}

void write_result(const std::string& path, const Result& result, bool force, DrawFile* draws) {
  if (draws == nullptr) return write_result(path, result, force);
  if (draws->path() != path || draws->force() != force)
    throw std::logic_error("write_result: the DrawFile was made for another path");
  // The DrawFile checked the target and holds the lock; its temporary file
  // becomes the result: /draws is there, the rest is added, then it is sealed
  // on disk (streaming: the file can be far larger than memory) and renamed.
  draws->finish();
  const QuietHdf5 quiet;
  const std::string& tmp = draws->temp_path();
  try {
    {
      Handle fapl(h5("file access list", [] { return H5Pcreate(H5P_FILE_ACCESS); }), H5Pclose);
      h5("file access list", [&] { return H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG); });
      Handle file(h5("open", [&] { return H5Fopen(tmp.c_str(), H5F_ACC_RDWR, fapl.get()); }),
                  H5Fclose);
      write_layout(file.get(), result);
      h5("close", [&] { return file.close(); });
    }
    seal_file(tmp);
    publish(tmp, path, force);
  } catch (const Failure& f) {
    draws->discard();
    throw OutputError("cannot write " + quoted(path) + ": " + f.for_write());
  } catch (...) {
    draws->discard();
    throw;
  }
  draws->mark_published();
  sync_directory(directory_of(split_path(path)));
  release_output_lock(path);
}

namespace {

// `sealed`: the file's checksum as raw_file_checksum found it (empty: not found).
ResultFile read_unguarded(const std::string& path, const std::string& sealed = {});

// Files up to this size are checked byte for byte before HDF5 parses them: every
// result, shard and checkpoint without per-draw output (23 MB at 10^12 draws).
constexpr off_t kRawCheckBytes = off_t{64} << 20;

// The file_checksum of an intact file, found without parsing it: of the
// strings "fnv1a64:" + 16 hex digits in its bytes, the one file_checksum_problem
// accepts. Empty when none does (a damaged or modified file), or for a file
// larger than kRawCheckBytes or unreadable.
std::string raw_file_checksum(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st;
  std::vector<unsigned char> image;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kRawCheckBytes) {
    image.resize(static_cast<std::size_t>(st.st_size));
    std::size_t have = 0;
    while (have < image.size()) {
      const ssize_t n = ::read(fd, image.data() + have, image.size() - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      have += static_cast<std::size_t>(n);
    }
    image.resize(have);
  }
  ::close(fd);
  const std::size_t len = std::strlen(kFileChecksumPlaceholder);
  const auto is_hex = [](unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  };
  std::vector<std::string> tried;  // config_hash and the state checksums look alike
  for (std::size_t i = 0; i + len <= image.size(); ++i) {
    const auto at = image.begin() + static_cast<std::ptrdiff_t>(i);
    if (std::memcmp(image.data() + i, "fnv1a64:", 8) != 0 || !std::all_of(at + 8, at + len, is_hex))
      continue;
    const std::string candidate(at, at + static_cast<std::ptrdiff_t>(len));
    if (std::find(tried.begin(), tried.end(), candidate) != tried.end()) continue;
    tried.push_back(candidate);
    if (file_checksum_problem(path, candidate).empty()) return candidate;
  }
  return {};
}

// HDF5 trusts a file's metadata: some damaged files make it crash or loop
// rather than fail. A file whose bytes raw_file_checksum finds intact is what
// this program wrote, and is read directly. Any other is read once in a child
// process first; if that child dies, or ends in any way but a clean read (0) or
// a refusal (3, which the parent's own read then reports), the file is refused
// with a message. Returns the file_checksum the child found the bytes to match
// (through a pipe), so that the parent need not hash a large file again; empty
// when it found none.
// Under AddressSanitizer, HDF5's out-of-bounds reads end the child with exit 1.
// fork() copies only this thread: no other thread may be inside HDF5 (holding
// its lock) at this point, or the child would wait forever. The one other
// thread that calls HDF5, a DrawFile's writer, is never alive here.
std::string probe_in_child(const std::string& path) {
  std::fflush(nullptr);
  // A loop on damaged metadata ends as SIGALRM. A small file's summary reads
  // in well under a second; a large one (per-draw output) is also hashed whole.
  struct stat file;
  const bool small = ::stat(path.c_str(), &file) == 0 && file.st_size <= kRawCheckBytes;
  int verdict[2] = {-1, -1};
  if (::pipe2(verdict, O_CLOEXEC) != 0) verdict[0] = verdict[1] = -1;  // then hash twice
  const pid_t pid = ::fork();
  if (pid < 0) {  // no process to spare: read unguarded
    for (const int fd : verdict)
      if (fd >= 0) ::close(fd);
    return {};
  }
  if (pid == 0) {
    ::alarm(small ? 20 : 120);
    // Test hook: the child ends with this status, as a library failure would.
    if (const char* v = std::getenv("SPILLMC_TEST_PROBE_EXIT")) ::_exit(std::atoi(v));
    int rc = 0;
    try {
      const ResultFile r = read_unguarded(path);
      if (r.file_checksum_problem.empty() && verdict[1] >= 0)
        (void)!::write(verdict[1], r.file_checksum.data(), r.file_checksum.size());
    } catch (...) {
      rc = 3;
    }
    ::_exit(rc);
  }
  std::string sealed;
  if (verdict[1] >= 0) {
    ::close(verdict[1]);
    char buf[64];
    for (;;) {  // until the child exits (end of file); a few dozen bytes at most
      const ssize_t n = ::read(verdict[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      sealed.append(buf, static_cast<std::size_t>(n));
    }
    ::close(verdict[0]);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st))
    throw OutputError(quoted(path) + " is corrupt: reading it " +
                      (WTERMSIG(st) == SIGALRM ? std::string("did not finish")
                                               : std::string("crashed the HDF5 library (") +
                                                     strsignal(WTERMSIG(st)) + ")"));
  if (WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3)
    throw OutputError(quoted(path) + " is corrupt: reading it failed in the HDF5 library (exit " +
                      std::to_string(WEXITSTATUS(st)) + ")");
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? sealed : std::string();
}

}  // namespace

ResultFile read_result(const std::string& path) {
  {
    const QuietHdf5 quiet;
    if (path.empty()) throw OutputError("result file path is empty");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw OutputError("cannot read " + quoted(path) + ": " + std::strerror(errno));
    ::close(fd);
  }
  std::string sealed = raw_file_checksum(path);
  if (sealed.empty()) sealed = probe_in_child(path);
  return read_unguarded(path, sealed);
}

namespace {

ResultFile read_unguarded(const std::string& path, const std::string& sealed) {
  const QuietHdf5 quiet;
  if (path.empty()) throw OutputError("result file path is empty");
  // Plain open first: it gives the system's reason for a missing or unreadable file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw OutputError("cannot read " + quoted(path) + ": " + std::strerror(errno));
  struct stat st;
  const bool is_dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (is_dir) throw OutputError("cannot read " + quoted(path) + ": " + std::strerror(EISDIR));
  if (!looks_like_hdf5(path)) throw OutputError(quoted(path) + " is not an HDF5 file");

  ResultFile r;
  r.path = path;
  try {
    // Default access list: a file this process already holds open (default
    // close degree) could not be opened with another degree.
    const Handle file(
        h5("open", [&] { return H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }), H5Fclose);
    const hid_t f = file.get();
    if (H5Aexists(f, "format") <= 0)
      throw OutputError(quoted(path) + " is not a SpillMC result file (no 'format' attribute)");
    r.format = read_attr_string(f, "format");
    if (r.format != kFormatName)
      throw OutputError(quoted(path) + " is not a SpillMC result file (format is '" + r.format +
                        "', expected '" + kFormatName + "')");
    std::int64_t version = 0;
    read_attr_number(f, "format_version", H5T_INTEGER, H5T_NATIVE_INT64, &version);
    if (version != kFormatVersion)
      throw OutputError(quoted(path) + " has format_version " + std::to_string(version) +
                        "; this program reads format_version " + std::to_string(kFormatVersion));
    r.format_version = kFormatVersion;
    read_layout(f, r);
    r.file_checksum = read_attr_string(f, "file_checksum");
    // The bytes were hashed already when raw_file_checksum, or the probe's
    // child, found this value.
    if (sealed.empty() || r.file_checksum != sealed)
      r.file_checksum_problem = file_checksum_problem(path, r.file_checksum);
  } catch (const Failure& e) {
    throw OutputError("cannot read " + quoted(path) + ": " + e.for_read());
  }
  return r;
}

}  // namespace

}  // namespace spillmc
