#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "log/change_log.h"
#include "unit/log/log_test_util.h"

namespace eddy::log {
namespace {

using namespace std::chrono_literals;
using testing::AppendTxn;
using testing::ExpectTxns;
using testing::ReadAllFrom;
using testing::SegmentFiles;
using testing::TempDir;

ChangeLogOptions Options(const std::string& dir, uint64_t segment_bytes = 64ull << 20) {
  ChangeLogOptions o;
  o.dir = dir;
  o.segment_bytes = segment_bytes;
  o.fsync = false;
  return o;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(RecoveryTest, TornFinalTransactionAtEveryByteOffset) {
  TempDir dir;
  const std::string log_dir = dir.Sub("log");
  uint64_t committed_size = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(log_dir), SystemClock()));
    for (uint64_t txn = 1; txn <= 3; ++txn) ASSERT_OK(AppendTxn(*log, txn, 3));
    committed_size = std::filesystem::file_size(SegmentFiles(log_dir).at(0));
    ASSERT_OK(AppendTxn(*log, 4, 3));
    ASSERT_OK(log->Sync());
  }
  const std::string segment = SegmentFiles(log_dir).at(0);
  const std::string name = std::filesystem::path(segment).filename();
  const std::string full = ReadFile(segment);
  ASSERT_GT(full.size(), committed_size);
  for (size_t cut = committed_size; cut <= full.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(full.size()));
    TempDir copy;
    const std::string copy_dir = copy.Sub("log");
    std::filesystem::create_directories(copy_dir);
    WriteFile(copy_dir + "/" + name, std::string_view(full).substr(0, cut));
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(copy_dir), SystemClock()));
    const uint64_t last = cut == full.size() ? 4 : 3;
    EXPECT_EQ(log->LastDurableCommit()->commit_lsn, testing::TxnLsn(last));
    ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
    ExpectTxns(entries, 1, last, 3);
    if (cut % 16 == 0) {  // and the log keeps working after the repair
      ASSERT_OK(AppendTxn(*log, 10, 2));
      ASSERT_OK(log->Sync());
      ASSERT_OK_AND_ASSIGN(auto more, ReadAllFrom(*log, Position{}));
      EXPECT_EQ(more.size(), entries.size() + 3);
    }
  }
}

TEST(RecoveryTest, ZeroFilledTailIsDropped) {
  TempDir dir;
  const std::string log_dir = dir.Sub("log");
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(log_dir), SystemClock()));
    for (uint64_t txn = 1; txn <= 3; ++txn) ASSERT_OK(AppendTxn(*log, txn, 2));
  }
  const std::string segment = SegmentFiles(log_dir).at(0);
  const uint64_t size = std::filesystem::file_size(segment);
  WriteFile(segment, ReadFile(segment) + std::string(5000, '\0'));
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(log_dir), SystemClock()));
  EXPECT_EQ(std::filesystem::file_size(segment), size);
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  ExpectTxns(entries, 1, 3, 2);
}

TEST(RecoveryTest, TornSegmentCreationIsRemoved) {
  TempDir dir;
  const std::string log_dir = dir.Sub("log");
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(log_dir, 256), SystemClock()));
    for (uint64_t txn = 1; txn <= 5; ++txn) ASSERT_OK(AppendTxn(*log, txn, 2));
  }
  // A crash while a new segment's header was being written.
  const std::string torn = log_dir + "/" + SegmentFileName(Lsn(0x9000), 1000);
  WriteFile(torn, "\x10\x00\x00");
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(log_dir, 256), SystemClock()));
  EXPECT_FALSE(std::filesystem::exists(torn));
  ASSERT_OK(AppendTxn(*log, 6, 2));
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  ExpectTxns(entries, 1, 6, 2);
}

// Flips one byte in the middle of `path`'s records.
void CorruptMiddle(const std::string& path) {
  std::string bytes = ReadFile(path);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5A);
  WriteFile(path, bytes);
}

TEST(RecoveryTest, CorruptRecordInTheLastSegmentFailsOpen) {
  TempDir dir;
  const std::string log_dir = dir.Sub("log");
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(log_dir), SystemClock()));
    for (uint64_t txn = 1; txn <= 10; ++txn) ASSERT_OK(AppendTxn(*log, txn, 3));
  }
  const std::string segment = SegmentFiles(log_dir).at(0);
  const uint64_t size = std::filesystem::file_size(segment);
  CorruptMiddle(segment);
  // Not a torn write: recovery must not silently truncate committed transactions.
  auto log = ChangeLog::Open(Options(log_dir), SystemClock());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kCorruption);
  EXPECT_NE(log.status().message().find("checksum"), std::string::npos) << log.status().message();
  EXPECT_EQ(std::filesystem::file_size(segment), size);
}

TEST(RecoveryTest, CorruptRecordInASealedSegmentIsReportedByReaders) {
  TempDir dir;
  const std::string log_dir = dir.Sub("log");
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(log_dir, 1024), SystemClock()));
    for (uint64_t txn = 1; txn <= 30; ++txn) ASSERT_OK(AppendTxn(*log, txn, 3));
  }
  auto segments = SegmentFiles(log_dir);
  ASSERT_GT(segments.size(), 3u);
  CorruptMiddle(segments[1]);
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(log_dir, 1024), SystemClock()));
  ASSERT_OK_AND_ASSIGN(auto reader, log->NewReader(Position{}));
  size_t good = 0;
  Status status;
  while (true) {
    auto e = reader->Next(0ms);
    if (!e.ok()) {
      status = e.status();
      break;
    }
    ASSERT_TRUE(e->has_value()) << "expected to hit the corrupt record";
    ++good;
  }
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find(segments[1]), std::string::npos) << status.message();
  EXPECT_GT(good, 0u);
  // Positions past the bad segment are still readable.
  ASSERT_OK_AND_ASSIGN(auto tail, ReadAllFrom(*log, Position{testing::TxnLsn(29), 3}));
  ExpectTxns(tail, 30, 30, 3);
}

}  // namespace
}  // namespace eddy::log
