// write_atomically: util::write_file_atomically with its std::system_error reported as anycost::IoError,
// the form every io writer (checkpoints, images, JSON) uses.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <system_error>

#include "anycost/core/error.hpp"
#include "anycost/util/atomic_file.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

// `op` names the calling function in the message. Errors other than std::system_error (for example an
// anycost::Error thrown by `write` itself) propagate unchanged; in every case `path` is left untouched.
inline void write_atomically(const std::filesystem::path& path, const char* op,
                             const std::function<void(std::ostream&)>& write) {
  try {
    util::write_file_atomically(path, write);
  } catch (const std::system_error& e) {
    anycost::detail::raise<IoError>(op, ": ", e.what());  // e.what() names the path and the system's reason
  }
}

}  // namespace io
ANYCOST_NAMESPACE_END
