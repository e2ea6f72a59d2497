// The MPI module for a build without MPI: always rank 0 of 1 (mpi.hpp).
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "spillmc/mpi.hpp"

namespace spillmc {

bool mpi_compiled() {
  return false;
}

MpiSession::MpiSession(int& /*argc*/, char**& /*argv*/) {}
MpiSession::~MpiSession() = default;

bool MpiSession::any(bool flag) const {
  return flag;
}

void MpiSession::broadcast(std::vector<unsigned char>& /*bytes*/) const {}

void MpiSession::abort(int code, const std::string& msg) const {
  spdlog::error("{}", msg);
  spdlog::default_logger()->flush();
  std::exit(code);
}

std::unique_ptr<Backend> make_mpi_backend(std::unique_ptr<Backend> local,
                                          const MpiSession& /*session*/,
                                          const std::atomic<bool>* /*cancel*/) {
  return local;
}

}  // namespace spillmc
