// Embeds eddy in a C++ program: capture the demo database's songs table and print each insert
// and update with its title and artist, with transaction boundaries.
//
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/eddy_dev ./watch_songs [data_dir] [count]
//
// It stops after `count` changes (default: run until killed).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "eddy/watcher.h"

int main(int argc, char** argv) {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr) {
    std::fprintf(stderr, "set DATABASE_URL to the database to watch\n");
    return 2;
  }
  eddy::WatcherOptions options;
  options.database_url = url;
  options.data_dir = argc > 1 ? argv[1] : ".eddy-example";
  const long limit = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 0;

  auto watcher = eddy::Watcher::Open(options);
  if (!watcher.ok()) {
    std::fprintf(stderr, "%s\n", watcher.status().ToString().c_str());
    return 1;
  }
  if (eddy::Status s = (*watcher)->Start(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }

  eddy::Subscription songs;
  songs.table = "public.songs";
  songs.ops = {eddy::Op::kInsert, eddy::Op::kUpdate};
  songs.detail = eddy::Detail::kColumns;
  songs.columns = {"title", "artist"};

  std::atomic<long> seen{0};
  std::atomic<bool> in_transaction{false};
  eddy::WatchHandlers handlers;
  handlers.on_begin = [&in_transaction](const eddy::TransactionBoundary& b) {
    in_transaction = true;
    std::printf("BEGIN xid=%u lsn=%s\n", b.xid.value(), b.commit_lsn.ToString().c_str());
  };
  handlers.on_change = [&seen](const eddy::WatchEvent& e) {
    std::printf("%.*s\n", static_cast<int>(e.json.size()), e.json.data());
    ++seen;
  };
  handlers.on_commit = [&in_transaction](const eddy::Commit& c) {
    std::printf("COMMIT lsn=%s changes=%u\n", c.commit_lsn.ToString().c_str(), c.change_count);
    std::fflush(stdout);
    in_transaction = false;
  };
  auto id = (*watcher)->Subscribe(songs, handlers);
  if (!id.ok()) {
    std::fprintf(stderr, "%s\n", id.status().ToString().c_str());
    return 1;
  }
  if (!(*watcher)->WaitUntilStreaming(30000)) {
    std::fprintf(stderr, "capture did not start: %s\n", (*watcher)->Health().c_str());
    return 1;
  }
  std::printf("READY\n");
  std::fflush(stdout);
  // Stop after `limit` changes, at a transaction boundary.
  while (limit == 0 || seen < limit || in_transaction) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*watcher)->Stop();
  return 0;
}
