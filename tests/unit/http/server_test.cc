#include "http/server.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "unit/http/test_client.h"

namespace eddy::http {
namespace {

using std::chrono::milliseconds;
using testing::Client;
using testing::HttpResponse;
using testing::WsFrame;
using Clock = std::chrono::steady_clock;

// A thread-safe mailbox between server threads and the test.
template <class T>
class Inbox {
 public:
  void Push(T value) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(value));
    }
    cv_.notify_all();
  }
  std::optional<T> Pop(milliseconds timeout = milliseconds(5000)) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !items_.empty(); })) return std::nullopt;
    T value = std::move(items_.front());
    items_.pop_front();
    return value;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

SharedBytes Bytes(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

std::string Get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

// Waits until `predicate` holds, polling; false on timeout.
template <class Predicate>
bool Eventually(Predicate predicate, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = Clock::now() + timeout;
  while (!predicate()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

class ServerTest : public ::testing::Test {
 protected:
  Server& Make() {
    server_ = Server::Create(options_);
    return *server_;
  }
  void Start() {
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (server_) server_->Stop(milliseconds(500));
  }

  // Registers /events: each accepted stream lands in streams_, each close reason in closes_.
  void RouteEvents() {
    server_->RouteSse(
        "/events",
        [this](const Request& request, std::shared_ptr<EventStream> s,
               std::vector<std::pair<std::string, std::string>>* extra) -> Accept {
          if (request.Query("deny")) return Response::Error(401, "unauthorized", "no");
          extra->emplace_back("X-Stream", "yes");
          s->OnClose([this](std::string_view reason) { closes_.Push(std::string(reason)); });
          streams_.Push(std::move(s));
          return std::nullopt;
        });
  }
  // Registers /ws: echoes text messages; accepted sockets land in sockets_.
  void RouteEcho() {
    server_->RouteWebSocket(
        "/ws", [this](const Request& request, std::shared_ptr<WebSocket> ws) -> Accept {
          if (request.Query("deny")) return Response::Error(403, "forbidden", "no");
          ws->OnMessage([weak = std::weak_ptr<WebSocket>(ws)](std::string_view message) {
            if (auto ws = weak.lock()) ws->Send(Bytes(std::string(message)));
          });
          ws->OnClose([this](std::string_view reason) { closes_.Push(std::string(reason)); });
          sockets_.Push(std::move(ws));
          return std::nullopt;
        });
  }

  std::unique_ptr<Client> OpenEvents() {
    auto client = std::make_unique<Client>(port_);
    client->Send(Get("/events"));
    auto response = client->ReadResponse(milliseconds(5000), /*head=*/true);
    EXPECT_TRUE(response);
    if (response) {
      EXPECT_EQ(response->status, 200);
    }
    return client;
  }

  ServerOptions options_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  Inbox<std::shared_ptr<EventStream>> streams_;
  Inbox<std::shared_ptr<WebSocket>> sockets_;
  Inbox<std::string> closes_;
};

// ---------------------------------------------------------------------------------------------
// Plain routes

TEST_F(ServerTest, RoutesRequestsAndDecodesQueryAndHeaders) {
  Make().Route("GET", "/v1/echo", [](const Request& r) {
    std::string body = r.method + "|" + r.path + "|" + r.Query("table").value_or("-") + "|";
    for (const auto& v : r.QueryAll("col")) body += v + ",";
    body += "|" + r.Header("x-custom-thing").value_or("-") + "|" + r.target;
    return Response::Text(200, body);
  });
  server_->Route("POST", "/v1/echo", [](const Request& r) { return Response::Json(201, r.body); });
  Start();

  Client client(port_);
  client.Send(Get("/v1/echo?table=my%20songs&col=a+b&col=c%2Cd", "X-Custom-Thing: Yes\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body,
            "GET|/v1/echo|my songs|a b,c,d,|Yes|/v1/echo?table=my%20songs&col=a+b&col=c%2Cd");
  EXPECT_EQ(response->Header("content-type"), "text/plain");

  // Keep-alive: a second request on the same connection, with a body.
  client.Send("POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "{\"a\":1}");
  EXPECT_EQ(response->Header("content-type"), "application/json");

  ServerStats stats = server_->Stats();
  ASSERT_EQ(stats.routes.size(), 1u);
  EXPECT_EQ(stats.routes[0].route, "/v1/echo");
  EXPECT_EQ(stats.routes[0].requests, 2u);
  EXPECT_EQ(stats.routes[0].errors, 0u);
  uint64_t bucketed = 0;
  for (uint64_t n : stats.routes[0].latency_buckets) bucketed += n;
  EXPECT_EQ(bucketed, 2u);
  EXPECT_GT(stats.routes[0].seconds_total, 0);
  EXPECT_GT(stats.bytes_sent, 0u);
  EXPECT_EQ(stats.connections_total, 1u);
  EXPECT_EQ(stats.connections_open, 1u);
}

TEST_F(ServerTest, UnknownPathIs404AndOtherMethodIs405) {
  Make().Route("GET", "/a", [](const Request&) { return Response::Text(200, "a"); });
  server_->Route("GET", "/files/", [](const Request& r) { return Response::Text(200, r.path); });
  Start();
  Client client(port_);
  client.Send(Get("/nope"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_NE(response->body.find("\"code\":\"not_found\""), std::string::npos);
  EXPECT_EQ(response->Header("content-type"), "application/json");

  client.Send("DELETE /a HTTP/1.1\r\nHost: t\r\n\r\n");
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_NE(response->body.find("\"code\":\"method_not_allowed\""), std::string::npos);
  EXPECT_EQ(response->Header("allow"), "GET, HEAD");

  client.Send(Get("/files/x/y.txt"));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "/files/x/y.txt");
  EXPECT_EQ(server_->Stats().routes[0].errors, 1u);
}

TEST_F(ServerTest, DefaultHeaderIsOnEveryKindOfResponse) {
  Make().Route("GET", "/plain", [](const Request&) { return Response::Text(200, "ok"); });
  server_->Route("GET", "/own", [](const Request&) {
    Response response = Response::Text(200, "own");
    response.headers.emplace_back("eddy-schema-hash", "route-value");
    return response;
  });
  RouteEvents();
  RouteEcho();
  server_->SetDefaultHeader("eddy-schema-hash", "0123456789abcdef");
  Start();

  Client client(port_);
  client.Send(Get("/plain"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("eddy-schema-hash"), "0123456789abcdef");
  client.Send(Get("/nope"));  // errors too
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->Header("eddy-schema-hash"), "0123456789abcdef");
  client.Send(Get("/own"));  // a route's own value wins
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("eddy-schema-hash"), "route-value");

  // A new value applies to the next response; the name matches case-insensitively.
  server_->SetDefaultHeader("Eddy-Schema-Hash", "fedcba9876543210");
  client.Send(Get("/plain"));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->headers.count("eddy-schema-hash"), 1u);
  EXPECT_EQ(response->Header("eddy-schema-hash"), "fedcba9876543210");

  Client sse(port_);
  sse.Send(Get("/events"));
  response = sse.ReadResponse(milliseconds(5000), /*head=*/true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("content-type"), "text/event-stream");
  EXPECT_EQ(response->Header("eddy-schema-hash"), "fedcba9876543210");

  Client ws(port_);
  response = ws.WsHandshake("/ws");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 101);
  EXPECT_EQ(response->Header("eddy-schema-hash"), "fedcba9876543210");

  // An empty value removes it.
  server_->SetDefaultHeader("eddy-schema-hash", "");
  client.Send(Get("/plain"));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->headers.count("eddy-schema-hash"), 0u);
}

TEST_F(ServerTest, HeadIsAnsweredForGetRoutes) {
  Make().Route("GET", "/doc", [](const Request&) { return Response::Text(200, "hello world"); });
  Start();
  Client client(port_);
  client.Send("HEAD /doc HTTP/1.1\r\nHost: t\r\n\r\n");
  auto response = client.ReadResponse(milliseconds(5000), /*head=*/true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-length"), "11");
  // No body follows: the next response starts right away.
  client.Send(Get("/doc"));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "hello world");
}

TEST_F(ServerTest, HandlerExceptionBecomes500) {
  Make().Route("GET", "/boom",
               [](const Request&) -> Response { throw std::runtime_error("kaput"); });
  Start();
  Client client(port_);
  client.Send(Get("/boom"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_NE(response->body.find("\"code\":\"internal\""), std::string::npos);
  // The connection survives.
  client.Send(Get("/boom"));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
}

TEST_F(ServerTest, BodyOverLimitGets413) {
  options_.limits.max_body_bytes = 1024;
  Make().Route("POST", "/in", [](const Request& r) { return Response::Text(200, r.body); });
  Start();
  Client ok(port_);
  ok.Send("POST /in HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n" + std::string(1024, 'x'));
  auto response = ok.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);

  Client client(port_);
  client.Send("POST /in HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n" +
              std::string(4096, 'x'));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find("body_too_large"), std::string::npos);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));

  Client chunked(port_);
  chunked.Send("POST /in HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
               std::string(2048, 'y') + "\r\n0\r\n\r\n");
  response = chunked.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
}

