// Per-draw output: /draws/<field> streamed by one writer thread from two host
// buffers (draw_writer.hpp). The file is the result's own temporary file;
// write_result (h5io.cpp) adds the summary groups, seals and publishes it.
#include "spillmc/draw_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "h5util.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/fields.hpp"

namespace spillmc {

using namespace h5util;

namespace {

// HDF5 1.10 crashes at exit (H5F__close_cb in H5_term_library) on a file
// whose H5Fclose failed, which a full disk does to a file written in place.
// Every file is closed explicitly by its Handle, so the exit handler has
// nothing to do: skip it. Runs before main, before the library initialises
// (this object is linked wherever h5io.cpp is).
[[maybe_unused]] const herr_t kNoHdf5Atexit = H5dont_atexit();

// Chunks of at most 2^19 elements (4 MiB of float64); with the default
// buffers at least 2^17 (1 MiB). The int8 datasets share the element count,
// so one buffer always covers whole chunks of every dataset and no chunk is
// written twice.
constexpr std::size_t kMaxChunk = std::size_t{1} << 19;

// The system's reason from HDF5's sec2 write error ("... error message =
// 'No space left on device', ..."), else HDF5's whole text.
std::string short_cause(const std::string& cause) {
  const std::string key = "error message = '";
  const std::size_t at = cause.find(key);
  if (at == std::string::npos) return cause;
  const std::size_t end = cause.find('\'', at + key.size());
  return end == std::string::npos ? cause : cause.substr(at + key.size(), end - at - key.size());
}

}  // namespace

struct DrawFile::Impl {
  struct Buffer {
    std::uint64_t start = 0;  // position of its first draw in the datasets
    std::size_t n = 0;
    std::vector<std::uint64_t> index;
    std::vector<std::int8_t> status, regime2, regime_up;
    std::vector<std::vector<double>> values;
  };

  std::string path, tmp;
  bool force = false;
  DrawsOutputConfig cfg;
  std::uint64_t total = 0, appended = 0;
  std::uint64_t last_index = 0;
  std::size_t chunk = 0, cap = 0;

  Handle file;
  std::vector<Handle> dsets;  // index, status, regime_stage2, regime_upgrade, fields...
  std::vector<std::string> dset_names;

  Buffer buf[2];
  int cur = 0;

  std::thread writer;
  std::mutex m;
  std::condition_variable cv;
  Buffer* pending = nullptr;  // handed to the writer, not yet written
  bool stop = false;
  std::string error;  // the writer's first failure

  bool finished = false, published = false, discarded = false;

  [[noreturn]] void fail(const std::string& why) const {
    throw OutputError("cannot write " + quoted(path) + ": " + why);
  }

