#include <cstring>
#include <map>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log/change_log.h"
#include "unit/log/log_test_util.h"

namespace eddy::log {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

uint32_t ChangesOf(uint64_t txn) { return static_cast<uint32_t>(txn % 7); }  // 0..6

// Child: appends and commits forever, reporting each durable commit's txn number on `fd`.
[[noreturn]] void RunWriter(const std::string& dir, int fd) {
  ChangeLogOptions options;
  options.dir = dir;
  options.segment_bytes = 8 << 10;  // roll often
  options.fsync = true;
  auto log = ChangeLog::Open(options, SystemClock());
  if (!log.ok()) _exit(3);
  (*log)->SetDurableListener([fd](const Commit& c) {
    uint64_t txn = c.commit_lsn.value() / 0x1000;
    if (::write(fd, &txn, sizeof(txn)) != sizeof(txn)) _exit(4);
  });
  auto table = testing::TestTable();
  for (uint64_t txn = 1;; ++txn) {
    if (!testing::AppendTxn(**log, txn, ChangesOf(txn), table).ok()) _exit(5);
  }
}

TEST(CrashTest, EveryReportedDurableCommitSurvivesKill9) {
  TempDir dir;
  const std::string log_dir = dir.Sub("log");
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RunWriter(log_dir, fds[1]);
    }
    ::close(fds[1]);
    uint64_t reported_max = 0;
    size_t reports = 0;
    uint64_t txn = 0;
    while (reports < 300) {
      ssize_t n = ::read(fds[0], &txn, sizeof(txn));
      ASSERT_EQ(n, static_cast<ssize_t>(sizeof(txn))) << "writer died early";
      reported_max = std::max(reported_max, txn);
      ++reports;
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus));
    // Reports written before the kill are still in the pipe.
    while (::read(fds[0], &txn, sizeof(txn)) == static_cast<ssize_t>(sizeof(txn))) {
      reported_max = std::max(reported_max, txn);
    }
    ::close(fds[0]);

    ChangeLogOptions options;
    options.dir = log_dir;
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
    ASSERT_TRUE(log->LastDurableCommit().has_value());
    EXPECT_GE(log->LastDurableCommit()->commit_lsn, testing::TxnLsn(reported_max));
    ASSERT_OK_AND_ASSIGN(auto entries, testing::ReadAllFrom(*log, Position{}));
    // The log is exactly whole transactions 1..last, each complete, and holds every reported one.
    size_t i = 0;
    uint64_t expect_txn = 0;
    while (i < entries.size()) {
      ++expect_txn;
      for (uint32_t k = 0; k < ChangesOf(expect_txn); ++k, ++i) {
        ASSERT_LT(i, entries.size());
        ASSERT_EQ(entries[i].kind, LogEntry::Kind::kChange);
        ASSERT_EQ(entries[i].change.position, (Position{testing::TxnLsn(expect_txn), k}));
      }
      ASSERT_LT(i, entries.size()) << "transaction " << expect_txn << " has no commit";
      ASSERT_EQ(entries[i].kind, LogEntry::Kind::kCommit);
      ASSERT_EQ(entries[i].commit.commit_lsn, testing::TxnLsn(expect_txn));
      ++i;
    }
    EXPECT_GE(expect_txn, reported_max);
    // Each round starts a fresh log (the child numbers transactions from 1).
    log.reset();
    std::filesystem::remove_all(log_dir);
  }
}

}  // namespace
}  // namespace eddy::log