TEST_F(ServerTest, HeadersOverLimitGet431) {
  options_.limits.max_header_bytes = 1024;
  Make().Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  Start();
  Client client(port_);
  client.Send(Get("/", "X-Big: " + std::string(2000, 'h') + "\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find("headers_too_large"), std::string::npos);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
}

TEST_F(ServerTest, IdleKeepAliveConnectionClosesAfterIdleTimeout) {
  options_.limits.idle_timeout = milliseconds(200);
  Make().Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  Start();
  Client client(port_);
  client.Send(Get("/"));
  ASSERT_TRUE(client.ReadResponse());
  const auto start = Clock::now();
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, milliseconds(150));
  EXPECT_TRUE(Eventually([&] { return server_->Stats().connections_open == 0; }));
}

TEST_F(ServerTest, UnfinishedRequestClosedAfterRequestTimeout) {
  options_.limits.request_timeout = milliseconds(300);
  Make().Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  Start();
  Client client(port_);
  client.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
  const auto start = Clock::now();
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  EXPECT_GE(Clock::now() - start, milliseconds(250));
  EXPECT_TRUE(client.buffer().empty());  // closed without a response
}

TEST_F(ServerTest, ConnectionsPastTheLimitGet503) {
  options_.limits.max_connections = 2;
  Make().Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  Start();
  Client a(port_), b(port_);
  for (Client* c : {&a, &b}) {
    c->Send(Get("/"));
    ASSERT_TRUE(c->ReadResponse());
  }
  Client refused(port_);
  refused.Send(Get("/"));
  auto response = refused.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_TRUE(refused.WaitClosed(milliseconds(3000)));
  EXPECT_EQ(server_->Stats().refused_connections, 1u);

  a.Close();
  ASSERT_TRUE(Eventually([&] { return server_->Stats().connections_open == 1; }));
  Client again(port_);
  again.Send(Get("/"));
  response = again.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, GarbageGets400AndCloseNeverACrash) {
  Make().Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  Start();
  {
    Client client(port_);
    client.Send(std::string("\x01\x02\xff garbage \x00\x7f\r\n\r\n", 19));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400);
    EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  }
  {
    Client client(port_);
    client.Send("GET / HTTP/9.9\r\nHost: t\r\nContent-Length: -5\r\n\r\n");
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400);
  }
  // Random bytes, some starting like a request: the server answers 400 or just closes.
  std::mt19937 random(42);
  for (int i = 0; i < 40; ++i) {
    std::string bytes = (i % 2 == 0) ? "GET /" : "";
    const int n = 1 + static_cast<int>(random() % 600);
    for (int j = 0; j < n; ++j) bytes.push_back(static_cast<char>(random() & 0xff));
    bytes += "\r\n\r\n";
    Client client(port_);
    client.Send(bytes);
    client.Close();
  }
  Client client(port_);
  client.Send(Get("/"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

// ---------------------------------------------------------------------------------------------
// Server-sent events

TEST_F(ServerTest, SseEventsArriveInOrderWithHeaders) {
  Make();
  RouteEvents();
  Start();
  Client client(port_);
  client.Send(Get("/events"));
  auto response = client.ReadResponse(milliseconds(5000), true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-type"), "text/event-stream");
  EXPECT_EQ(response->Header("cache-control"), "no-cache");
  EXPECT_EQ(response->Header("x-accel-buffering"), "no");
  EXPECT_EQ(response->Header("x-stream"), "yes");
  EXPECT_EQ(response->Header("transfer-encoding"), "chunked");
  auto stream = streams_.Pop();
  ASSERT_TRUE(stream);
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    std::string event =
        "id: " + std::to_string(i) + "\ndata: {\"n\":" + std::to_string(i) + "}\n\n";
    expected += event;
    ASSERT_TRUE((*stream)->Send(Bytes(event)));
  }
  auto got = client.ReadChunksUntil("id: 199\ndata: {\"n\":199}\n\n");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, expected);
  EXPECT_EQ(server_->Stats().streams_open, 1u);
}

TEST_F(ServerTest, SseRefusalSendsTheResponse) {
  Make();
  RouteEvents();
  Start();
  Client client(port_);
  client.Send(Get("/events?deny=1"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
  EXPECT_NE(response->body.find("unauthorized"), std::string::npos);
}

TEST_F(ServerTest, SseKeepAliveCommentOnIdleStream) {
  options_.limits.sse_keepalive = milliseconds(100);
  Make();
  RouteEvents();
  Start();
  auto client = OpenEvents();
  EXPECT_TRUE(client->ReadChunksUntil(": keep-alive\n\n", milliseconds(3000)));
}

TEST_F(ServerTest, SameBytesReachHundredStreams) {
  Make();
  RouteEvents();
  Start();
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::shared_ptr<EventStream>> streams;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(OpenEvents());
    auto stream = streams_.Pop();
    ASSERT_TRUE(stream);
    streams.push_back(*stream);
  }
  const SharedBytes event = Bytes("event: change\ndata: " + std::string(1000, 'z') + "\n\n");
  for (auto& stream : streams) ASSERT_TRUE(stream->Send(event));
  for (auto& client : clients) {
    auto got = client->ReadChunksUntil("\n\n");
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, *event);
  }
  // Once written, the server holds no reference (and it never copied the bytes).
  EXPECT_TRUE(Eventually([&] { return event.use_count() == 1; }));
  EXPECT_EQ(server_->Stats().streams_open, 100u);
}

TEST_F(ServerTest, SseClientDisconnectTriggersOnClose) {
  Make();
  RouteEvents();
  Start();
  auto client = OpenEvents();
  auto stream = streams_.Pop();
  ASSERT_TRUE(stream);
  client->Close();
  auto reason = closes_.Pop();
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "client disconnected");
  EXPECT_TRUE((*stream)->closed());
  EXPECT_FALSE((*stream)->Send(Bytes("data: late\n\n")));
  EXPECT_FALSE(closes_.Pop(milliseconds(100)));  // once
  EXPECT_TRUE(Eventually([&] { return server_->Stats().streams_open == 0; }));
}

