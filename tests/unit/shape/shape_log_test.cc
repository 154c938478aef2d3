#include "shape/shape_log.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <gtest/gtest.h>

#include "unit/shape/shape_test_util.h"

namespace eddy::shape {
namespace {

using testing::TempDir;

// {"n":<tx>.<op>} padded with 'x' to `bytes` bytes of JSON (at least the unpadded size).
LogMessage Msg(uint64_t tx, uint64_t op, size_t bytes = 20) {
  std::string json = "{\"n\":\"" + std::to_string(tx) + "." + std::to_string(op);
  while (json.size() + 2 < bytes) json += 'x';
  json += "\"}";
  return {Offset::At(tx, op), json};
}

std::string Joined(const std::vector<LogMessage>& messages, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) {
    if (i > from) out += ',';
    out += messages[i].json;
  }
  return out;
}

ShapeLogOptions Options(const std::string& path, uint64_t chunk_bytes,
                        uint64_t valid_bytes = UINT64_MAX) {
  ShapeLogOptions o;
  o.path = path;
  o.chunk_bytes = chunk_bytes;
  o.valid_bytes = valid_bytes;
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

// Reads the whole log chunk by chunk; returns each chunk's (count, end).
std::vector<std::pair<size_t, Offset>> ChunkEnds(const ShapeLog& log) {
  std::vector<std::pair<size_t, Offset>> out;
  Offset after = Offset::BeforeAll();
  for (;;) {
    auto r = log.Read(after);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->count == 0) break;
    out.emplace_back(r->count, r->end);
    after = r->end;
    if (r->at_head) break;
  }
  return out;
}

class ShapeLogTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.Sub("shape.log");
};

TEST_F(ShapeLogTest, EmptyLogReadsNothingAtHead) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100)));
  EXPECT_EQ(log->last_offset(), Offset::BeforeAll());
  EXPECT_EQ(log->message_count(), 0u);
  ASSERT_OK_AND_ASSIGN(ReadResult r, log->Read(Offset::BeforeAll()));
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.items, "");
  EXPECT_EQ(r.end, Offset::BeforeAll());
  EXPECT_TRUE(r.at_head);
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_EQ(log->size_bytes(), std::filesystem::file_size(path_));
}

TEST_F(ShapeLogTest, CutsChunksAfterTheMessageThatReachesTheThreshold) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100)));
  // 40-byte messages: 40, 80, 120 -> the third closes the chunk.
  std::vector<LogMessage> messages;
  for (uint64_t i = 0; i < 7; ++i) messages.push_back(Msg(10, i * 2, 40));
  ASSERT_OK(log->Append(std::span(messages).first(2)));
  ASSERT_OK(log->Append(std::span(messages).subspan(2)));

  ASSERT_OK_AND_ASSIGN(ReadResult first, log->Read(Offset::BeforeAll()));
  EXPECT_EQ(first.count, 3u);
  EXPECT_EQ(first.items, Joined(messages, 0, 3));
  EXPECT_EQ(first.end, Offset::At(10, 4));
  EXPECT_FALSE(first.at_head);

  ASSERT_OK_AND_ASSIGN(ReadResult second, log->Read(first.end));
  EXPECT_EQ(second.items, Joined(messages, 3, 6));
  EXPECT_EQ(second.end, Offset::At(10, 10));
  EXPECT_FALSE(second.at_head);

  ASSERT_OK_AND_ASSIGN(ReadResult third, log->Read(second.end));
  EXPECT_EQ(third.items, Joined(messages, 6, 7));
  EXPECT_EQ(third.end, Offset::At(10, 12));
  EXPECT_TRUE(third.at_head);

  ASSERT_OK_AND_ASSIGN(ReadResult none, log->Read(third.end));
  EXPECT_EQ(none.count, 0u);
  EXPECT_EQ(none.end, third.end);
  EXPECT_TRUE(none.at_head);
  EXPECT_EQ(log->message_count(), 7u);
  EXPECT_EQ(log->last_offset(), Offset::At(10, 12));
}

TEST_F(ShapeLogTest, OneBigMessageIsAChunkOfItsOwn) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100)));
  std::vector<LogMessage> messages = {Msg(1, 0, 500), Msg(1, 2, 20), Msg(2, 0, 500)};
  ASSERT_OK(log->Append(messages));
  auto chunks = ChunkEnds(*log);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0], std::make_pair(size_t{1}, Offset::At(1, 0)));
  EXPECT_EQ(chunks[1], std::make_pair(size_t{2}, Offset::At(2, 0)));
}

