// Shape log throughput: appending pre-rendered Shape API messages and reading them back chunk by
// chunk, against plain write()/pread() of the same bytes in the same batches, in the same run.
// Also the live-tail pattern (append one message, read what follows the previous one) and the
// memory of an idle, released ShapeLog.
//   shape_log_bench [--messages N] [--tail N] [--idle N]
// Files live in a fresh directory under /tmp (page cache: the reads do not touch the disk).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include "shape/render.h"
#include "shape/shape_log.h"

namespace {

using Clock = std::chrono::steady_clock;
using eddy::shape::LogMessage;
using eddy::shape::Offset;
using eddy::shape::ShapeLog;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void Check(const eddy::Status& s, const char* what) {
  if (s.ok()) return;
  fmt::print(stderr, "{}: {}\n", what, s.ToString());
  std::exit(1);
}

// Messages as a snapshot of public.orders renders them (about 170 bytes each).
std::vector<LogMessage> MakeMessages(uint64_t count) {
  eddy::shape::Layout layout;
  layout.schema = "public";
  layout.table = "orders";
  layout.column_names = {"id", "customer", "amount", "note"};
  layout.selected = {0, 1, 2, 3};
  layout.key = {0};
  std::vector<LogMessage> out;
  out.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const std::string id = std::to_string(1000000 + i);
    const std::string customer = fmt::format("customer-{}", i % 977);
    std::vector<std::optional<std::string_view>> row = {id, customer, "199.95",
                                                        "a typical short note on an order row"};
    LogMessage m;
    m.offset = Offset::At(24748712 + i / 10, (i % 10) * 2);
    eddy::shape::AppendSnapshotInsert(layout, row, std::nullopt, &m.json);
    out.push_back(std::move(m));
  }
  return out;
}

struct Figures {
  double append_s = 0;
  double read_s = 0;
};

void Print(const char* what, const Figures& log, const Figures& ref, uint64_t messages,
           uint64_t json_bytes) {
  const double mb = static_cast<double>(json_bytes) / 1e6;
  fmt::print("{}\n", what);
  fmt::print(
      "  append  shape log {:8.0f} MB/s {:11.0f} msg/s | write()  {:8.0f} MB/s | ratio {:.2f}\n",
      mb / log.append_s, static_cast<double>(messages) / log.append_s, mb / ref.append_s,
      ref.append_s / log.append_s);
  fmt::print(
      "  read    shape log {:8.0f} MB/s {:11.0f} msg/s | pread()  {:8.0f} MB/s | ratio {:.2f}\n",
      mb / log.read_s, static_cast<double>(messages) / log.read_s, mb / ref.read_s,
      ref.read_s / log.read_s);
}

// Appends `messages` in batches of `batch`, then reads the log from the start chunk by chunk.
Figures RunShapeLog(const std::string& path, const std::vector<LogMessage>& messages, size_t batch,
                    uint64_t chunk_bytes, uint64_t* chunks) {
  eddy::shape::ShapeLogOptions options;
  options.path = path;
  options.chunk_bytes = chunk_bytes;
  auto log = ShapeLog::Open(options);
  Check(log.status(), "open");
  Figures f;
  auto start = Clock::now();
  for (size_t i = 0; i < messages.size(); i += batch) {
    const size_t n = std::min(batch, messages.size() - i);
    Check((*log)->Append(std::span(messages).subspan(i, n)), "append");
  }
  f.append_s = Seconds(Clock::now() - start);
  start = Clock::now();
  Offset after = Offset::BeforeAll();
  uint64_t seen = 0;
  *chunks = 0;
  for (;;) {
    auto r = (*log)->Read(after);
    Check(r.status(), "read");
    if (r->count == 0) break;
    seen += r->count;
    ++*chunks;
    after = r->end;
    if (r->at_head) break;
  }
  f.read_s = Seconds(Clock::now() - start);
  if (seen != messages.size()) {
    fmt::print(stderr, "read {} of {} messages\n", seen, messages.size());
    std::exit(1);
  }
  return f;
}

// The same JSON bytes (joined by ',') with one write() per batch, then pread() of
// `read_bytes`-sized pieces copied into a result string, as a reader serving chunks would.
Figures RunReference(const std::string& path, const std::vector<LogMessage>& messages, size_t batch,
                     uint64_t read_bytes) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) std::exit(1);
  Figures f;
  std::string buffer;
  uint64_t size = 0;
  auto start = Clock::now();
  for (size_t i = 0; i < messages.size(); i += batch) {
    buffer.clear();
    const size_t end = std::min(messages.size(), i + batch);
    for (size_t j = i; j < end; ++j) {
      buffer += messages[j].json;
      buffer += ',';
    }
    if (::write(fd, buffer.data(), buffer.size()) != static_cast<ssize_t>(buffer.size())) {
      std::exit(1);
    }
    size += buffer.size();
  }
  f.append_s = Seconds(Clock::now() - start);
  start = Clock::now();
  std::string piece;
  for (uint64_t at = 0; at < size; at += read_bytes) {
    const size_t n = static_cast<size_t>(std::min(read_bytes, size - at));
    piece.resize(n);
    if (::pread(fd, piece.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n)) {
      std::exit(1);
    }
    std::string items(piece.data(), n);  // the copy a response body needs
    if (items.empty()) std::exit(1);
  }
  f.read_s = Seconds(Clock::now() - start);
  ::close(fd);
  return f;
}