TEST_F(ServerTest, SseSlowReaderOverflowsAndIsClosed) {
  options_.limits.max_send_queue_bytes = 64 << 10;
  Make();
  RouteEvents();
  Start();
  auto client = std::make_unique<Client>(port_, /*receive_buffer=*/4096);
  client->Send(Get("/events"));
  ASSERT_TRUE(client->ReadResponse(milliseconds(5000), true));
  auto stream = streams_.Pop();
  ASSERT_TRUE(stream);
  const SharedBytes event = Bytes("data: " + std::string(16 << 10, 'q') + "\n\n");
  bool overflowed = false;
  const auto deadline = Clock::now() + milliseconds(10000);
  while (Clock::now() < deadline) {
    if (!(*stream)->Send(event)) {
      overflowed = true;
      break;
    }
    if ((*stream)->queued_bytes() > (32 << 10)) std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_TRUE(overflowed);
  EXPECT_TRUE((*stream)->closed());
  auto reason = closes_.Pop();
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "send queue overflow");
  EXPECT_EQ(server_->Stats().queue_overflows, 1u);
  EXPECT_TRUE(client->WaitClosed(milliseconds(10000)));
}

TEST_F(ServerTest, SseCloseDeliversFinalBytes) {
  Make();
  RouteEvents();
  Start();
  auto client = OpenEvents();
  auto stream = streams_.Pop();
  ASSERT_TRUE(stream);
  ASSERT_TRUE((*stream)->Send(Bytes("data: one\n\n")));
  (*stream)->Close("event: bye\ndata: done\n\n");
  EXPECT_FALSE((*stream)->Send(Bytes("data: after\n\n")));
  auto got = client->ReadChunksUntil("data: done\n\n");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "data: one\n\nevent: bye\ndata: done\n\n");
  auto last = client->ReadChunk();
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, "");  // the last chunk
  EXPECT_TRUE(client->WaitClosed(milliseconds(3000)));
  auto reason = closes_.Pop();
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "closed by server");
}

