// The MPI module (mpi.hpp): every MPI call of the program is in this file.
#include <mpi.h>
#include <spdlog/spdlog.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "spillmc/errors.hpp"
#include "spillmc/mpi.hpp"

namespace spillmc {
namespace {

static_assert(std::is_trivially_copyable_v<Tally>, "partials travel between ranks as bytes");

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

class MpiBackend final : public Backend {
 public:
  MpiBackend(std::unique_ptr<Backend> local, const MpiSession& session,
             const std::atomic<bool>* cancel)
      : local_(std::move(local)), session_(session), cancel_(cancel) {
    MPI_Type_contiguous(static_cast<int>(sizeof(Tally)), MPI_BYTE, &tally_type_);
    MPI_Type_commit(&tally_type_);
    if (const char* r = std::getenv("SPILLMC_TEST_FAIL_RANK"))
      fail_here_ = std::string(r) == std::to_string(session_.rank());
    report_placement();
  }
  ~MpiBackend() override { MPI_Type_free(&tally_type_); }
  MpiBackend(const MpiBackend&) = delete;
  MpiBackend& operator=(const MpiBackend&) = delete;

  std::string name() const override { return local_->name(); }
  std::string device() const override {
    return local_->device() + " x " + std::to_string(session_.size()) + " ranks";
  }
  std::uint64_t preferred_chunk_blocks() const override {
    return local_->preferred_chunk_blocks() * static_cast<std::uint64_t>(session_.size());
  }

  // As compute_blocks, with the analyses' Extras gathered as bytes (their size
  // is fixed by the plan); every rank's share of a sweep's blocks is one local
  // call (one launch on a GPU). Per-draw output is refused under MPI (analysis.cpp).
  void compute_plan_blocks(const RunPlan& plan, std::uint64_t first_block, std::uint64_t nblocks,
                           Tally* partials, Extra* extras, DrawBatch* batches) override {
    if (batches) {
      Backend::compute_plan_blocks(plan, first_block, nblocks, partials, extras, batches);
      return;
    }
    before_chunk();
    const auto size = static_cast<std::uint64_t>(session_.size());
    std::vector<int> counts(size), displs(size), bcounts(size), bdispls(size);
    Extra proto;
    if (extras) proto.init(plan.analysis);
    const std::size_t row = proto.byte_size();
    for (std::uint64_t r = 0; r < size; ++r) {
      const std::uint64_t lo = nblocks * r / size, hi = nblocks * (r + 1) / size;
      displs[r] = static_cast<int>(lo);
      counts[r] = static_cast<int>(hi - lo);
      if (hi > static_cast<std::uint64_t>(INT_MAX) ||
          hi * row > static_cast<std::uint64_t>(INT_MAX))
        throw Error("MPI chunk of " + std::to_string(nblocks) + " blocks is too large");
      bdispls[r] = static_cast<int>(lo * row);
      bcounts[r] = static_cast<int>((hi - lo) * row);
    }
    const auto me = static_cast<std::size_t>(session_.rank());
    const auto lo = static_cast<std::uint64_t>(displs[me]);
    const auto n = static_cast<std::uint64_t>(counts[me]);
    if (n > 0)
      local_->compute_plan_blocks(plan, first_block + lo, n, partials + lo,
                                  extras ? extras + lo : nullptr, nullptr);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, partials, counts.data(), displs.data(),
                   tally_type_, MPI_COMM_WORLD);
    if (!extras) return;
    std::vector<unsigned char> bytes(nblocks * row);
    for (std::uint64_t j = 0; j < n; ++j) {
      Extra& x = extras[lo + j];
      if (x.hist.size() != proto.hist.size())
        x.hist = proto.hist;  // empty: all zero (analysis.hpp)
      x.to_bytes(bytes.data() + (lo + j) * row);
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, bytes.data(), bcounts.data(), bdispls.data(),
                   MPI_BYTE, MPI_COMM_WORLD);
    for (std::uint64_t j = 0; j < nblocks; ++j) {
      extras[j] = proto;
      extras[j].from_bytes(bytes.data() + j * row);
    }
  }

  void compute_blocks(const DrawSpec& spec, std::uint64_t total_draws, std::uint64_t first_block,
                      std::uint64_t nblocks, Tally* partials) override {
    before_chunk();
    if (nblocks > static_cast<std::uint64_t>(INT_MAX)) {
      throw Error("MPI chunk of " + std::to_string(nblocks) + " blocks is too large");
    }
    const auto size = static_cast<std::uint64_t>(session_.size());
    std::vector<int> counts(size), displs(size);
    for (std::uint64_t r = 0; r < size; ++r) {
      const std::uint64_t lo = nblocks * r / size, hi = nblocks * (r + 1) / size;
      displs[r] = static_cast<int>(lo);
      counts[r] = static_cast<int>(hi - lo);
    }
    const auto me = static_cast<std::size_t>(session_.rank());
    const auto lo = static_cast<std::uint64_t>(displs[me]);
    const auto n = static_cast<std::uint64_t>(counts[me]);
    if (n > 0) local_->compute_blocks(spec, total_draws, first_block + lo, n, partials + lo);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, partials, counts.data(), displs.data(),
                   tally_type_, MPI_COMM_WORLD);
  }

