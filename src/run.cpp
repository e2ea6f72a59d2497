#include "spillmc/run.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "spillmc/errors.hpp"

namespace spillmc {

std::uint64_t block_count(std::uint64_t draws) {
  return draws / kBlockDraws + (draws % kBlockDraws != 0 ? 1 : 0);
}

std::uint64_t segment_count(std::uint64_t draws, std::uint64_t segment_blocks) {
  const std::uint64_t nblocks = block_count(draws);
  return nblocks / segment_blocks + (nblocks % segment_blocks != 0 ? 1 : 0);
}

std::uint64_t segment_draws(std::uint64_t draws, std::uint64_t j, std::uint64_t segment_blocks) {
  const std::uint64_t seg = segment_blocks * kBlockDraws;
  if (j >= segment_count(draws, segment_blocks)) return 0;
  const std::uint64_t first = j * seg;
  return std::min(seg, draws - first);
}

namespace {

// Host memory a chunk's per-block analysis state may take (see block_state_bytes).
constexpr std::uint64_t kChunkStateBytes = std::uint64_t{256} << 20;

// Where blocks and segments lie in a plan's global numbering: cell c holds
// global blocks [c bpc, (c + 1) bpc) and global segments [c spc, (c + 1) spc).
struct Geometry {
  std::uint64_t draws, cells, sb, bpc, spc;
  Geometry(const RunPlan& plan, std::uint64_t segment_blocks)
      : draws(plan.draws),
        cells(plan.cells.size()),
        sb(segment_blocks),
        bpc(block_count(plan.draws)),
        spc(segment_count(plan.draws, segment_blocks)) {}
  std::uint64_t segments() const { return spc * cells; }
  std::uint64_t blocks() const { return bpc * cells; }
  std::uint64_t seg_first_block(std::uint64_t j) const { return j / spc * bpc + j % spc * sb; }
  std::uint64_t seg_end_block(std::uint64_t j) const {
    return j / spc * bpc + std::min((j % spc + 1) * sb, bpc);
  }
  std::uint64_t seg_draws(std::uint64_t j) const { return segment_draws(draws, j % spc, sb); }
  std::uint64_t segment_of(std::uint64_t g) const { return g / bpc * spc + g % bpc / sb; }
  bool ends_segment(std::uint64_t g) const {
    const std::uint64_t k = g % bpc;
    return (k + 1) % sb == 0 || k + 1 == bpc;
  }
  std::uint64_t block_len(std::uint64_t g) const { return block_length(draws, g % bpc); }
};

// Host bytes one block's Extra and selected draws take at most.
std::uint64_t block_state_bytes(const RunPlan& plan) {
  std::uint64_t bytes = 0;
  if (plan.analysis.has_extra()) {
    Extra proto;
    proto.init(plan.analysis);
    bytes += proto.byte_size();
  }
  if (plan.analysis.has_draws()) {
    const DrawsOutputConfig& d = plan.analysis.draws;
    const std::uint64_t rows = selected_below(d.select, d.n, kBlockDraws);
    // index, status and two regimes, and the fields
    bytes += rows * (sizeof(std::uint64_t) + 3 + sizeof(double) * d.fields.size());
  }
  return bytes;
}

}  // namespace

std::string check_plan_progress(const SegmentProgress& p, const RunPlan& plan,
                                std::uint64_t first_segment, std::uint64_t end_segment,
                                std::uint64_t segment_blocks) {
  if (segment_blocks == 0) segment_blocks = kSegmentBlocks;
  const Geometry geo(plan, segment_blocks);
  end_segment = std::min(end_segment, geo.segments());
  first_segment = std::min(first_segment, end_segment);
  const std::uint64_t b0 = first_segment < end_segment ? geo.seg_first_block(first_segment) : 0;
  const std::uint64_t b1 = first_segment < end_segment ? geo.seg_end_block(end_segment - 1) : 0;
  if (p.next_block < b0 || p.next_block > b1)
    return "next block " + std::to_string(p.next_block) + " lies outside the blocks [" +
           std::to_string(b0) + ", " + std::to_string(b1) + ") of this run";
  const std::uint64_t nseg = p.next_block >= b1 ? end_segment - first_segment
                                                : geo.segment_of(p.next_block) - first_segment;
  if (p.segments.size() != nseg)
    return "holds " + std::to_string(p.segments.size()) + " completed segments, expected " +
           std::to_string(nseg) + " before block " + std::to_string(p.next_block);
  if (plan.analysis.has_extra() && p.extras.size() != p.segments.size())
    return "holds " + std::to_string(p.extras.size()) + " analysis states for " +
           std::to_string(p.segments.size()) + " segments";
  for (std::size_t j = 0; j < p.segments.size(); ++j)
    if (p.segments[j].draws != geo.seg_draws(first_segment + j))
      return "segment " + std::to_string(first_segment + j) + " holds " +
             std::to_string(p.segments[j].draws) + " draws, expected " +
             std::to_string(geo.seg_draws(first_segment + j));
  std::uint64_t partial = 0;
  const std::uint64_t seg_start =
      p.next_block >= b1 ? p.next_block : geo.seg_first_block(first_segment + nseg);
  for (std::uint64_t k = seg_start; k < p.next_block; ++k) partial += geo.block_len(k);
  if (p.current.draws != partial)
    return "the current segment's partial holds " + std::to_string(p.current.draws) +
           " draws, expected " + std::to_string(partial);
  return hist_problem(plan.analysis, p.hist, p.segments, &p.current);
}

std::string check_segment_progress(const SegmentProgress& p, std::uint64_t draws,
                                   std::uint64_t first_segment, std::uint64_t end_segment,
                                   std::uint64_t segment_blocks) {
  return check_plan_progress(p, plain_plan(DrawSpec(), draws), first_segment, end_segment,
                             segment_blocks);
}

SegmentProgress run_plan_segments(Backend& backend, const RunPlan& plan_in,
                                  std::uint64_t first_segment, std::uint64_t end_segment,
                                  const ProgressFn& progress, const std::atomic<bool>* cancel,
                                  std::uint64_t chunk_blocks, std::uint64_t segment_blocks,
                                  const SegmentProgress* resume, const ChunkFn& after_chunk,
                                  const DrawsFn& draws_fn) {
  if (segment_blocks == 0) segment_blocks = kSegmentBlocks;
  // The backend sees the segment size this fold uses (RunPlan::segment_blocks).
  std::optional<RunPlan> resized;
  if (segment_blocks != plan_in.segment_blocks) {
    resized = plan_in;
    resized->segment_blocks = segment_blocks;
  }
  const RunPlan& plan = resized ? *resized : plan_in;
  const Geometry geo(plan, segment_blocks);
  end_segment = std::min(end_segment, geo.segments());
  first_segment = std::min(first_segment, end_segment);
  const std::uint64_t b0 = first_segment < end_segment ? geo.seg_first_block(first_segment) : 0;
  const std::uint64_t b1 = first_segment < end_segment ? geo.seg_end_block(end_segment - 1) : 0;
  std::uint64_t range_draws = 0;
  for (std::uint64_t j = first_segment; j < end_segment; ++j) range_draws += geo.seg_draws(j);

  const bool extra = plan.analysis.has_extra();
  const bool want_draws = plan.analysis.has_draws();
  if (chunk_blocks == 0) chunk_blocks = backend.preferred_chunk_blocks();
  // The chunk's per-block host state (Extras, selected draws) stays within a
  // budget: a GPU's chunk of thousands of blocks would otherwise hold GBs.
  const std::uint64_t per_block = block_state_bytes(plan);
  if (per_block > 0)
    chunk_blocks = std::min(chunk_blocks, std::max<std::uint64_t>(1, kChunkStateBytes / per_block));
  if (chunk_blocks == 0) chunk_blocks = 1;
  const auto chunk =
      static_cast<std::size_t>(std::min(chunk_blocks, std::max<std::uint64_t>(b1 - b0, 1)));
  std::vector<Tally> partials(chunk);
  std::vector<Extra> extras(extra ? chunk : 0);
  std::vector<DrawBatch> batches(want_draws ? chunk : 0);
  SegmentProgress st;
  st.next_block = b0;
  if (resume != nullptr) {
    const std::string problem =
        check_plan_progress(*resume, plan, first_segment, end_segment, segment_blocks);
    if (!problem.empty()) throw InputError("cannot resume: the saved state " + problem);
    st = *resume;
  }
  st.segments.reserve(static_cast<std::size_t>(end_segment - first_segment));
  std::uint64_t done = st.current.draws;
  for (const Tally& s : st.segments) done += s.draws;
  for (std::uint64_t first = st.next_block; first < b1; first += chunk_blocks) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
    const std::uint64_t n = std::min(chunk_blocks, b1 - first);
    backend.compute_plan_blocks(plan, first, n, partials.data(), extra ? extras.data() : nullptr,
                                want_draws ? batches.data() : nullptr);
    // Left fold in block order within a segment, whatever the chunking; a
    // segment ends at a multiple of segment_blocks or at its cell's end.
    for (std::uint64_t j = 0; j < n; ++j) {
      st.current.merge(partials[j]);
      if (extra) {
        extras[j].move_hist_into(st.hist);
        st.current_extra.merge(extras[j]);
      }
      if (want_draws && draws_fn) draws_fn((first + j) / geo.bpc, batches[j]);
      done += partials[j].draws;
      if (geo.ends_segment(first + j)) {
        st.segments.push_back(st.current);
        st.current = Tally();
        if (extra) {
          st.extras.push_back(std::move(st.current_extra));
          st.current_extra = Extra();
        }
      }
    }
    st.next_block = first + n;
    if (progress) progress(done, range_draws);
    if (after_chunk) after_chunk(st);
  }
  if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
  return st;
}