// ---------------------------------------------------------------------------------------------
// WebSockets

TEST_F(ServerTest, WebSocketEchoesInOrder) {
  Make();
  RouteEcho();
  Start();
  Client client(port_);
  auto handshake = client.WsHandshake("/ws");
  ASSERT_TRUE(handshake);
  ASSERT_EQ(handshake->status, 101);
  EXPECT_EQ(handshake->Header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  ASSERT_TRUE(sockets_.Pop());
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(client.WsSend(1, "message " + std::to_string(i)));
  for (int i = 0; i < 300; ++i) {
    WsFrame frame = client.WsReadMessage();
    ASSERT_EQ(frame.opcode, 1);
    ASSERT_EQ(frame.payload, "message " + std::to_string(i));
  }
  EXPECT_EQ(server_->Stats().websockets_open, 1u);
  client.WsSendClose(1000);
  EXPECT_EQ(client.WsReadMessage().opcode, 8);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  client.Close();
  auto reason = closes_.Pop();
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "client closed");
  EXPECT_TRUE(Eventually([&] { return server_->Stats().websockets_open == 0; }));
}

TEST_F(ServerTest, WebSocketRefusalAndPlainGet) {
  Make();
  RouteEcho();
  Start();
  Client client(port_);
  auto response = client.WsHandshake("/ws?deny=1");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 403);
  Client plain(port_);
  plain.Send(Get("/ws"));
  response = plain.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 426);
}

