// plasma-bench's physical anchors: what the machine itself costs, measured
// in the same run as the stores, so every store figure can be read against
// the hardware it ran on. No Plasma code is involved.
//
// Usage: anchors OP ARGS...   (prints one JSON object per line)
//   pingpong ITERS CPU_A CPU_B   1-byte ping-pong over a Unix socketpair
//                                between two processes; CPU -1 = unpinned.
//                                Result: half round trips, so secs/ops is
//                                one one-way hand-over.
//   relay ITERS GAP_US CPU_A CPU_B CPU_C
//                                two hand-overs after idle: process A sleeps
//                                GAP_US, then sends a CLOCK_MONOTONIC stamp
//                                to B (asleep in read), which passes it to
//                                C (asleep in read), which notes now - stamp
//                                (the path of a seal from a producer through
//                                the store to an awaiting client). Result:
//                                ops 1, secs = the median.
//   warm  SIZE ITERS             memcpy SIZE bytes into memory already
//                                faulted in (first copy untimed)
//   fresh SIZE ITERS             memcpy SIZE bytes into a new shared mapping
//                                of a new memfd each time (page faults and
//                                page allocation included, mmap/munmap not)
//   allocated SIZE ITERS         the same, but the memfd's pages were
//                                allocated (fallocate) beforehand, untimed:
//                                only the mapping's minor faults remain
//   populated SIZE ITERS         the same, mapped with MAP_POPULATE (also
//                                untimed): no faults at all
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

double secs_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

void result(long long ops, double secs) {
  std::printf("{\"ops\":%lld,\"secs\":%.9f}\n", ops, secs);
  std::fflush(stdout);
}

void xfer(int fd, bool send_first, long long iters) {
  char b = 1;
  for (long long i = 0; i < iters; ++i) {
    if (send_first) {
      if (write(fd, &b, 1) != 1) die("write");
      if (read(fd, &b, 1) != 1) die("read");
    } else {
      if (read(fd, &b, 1) != 1) die("read");
      if (write(fd, &b, 1) != 1) die("write");
    }
  }
}

void pingpong(long long iters, int cpu_a, int cpu_b) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(sv[0]);
    pin(cpu_b);
    xfer(sv[1], false, iters + 1000);
    _exit(0);
  }
  close(sv[1]);
  pin(cpu_a);
  xfer(sv[0], true, 1000);  // warm-up: both sides running, caches hot
  auto t0 = Clock::now();
  xfer(sv[0], true, iters);
  double secs = secs_since(t0);
  int status = 0;
  waitpid(child, &status, 0);
  result(2 * iters, secs);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

void read_all(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) die("read");
    p += r;
    n -= static_cast<size_t>(r);
  }
}

void relay(long long iters, long long gap_us, int cpu_a, int cpu_b, int cpu_c) {
  int ab[2], bc[2], ca[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ab) != 0) die("socketpair");
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, bc) != 0) die("socketpair");
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ca) != 0) die("socketpair");
  pid_t b = fork();
  if (b < 0) die("fork");
  if (b == 0) {
    pin(cpu_b);
    int64_t stamp;
    for (long long i = 0; i < iters; ++i) {
      read_all(ab[1], &stamp, sizeof stamp);
      if (write(bc[0], &stamp, sizeof stamp) != sizeof stamp) die("write");
    }
    _exit(0);
  }
  pid_t c = fork();
  if (c < 0) die("fork");
  if (c == 0) {
    pin(cpu_c);
    std::vector<int64_t> lat(static_cast<size_t>(iters));
    int64_t stamp;
    for (auto& l : lat) {
      read_all(bc[1], &stamp, sizeof stamp);
      l = now_ns() - stamp;
    }
    size_t bytes = lat.size() * sizeof(int64_t);
    if (write(ca[1], lat.data(), bytes) != static_cast<ssize_t>(bytes)) die("write");
    _exit(0);
  }
  pin(cpu_a);
  for (long long i = 0; i < iters; ++i) {
    usleep(static_cast<useconds_t>(gap_us));
    int64_t stamp = now_ns();
    if (write(ab[0], &stamp, sizeof stamp) != sizeof stamp) die("write");
  }
  std::vector<int64_t> lat(static_cast<size_t>(iters));
  read_all(ca[0], lat.data(), lat.size() * sizeof(int64_t));
  int status = 0;
  waitpid(b, &status, 0);
  waitpid(c, &status, 0);
  // The first 1 % (at most 100) warm caches and page tables up.
  size_t skip = std::min<size_t>(lat.size() / 100, 100);
  std::vector<int64_t> kept(lat.begin() + static_cast<long>(skip), lat.end());
  std::sort(kept.begin(), kept.end());
  result(1, kept.empty() ? 0.0 : kept[kept.size() / 2] * 1e-9);
}

