// MappedFile: a whole regular file mapped into memory, so checkpoint tensors can alias the file instead of
// being copied (Storage's keep_alive holds the mapping while any tensor uses it).
//
// The mapping is MAP_PRIVATE with write permission: a tensor that aliases it may be modified in place (an
// optimiser step on loaded weights) and the change stays private, copy-on-write, never reaching the file.
// Files written by this library are replaced by rename, so an existing mapping keeps the old content. A
// file truncated by another program while mapped raises SIGBUS on access; that is the price of zero-copy.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

class MappedFile {
 public:
  // Maps `path`; IoError (naming `op` and the path) when it cannot be opened or is not a regular file,
  // FormatError when it is larger than `max_bytes`.
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path, std::uint64_t max_bytes,
                                          const char* op) {
    auto sys = [&](const char* what, int err) {
      anycost::detail::raise<IoError>(op, ": cannot ", what, " '", path.string(), "': ", std::generic_category().message(err));
    };
    // O_NONBLOCK: opening a FIFO must not hang; it is rejected below as not a regular file.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) sys("open", errno);
    struct FdCloser {
      int fd;
      ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) sys("stat", errno);
    ANYCOST_CHECK(S_ISREG(st.st_mode), IoError, op, ": '", path.string(), "' is not a regular file",
                  S_ISDIR(st.st_mode) ? " (it is a directory)" : "");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    ANYCOST_CHECK(size <= max_bytes, FormatError, op, ": '", path.string(), "' is ", size,
                  " bytes, more than the limit of ", max_bytes, " bytes");
    std::shared_ptr<MappedFile> m(new MappedFile());
    m->size_ = size;
    if (size == 0) return m;  // mmap of zero bytes is an error; an empty file maps to nothing
    void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) sys("map", errno);
    m->data_ = static_cast<unsigned char*>(p);
    return m;
  }
  ~MappedFile() {
    if (data_) ::munmap(data_, static_cast<std::size_t>(size_));
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  unsigned char* data() const { return data_; }
  std::uint64_t size() const { return size_; }

 private:
  MappedFile() = default;
  unsigned char* data_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace io
ANYCOST_NAMESPACE_END