TEST_F(ServerTest, WebSocketOversizedMessageCloses) {
  options_.limits.max_ws_message_bytes = 1024;
  Make();
  RouteEcho();
  Start();
  Client client(port_);
  ASSERT_EQ(client.WsHandshake("/ws")->status, 101);
  ASSERT_TRUE(client.WsSend(1, std::string(1024, 'a')));
  EXPECT_EQ(client.WsReadMessage().payload.size(), 1024u);
  client.WsSend(1, std::string(4096, 'a'));
  WsFrame frame = client.WsReadMessage();
  EXPECT_EQ(frame.opcode, 8);
  EXPECT_EQ(frame.close_code(), 1009);
  client.Close();
  auto reason = closes_.Pop();
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "message too big");
}

TEST_F(ServerTest, WebSocketBinaryMessageCloses1003) {
  Make();
  RouteEcho();
  Start();
  Client client(port_);
  ASSERT_EQ(client.WsHandshake("/ws")->status, 101);
  client.WsSend(2, "\x01\x02");
  WsFrame frame = client.WsReadMessage();
  EXPECT_EQ(frame.opcode, 8);
  EXPECT_EQ(frame.close_code(), 1003);
  client.WsSendClose(1003);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  client.Close();
  EXPECT_TRUE(closes_.Pop());
}