TEST_F(ShapeLogTest, ReadsFromAnOffsetInTheMiddleOfAChunk) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 1000)));
  std::vector<LogMessage> messages;
  for (uint64_t i = 0; i < 10; ++i) messages.push_back(Msg(100 + i, 0, 30));
  ASSERT_OK(log->Append(messages));
  // Exactly at a message: the ones after it.
  ASSERT_OK_AND_ASSIGN(ReadResult at, log->Read(Offset::At(104, 0)));
  EXPECT_EQ(at.items, Joined(messages, 5, 10));
  EXPECT_EQ(at.count, 5u);
  // Between messages (not an offset of the log).
  ASSERT_OK_AND_ASSIGN(ReadResult between, log->Read(Offset::At(104, 7)));
  EXPECT_EQ(between.items, Joined(messages, 5, 10));
  ASSERT_OK_AND_ASSIGN(ReadResult inf, log->Read(Offset::At(104, Offset::kInfOp)));
  EXPECT_EQ(inf.items, Joined(messages, 5, 10));
  // Before everything but not -1.
  ASSERT_OK_AND_ASSIGN(ReadResult early, log->Read(Offset::SnapshotEnd()));
  EXPECT_EQ(early.items, Joined(messages, 0, 10));
  EXPECT_TRUE(early.at_head);
  // Past everything.
  ASSERT_OK_AND_ASSIGN(ReadResult late, log->Read(Offset::At(500, 0)));
  EXPECT_EQ(late.count, 0u);
  EXPECT_EQ(late.end, Offset::At(500, 0));
  EXPECT_TRUE(late.at_head);
}

TEST_F(ShapeLogTest, TailReadsAfterManySmallAppendsSeeExactlyTheNewMessages) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 1 << 20)));
  std::vector<LogMessage> messages;
  for (uint64_t i = 0; i < 60; ++i) {
    messages.push_back(Msg(1000 + i / 3, (i % 3) * 2, 25));
    if (i % 3 == 2) ASSERT_OK(log->Append(std::span(messages).subspan(i - 2, 3)));
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(ReadResult r, log->Read(messages[i].offset));
    EXPECT_EQ(r.items, Joined(messages, i + 1, messages.size())) << i;
    EXPECT_EQ(r.count, messages.size() - i - 1);
    // Between this message and the next.
    ASSERT_OK_AND_ASSIGN(ReadResult b,
                         log->Read(Offset::At(messages[i].offset.tx, messages[i].offset.op + 1)));
    EXPECT_EQ(b.items, Joined(messages, i + 1, messages.size())) << i;
  }
}

TEST_F(ShapeLogTest, RejectsOffsetsThatDoNotIncreaseAndKeepsTheLogAsItWas) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100)));
  ASSERT_OK(log->Append(std::vector<LogMessage>{Msg(5, 0), Msg(5, 2)}));
  const uint64_t size = log->size_bytes();
  for (const std::vector<LogMessage>& batch :
       {std::vector<LogMessage>{Msg(5, 2)}, std::vector<LogMessage>{Msg(4, 9)},
        std::vector<LogMessage>{Msg(6, 0), Msg(6, 0)},
        std::vector<LogMessage>{Msg(7, 1), Msg(7, 0)},
        std::vector<LogMessage>{{Offset::BeforeAll(), "{}"}},
        std::vector<LogMessage>{{Offset::Now(), "{}"}},
        std::vector<LogMessage>{{Offset::At(9, 0), ""}}}) {
    Status s = log->Append(batch);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("message"), std::string::npos) << s.message();
  }
  EXPECT_EQ(log->size_bytes(), size);
  EXPECT_EQ(log->message_count(), 2u);
  EXPECT_EQ(log->last_offset(), Offset::At(5, 2));
  ASSERT_OK(log->Append(std::vector<LogMessage>{Msg(5, 3)}));
}

TEST_F(ShapeLogTest, ReadNowIsAnError) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100)));
  auto r = log->Read(Offset::Now());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ShapeLogTest, ReopenRebuildsTheSameChunksEvenWithAnotherThreshold) {
  std::vector<LogMessage> messages;
  for (uint64_t i = 0; i < 50; ++i) messages.push_back(Msg(i + 1, 0, 20 + (i * 7) % 40));
  std::vector<std::pair<size_t, Offset>> before;
  uint64_t size = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 150)));
    for (size_t i = 0; i < messages.size(); i += 4) {
      ASSERT_OK(
          log->Append(std::span(messages).subspan(i, std::min<size_t>(4, messages.size() - i))));
    }
    before = ChunkEnds(*log);
    size = log->size_bytes();
    ASSERT_GT(before.size(), 5u);
  }
  // A different chunk_bytes changes where new chunks are cut, never the old boundaries.
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 10'000)));
  EXPECT_EQ(ChunkEnds(*log), before);
  EXPECT_EQ(log->size_bytes(), size);
  EXPECT_EQ(log->message_count(), messages.size());
  EXPECT_EQ(log->last_offset(), messages.back().offset);
  ASSERT_OK_AND_ASSIGN(ReadResult tail, log->Read(before[before.size() - 2].second));
  EXPECT_TRUE(tail.at_head);
  EXPECT_EQ(tail.end, messages.back().offset);
}