  void create_datasets();
  void write(const Buffer& b);
  void writer_loop();
  void hand_off();
  void stop_writer() noexcept;
};

void DrawFile::Impl::create_datasets() {
  Handle g = make_group(file.get(), "draws");
  const char* sel = cfg.select == DrawSelect::first   ? "first"
                    : cfg.select == DrawSelect::every ? "every"
                                                      : "all";
  attr_string(g.get(), "selection", sel);
  attr_u64(g.get(), "selection_n", cfg.select == DrawSelect::all ? 0 : cfg.n);
  attr_u64(g.get(), "count", total);
  attr_string(g.get(), "compression", cfg.compress ? "deflate" : "none");
  attr_u64(g.get(), "chunk_draws", chunk);
  {
    const Handle t = string_type();
    const Handle s = vector_space(cfg.fields.size());
    std::vector<const char*> names;
    for (const int f : cfg.fields) names.push_back(kFieldNames[f]);
    write_attr(g.get(), "fields", t.get(), t.get(), s.get(), names.data());
  }

  Handle dcpl(h5("dataset properties", [] { return H5Pcreate(H5P_DATASET_CREATE); }), H5Pclose);
  if (total > 0) {
    const hsize_t c = chunk;
    h5("dataset properties", [&] { return H5Pset_chunk(dcpl.get(), 1, &c); });
    // Every element is written: no fill pass over the file first.
    h5("dataset properties", [&] { return H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER); });
    if (cfg.compress) {
      if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
        fail("compression: deflate is not available in this HDF5 library");
      h5("dataset properties", [&] { return H5Pset_shuffle(dcpl.get()); });
      h5("dataset properties", [&] { return H5Pset_deflate(dcpl.get(), 4); });
    }
  }
  // No chunk cache: each write covers whole chunks (or the last one), which
  // then go to disk (through the filters) at once instead of being copied.
  Handle dapl(h5("dataset properties", [] { return H5Pcreate(H5P_DATASET_ACCESS); }), H5Pclose);
  h5("dataset properties", [&] { return H5Pset_chunk_cache(dapl.get(), 0, 0, 1.0); });
  const Handle space = vector_space(total);
  const Handle text = string_type();
  auto make = [&](const std::string& name, hid_t type, const std::string& description) {
    const std::string what = "dataset 'draws/" + name + "'";
    Handle d(h5(what,
                [&] {
                  return H5Dcreate2(g.get(), name.c_str(), type, space.get(), H5P_DEFAULT,
                                    dcpl.get(), dapl.get());
                }),
             H5Dclose);
    attr_string(d.get(), "description", description);
    dset_names.push_back(name);
    dsets.push_back(std::move(d));
    return dsets.back().get();
  };
  make("index", H5T_STD_U64LE,
       "draw index of the run (the Philox counter: draw i of any run with this seed and config "
       "is the same draw), increasing");
  {
    const hid_t d = make("status", H5T_STD_I8LE,
                         "-1: valid draw; otherwise why it was not evaluated, an index into "
                         "'labels' (the outputs of such a draw are NaN, its parameters as drawn)");
    const Handle s = vector_space(kNumInvalid);
    write_attr(d, "labels", text.get(), text.get(), s.get(), kInvalidNames);
  }
  for (const char* name : {"regime_stage2", "regime_upgrade"}) {
    const hid_t d =
        make(name, H5T_STD_I8LE,
             std::string("Stackelberg regime of ") +
                 (std::string(name) == "regime_stage2" ? "stage 2 (follower at A1)"
                                                       : "the upgrade (follower at A2p)") +
                 ", an index into 'labels'; -1 for invalid draws");
    const Handle s = vector_space(kNumRegimes);
    write_attr(d, "labels", text.get(), text.get(), s.get(), kRegimeLabels);
  }
  for (const int f : cfg.fields) {
    std::string desc =
        std::string(kFieldNames[f]) + " of model.md, in the units of the config's " + "parameters";
    if (f >= kNumParams)
      desc +=
          "; NaN for invalid draws" +
          std::string(f == F_A2_crit ? " and where A2_crit is undefined (a - c + A1 <= 0)" : "");
    else
      desc += "; as drawn (also for invalid draws)";
    make(kFieldNames[f], H5T_IEEE_F64LE, desc);
  }
}

void DrawFile::Impl::write(const Buffer& b) {
  if (b.n == 0) return;
  const hsize_t start = b.start, count = b.n;
  const Handle mem = vector_space(count);
  const void* data[4] = {b.index.data(), b.status.data(), b.regime2.data(), b.regime_up.data()};
  for (std::size_t k = 0; k < dsets.size(); ++k) {
    const std::string what = "dataset 'draws/" + dset_names[k] + "'";
    const hid_t d = dsets[k].get();
    const hid_t type = k == 0 ? H5T_NATIVE_UINT64 : k < 4 ? H5T_NATIVE_INT8 : H5T_NATIVE_DOUBLE;
    const void* p = k < 4 ? data[k] : static_cast<const void*>(b.values[k - 4].data());
    const Handle fs(h5(what, [&] { return H5Dget_space(d); }), H5Sclose);
    h5(what, [&] {
      return H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr);
    });
    h5(what, [&] { return H5Dwrite(d, type, mem.get(), fs.get(), H5P_DEFAULT, p); });
  }
}

