#pragma once

// eddy's HTTP server: one Boost.Beast listener on C++20 coroutines, a strand per connection,
// plain request/response routes, server-sent-event streams and WebSockets. It knows no eddy
// protocol: the faces (src/adapters/*) register routes. Asio and Beast stay out of this header.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/result.h"

namespace eddy::http {

// Every bound of the server, each named so that a test can exceed it.
struct Limits {
  size_t max_body_bytes = 1 << 20;                 // larger request bodies get 413
  size_t max_header_bytes = 16 << 10;              // larger request headers get 431
  std::chrono::milliseconds idle_timeout{60'000};  // a keep-alive connection idle this long closes
  std::chrono::milliseconds request_timeout{30'000};  // reading one request may take this long
  size_t max_send_queue_bytes = 4 << 20;   // per SSE / WebSocket connection; past it: closed
  size_t max_ws_message_bytes = 64 << 10;  // larger incoming WebSocket messages close the socket
  size_t max_connections = 20000;          // past it new connections are refused (503, then closed)
  std::chrono::milliseconds sse_keepalive{15'000};  // ": keep-alive" comment on idle SSE streams
  // An async route that has not answered by then gets 503 (a handler bug, not a client's).
  std::chrono::milliseconds async_response_timeout{120'000};
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port (see Server::port())
  int threads = 2;    // io_context threads
  Limits limits;
};

// A parsed request. Header names are lower-case. The query string is percent-decoded.
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/watch?table=songs"
  std::string path;    // "/v1/watch"
  std::multimap<std::string, std::string> query;
  std::multimap<std::string, std::string> headers;
  std::string body;
  std::string remote;  // "127.0.0.1:53211"

  // The first value, or nullopt.
  std::optional<std::string> Query(std::string_view name) const;
  std::vector<std::string> QueryAll(std::string_view name) const;
  std::optional<std::string> Header(std::string_view lower_case_name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Length
  std::string body;
  std::string content_type = "application/json";

  // {"error": {"code": <code>, "message": <message>, "field": <field>}} (field left out if empty)
  static Response Error(int status, std::string_view code, std::string_view message,
                        std::string_view field = {});
  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body, std::string content_type = "text/plain");
};

// Bytes that may be queued on many connections without copying.
using SharedBytes = std::shared_ptr<const std::string>;

// A chunked response in progress: server-sent events (text/event-stream), or a body streamed as
// it is produced (Exchange::StartBody). Thread-safe: Send, Close and Abort may be called from any
// thread; writes happen on the connection's strand in order.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues already-framed SSE bytes ("id: ...\ndata: ...\n\n"). Returns false, and closes the
  // stream with reason "send queue overflow", if the queued bytes would exceed
  // Limits::max_send_queue_bytes; false also once the stream is closed.
  virtual bool Send(SharedBytes bytes) = 0;
  // Writes `final_bytes` (may be empty) then ends the response and the connection.
  virtual void Close(std::string final_bytes = {}) = 0;
  // Drops what is queued and cuts the connection without the last chunk, so the client sees an
  // incomplete response rather than a short one that looks whole (a body that failed midway).
  virtual void Abort(std::string reason) = 0;
  virtual bool closed() const = 0;
  // Called once, on any thread, when the stream ends for any reason (client gone, overflow,
  // Close, shutdown). Set before returning from the route handler.
  virtual void OnClose(std::function<void(std::string_view reason)> callback) = 0;
  virtual size_t queued_bytes() const = 0;
};

// An accepted WebSocket (text frames). Thread-safe like EventStream.
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // Queues one text message; false (and closes with 1008 "send queue overflow") past the limit.
  virtual bool Send(SharedBytes text) = 0;
  virtual void Close(uint16_t code, std::string reason) = 0;
  virtual bool closed() const = 0;
  // Incoming text messages, in order, on the connection's strand. Set before returning from the
  // route handler. Binary messages close the socket with 1003.
  virtual void OnMessage(std::function<void(std::string_view message)> callback) = 0;
  virtual void OnClose(std::function<void(std::string_view reason)> callback) = 0;
  virtual size_t queued_bytes() const = 0;
};

// What a streaming route decided: reject with a normal response, or accept.
using Accept = std::optional<Response>;  // nullopt: accepted

using HttpHandler = std::function<Response(const Request&)>;
// Called before the stream's headers are written. Return a Response to refuse (e.g. 400, 401).
// `extra_headers` are added to the 200 text/event-stream response when accepted.
using SseHandler =
    std::function<Accept(const Request&, std::shared_ptr<EventStream>,
                         std::vector<std::pair<std::string, std::string>>* extra_headers)>;
using WebSocketHandler = std::function<Accept(const Request&, std::shared_ptr<WebSocket>)>;

// A request answered later, from any thread: a long poll that waits for data, or a response that
// becomes an event stream once the handler has decided. Only the first Respond or StartStream
// counts; later calls are ignored (StartStream then returns a closed stream).
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void Respond(Response response) = 0;
  // Answers 200 text/event-stream (chunked) with `headers`; a Cache-Control among them replaces
  // the default "no-cache". The stream may be written to at once.
  virtual std::shared_ptr<EventStream> StartStream(
      std::vector<std::pair<std::string, std::string>> headers) = 0;
  // Answers 200 `content_type` with a chunked body written through the returned stream (no
  // keep-alive comments: the bytes are the body). The connection closes after the body.
  virtual std::shared_ptr<EventStream> StartBody(
      std::string content_type, std::vector<std::pair<std::string, std::string>> headers) = 0;
  // True once the client closed the connection while the request waited.
  virtual bool client_gone() const = 0;
};
using AsyncHandler = std::function<void(const Request&, std::shared_ptr<Exchange>)>;

// Per-route counters the server keeps (for /metrics).
struct RouteStats {
  std::string route;  // the registered path
  uint64_t requests = 0;
  uint64_t errors = 0;       // 4xx and 5xx
  double seconds_total = 0;  // summed latency of plain requests
  // Counts per bucket of kLatencyBucketsMs, not cumulative: bucket i counts latencies <= bound i
  // (and > bound i-1); one extra last bucket counts those above the largest bound.
  std::vector<uint64_t> latency_buckets;
};
inline constexpr double kLatencyBucketsMs[] = {0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000};

struct ServerStats {
  uint64_t connections_open = 0;
  uint64_t connections_total = 0;
  uint64_t streams_open = 0;  // SSE
  uint64_t websockets_open = 0;
  uint64_t bytes_sent = 0;
  uint64_t queue_overflows = 0;  // streams and sockets closed for a full send queue
  uint64_t refused_connections = 0;
  std::vector<RouteStats> routes;
};

// The server. Routes are matched by exact path (a route registered as "/static/" with a trailing
// slash matches every path under it). Unknown paths get 404, a known path with another method
// 405, both as Response::Error JSON. HEAD is answered for GET routes.
// Thread-safety: register routes before Start(); everything else is thread-safe.
class Server {
 public:
  static std::unique_ptr<Server> Create(ServerOptions options);
  virtual ~Server() = default;

