// Progress: the trainer's periodic status line (stage, iteration, kimg, img/s, ETA, every loss term averaged
// since the previous line), e.g.
//   stage 3 | iter 1200/5000 | 4.8 kimg | 12.3 img/s | ETA 0:05:12 | d 1.234 g 0.876 r1 0.052 mse 0.0123 lpips 0.0340
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "anycost/train/steps.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

// "1:02:03" (h:mm:ss); "?" when unknown.
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  Progress(std::int64_t total_iterations, std::int64_t batch, double every_seconds)
      : total_(total_iterations), batch_(batch), every_(every_seconds), start_(Clock::now()), last_(start_) {}

  // Records one finished iteration; returns the status line when one is due (else empty).
  std::string record(int stage, std::int64_t iteration_done, const StepLosses& l, bool force = false) {
    add(sum_.d, n_.d, l.d);
    add(sum_.g, n_.g, l.g);
    add(sum_.r1, n_.r1, l.r1);
    add(sum_.path, n_.path, l.path);
    add(sum_.mse, n_.mse, l.mse);
    add(sum_.lpips, n_.lpips, l.lpips);
    if (std::isfinite(l.path_mean)) path_mean_ = l.path_mean;
    ++done_since_start_;
    const Clock::time_point now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (!force && since < every_) return {};
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double it_per_s = elapsed > 0 ? done_since_start_ / elapsed : 0;
    char head[200];
    std::snprintf(head, sizeof head, "stage %d | iter %lld/%lld | %.1f kimg | %.2f img/s | ETA %s |", stage,
                  static_cast<long long>(iteration_done), static_cast<long long>(total_),
                  static_cast<double>(iteration_done * batch_) / 1000.0, it_per_s * static_cast<double>(batch_),
                  format_duration(it_per_s > 0 ? (total_ - iteration_done) / it_per_s : NAN).c_str());
    std::string line = head;
    term(line, "d", sum_.d, n_.d);
    term(line, "g", sum_.g, n_.g);
    term(line, "r1", sum_.r1, n_.r1);
    term(line, "path", sum_.path, n_.path);
    if (std::isfinite(path_mean_)) term(line, "path_mean", path_mean_, 1);
    term(line, "mse", sum_.mse, n_.mse);
    term(line, "lpips", sum_.lpips, n_.lpips);
    sum_ = {};
    n_ = {};
    last_ = now;
    return line;
  }

 private:
  struct Sums {
    double d = 0, g = 0, r1 = 0, path = 0, mse = 0, lpips = 0;
  };
  static void add(double& s, double& n, double v) {
    if (!std::isfinite(v)) return;
    s += v;
    n += 1;
  }
  static void term(std::string& line, const char* name, double s, double n) {
    if (n == 0) return;
    char buf[64];
    std::snprintf(buf, sizeof buf, " %s %.4g", name, s / n);
    line += buf;
  }

  std::int64_t total_, batch_;
  double every_;
  Clock::time_point start_, last_;
  std::int64_t done_since_start_ = 0;
  Sums sum_, n_;
  double path_mean_ = NAN;
};

}  // namespace train
ANYCOST_NAMESPACE_END