 private:
  // Collective: rank 0 logs where every rank computes (node, local rank, device)
  // and warns when ranks of one node share a GPU (more ranks than GPUs there).
  void report_placement() const {
    struct Where {
      char node[MPI_MAX_PROCESSOR_NAME];
      char device[256];
      int local_rank;
    };
    Where me{};
    int len = 0;
    MPI_Get_processor_name(me.node, &len);
    std::snprintf(me.device, sizeof me.device, "%s", local_->device().c_str());
    me.local_rank = session_.local_rank();
    const int size = session_.size();
    std::vector<Where> all(session_.rank() == 0 ? static_cast<std::size_t>(size) : 0);
    MPI_Gather(&me, sizeof me, MPI_BYTE, all.data(), sizeof me, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (session_.rank() != 0) return;
    // Ranks by (node, device): a GPU's description names its PCI address.
    std::map<std::pair<std::string, std::string>, std::vector<int>> users;
    for (int r = 0; r < size; ++r) {
      const Where& w = all[static_cast<std::size_t>(r)];
      users[{w.node, w.device}].push_back(r);
      const auto level = size <= 16 ? spdlog::level::info : spdlog::level::debug;
      spdlog::log(level, "rank {} (node {}, local rank {}): {}", r, w.node, w.local_rank, w.device);
    }
    if (local_->name() != "cuda") return;
    for (const auto& [where, ranks] : users) {
      if (ranks.size() < 2) continue;
      std::string list;
      for (const int r : ranks) list += (list.empty() ? "" : ", ") + std::to_string(r);
      spdlog::warn(
          "ranks {} share one GPU on node {} ({}): more ranks than GPUs there; results are "
          "unchanged, but start one rank per GPU for speed",
          list, where.first, where.second);
    }
  }

  // Every rank takes part in this, so all ranks stop at the same chunk.
  void before_chunk() {
    if (session_.any(cancel_ && cancel_->load(std::memory_order_relaxed))) throw Interrupted();
    if (fail_here_) {
      throw Error("SPILLMC_TEST_FAIL_RANK=" + std::to_string(session_.rank()) +
                  ": this rank fails on purpose (test hook)");
    }
  }

  std::unique_ptr<Backend> local_;
  const MpiSession& session_;
  const std::atomic<bool>* cancel_;
  MPI_Datatype tally_type_ = MPI_DATATYPE_NULL;
  bool fail_here_ = false;
};

}  // namespace

bool mpi_compiled() {
  return true;
}

MpiSession::MpiSession(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  // Only the main thread calls MPI; OpenMP threads stay inside the local backend.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  active_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_free(&node);
}

MpiSession::~MpiSession() {
  int finalized = 0;
  if (active_ && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
}

bool MpiSession::any(bool flag) const {
  if (!active_ || size_ == 1) return flag;
  int in = flag ? 1 : 0, out = 0;
  MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  return out != 0;
}

void MpiSession::broadcast(std::vector<unsigned char>& bytes) const {
  if (!active_ || size_ == 1) return;
  std::uint64_t n = bytes.size();
  MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  bytes.resize(static_cast<std::size_t>(n));
  // In pieces: MPI counts are int.
  constexpr std::uint64_t kPiece = std::uint64_t{1} << 30;
  for (std::uint64_t at = 0; at < n; at += kPiece) {
    const std::uint64_t len = n - at < kPiece ? n - at : kPiece;
    MPI_Bcast(bytes.data() + at, static_cast<int>(len), MPI_BYTE, 0, MPI_COMM_WORLD);
  }
}

void MpiSession::abort(int code, const std::string& msg) const {
  if (!active_) {
    spdlog::error("{}", msg);
    spdlog::default_logger()->flush();
    std::exit(code);
  }
  spdlog::error("rank {} of {} failed, ending all ranks: {}", rank_, size_, msg);
  spdlog::default_logger()->flush();
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this satisfies [[noreturn]]
}

std::unique_ptr<Backend> make_mpi_backend(std::unique_ptr<Backend> local, const MpiSession& session,
                                          const std::atomic<bool>* cancel) {
  if (session.size() <= 1) return local;
  return std::make_unique<MpiBackend>(std::move(local), session, cancel);
}

}  // namespace spillmc