  virtual void Route(std::string method, std::string path, HttpHandler handler) = 0;
  virtual void RouteSse(std::string path, SseHandler handler) = 0;              // GET
  virtual void RouteWebSocket(std::string path, WebSocketHandler handler) = 0;  // GET + Upgrade
  // A route answered through an Exchange (HEAD is routed to a GET handler, body dropped).
  virtual void RouteAsync(std::string method, std::string path, AsyncHandler handler) = 0;

  // Sets a header sent on every response from now on: plain responses, errors (404, 503...), the
  // head of SSE streams and WebSocket handshakes. A response that sets the same header itself
  // keeps its own value. An empty `value` removes the header. Thread-safe, any time.
  virtual void SetDefaultHeader(std::string name, std::string value) = 0;

  // Binds and starts the io_context threads. Errors name the address and the reason.
  virtual Status Start() = 0;
  virtual uint16_t port() const = 0;
  // Graceful: stops accepting, lets in-flight requests finish and queued stream bytes drain for
  // up to `drain`, then closes everything and joins the threads. Idempotent; the destructor
  // calls it. REQUIRES: not called from a handler or callback (those run on the joined threads).
  virtual void Stop(std::chrono::milliseconds drain = std::chrono::milliseconds(2000)) = 0;
  virtual ServerStats Stats() const = 0;
};

}  // namespace eddy::http