std::vector<char> source(size_t size) {
  std::vector<char> src(size);
  for (size_t i = 0; i < size; ++i) src[i] = static_cast<char>(i * 31 + 7);
  return src;
}

void warm(size_t size, long long iters) {
  auto src = source(size);
  std::vector<char> dst(size);
  std::memcpy(dst.data(), src.data(), size);  // faults every page in
  auto t0 = Clock::now();
  for (long long i = 0; i < iters; ++i) {
    std::memcpy(dst.data(), src.data(), size);
    asm volatile("" : : "r"(dst.data()) : "memory");
  }
  result(iters, secs_since(t0));
}

enum class Prep { None, Allocate, Populate };

void fresh(size_t size, long long iters, Prep prep) {
  auto src = source(size);
  double timed = 0;
  for (long long i = 0; i < iters; ++i) {
    int fd = memfd_create("plasma-bench-anchor", MFD_CLOEXEC);
    if (fd < 0) die("memfd_create");
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) die("ftruncate");
    if (prep != Prep::None && fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0)
      die("fallocate");
    int flags = MAP_SHARED | (prep == Prep::Populate ? MAP_POPULATE : 0);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    auto t0 = Clock::now();
    std::memcpy(p, src.data(), size);
    asm volatile("" : : "r"(p) : "memory");
    timed += secs_since(t0);
    munmap(p, size);
    close(fd);
  }
  result(iters, timed);
}

long long arg(int argc, char** argv, int i) {
  if (i >= argc) {
    std::fprintf(stderr, "anchors: missing argument %d\n", i);
    std::exit(1);
  }
  return std::strtoll(argv[i], nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  std::string op = argc > 1 ? argv[1] : "";
  if (op == "pingpong") {
    pingpong(arg(argc, argv, 2), static_cast<int>(arg(argc, argv, 3)),
             static_cast<int>(arg(argc, argv, 4)));
  } else if (op == "relay") {
    relay(arg(argc, argv, 2), arg(argc, argv, 3), static_cast<int>(arg(argc, argv, 4)),
          static_cast<int>(arg(argc, argv, 5)), static_cast<int>(arg(argc, argv, 6)));
  } else if (op == "warm") {
    warm(static_cast<size_t>(arg(argc, argv, 2)), arg(argc, argv, 3));
  } else if (op == "fresh") {
    fresh(static_cast<size_t>(arg(argc, argv, 2)), arg(argc, argv, 3), Prep::None);
  } else if (op == "allocated") {
    fresh(static_cast<size_t>(arg(argc, argv, 2)), arg(argc, argv, 3), Prep::Allocate);
  } else if (op == "populated") {
    fresh(static_cast<size_t>(arg(argc, argv, 2)), arg(argc, argv, 3), Prep::Populate);
  } else {
    std::fprintf(stderr,
                 "usage: anchors pingpong|relay|warm|fresh|allocated|populated ARGS...\n");
    return 1;
  }
  return 0;
}