TEST_F(ServerTest, WebSocketOverflowClosesWith1008) {
  options_.limits.max_send_queue_bytes = 64 << 10;
  Make();
  RouteEcho();
  Start();
  Client client(port_, /*receive_buffer=*/4096);
  ASSERT_EQ(client.WsHandshake("/ws")->status, 101);
  auto ws = sockets_.Pop();
  ASSERT_TRUE(ws);
  const SharedBytes message = Bytes(std::string(16 << 10, 'm'));
  bool overflowed = false;
  const auto deadline = Clock::now() + milliseconds(10000);
  while (Clock::now() < deadline) {
    if (!(*ws)->Send(message)) {
      overflowed = true;
      break;
    }
    if ((*ws)->queued_bytes() > (32 << 10)) std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_TRUE(overflowed);
  EXPECT_TRUE((*ws)->closed());
  EXPECT_EQ(server_->Stats().queue_overflows, 1u);
  // Now read: whatever was in flight, then the close frame.
  WsFrame frame;
  for (int i = 0; i < 100000; ++i) {
    frame = client.WsReadMessage();
    if (frame.opcode != 1) break;
    EXPECT_EQ(frame.payload.size(), message->size());
  }
  EXPECT_EQ(frame.opcode, 8);
  EXPECT_EQ(frame.close_code(), 1008);
  EXPECT_EQ(frame.close_reason(), "send queue overflow");
  client.WsSendClose(1008);
  client.Close();
  auto reason = closes_.Pop();
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "send queue overflow");
}

TEST_F(ServerTest, WebSocketServerSideClose) {
  Make();
  RouteEcho();
  Start();
  Client client(port_);
  ASSERT_EQ(client.WsHandshake("/ws")->status, 101);
  auto ws = sockets_.Pop();
  ASSERT_TRUE(ws);
  ASSERT_TRUE((*ws)->Send(Bytes("last words")));
  (*ws)->Close(4000, "bye now");
  EXPECT_FALSE((*ws)->Send(Bytes("too late")));
  WsFrame frame = client.WsReadMessage();
  EXPECT_EQ(frame.payload, "last words");
  frame = client.WsReadMessage();
  EXPECT_EQ(frame.opcode, 8);
  EXPECT_EQ(frame.close_code(), 4000);
  EXPECT_EQ(frame.close_reason(), "bye now");
  client.WsSendClose(4000);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  client.Close();
  auto reason = closes_.Pop();
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "closed by server");
}

// ---------------------------------------------------------------------------------------------
// Stop

TEST_F(ServerTest, StopDrainsQueuedBytesThenCloses) {
  Make();
  RouteEvents();
  RouteEcho();
  Start();
  auto sse = OpenEvents();
  auto stream = streams_.Pop();
  ASSERT_TRUE(stream);
  Client ws_client(port_);
  ASSERT_EQ(ws_client.WsHandshake("/ws")->status, 101);
  auto ws = sockets_.Pop();
  ASSERT_TRUE(ws);

  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*stream)->Send(Bytes("id: " + std::to_string(i) + "\ndata: x\n\n")));
  }
  ASSERT_TRUE((*ws)->Send(Bytes("queued before stop")));
  std::thread stopper([&] { server_->Stop(milliseconds(3000)); });
  auto got = sse->ReadChunksUntil("id: 49\ndata: x\n\n");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->find("id: 0\n"), 0u);
  EXPECT_EQ(sse->ReadChunk().value_or("?"), "");  // last chunk
  EXPECT_EQ(ws_client.WsReadMessage().payload, "queued before stop");
  WsFrame frame = ws_client.WsReadMessage();
  EXPECT_EQ(frame.opcode, 8);
  EXPECT_EQ(frame.close_code(), 1001);
  ws_client.WsSendClose(1001);
  EXPECT_TRUE(ws_client.WaitClosed(milliseconds(3000)));
  ws_client.Close();
  stopper.join();
  EXPECT_TRUE(sse->WaitClosed(milliseconds(1000)));
  EXPECT_EQ(closes_.Pop().value_or(""), "server shutdown");
  EXPECT_EQ(closes_.Pop().value_or(""), "server shutdown");
  EXPECT_FALSE((*stream)->Send(Bytes("data: after\n\n")));
  EXPECT_FALSE((*ws)->Send(Bytes("after")));
}

