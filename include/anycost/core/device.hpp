// Where a tensor's memory lives. Chosen at run time; transfers between devices are explicit (Tensor::to).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN

enum class DeviceKind : std::uint8_t { cpu, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceKind::cpu, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceKind::cuda, i}; }
  constexpr bool is_cpu() const { return kind == DeviceKind::cpu; }
  constexpr bool is_cuda() const { return kind == DeviceKind::cuda; }
  friend constexpr bool operator==(Device, Device) = default;
};

inline std::ostream& operator<<(std::ostream& os, Device d) {
  if (d.is_cpu()) return os << "cpu";
  return os << "cuda:" << d.index;
}

// Parses "cpu", "cuda" or "cuda:N" (command lines, config files).
inline Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string idx = s.substr(5);
    ANYCOST_CHECK(!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos, ValueError,
                  "parse_device: bad device '", s, "' (expected cpu, cuda or cuda:N)");
    return Device::cuda(std::stoi(idx));
  }
  detail::raise<ValueError>("parse_device: bad device '", s, "' (expected cpu, cuda or cuda:N)");
}

ANYCOST_NAMESPACE_END