void DrawFile::Impl::writer_loop() {
  const QuietHdf5 quiet;  // per thread
  std::unique_lock<std::mutex> lk(m);
  for (;;) {
    cv.wait(lk, [&] { return pending != nullptr || stop; });
    if (pending == nullptr) return;
    Buffer* b = pending;
    lk.unlock();
    std::string err;
    try {
      write(*b);
    } catch (const Failure& f) {
      err = f.err != 0 ? f.for_write() : f.what + ": " + short_cause(f.cause);
    } catch (const std::exception& e) {
      err = e.what();
    }
    lk.lock();
    pending = nullptr;
    if (!err.empty() && error.empty()) error = err;
    cv.notify_all();
  }
}

// Gives the current buffer to the writer once it is done with the other one.
void DrawFile::Impl::hand_off() {
  std::unique_lock<std::mutex> lk(m);
  cv.wait(lk, [&] { return pending == nullptr; });
  if (!error.empty()) fail(error);
  Buffer& full = buf[cur];
  pending = &full;
  cv.notify_all();
  cur ^= 1;
  Buffer& next = buf[cur];
  next.start = full.start + full.n;
  next.n = 0;
}

void DrawFile::Impl::stop_writer() noexcept {
  if (!writer.joinable()) return;
  {
    std::lock_guard<std::mutex> lk(m);
    stop = true;
  }
  cv.notify_all();
  writer.join();
}

DrawFile::DrawFile(const std::string& path, bool force, const DrawsOutputConfig& cfg,
                   std::uint64_t total, std::size_t buffer_bytes)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.path = path;
  s.force = force;
  s.cfg = cfg;
  s.total = total;
  if (cfg.select == DrawSelect::none) throw std::logic_error("DrawFile: output.draws is off");
  for (const int f : cfg.fields)
    if (f < 0 || f >= kNumFields) throw std::logic_error("DrawFile: bad field index");

  // Buffer geometry: chunk = the largest power of two up to kMaxChunk with
  // one chunk of every dataset within buffer_bytes; a buffer holds as many
  // whole chunks as fit (at least one), but never more draws than there are.
  const std::size_t per_draw = 8 + 3 + 8 * cfg.fields.size();
  std::size_t chunk = kMaxChunk;
  while (chunk > 1 && chunk * per_draw > buffer_bytes) chunk /= 2;
  std::size_t cap = chunk * std::max<std::size_t>(1, buffer_bytes / (chunk * per_draw));
  if (total < chunk) chunk = static_cast<std::size_t>(total);
  if (total < cap) cap = static_cast<std::size_t>(total);
  s.chunk = chunk;
  s.cap = cap;

  const QuietHdf5 quiet;
  check_target(path, force);
  lock_output(path);  // already held when check_output_path ran first
  try {
    s.tmp = create_temp(path, 0666);
    Handle fapl(h5("file access list", [] { return H5Pcreate(H5P_FILE_ACCESS); }), H5Pclose);
    h5("file access list", [&] { return H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG); });
    s.file =
        Handle(h5("create file",
                  [&] { return H5Fcreate(s.tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()); }),
               H5Fclose);
    s.create_datasets();
  } catch (const Failure& f) {
    discard();
    s.fail(f.err != 0 ? f.for_write() : f.what + ": " + short_cause(f.cause));
  } catch (...) {
    discard();
    throw;
  }
  for (Impl::Buffer& b : s.buf) {
    b.index.resize(cap);
    b.status.resize(cap);
    b.regime2.resize(cap);
    b.regime_up.resize(cap);
    b.values.assign(cfg.fields.size(), std::vector<double>(cap));
  }
  s.writer = std::thread([&s] { s.writer_loop(); });
}

DrawFile::~DrawFile() {
  if (!impl_->published) discard();
}