TEST_F(ServerTest, StopReturnsPromptlyWithIdleClientsAndTwice) {
  options_.limits.sse_keepalive = milliseconds(60'000);
  Make().Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  RouteEvents();
  RouteEcho();
  Start();
  Client keep_alive(port_);
  keep_alive.Send(Get("/"));
  ASSERT_TRUE(keep_alive.ReadResponse());
  Client silent(port_);  // connected, never sends
  auto sse = OpenEvents();
  Client ws_client(port_);
  ASSERT_EQ(ws_client.WsHandshake("/ws")->status, 101);
  // A stream whose client does not read and has bytes queued past the socket buffers.
  auto stuck = std::make_unique<Client>(port_, 4096);
  stuck->Send(Get("/events"));
  ASSERT_TRUE(stuck->ReadResponse(milliseconds(5000), true));
  ASSERT_TRUE(streams_.Pop());
  auto stuck_stream = streams_.Pop();
  ASSERT_TRUE(stuck_stream);
  const SharedBytes big = Bytes("data: " + std::string(256 << 10, 's') + "\n\n");
  for (int i = 0; i < 12; ++i) (*stuck_stream)->Send(big);
  ASSERT_TRUE(Eventually([&] { return server_->Stats().connections_open == 5; }));

  const auto start = Clock::now();
  server_->Stop(milliseconds(500));
  const auto took = Clock::now() - start;
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_TRUE(keep_alive.WaitClosed(milliseconds(1000)));
  EXPECT_TRUE(silent.WaitClosed(milliseconds(1000)));
  server_->Stop(milliseconds(500));  // again: a no-op
  EXPECT_EQ(server_->Stats().connections_open, 0u);
  Client late(port_);
  EXPECT_FALSE(late.connected() && late.Send(Get("/")) && late.ReadResponse(milliseconds(300)));
}

// ---------------------------------------------------------------------------------------------
// Async routes (long polls)

TEST_F(ServerTest, AsyncRouteAnswersLaterFromAnotherThreadAndKeepsTheConnection) {
  Make();
  Inbox<std::shared_ptr<Exchange>> pending;
  server_->RouteAsync("GET", "/poll", [&](const Request& request, std::shared_ptr<Exchange> ex) {
    if (request.Query("now")) {
      ex->Respond(Response::Json(200, "{\"now\":true}"));
      return;
    }
    pending.Push(std::move(ex));
  });
  Start();
  Client client(port_);
  client.Send(Get("/poll"));
  auto exchange = pending.Pop();
  ASSERT_TRUE(exchange);
  std::thread answer([ex = *exchange] {
    std::this_thread::sleep_for(milliseconds(50));
    Response response = Response::Json(200, "{\"later\":true}");
    response.headers.emplace_back("X-Later", "1");
    ex->Respond(std::move(response));
    ex->Respond(Response::Json(500, "{}"));  // ignored: only the first answer counts
  });
  auto response = client.ReadResponse();
  answer.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("x-later"), "1");
  EXPECT_EQ(response->body, "{\"later\":true}");
  // Same connection, answered at once; HEAD goes to the GET handler without a body.
  client.Send(Get("/poll?now=1"));
  response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "{\"now\":true}");
  client.Send("HEAD /poll?now=1 HTTP/1.1\r\nHost: test\r\n\r\n");
  response = client.ReadResponse(milliseconds(5000), /*head=*/true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->body.empty());
}

TEST_F(ServerTest, AsyncRouteCanBecomeAnEventStreamWithItsOwnCacheControl) {
  Make();
  server_->RouteAsync("GET", "/live", [](const Request&, std::shared_ptr<Exchange> ex) {
    std::thread([ex] {
      auto stream = ex->StartStream({{"Cache-Control", "public, max-age=59"}, {"X-Live", "1"}});
      stream->Send(Bytes("data: one\n\n"));
      stream->Close("data: two\n\n");
    }).detach();
  });
  Start();
  Client client(port_);
  client.Send(Get("/live"));
  auto response = client.ReadResponse(milliseconds(5000), /*head=*/true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-type"), "text/event-stream");
  EXPECT_EQ(response->Header("cache-control"), "public, max-age=59");
  EXPECT_EQ(response->Header("x-live"), "1");
  auto got = client.ReadChunksUntil("data: two\n\n");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "data: one\n\ndata: two\n\n");
}