std::vector<Tally> run_segments(Backend& backend, const DrawSpec& spec, std::uint64_t draws,
                                std::uint64_t first_segment, std::uint64_t end_segment,
                                const ProgressFn& progress, const std::atomic<bool>* cancel,
                                std::uint64_t chunk_blocks, std::uint64_t segment_blocks,
                                const SegmentProgress* resume, const ChunkFn& after_chunk) {
  return run_plan_segments(backend, plain_plan(spec, draws), first_segment, end_segment, progress,
                           cancel, chunk_blocks, segment_blocks, resume, after_chunk)
      .segments;
}

void fold_cells(const RunPlan& plan, const std::vector<Tally>& segments,
                const std::vector<Extra>& extras, std::uint64_t first_segment,
                std::vector<Tally>& cells, std::vector<Extra>& cell_extras) {
  const std::uint64_t spc = plan.segments_per_cell();
  cells.assign(plan.cells.size(), Tally());
  cell_extras.assign(extras.empty() ? 0 : plan.cells.size(), Extra());
  for (std::size_t j = 0; j < segments.size(); ++j) {
    const auto c = static_cast<std::size_t>((first_segment + j) / spc);
    cells[c].merge(segments[j]);
    if (!cell_extras.empty()) cell_extras[c].merge(extras[j]);
  }
}

