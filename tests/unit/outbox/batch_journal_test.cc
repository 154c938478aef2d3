#include "outbox/batch_journal.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

namespace eddy::outbox {
namespace {

class BatchJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/eddy-journal-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/outbox-journal";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::string path_;
};

using Entries = std::vector<BatchJournal::Entry>;

TEST_F(BatchJournalTest, EmptyWhenNothingWasStored) {
  BatchJournal j(path_, true);
  auto r = j.Load();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(BatchJournalTest, LoadReturnsTheNewestStore) {
  {
    BatchJournal j(path_, true);
    ASSERT_TRUE(j.Store({{Lsn(5), "700"}, {Lsn(6), "701"}}).ok());
    ASSERT_TRUE(j.Store({{Lsn(6), "701"}, {Lsn(7), "705"}}).ok());
    ASSERT_TRUE(j.Store({{Lsn(8), "800"}}).ok());
  }
  BatchJournal j(path_, true);
  auto r = j.Load();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (Entries{{Lsn(8), "800"}}));
  // Stores after a load continue the sequence.
  ASSERT_TRUE(j.Store({{Lsn(9), "900"}}).ok());
  BatchJournal again(path_, true);
  EXPECT_EQ(*again.Load(), (Entries{{Lsn(9), "900"}}));
}

TEST_F(BatchJournalTest, ATornSlotFallsBackToTheOther) {
  BatchJournal j(path_, false);
  ASSERT_TRUE(j.Store({{Lsn(5), "700"}}).ok());                   // .a
  ASSERT_TRUE(j.Store({{Lsn(6), "701"}, {Lsn(7), "702"}}).ok());  // .b
  {
    std::fstream f(path_ + ".b", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('9');
  }
  BatchJournal reader(path_, false);
  EXPECT_EQ(*reader.Load(), (Entries{{Lsn(5), "700"}}));
}

TEST_F(BatchJournalTest, BothSlotsDamagedIsCorruption) {
  std::ofstream(path_ + ".a") << "garbage";
  std::ofstream(path_ + ".b") << "eddy-outbox-journal 1 1 0\nnot a line";
  BatchJournal j(path_, false);
  auto r = j.Load();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace eddy::outbox
