// Drives a store with pyarrow 11's own C++ client (libplasma.so.1100) through
// the requests the Python API cannot send: Abort, CreateAndSealBatch and
// RefreshLRU (plus Evict to observe the refreshed LRU order).
//
// It prints one "key: value" line per step and exits 0 when it ran to the end;
// the Rust test tests/tests/libplasma.rs builds it, runs it against our daemon
// and asserts every line. Build (what the test runs), with PA the pyarrow
// directory of a venv holding pyarrow==11.0.0:
//   g++ -std=c++17 -D_GLIBCXX_USE_CXX11_ABI=0 -I$PA/include extra_ops.cc \
//       -o extra_ops $PA/libplasma.so.1100 $PA/libarrow.so.1100 -Wl,-rpath,$PA
// (the wheel is built with the pre-C++11 std::string ABI, hence the define).
// Usage: extra_ops SOCKET
#define _PLASMA_NO_DEPRECATE 1
#include <plasma/client.h>
#include <plasma/common.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

plasma::ObjectID IdFilledWith(char fill) {
  return plasma::ObjectID::from_binary(std::string(plasma::kUniqueIDSize, fill));
}

// Prints "key: OK" or "key: <status>" and says whether it was OK.
bool Report(const char* key, const arrow::Status& status) {
  std::printf("%s: %s\n", key, status.ok() ? "OK" : status.ToString().c_str());
  std::fflush(stdout);
  return status.ok();
}

std::string AsString(const std::shared_ptr<arrow::Buffer>& buffer) {
  if (!buffer) return "<null>";
  return std::string(reinterpret_cast<const char*>(buffer->data()),
                     static_cast<size_t>(buffer->size()));
}

// Create, drop the buffer's reference, abort: the object must vanish.
bool AbortUnsealedObject(plasma::PlasmaClient& client) {
  const plasma::ObjectID id = IdFilledWith('a');
  const std::string meta = "abort-meta";
  std::shared_ptr<arrow::Buffer> data;
  if (!Report("create", client.Create(id, 64, reinterpret_cast<const uint8_t*>(meta.data()),
                                      static_cast<int64_t>(meta.size()), &data))) {
    return false;
  }
  // Abort insists on exactly one outstanding reference: the creation one.
  data.reset();
  if (!Report("release", client.Release(id))) return false;
  if (!Report("abort", client.Abort(id))) return false;
  bool has = true;
  if (!Report("contains", client.Contains(id, &has))) return false;
  std::printf("contains after abort: %d\n", has ? 1 : 0);
  return true;
}

// Batch-creates two objects, repeats the batch (ObjectExists), reads both back.
bool CreateAndSealBatch(plasma::PlasmaClient& client) {
  const std::vector<plasma::ObjectID> ids = {IdFilledWith('b'), IdFilledWith('c')};
  const std::vector<std::string> data = {"batch-one", "second"};
  const std::vector<std::string> meta = {"m1", ""};
  if (!Report("batch", client.CreateAndSealBatch(ids, data, meta))) return false;

  const arrow::Status again = client.CreateAndSealBatch(ids, data, meta);
  std::printf("batch again exists: %d\n", plasma::IsPlasmaObjectExists(again) ? 1 : 0);

  std::vector<plasma::ObjectBuffer> buffers;
  if (!Report("get batch", client.Get(ids, 0, &buffers))) return false;
  for (size_t i = 0; i < buffers.size(); ++i) {
    std::printf("object %zu: data=%s meta=%s\n", i, AsString(buffers[i].data).c_str(),
                AsString(buffers[i].metadata).c_str());
  }
  // These buffers release their object when the last reference goes; drop
  // them in id order so 'b' enters the LRU before 'c'.
  for (auto& buffer : buffers) {
    buffer.data.reset();
    buffer.metadata.reset();
  }
  return true;
}

// Refresh moves 'c' then 'b' to the recent end, so 'c' is evicted first.
bool RefreshThenEvict(plasma::PlasmaClient& client) {
  const std::vector<plasma::ObjectID> order = {IdFilledWith('c'), IdFilledWith('b'),
                                               IdFilledWith('z')};
  if (!Report("refresh", client.Refresh(order))) return false;
  for (int round = 1; round <= 3; ++round) {
    int64_t evicted = -1;
    if (!Report("evict", client.Evict(1, evicted))) return false;
    std::printf("evicted %d: %lld\n", round, static_cast<long long>(evicted));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
    return 2;
  }
  plasma::PlasmaClient client;
  if (!Report("connect", client.Connect(argv[1], "", 0, 50))) return 1;
  if (!AbortUnsealedObject(client)) return 1;
  if (!CreateAndSealBatch(client)) return 1;
  if (!RefreshThenEvict(client)) return 1;
  if (!Report("disconnect", client.Disconnect())) return 1;
  std::printf("done\n");
  return 0;
}
