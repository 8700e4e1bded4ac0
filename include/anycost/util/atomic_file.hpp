// write_file_atomically: replace a file so that readers see either the old content or the complete new
// content, never a partial file.
//
// Contract:
//   requires: `write` streams the whole new content into the ostream it is given.
//   ensures:  on success `path` holds exactly what `write` wrote, flushed to disk (fsync of the file and,
//             best effort, of its directory) before the rename; a file that existed keeps its permission bits.
//             On failure (the callback throws, the disk fills, the directory is read-only) `path` is untouched,
//             the temporary file is removed, and a std::system_error naming the path is thrown; exceptions
//             thrown by `write` itself propagate unchanged.
// The temporary file is `.<name>.tmp.<random>` in the destination's directory: rename(2) is atomic only
// within one file system.
// A symbolic link at `path` is written through, as a shell redirection or cp would: the link stays and its
// final target (created when the link dangles) gets the new content, atomically, with the temporary file
// next to the target (resolve_output_path). Replacing the link instead would silently detach the file a
// user keeps linked into a data folder; writing through keeps both the link and the atomicity.
//
// util may include the standard library only (tests/hygiene/check_includes.cmake), so failures are std::system_error; the io
// layer turns them into anycost::IoError. POSIX calls (open, fsync, rename) are the point of this header.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <ostream>
#include <random>
#include <streambuf>
#include <string>
#include <system_error>

namespace anycost::util {

namespace detail {

// A std::streambuf over a POSIX file descriptor that remembers the first errno, so the caller can report
// "No space left on device" instead of a bare badbit.
class FdStreambuf : public std::streambuf {
 public:
  explicit FdStreambuf(int fd) : fd_(fd) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Large blocks (tensor data) bypass the buffer.
    if (n >= static_cast<std::streamsize>(buffer_.size())) {
      if (!flush_buffer() || !write_all(s, static_cast<std::size_t>(n))) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return flush_buffer() ? 0 : -1; }

 private:
  bool flush_buffer() {
    const auto n = static_cast<std::size_t>(pptr() - pbase());
    const bool ok = write_all(pbase(), n);
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return ok;
  }
  bool write_all(const char* p, std::size_t n) {
    if (error_ != 0) return false;
    while (n > 0) {
      const ::ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  int fd_;
  int error_ = 0;
  std::array<char, 1 << 16> buffer_{};
};

inline std::system_error file_error(int err, const std::string& what, const std::filesystem::path& p,
                                    const std::string& note = "") {
  return std::system_error(err, std::generic_category(), what + " '" + p.string() + "'" + note);
}

}  // namespace detail

// The file a write to `path` lands in: `path` itself, or the final target of the chain of symbolic links at
// `path` (relative targets resolved against the link's folder; the target may not exist yet). A chain of
// more than 40 links (a loop) is std::system_error ELOOP naming `path`.
inline std::filesystem::path resolve_output_path(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  fs::path target = path;
  for (int hops = 0; fs::is_symlink(fs::symlink_status(target)); ++hops) {
    if (hops == 40) throw detail::file_error(ELOOP, "write_file_atomically: cannot resolve the link", path);
    const fs::path next = fs::read_symlink(target);
    target = next.is_absolute() ? next : target.parent_path() / next;
  }
  return target;
}

inline void write_file_atomically(const std::filesystem::path& requested,
                                  const std::function<void(std::ostream&)>& write) {
  namespace fs = std::filesystem;
  if (requested.empty() || !requested.has_filename())
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "write_file_atomically: '" + requested.string() + "' does not name a file");
  const fs::path path = resolve_output_path(requested);
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  // Messages name the file written (not the temporary file, gone by the time anyone reads them) and, when
  // it differs, the link the caller gave.
  const std::string note = path == requested ? "" : " (the target of the link '" + requested.string() + "')";

  // O_EXCL with a random suffix instead of mkstemp: mkstemp forces mode 0600, while open(0666) lets the
  // umask decide, as for any newly created file.
  std::random_device rd;
  std::mt19937_64 gen((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ static_cast<std::uint64_t>(::getpid()));
  fs::path tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(gen()));
    // Appended piece by piece: GCC 12 gives a false -Wstringop-overflow on `"." + std::string`.
    std::string name(1, '.');
    name += path.filename().string();
    name += ".tmp.";
    name += suffix;
    tmp = dir / name;
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      throw detail::file_error(errno, "write_file_atomically: cannot create a temporary file next to", path, note);
  }
  if (fd < 0) throw detail::file_error(EEXIST, "write_file_atomically: no free temporary file name next to", path, note);

  auto discard = [&] {
    if (fd >= 0) ::close(fd);
    fd = -1;
    ::unlink(tmp.c_str());
  };
  try {
    detail::FdStreambuf buf(fd);
    std::ostream os(&buf);
    write(os);
    os.flush();
    if (!os || buf.error() != 0)
      throw detail::file_error(buf.error() != 0 ? buf.error() : EIO, "write_file_atomically: cannot write", path, note);
    // Keep the permission bits of the file being replaced.
    struct ::stat old {};
    if (::stat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode)) ::fchmod(fd, old.st_mode & 07777);
    if (::fsync(fd) != 0) throw detail::file_error(errno, "write_file_atomically: cannot flush", path, note);
    const int rc = ::close(fd);
    fd = -1;
    if (rc != 0) throw detail::file_error(errno, "write_file_atomically: cannot close", path, note);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw detail::file_error(errno, "write_file_atomically: cannot rename the temporary file onto", path, note);
  } catch (...) {
    discard();
    throw;
  }
  // Make the rename itself durable; failure here cannot undo the write, so it is not an error.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace anycost::util