TEST_F(ServerTest, AsyncRouteCanStreamABodyWithoutKeepAliveComments) {
  options_.limits.sse_keepalive = milliseconds(20);
  Make();
  server_->RouteAsync("GET", "/big", [](const Request&, std::shared_ptr<Exchange> ex) {
    std::thread([ex] {
      auto body = ex->StartBody("application/json", {{"Content-Encoding", "identity"}});
      body->Send(Bytes("{\"rows\":["));
      std::this_thread::sleep_for(milliseconds(150));  // longer than the keep-alive period
      body->Send(Bytes("1,2"));
      body->Close("]}");
    }).detach();
  });
  Start();
  Client client(port_);
  client.Send(Get("/big"));
  auto response = client.ReadResponse(milliseconds(5000), /*head=*/true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-type"), "application/json");
  EXPECT_EQ(response->Header("content-encoding"), "identity");
  EXPECT_EQ(response->Header("transfer-encoding"), "chunked");
  auto got = client.ReadChunksUntil("]}");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "{\"rows\":[1,2]}");  // the bytes are the body: no ": keep-alive"
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
}

TEST_F(ServerTest, AHeadRequestToAStreamedBodyGetsTheHeadOnly) {
  Make();
  std::promise<bool> send_after_head;
  server_->RouteAsync("GET", "/big", [&](const Request&, std::shared_ptr<Exchange> ex) {
    std::thread([ex, &send_after_head] {
      auto body = ex->StartBody("application/json", {});
      std::this_thread::sleep_for(milliseconds(100));
      send_after_head.set_value(body->Send(Bytes("{}")));
    }).detach();
  });
  Start();
  Client client(port_);
  client.Send("HEAD /big HTTP/1.1\r\nHost: test\r\n\r\n");
  auto response = client.ReadResponse(milliseconds(5000), /*head=*/true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-type"), "application/json");
  auto future = send_after_head.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  EXPECT_FALSE(future.get());  // the producer learns there is no one to send to
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  EXPECT_TRUE(client.buffer().empty()) << client.buffer();
}

TEST_F(ServerTest, AnAbortedBodyEndsWithoutItsLastChunk) {
  Make();
  std::promise<std::string> closed_reason;
  server_->RouteAsync("GET", "/broken", [&](const Request&, std::shared_ptr<Exchange> ex) {
    std::thread([ex, &closed_reason] {
      auto body = ex->StartBody("application/json", {});
      body->OnClose([&](std::string_view reason) { closed_reason.set_value(std::string(reason)); });
      body->Send(Bytes("{\"rows\":["));
      std::this_thread::sleep_for(milliseconds(50));
      body->Abort("the database went away");
      EXPECT_FALSE(body->Send(Bytes("1")));  // nothing after an abort
    }).detach();
  });
  Start();
  Client client(port_);
  client.Send(Get("/broken"));
  auto response = client.ReadResponse(milliseconds(5000), /*head=*/true);
  ASSERT_TRUE(response);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  // The raw bytes after the head: the first chunk and no terminating "0\r\n\r\n".
  EXPECT_EQ(client.buffer().find("0\r\n\r\n"), std::string::npos) << client.buffer();
  auto future = closed_reason.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  EXPECT_EQ(future.get(), "the database went away");
}

TEST_F(ServerTest, AsyncRouteThatNeverAnswersGets503) {
  options_.limits.async_response_timeout = milliseconds(300);
  Make();
  std::vector<std::shared_ptr<Exchange>> kept;  // never answered
  std::mutex kept_mu;
  server_->RouteAsync("POST", "/stuck", [&](const Request&, std::shared_ptr<Exchange> ex) {
    std::lock_guard lock(kept_mu);
    kept.push_back(std::move(ex));
  });
  Start();
  Client client(port_);
  client.Send("POST /stuck HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n");
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
}

TEST_F(ServerTest, StartFailsWithAClearErrorWhenThePortIsTaken) {
  Make().Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  Start();
  ServerOptions options;
  options.port = port_;
  auto second = Server::Create(options);
  Status status = second->Start();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("127.0.0.1:" + std::to_string(port_)), std::string::npos);
  options.address = "not an address";
  EXPECT_EQ(Server::Create(options)->Start().code(), StatusCode::kInvalidArgument);
  // A server that never started stops (and destructs) without fuss.
  Server::Create(ServerOptions{})->Stop();
}

}  // namespace
}  // namespace eddy::http
