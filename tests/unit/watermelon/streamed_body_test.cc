// GzipEncoder and StreamedBody: a body produced piece by piece reaches the stream whole and in
// order, straight while the client keeps up and through the spool while it does not, and a
// failure midway aborts the stream instead of ending it.

#include "adapters/watermelon/streamed_body.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "adapters/watermelon/gzip.h"

namespace eddy::watermelon {
namespace {

using std::chrono::milliseconds;

// An http::EventStream whose client reads only when the test says so.
class FakeStream final : public http::EventStream {
 public:
  bool Send(http::SharedBytes bytes) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    queued_ += bytes->size();
    queue_.push_back(std::move(bytes));
    return true;
  }
  void Close(std::string final_bytes) override {
    std::lock_guard lock(mu_);
    if (closed_) return;
    received_ += final_bytes;
    closed_ = true;
    ended_ = "closed";
  }
  void Abort(std::string reason) override {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    ended_ = "aborted: " + reason;
  }
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }
  void OnClose(std::function<void(std::string_view)>) override {}
  size_t queued_bytes() const override {
    std::lock_guard lock(mu_);
    return queued_;
  }

  // The client reads everything queued.
  void Drain() {
    std::lock_guard lock(mu_);
    for (const auto& b : queue_) received_ += *b;
    queue_.clear();
    queued_ = 0;
  }
  // The client leaves.
  void Leave() {
    std::lock_guard lock(mu_);
    closed_ = true;
    ended_ = "client gone";
  }
  std::string received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::string ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<http::SharedBytes> queue_;
  size_t queued_ = 0;
  bool closed_ = false;
  std::string received_;
  std::string ended_;
};

// Drains `stream` until it ends or `timeout` passes.
void ReadUntilEnded(FakeStream& stream, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    stream.Drain();
    if (!stream.ended().empty()) return;
    std::this_thread::sleep_for(milliseconds(2));
  }
}

StreamedBodyOptions SmallQueue() {
  StreamedBodyOptions options;
  options.direct_queue_bytes = 1000;
  options.chunk_bytes = 300;
  return options;
}

TEST(GzipEncoderTest, PiecesMakeOneMemberThatGunzipsToTheWhole) {
  auto encoder = GzipEncoder::Create();
  ASSERT_TRUE(encoder.ok());
  std::string whole, zipped;
  for (int i = 0; i < 5000; ++i) {
    const std::string piece = "{\"id\":\"r" + std::to_string(i) + "\",\"title\":\"t\"},";
    whole += piece;
    ASSERT_TRUE((*encoder)->Add(piece, &zipped).ok());
  }
  ASSERT_TRUE((*encoder)->Finish(&zipped).ok());
  EXPECT_EQ((*encoder)->bytes_in(), whole.size());
  EXPECT_LT(zipped.size(), whole.size() / 4);
  auto back = Gunzip(zipped);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, whole);
  EXPECT_FALSE((*encoder)->Add("more", &zipped).ok());  // finished
}

TEST(StreamedBodyTest, AClientThatKeepsUpGetsEveryByteWithoutASpool) {
  auto stream = std::make_shared<FakeStream>();
  BodyFeeder feeder;
  auto body = std::make_shared<StreamedBody>(stream, feeder, SmallQueue());
  std::string sent;
  for (int i = 0; i < 200; ++i) {
    const std::string piece = "piece " + std::to_string(i) + ";";
    sent += piece;
    ASSERT_TRUE(body->Write(piece).ok());
    stream->Drain();
  }
  body->Finish();
  ReadUntilEnded(*stream);
  EXPECT_FALSE(body->spooled());
  EXPECT_EQ(stream->ended(), "closed");
  EXPECT_EQ(stream->received(), sent);
}