TEST_F(ShapeLogTest, TornTailIsCutAtEveryByteOfTheLastRecord) {
  std::vector<LogMessage> messages = {Msg(1, 0, 30), Msg(1, 2, 30), Msg(2, 0, 30)};
  uint64_t two_records = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 1000)));
    ASSERT_OK(log->Append(std::span(messages).first(2)));
    two_records = log->size_bytes();
    ASSERT_OK(log->Append(std::span(messages).subspan(2)));
  }
  const std::string full = ReadFile(path_);
  for (size_t cut = two_records; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    WriteFile(path_, std::string_view(full).substr(0, cut));
    ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 1000)));
    EXPECT_EQ(log->message_count(), 2u);
    EXPECT_EQ(log->last_offset(), Offset::At(1, 2));
    EXPECT_EQ(log->size_bytes(), two_records);
    EXPECT_EQ(std::filesystem::file_size(path_), two_records);
    ASSERT_OK_AND_ASSIGN(ReadResult r, log->Read(Offset::BeforeAll()));
    EXPECT_EQ(r.items, Joined(messages, 0, 2));
    // The log goes on from there.
    ASSERT_OK(log->Append(std::span(messages).subspan(2)));
    ASSERT_OK_AND_ASSIGN(ReadResult again, log->Read(Offset::BeforeAll()));
    EXPECT_EQ(again.items, Joined(messages, 0, 3));
  }
}

TEST_F(ShapeLogTest, ACorruptRecordEndsTheLogThere) {
  std::vector<LogMessage> messages = {Msg(1, 0, 30), Msg(1, 2, 30), Msg(2, 0, 30)};
  uint64_t one_record = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 1000)));
    ASSERT_OK(log->Append(std::span(messages).first(1)));
    one_record = log->size_bytes();
    ASSERT_OK(log->Append(std::span(messages).subspan(1)));
  }
  std::string bytes = ReadFile(path_);
  bytes[one_record + 25] ^= 0x01;  // inside the second record's JSON
  WriteFile(path_, bytes);
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 1000)));
  EXPECT_EQ(log->message_count(), 1u);
  EXPECT_EQ(log->size_bytes(), one_record);
  ASSERT_OK_AND_ASSIGN(ReadResult r, log->Read(Offset::BeforeAll()));
  EXPECT_EQ(r.items, messages[0].json);
}

TEST_F(ShapeLogTest, ValidBytesCutsTheFileToWhatTheMetadataRecorded) {
  std::vector<LogMessage> messages;
  for (uint64_t i = 0; i < 9; ++i) messages.push_back(Msg(i + 1, 0, 40));
  uint64_t recorded = 0;
  std::vector<std::pair<size_t, Offset>> chunks_then;
  {
    ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100)));
    ASSERT_OK(log->Append(std::span(messages).first(4)));
    recorded = log->size_bytes();
    chunks_then = ChunkEnds(*log);
    ASSERT_OK(log->Append(std::span(messages).subspan(4)));
    ASSERT_OK(log->Sync());
  }
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100, recorded)));
  EXPECT_EQ(log->message_count(), 4u);
  EXPECT_EQ(log->size_bytes(), recorded);
  EXPECT_EQ(std::filesystem::file_size(path_), recorded);
  EXPECT_EQ(ChunkEnds(*log), chunks_then);
  // valid_bytes inside a record cuts before it.
  log.reset();
  ASSERT_OK_AND_ASSIGN(log, ShapeLog::Open(Options(path_, 100, recorded - 1)));
  EXPECT_EQ(log->message_count(), 3u);
  // Below the file header: an empty log.
  log.reset();
  ASSERT_OK_AND_ASSIGN(log, ShapeLog::Open(Options(path_, 100, 0)));
  EXPECT_EQ(log->message_count(), 0u);
  EXPECT_EQ(log->last_offset(), Offset::BeforeAll());
  ASSERT_OK(log->Append(std::span(messages).first(1)));
  ASSERT_OK_AND_ASSIGN(ReadResult r, log->Read(Offset::BeforeAll()));
  EXPECT_EQ(r.items, messages[0].json);
}