// Live tail: append one message, read everything after the previous one.
Figures RunTail(const std::string& path, const std::vector<LogMessage>& messages) {
  eddy::shape::ShapeLogOptions options;
  options.path = path;
  auto log = ShapeLog::Open(options);
  Check(log.status(), "open");
  Figures f;
  Offset after = Offset::BeforeAll();
  Clock::duration append{};
  Clock::duration read{};
  for (const LogMessage& m : messages) {
    auto t0 = Clock::now();
    Check((*log)->Append(std::span(&m, 1)), "append");
    auto t1 = Clock::now();
    auto r = (*log)->Read(after);
    Check(r.status(), "read");
    if (r->count != 1) {
      fmt::print(stderr, "tail read {} messages\n", r->count);
      std::exit(1);
    }
    after = r->end;
    read += Clock::now() - t1;
    append += t1 - t0;
  }
  f.append_s = Seconds(append);
  f.read_s = Seconds(read);
  return f;
}

Figures RunTailReference(const std::string& path, const std::vector<LogMessage>& messages) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) std::exit(1);
  Figures f;
  Clock::duration append{};
  Clock::duration read{};
  uint64_t size = 0;
  std::string piece;
  for (const LogMessage& m : messages) {
    auto t0 = Clock::now();
    if (::write(fd, m.json.data(), m.json.size()) != static_cast<ssize_t>(m.json.size())) {
      std::exit(1);
    }
    auto t1 = Clock::now();
    piece.resize(m.json.size());
    if (::pread(fd, piece.data(), piece.size(), static_cast<off_t>(size)) !=
        static_cast<ssize_t>(piece.size())) {
      std::exit(1);
    }
    std::string items(piece);
    size += m.json.size();
    read += Clock::now() - t1;
    append += t1 - t0;
  }
  f.append_s = Seconds(append);
  f.read_s = Seconds(read);
  ::close(fd);
  return f;
}

size_t HeapInUse() { return mallinfo2().uordblks; }

}  // namespace

int main(int argc, char** argv) {
  uint64_t count = 1'000'000;
  uint64_t tail = 100'000;
  uint64_t idle = 2'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--messages") == 0) count = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--tail") == 0) tail = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--idle") == 0) idle = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::string dir = "/tmp/eddy_shape_bench_XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return 1;

  const std::vector<LogMessage> messages = MakeMessages(count);
  uint64_t json_bytes = 0;
  for (const LogMessage& m : messages) json_bytes += m.json.size();
  fmt::print("{} messages, {:.1f} MB of JSON ({:.0f} bytes each), chunks of 10 MiB\n", count,
             static_cast<double>(json_bytes) / 1e6,
             static_cast<double>(json_bytes) / static_cast<double>(count));

  uint64_t chunks = 0;
  const uint64_t chunk_bytes = 10ull << 20;
  Figures ref = RunReference(dir + "/plain", messages, 1000, chunk_bytes);
  Figures log = RunShapeLog(dir + "/snapshot.log", messages, 1000, chunk_bytes, &chunks);
  Print("snapshot-like: batches of 1000 messages, read chunk by chunk", log, ref, count,
        json_bytes);
  fmt::print("  {} chunks: sparse index {} bytes ({} per chunk)\n", chunks, chunks * 48, 48);

  const std::vector<LogMessage> live(messages.begin(),
                                     messages.begin() + static_cast<long>(std::min(tail, count)));
  uint64_t live_bytes = 0;
  for (const LogMessage& m : live) live_bytes += m.json.size();
  Figures tail_ref = RunTailReference(dir + "/plain_tail", live);
  Figures tail_log = RunTail(dir + "/tail.log", live);
  Print("live tail: append 1 message, read what follows the previous one", tail_log, tail_ref,
        live.size(), live_bytes);

  // Idle shapes: opened, given a few messages, released; heap held per object.
  std::vector<std::unique_ptr<ShapeLog>> idle_logs;
  idle_logs.reserve(idle);
  const std::vector<LogMessage> few(messages.begin(), messages.begin() + 10);
  const size_t heap_before = HeapInUse();
  for (uint64_t i = 0; i < idle; ++i) {
    eddy::shape::ShapeLogOptions options;
    options.path = fmt::format("{}/idle-{}.log", dir, i);
    auto opened = ShapeLog::Open(options);
    Check(opened.status(), "open idle");
    Check((*opened)->Append(few), "append idle");
    (*opened)->Release();
    idle_logs.push_back(std::move(opened).value());
  }
  const size_t heap_after = HeapInUse();
  fmt::print("idle released ShapeLog (1 chunk, path of {} bytes): {:.0f} bytes of heap each\n",
             fmt::format("{}/idle-0.log", dir).size(),
             static_cast<double>(heap_after - heap_before) / static_cast<double>(idle));
  idle_logs.clear();

  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
