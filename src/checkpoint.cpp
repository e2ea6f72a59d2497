#include "spillmc/checkpoint.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "h5util.hpp"
#include "spillmc/analysis.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/shard.hpp"

namespace spillmc {

Result make_checkpoint(const RunInfo& info, std::uint64_t first_segment,
                       std::uint64_t total_segments, const SegmentProgress& p) {
  Result r;
  r.info = info;
  r.info.kind = kKindCheckpoint;
  r.info.created = utc_now_iso8601();
  r.state.segment_first = first_segment;
  r.state.segment_count_total = total_segments;
  r.state.segments = p.segments;
  r.tally = fold_segments(p.segments);
  r.tally.merge(p.current);
  r.checkpoint.current = p.current;
  r.checkpoint.next_block = p.next_block;
  r.state.extras = p.extras;
  r.state.hist = p.hist;
  r.checkpoint.current_extra = p.current_extra;
  return r;
}

namespace {

std::string q(const std::string& s) {
  return "'" + s + "'";
}

}  // namespace

std::string checkpoint_identity_problem(const ResultFile& f, const RunInfo& expect) {
  const auto differ = [](const char* what, const std::string& have, const std::string& want) {
    return have == want ? std::string()
                        : std::string("its ") + what + " is " + have + ", this run's is " + want;
  };
  for (const std::string& p :
       {differ("program version", f.info.program_version, expect.program_version),
        differ("seed", std::to_string(f.info.seed), std::to_string(expect.seed)),
        differ("draws", std::to_string(f.info.draws_requested),
               std::to_string(expect.draws_requested)),
        differ("model", f.info.model, expect.model),
        expect.backend.empty() ? std::string() : differ("backend", f.info.backend, expect.backend),
        differ("shard",
               std::to_string(f.info.shard_index) + "/" + std::to_string(f.info.shard_count),
               std::to_string(expect.shard_index) + "/" + std::to_string(expect.shard_count)),
        differ("config hash", f.info.config_hash, expect.config_hash),
        differ("block_draws", std::to_string(f.info.block_draws), std::to_string(kBlockDraws)),
        differ("segment_blocks", std::to_string(f.info.segment_blocks),
               std::to_string(kSegmentBlocks))})
    if (!p.empty()) return p;
  return "";
}

SegmentProgress read_checkpoint(const std::string& path, const RunInfo& expect, const RunPlan& plan,
                                std::uint64_t first_segment, std::uint64_t end_segment,
                                RunInfo* saved) {
  const ResultFile f = read_result(path);  // OutputError for unreadable or damaged files
  const auto corrupt = [&](const std::string& why) {
    return OutputError("checkpoint " + q(path) + " is corrupt: " + why);
  };
  if (!f.file_checksum_problem.empty()) throw corrupt(f.file_checksum_problem);
  if (f.info.kind != kKindCheckpoint)
    throw InputError(q(path) + " is not a checkpoint (kind '" + f.info.kind + "')");
  const std::string other = checkpoint_identity_problem(f, expect);
  if (!other.empty())
    throw InputError("checkpoint " + q(path) + " belongs to another run: " + other +
                     " (remove it, or run without --resume to start over)");
  if (f.state_checksum != f.state_checksum_data)
    throw corrupt("/state checksum mismatch (stored " + f.state_checksum + ", data gives " +
                  f.state_checksum_data + ")");
  if (f.checkpoint_checksum != f.checkpoint_checksum_data)
    throw corrupt("/checkpoint checksum mismatch (stored " + f.checkpoint_checksum +
                  ", data gives " + f.checkpoint_checksum_data + ")");
  // Segments are numbered over the whole plan: a sweep has segments_per_cell per cell.
  const std::uint64_t total = plan.total_segments();
  if (f.state.segment_first != first_segment || f.state.segment_count_total != total)
    throw corrupt("/state starts at segment " + std::to_string(f.state.segment_first) + " of " +
                  std::to_string(f.state.segment_count_total) + ", expected " +
                  std::to_string(first_segment) + " of " + std::to_string(total));
  SegmentProgress p;
  p.segments = f.state.segments;
  p.current = f.checkpoint.current;
  p.next_block = f.checkpoint.next_block;
  p.hist = f.state.hist;
  // The analyses' state (histograms, conditions, paths): laid out by the run's
  // plan (the one it computes with, so a plan the backend trimmed reads back).
  if (plan.analysis.has_extra()) {
    try {
      p.extras = extras_from_bytes(plan.analysis, f.state_extra, f.state.segments.size());
      // A checkpoint taken at a segment border has an empty current partial.
      if (f.checkpoint.current.draws > 0)
        p.current_extra = extras_from_bytes(plan.analysis, f.checkpoint_extra, 1).front();
    } catch (const InputError& e) {
      throw corrupt(e.what());
    }
  }
  const std::string problem =
      check_plan_progress(p, plan, first_segment, end_segment, plan.segment_blocks);
  if (!problem.empty()) throw corrupt("the saved state " + problem);
  if (!expect.git_commit.empty() && f.info.git_commit != expect.git_commit)
    spdlog::warn(
        "checkpoint {} was written by the build of commit {}, this run is commit {}: the "
        "result records {} only (the same version {}, so the numbers are meant to agree)",
        q(path), f.info.git_commit, expect.git_commit, expect.git_commit, expect.program_version);
  if (saved) *saved = f.info;
  return p;
}

// ---------------------------------------------------------------------------
// Progress as bytes: next_block, the segments' tallies, their extras, the
// current partial and its extra (a flag first: it may be empty), and the
// histogram counts (their number first: 0 when none).

namespace {

static_assert(std::is_trivially_copyable_v<Tally>, "tallies travel as bytes");

template <class T>
void put(std::vector<unsigned char>& out, const T& v) {
  const auto* b = reinterpret_cast<const unsigned char*>(&v);
  out.insert(out.end(), b, b + sizeof v);
}

struct Reader {
  const std::vector<unsigned char>& in;
  std::size_t at = 0;
  const unsigned char* take(std::size_t n) {
    if (n > in.size() - at)
      throw InputError("resume state: " + std::to_string(in.size()) +
                       " bytes are too few for the plan");
    const unsigned char* p = in.data() + at;
    at += n;
    return p;
  }
  template <class T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
};

void put_extra(std::vector<unsigned char>& out, const Extra& x, const Extra& proto) {
  if (x.byte_size() != proto.byte_size())
    throw InputError("resume state: an analysis row does not fit the plan");
  const std::size_t at = out.size();
  out.resize(at + proto.byte_size());
  x.to_bytes(out.data() + at);
}

Extra get_extra(Reader& r, const Extra& proto) {
  Extra x = proto;
  x.from_bytes(r.take(proto.byte_size()));
  return x;
}

}  // namespace

std::vector<unsigned char> progress_to_bytes(const SegmentProgress& p, const AnalysisSpec& a) {
  Extra proto;
  proto.init_segment(a);
  std::vector<unsigned char> out;
  put(out, p.next_block);
  put(out, static_cast<std::uint64_t>(p.segments.size()));
  for (const Tally& t : p.segments) put(out, t);
  put(out, static_cast<std::uint64_t>(p.extras.size()));
  for (const Extra& x : p.extras) put_extra(out, x, proto);
  put(out, p.current);
  const std::uint8_t has_current_extra = p.current_extra.empty() ? 0 : 1;
  put(out, has_current_extra);
  if (has_current_extra) put_extra(out, p.current_extra, proto);
  put(out, static_cast<std::uint64_t>(p.hist.size()));
  for (std::uint64_t c : p.hist) put(out, c);
  return out;
}

SegmentProgress progress_from_bytes(const std::vector<unsigned char>& bytes,
                                    const AnalysisSpec& a) {
  Extra proto;
  proto.init_segment(a);
  Reader r{bytes};
  SegmentProgress p;
  p.next_block = r.get<std::uint64_t>();
  const auto nseg = r.get<std::uint64_t>();
  if (nseg > bytes.size() / sizeof(Tally)) throw InputError("resume state: bad segment count");
  p.segments.resize(static_cast<std::size_t>(nseg));
  for (Tally& t : p.segments) t = r.get<Tally>();
  const auto nextra = r.get<std::uint64_t>();
  if (nextra > bytes.size()) throw InputError("resume state: bad extra count");
  for (std::uint64_t i = 0; i < nextra; ++i) p.extras.push_back(get_extra(r, proto));
  p.current = r.get<Tally>();
  if (r.get<std::uint8_t>() != 0) p.current_extra = get_extra(r, proto);
  const auto nhist = r.get<std::uint64_t>();
  if (nhist > bytes.size()) throw InputError("resume state: bad histogram size");
  p.hist.resize(static_cast<std::size_t>(nhist));
  for (std::uint64_t& c : p.hist) c = r.get<std::uint64_t>();
  if (r.at != bytes.size()) throw InputError("resume state: trailing bytes");
  return p;
}

// ---------------------------------------------------------------------------
// The checkpoint's lock, stale temporary files and the up-front probe.

CheckpointLock::CheckpointLock(const std::string& path) {
  try {
    fd_ = h5util::lock_beside(path, lock_);
  } catch (const h5util::LockBusy&) {
    throw OutputError("checkpoint " + q(path) + " is in use by another run (it holds " + q(lock_) +
                      "); two runs must not share a checkpoint: give each its own "
                      "checkpoint.path");
  } catch (const h5util::Failure& f) {
    if (f.what == "create")
      throw OutputError("cannot write checkpoint " + q(path) + ": " + f.reason() +
                        " (creating its lock " + q(lock_) + ")");
    throw OutputError("cannot lock " + q(lock_) + ": " + f.reason());
  }
  // Without locks (fd_ -1, as the output goes on unprotected) only the temps
  // of processes gone from this host are surely stale.
  h5util::remove_stale_temps(path, fd_ >= 0);
  if (fd_ < 0) lock_.clear();
}

CheckpointLock::~CheckpointLock() {
  if (fd_ < 0) return;
  ::unlink(lock_.c_str());  // while still locked: no other run holds this file
  ::close(fd_);
}

void probe_checkpoint_path(const std::string& path) {
  const auto fail = [&](const std::string& why) {
    return OutputError("cannot write checkpoint " + q(path) + ": " + why +
                       " (checked before computing)");
  };
  if (path.empty()) throw fail("the path is empty");
  if (path.back() == '/') throw fail("the path names a directory");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw fail(std::strerror(EISDIR));
    if (!S_ISREG(st.st_mode)) throw fail("not a regular file");
  } else if (errno != ENOENT) {
    throw fail(std::strerror(errno));
  }
  // A temporary file beside it, as write_checkpoint creates, then gone again.
  std::string why;
  const std::string tmp = h5util::try_create_temp(path, 0666, why);
  if (tmp.empty()) throw fail(why);
  ::unlink(tmp.c_str());
}

}  // namespace spillmc
