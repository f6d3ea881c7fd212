// plasma-bench's C++ client: drives a Plasma-protocol store through
// pyarrow 11's libplasma (Plasma's own C++ client), so that the same client
// code can be pointed at our daemon and at plasma-store-server.
//
// Usage: bench_client SOCKET OP ARGS...
//   put   SIZE ITERS DELETE WARMUP
//                             create + memcpy + seal + release, ITERS times
//                             after WARMUP untimed ones (DELETE=1: delete
//                             each object after its put, untimed)
//   get   SIZE ITERS WARMUP   one object of SIZE, then get + release ITERS
//                             times after WARMUP untimed ones
//   batch SIZE BATCH ITERS    CreateAndSealBatch of BATCH objects, ITERS times
//   fill  SIZE COUNT BATCH    step 1: COUNT objects by CreateAndSealBatch;
//                             step 2: one more create + seal of SIZE bytes,
//                             which finds the store full and must evict
//
// Protocol with the harness (stdout, one JSON object per line): the client
// connects, prepares, prints {"ready":true}, and waits for a line on stdin
// before each timed step; after it, it prints that step's result
// {"ops":N,"secs":S,...}. It exits when stdin closes. Errors go to stderr
// and exit status 1.
#define _PLASMA_NO_DEPRECATE 1
#include <plasma/client.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

using plasma::ObjectBuffer;
using plasma::ObjectID;
using plasma::PlasmaClient;

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench_client: " << what << std::endl;
  std::exit(1);
}

void check(const arrow::Status& s, const char* what) {
  if (!s.ok()) die(std::string(what) + ": " + s.ToString());
}

// Unique ids: a random 12-byte prefix per process, then a counter.
class Ids {
 public:
  Ids() {
    std::random_device rd;
    for (auto& b : prefix_) b = static_cast<char>(rd());
  }
  ObjectID next() {
    std::string bin(prefix_, sizeof prefix_);
    uint64_t n = counter_++;
    bin.append(reinterpret_cast<const char*>(&n), sizeof n);
    return ObjectID::from_binary(bin);
  }

 private:
  char prefix_[12];
  uint64_t counter_ = 0;
};

double secs_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Blocks until the harness says go; false when it closed stdin.
bool wait_go() {
  std::string line;
  return static_cast<bool>(std::getline(std::cin, line));
}

void ready() { std::cout << "{\"ready\":true}" << std::endl; }

void result(int64_t ops, double secs, const std::string& extra = "") {
  std::cout << "{\"ops\":" << ops << ",\"secs\":" << secs << extra << "}" << std::endl;
}

int64_t arg(char** argv, int argc, int i) {
  if (i >= argc) die("missing argument " + std::to_string(i));
  return std::strtoll(argv[i], nullptr, 10);
}

std::vector<uint8_t> source(int64_t size) {
  std::vector<uint8_t> src(static_cast<size_t>(size));
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 31 + 7);
  return src;
}

void put_once(PlasmaClient& c, const ObjectID& id, const std::vector<uint8_t>& src) {
  std::shared_ptr<arrow::Buffer> buf;
  check(c.Create(id, static_cast<int64_t>(src.size()), nullptr, 0, &buf), "Create");
  if (!src.empty()) std::memcpy(buf->mutable_data(), src.data(), src.size());
  check(c.Seal(id), "Seal");
  buf.reset();
  check(c.Release(id), "Release");
}

void run_put(PlasmaClient& c, int64_t size, int64_t iters, bool del, int64_t warmup) {
  Ids ids;
  auto src = source(size);
  for (int64_t i = 0; i < warmup; ++i) {
    ObjectID id = ids.next();
    put_once(c, id, src);
    if (del) check(c.Delete(id), "Delete");
  }
  ready();
  if (!wait_go()) return;
  double timed = 0;
  for (int64_t i = 0; i < iters; ++i) {
    ObjectID id = ids.next();
    auto t0 = Clock::now();
    put_once(c, id, src);
    timed += secs_since(t0);
    if (del) check(c.Delete(id), "Delete");
  }
  result(iters, timed);
}