TEST_F(ShapeLogTest, BytesDamagedUnderAnOpenLogAreCorruptionOnRead) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 1000)));
  ASSERT_OK(log->Append(std::vector<LogMessage>{Msg(1, 0, 30), Msg(1, 2, 30)}));
  std::string bytes = ReadFile(path_);
  bytes[8 + 3] = 0x7f;  // the first record's length: far past the chunk
  WriteFile(path_, bytes);
  log->Release();  // reopen: the file was replaced
  auto r = log->Read(Offset::BeforeAll());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find(path_), std::string::npos);
}

TEST_F(ShapeLogTest, SomebodyElsesFileIsCorruptionNamingThePath) {
  WriteFile(path_, "PGDMP this is not a shape log");
  auto log = ShapeLog::Open(Options(path_, 100));
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kCorruption);
  EXPECT_NE(log.status().message().find(path_), std::string::npos);
}

TEST_F(ShapeLogTest, MissingDirectoryIsAnIoErrorNamingThePath) {
  auto log = ShapeLog::Open(Options(dir_.Sub("no/such/dir/shape.log"), 100));
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kIoError);
  EXPECT_NE(log.status().message().find("no/such/dir"), std::string::npos);
}

TEST_F(ShapeLogTest, ReleasedLogReopensOnTheNextCall) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100)));
  std::vector<LogMessage> messages = {Msg(1, 0, 60), Msg(1, 2, 60), Msg(2, 0, 60)};
  ASSERT_OK(log->Append(std::span(messages).first(2)));
  log->Release();
  EXPECT_EQ(log->message_count(), 2u);
  ASSERT_OK_AND_ASSIGN(ReadResult r, log->Read(Offset::BeforeAll()));
  EXPECT_EQ(r.items, Joined(messages, 0, 2));
  log->Release();
  ASSERT_OK(log->Append(std::span(messages).subspan(2)));
  log->Release();
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(ReadResult rest, log->Read(r.end));
  EXPECT_EQ(rest.items, messages[2].json);
}

TEST_F(ShapeLogTest, RemoveDeletesTheFile) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 100)));
  ASSERT_OK(log->Append(std::vector<LogMessage>{Msg(1, 0)}));
  ASSERT_OK(log->Remove());
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_FALSE(log->Read(Offset::BeforeAll()).ok());
  EXPECT_FALSE(log->Append(std::vector<LogMessage>{Msg(2, 0)}).ok());
}

// One appender, readers following the log from the start, and an evictor releasing the file
// under them: every reader sees every message once, in order, chunk by chunk.
TEST_F(ShapeLogTest, ConcurrentReadersFollowTheAppender) {
  ASSERT_OK_AND_ASSIGN(auto log, ShapeLog::Open(Options(path_, 400)));
  constexpr uint64_t kTransactions = 400;
  constexpr uint64_t kPerTransaction = 3;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};

  auto follow = [&] {
    Offset after = Offset::BeforeAll();
    uint64_t seen = 0;
    while (seen < kTransactions * kPerTransaction && failures.load() == 0) {
      auto r = log->Read(after);
      if (!r.ok()) {
        ++failures;
        return;
      }
      if (r->count == 0) {
        std::this_thread::yield();
        continue;
      }
      // Every message must be the next one expected.
      std::string expected;
      for (size_t i = 0; i < r->count; ++i) {
        const uint64_t n = seen + i;
        if (i > 0) expected += ',';
        expected += Msg(n / kPerTransaction + 1, (n % kPerTransaction) * 2, 30).json;
      }
      if (r->items != expected) {
        ++failures;
        return;
      }
      seen += r->count;
      after = r->end;
    }
  };
  std::vector<std::thread> readers;
  readers.reserve(3);
  for (int i = 0; i < 3; ++i) readers.emplace_back(follow);
  std::thread evictor([&] {
    while (!done.load()) {
      log->Release();
      std::this_thread::yield();
    }
  });
  for (uint64_t t = 1; t <= kTransactions; ++t) {
    std::vector<LogMessage> batch;
    for (uint64_t i = 0; i < kPerTransaction; ++i) batch.push_back(Msg(t, i * 2, 30));
    Status appended = log->Append(batch);
    EXPECT_TRUE(appended.ok()) << appended.ToString();
    if (!appended.ok()) {
      ++failures;
      break;
    }
  }
  for (auto& r : readers) r.join();
  done = true;
  evictor.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(log->message_count(), kTransactions * kPerTransaction);
}

}  // namespace
}  // namespace eddy::shape