TEST(StreamedBodyTest, AClientThatReadsNothingDoesNotStopTheProducer) {
  auto stream = std::make_shared<FakeStream>();
  BodyFeeder feeder;
  auto body = std::make_shared<StreamedBody>(stream, feeder, SmallQueue());
  std::string sent;
  // The producer writes far more than the queue allows and finishes without waiting.
  for (int i = 0; i < 2000; ++i) {
    const std::string piece = "record " + std::to_string(i) + ",";
    sent += piece;
    ASSERT_TRUE(body->Write(piece).ok());
  }
  body->Finish();
  EXPECT_TRUE(body->spooled());
  EXPECT_GT(body->spooled_bytes(), 10000u);
  EXPECT_LE(stream->queued_bytes(), 1000u + 300u);
  EXPECT_EQ(feeder.active(), 1u);
  // Then the client reads: the rest comes from the spool, in order.
  ReadUntilEnded(*stream);
  EXPECT_EQ(stream->ended(), "closed");
  EXPECT_EQ(stream->received(), sent);
  for (int i = 0; i < 100 && feeder.active() != 0; ++i)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(feeder.active(), 0u);
}

TEST(StreamedBodyTest, AFullSpoolMakesTheProducerWaitForItsClient) {
  auto stream = std::make_shared<FakeStream>();
  BodyFeeder feeder;
  StreamedBodyOptions options = SmallQueue();
  options.max_spool_bytes = 5000;
  auto body = std::make_shared<StreamedBody>(stream, feeder, options);
  std::string sent;
  std::atomic<bool> produced{false};
  std::thread producer([&] {
    for (int i = 0; i < 2000; ++i) {
      const std::string piece = "record " + std::to_string(i) + ",";
      sent += piece;
      ASSERT_TRUE(body->Write(piece).ok());
    }
    body->Finish();
    produced = true;
  });
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_FALSE(produced.load()) << "the producer must wait: the spool is full";
  EXPECT_LE(feeder.spooled_bytes(), 5000u);
  EXPECT_GE(feeder.spool_waits(), 1u);
  ReadUntilEnded(*stream);  // the client reads; the producer goes on
  producer.join();
  EXPECT_EQ(stream->ended(), "closed");
  EXPECT_EQ(stream->received(), sent);
  for (int i = 0; i < 100 && feeder.active() != 0; ++i)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(feeder.spooled_bytes(), 0u);
}

TEST(StreamedBodyTest, AFailureMidwayAbortsTheStreamEvenFromTheSpool) {
  for (const bool slow_client : {false, true}) {
    auto stream = std::make_shared<FakeStream>();
    BodyFeeder feeder;
    auto body = std::make_shared<StreamedBody>(stream, feeder, SmallQueue());
    for (int i = 0; i < (slow_client ? 500 : 5); ++i) ASSERT_TRUE(body->Write("0123456789").ok());
    body->Abort("the database went away");
    ReadUntilEnded(*stream);
    EXPECT_EQ(stream->ended(), "aborted: the database went away") << slow_client;
    EXPECT_FALSE(body->Write("late").ok());
  }
}

TEST(StreamedBodyTest, TheProducerStopsWhenTheClientLeaves) {
  auto stream = std::make_shared<FakeStream>();
  BodyFeeder feeder;
  auto body = std::make_shared<StreamedBody>(stream, feeder, SmallQueue());
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(body->Write("0123456789").ok());
  stream->Leave();
  EXPECT_EQ(body->Write("more").code(), StatusCode::kUnavailable);
  for (int i = 0; i < 200 && feeder.active() != 0; ++i)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(feeder.active(), 0u);  // the spool is dropped
}

TEST(SpoolFileTest, ABadDirectoryIsAClearError) {
  auto spool = SpoolFile::Create("/nonexistent/eddy-spool-dir");
  ASSERT_FALSE(spool.ok());
  EXPECT_NE(spool.status().message().find("watermelon.spool_dir"), std::string::npos)
      << spool.status().message();
}

}  // namespace
}  // namespace eddy::watermelon