// One get + release; returns the data size seen.
int64_t get_once(PlasmaClient& c, const ObjectID& id) {
  std::vector<ObjectBuffer> out;
  check(c.Get({id}, -1, &out), "Get");
  if (out.size() != 1 || !out[0].data) die("Get returned no object");
  return out[0].data->size();
  // Dropping `out` releases the object (PlasmaBuffer's destructor).
}

void run_get(PlasmaClient& c, int64_t size, int64_t iters, int64_t warmup) {
  Ids ids;
  ObjectID id = ids.next();
  put_once(c, id, source(size));
  for (int64_t i = 0; i < warmup; ++i) get_once(c, id);
  ready();
  if (!wait_go()) return;
  uint64_t sum = 0;
  auto t0 = Clock::now();
  for (int64_t i = 0; i < iters; ++i) sum += get_once(c, id);
  double secs = secs_since(t0);
  if (sum != static_cast<uint64_t>(size * iters)) die("Get returned wrong sizes");
  result(iters, secs);
}

void run_batch(PlasmaClient& c, int64_t size, int64_t batch, int64_t iters) {
  Ids ids;
  std::string payload(static_cast<size_t>(size), 'x');
  std::vector<std::string> data(static_cast<size_t>(batch), payload);
  std::vector<std::string> meta(static_cast<size_t>(batch));
  std::vector<std::vector<ObjectID>> all(static_cast<size_t>(iters));
  for (auto& v : all)
    for (int64_t j = 0; j < batch; ++j) v.push_back(ids.next());
  ready();
  if (!wait_go()) return;
  auto t0 = Clock::now();
  for (auto& v : all) check(c.CreateAndSealBatch(v, data, meta), "CreateAndSealBatch");
  result(batch * iters, secs_since(t0));
}

void run_fill(PlasmaClient& c, int64_t size, int64_t count, int64_t batch) {
  Ids ids;
  std::string payload(static_cast<size_t>(size), 'f');
  ObjectID first;
  ready();
  if (!wait_go()) return;
  auto t0 = Clock::now();
  for (int64_t done = 0; done < count;) {
    int64_t n = std::min(batch, count - done);
    std::vector<ObjectID> v;
    for (int64_t j = 0; j < n; ++j) v.push_back(ids.next());
    if (done == 0) first = v[0];
    std::vector<std::string> data(static_cast<size_t>(n), payload);
    std::vector<std::string> meta(static_cast<size_t>(n));
    check(c.CreateAndSealBatch(v, data, meta), "CreateAndSealBatch (fill)");
    done += n;
  }
  double fill_secs = secs_since(t0);
  bool has_first = false;
  check(c.Contains(first, &has_first), "Contains");
  result(count, fill_secs,
         std::string(",\"first_still_present\":") + (has_first ? "true" : "false"));
  if (!wait_go()) return;
  ObjectID id = ids.next();
  auto src = source(size);
  auto t1 = Clock::now();
  put_once(c, id, src);
  double secs = secs_since(t1);
  check(c.Contains(first, &has_first), "Contains");
  result(1, secs, std::string(",\"evicted_first\":") + (has_first ? "false" : "true"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) die("usage: bench_client SOCKET put|get|batch|fill ARGS...");
  std::ios::sync_with_stdio(false);
  PlasmaClient c;
  check(c.Connect(argv[1], "", 0, 50), "Connect");
  std::string op = argv[2];
  if (op == "put") {
    run_put(c, arg(argv, argc, 3), arg(argv, argc, 4), arg(argv, argc, 5) != 0,
            arg(argv, argc, 6));
  } else if (op == "get") {
    run_get(c, arg(argv, argc, 3), arg(argv, argc, 4), arg(argv, argc, 5));
  } else if (op == "batch") {
    run_batch(c, arg(argv, argc, 3), arg(argv, argc, 4), arg(argv, argc, 5));
  } else if (op == "fill") {
    run_fill(c, arg(argv, argc, 3), arg(argv, argc, 4), arg(argv, argc, 5));
  } else {
    die("unknown op " + op);
  }
  wait_go();
  check(c.Disconnect(), "Disconnect");
  return 0;
}