void DrawFile::append(const DrawBatch& batch) {
  Impl& s = *impl_;
  const std::size_t n = batch.size();
  if (n == 0) return;
  if (s.finished || s.discarded) throw std::logic_error("DrawFile::append after finish");
  if (batch.values.size() != s.cfg.fields.size() || batch.status.size() != n ||
      batch.regime2.size() != n || batch.regime_up.size() != n)
    throw std::logic_error("DrawFile::append: batch columns do not match the configured fields");
  for (const auto& v : batch.values)
    if (v.size() != n) throw std::logic_error("DrawFile::append: ragged batch");
  if (n > s.total - s.appended)
    throw std::logic_error("DrawFile::append: more draws than the file was created for");
  if (s.appended > 0 && batch.index[0] <= s.last_index)
    throw std::logic_error("DrawFile::append: draws out of order");
  s.last_index = batch.index[n - 1];

  std::size_t done = 0;
  while (done < n) {
    Impl::Buffer& b = s.buf[s.cur];
    const std::size_t take = std::min(n - done, s.cap - b.n);
    std::copy_n(batch.index.begin() + static_cast<std::ptrdiff_t>(done), take,
                b.index.begin() + static_cast<std::ptrdiff_t>(b.n));
    std::copy_n(batch.status.begin() + static_cast<std::ptrdiff_t>(done), take,
                b.status.begin() + static_cast<std::ptrdiff_t>(b.n));
    std::copy_n(batch.regime2.begin() + static_cast<std::ptrdiff_t>(done), take,
                b.regime2.begin() + static_cast<std::ptrdiff_t>(b.n));
    std::copy_n(batch.regime_up.begin() + static_cast<std::ptrdiff_t>(done), take,
                b.regime_up.begin() + static_cast<std::ptrdiff_t>(b.n));
    for (std::size_t k = 0; k < b.values.size(); ++k)
      std::copy_n(batch.values[k].begin() + static_cast<std::ptrdiff_t>(done), take,
                  b.values[k].begin() + static_cast<std::ptrdiff_t>(b.n));
    b.n += take;
    done += take;
    s.appended += take;
    if (b.n == s.cap) s.hand_off();
  }
}

void DrawFile::finish() {
  Impl& s = *impl_;
  if (s.finished) return;
  if (s.discarded) throw std::logic_error("DrawFile::finish after discard");
  if (s.appended != s.total)
    throw std::logic_error("DrawFile::finish: " + std::to_string(s.appended) + " of " +
                           std::to_string(s.total) + " draws appended");
  if (s.buf[s.cur].n > 0) s.hand_off();
  s.stop_writer();
  if (!s.error.empty()) s.fail(s.error);
  const QuietHdf5 quiet;
  try {
    for (std::size_t k = 0; k < s.dsets.size(); ++k)
      h5("dataset 'draws/" + s.dset_names[k] + "'", [&] { return s.dsets[k].close(); });
    h5("close", [&] { return s.file.close(); });
  } catch (const Failure& f) {
    s.fail(f.err != 0 ? f.for_write() : f.what + ": " + short_cause(f.cause));
  }
  s.finished = true;
  // The host buffers are not needed any more.
  for (Impl::Buffer& b : s.buf) b = Impl::Buffer{};
}

void DrawFile::mark_published() {
  impl_->published = true;
}

void DrawFile::discard() noexcept {
  Impl& s = *impl_;
  if (s.discarded || s.published) return;
  s.discarded = true;
  s.stop_writer();
  {
    const QuietHdf5 quiet;
    s.dsets.clear();
    (void)s.file.close();  // errors do not matter: the file goes
  }
  if (!s.tmp.empty()) ::unlink(s.tmp.c_str());
  release_output_lock(s.path);
}

const std::string& DrawFile::path() const {
  return impl_->path;
}
const std::string& DrawFile::temp_path() const {
  return impl_->tmp;
}
bool DrawFile::force() const {
  return impl_->force;
}
std::uint64_t DrawFile::total() const {
  return impl_->total;
}
std::uint64_t DrawFile::appended() const {
  return impl_->appended;
}
std::size_t DrawFile::chunk_draws() const {
  return impl_->chunk;
}
std::size_t DrawFile::buffer_draws() const {
  return impl_->cap;
}

}  // namespace spillmc