std::uint64_t plan_segment_draws(const RunPlan& plan, std::uint64_t j) {
  return Geometry(plan, kSegmentBlocks).seg_draws(j);
}

std::uint64_t plan_first_block(const RunPlan& plan, std::uint64_t j) {
  const Geometry geo(plan, kSegmentBlocks);
  return j < geo.segments() ? geo.seg_first_block(j) : geo.blocks();
}

Tally fold_segments(const std::vector<Tally>& segments) {
  Tally total;
  for (const Tally& s : segments) total.merge(s);
  return total;
}

Tally run_blocks(Backend& backend, const DrawSpec& spec, std::uint64_t draws,
                 const ProgressFn& progress, const std::atomic<bool>* cancel,
                 std::uint64_t chunk_blocks) {
  return fold_segments(
      run_segments(backend, spec, draws, 0, segment_count(draws), progress, cancel, chunk_blocks));
}

std::unique_ptr<Backend> select_backend(BackendChoice choice, int threads, int device_index) {
  switch (choice) {
    case BackendChoice::cpu:
      return make_cpu_backend(threads);
    case BackendChoice::cuda:
      return make_cuda_backend(device_index % std::max(1, cuda_device_count()));
    case BackendChoice::automatic:
      break;
  }
  if (!cuda_compiled()) {
    spdlog::info("backend auto: cpu (this build has no CUDA backend)");
    return make_cpu_backend(threads);
  }
  const int ndev = cuda_device_count();
  if (ndev == 0) {
    spdlog::info("backend auto: cpu (no CUDA device found)");
    return make_cpu_backend(threads);
  }
  auto b = make_cuda_backend(device_index % ndev);
  spdlog::info("backend auto: cuda ({})", b->device());
  return b;
}

}  // namespace spillmc
