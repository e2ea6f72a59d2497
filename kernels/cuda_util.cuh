// Host-side CUDA helpers shared by the .cu files: error handling (every
// runtime call goes through SPILLMC_CUDA_CHECK, which throws CudaError, exit
// code 4, naming the file, line and call; docs/cuda.md, "Errors"), device
// selection with clear messages, and RAII owners of memory and streams.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstring>
#include <sstream>
#include <string>

#include "spillmc/errors.hpp"

namespace spillmc {

inline const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

// Errors that leave the context unusable (a device fault): the run must end.
inline bool is_sticky(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
      return true;
    default:
      return false;
  }
}

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* call, const char* file,
                                          int line) {
  // Clear the thread's last-error slot (a no-op for sticky errors) so that a
  // later cudaGetLastError() is not blamed on this call.
  (void)cudaGetLastError();
  std::ostringstream msg;
  msg << "CUDA error at " << base_name(file) << ":" << line << ": " << call << ": "
      << cudaGetErrorString(err) << " (" << cudaGetErrorName(err) << ")";
  if (is_sticky(err)) msg << "; a device fault: the GPU context is unusable and the run ends";
  throw CudaError(msg.str());
}

inline void cuda_check(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda_error(err, call, file, line);
}

}  // namespace spillmc

#define SPILLMC_CUDA_CHECK(call) ::spillmc::cuda_check((call), #call, __FILE__, __LINE__)

namespace spillmc {

// Makes `device` current after checking that it exists; returns it.
inline int use_device(int device) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw CudaError(std::string("no usable CUDA device: cudaGetDeviceCount: ") +
                    cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")");
  }
  if (count == 0) throw CudaError("no CUDA device found");
  if (device < 0 || device >= count) {
    std::ostringstream msg;
    msg << "CUDA device " << device << " does not exist; this machine has " << count << " device"
        << (count == 1 ? "" : "s") << " (0.." << count - 1 << ")";
    throw CudaError(msg.str());
  }
  SPILLMC_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

// Fails here, not at the first launch, when the build has no image of
// `kernel` for the device (CMAKE_CUDA_ARCHITECTURES).
inline void require_kernel_image(const void* kernel, int device) {
  cudaFuncAttributes attr{};
  const cudaError_t err = cudaFuncGetAttributes(&attr, kernel);
  if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction) {
    (void)cudaGetLastError();
    cudaDeviceProp prop{};
    SPILLMC_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    std::ostringstream msg;
    msg << "this build has no CUDA kernel for " << prop.name << " (sm_" << prop.major << prop.minor
        << "): " << cudaGetErrorString(err)
        << "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" << prop.major << prop.minor
        << " (or native)";
    throw CudaError(msg.str());
  }
  SPILLMC_CUDA_CHECK(err);
}

// Device (or pinned host) array that only grows; contents are not preserved
// across growth.
template <class T, bool kPinned = false>
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  // cudaErrorMemoryAllocation is returned (and cleared), not thrown: the
  // caller retries with less; any other error throws.
  cudaError_t try_reserve(std::size_t count) {
    if (count <= capacity_) return cudaSuccess;
    release();  // before allocating: lower peak memory
    void* p = nullptr;
    const cudaError_t err =
        kPinned ? cudaMallocHost(&p, count * sizeof(T)) : cudaMalloc(&p, count * sizeof(T));
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return err;
    }
    SPILLMC_CUDA_CHECK(err);
    data_ = static_cast<T*>(p);
    capacity_ = count;
    return cudaSuccess;
  }
  T* get() const { return data_; }

 private:
  void release() noexcept {
    // Errors here are sticky ones reported earlier.
    if (data_ != nullptr) (void)(kPinned ? cudaFreeHost(data_) : cudaFree(data_));
    data_ = nullptr;
    capacity_ = 0;
  }
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

template <class T>
using DeviceBuffer = Buffer<T, false>;
template <class T>
using PinnedBuffer = Buffer<T, true>;

class Stream {
 public:
  Stream() { SPILLMC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace spillmc
