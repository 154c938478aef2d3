// The Beast implementation of Server. This is the only translation unit of the module that sees
// Beast's HTTP and WebSocket templates (boost_impl.cc compiles their out-of-line parts once).
//
// Ownership and threads, in one place:
//  - ServerImpl: routes are immutable after Start(). Counters are atomics. route_stats_ is guarded
//    by stats_mu_, the connection and stream registries by reg_mu_, Start/Stop by lifecycle_mu_.
//  - Connection: owned by the coroutines of one connection (shared_ptr); every member is touched
//    only on the connection's strand.
//  - StreamCore (the state behind EventStream and WebSocket handles): mu_ guards the queue and
//    the lifecycle flags, so that user threads may Send/Close while the strand writes. The bytes
//    themselves are never copied: the queue holds the caller's SharedBytes.

#include "http/server.h"

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "http/message.h"
#include "http/router.h"

namespace eddy::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

// Bounds that are not worth a knob.
constexpr size_t kReadChunk = 4096;                            // first read of a request
constexpr size_t kMaxBatchBytes = 256 << 10;                   // SSE bytes gathered into one chunk
constexpr size_t kMaxBatchItems = 64;                          // SSE events gathered into one chunk
constexpr auto kLingerTimeout = std::chrono::seconds(1);       // reading leftovers before a close
constexpr size_t kLingerMaxBytes = 1 << 20;                    // ... and at most this much
constexpr auto kOverflowCloseGrace = std::chrono::seconds(5);  // a stuck write, then hard close
constexpr auto kForceCloseGrace = std::chrono::milliseconds(200);  // Stop: after the hard close
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);
constexpr size_t kMaxCloseReasonBytes = 123;  // RFC 6455 5.5.1
constexpr std::string_view kKeepAliveComment = ": keep-alive\n\n";
constexpr std::string_view kEventStreamType = "text/event-stream";

// Server-wide counters, shared with stream handles that may outlive the server.
struct Counters {
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> streams_open{0};
  std::atomic<uint64_t> websockets_open{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> queue_overflows{0};
  std::atomic<uint64_t> refused_connections{0};
};

void LogException(std::string_view what, std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("http: {}: {}", what, e.what());
  } catch (...) {
    spdlog::error("http: {}: unknown exception", what);
  }
}

// The completion handler of every co_spawn: nothing escapes a coroutine.
auto Detached(std::string what) {
  return [what = std::move(what)](std::exception_ptr error) { LogException(what, error); };
}

// ---------------------------------------------------------------------------------------------
// StreamCore: the send queue and lifecycle of one SSE stream or WebSocket.

class StreamCore {
 public:
  enum class Action { kWrite, kWait, kClose, kAbort };
  struct Step {
    Action action = Action::kWait;
    std::vector<SharedBytes> batch;  // kWrite
    size_t batch_bytes = 0;
    uint16_t code = 0;         // kClose / kAbort: WebSocket close code
    std::string frame_reason;  // kClose / kAbort: WebSocket close reason
    std::string reason;        // kClose / kAbort: for OnClose
    std::string final_bytes;   // kClose: SSE
  };

  StreamCore(size_t max_queue_bytes, std::shared_ptr<Counters> counters)
      : max_queue_bytes_(max_queue_bytes), counters_(std::move(counters)) {}
  virtual ~StreamCore() = default;

  bool Push(SharedBytes bytes) {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (!bytes || bytes->empty()) return true;  // an empty chunk would end the response
    const size_t size = bytes->size();
    if (queued_.load() + size > max_queue_bytes_) {
      counters_->queue_overflows++;
      AbortLocked(1008, "send queue overflow");  // 1008: policy violation
      return false;
    }
    queued_ += size;
    queue_.push_back(std::move(bytes));
    WakeLocked();
    return true;
  }

  // Graceful: the queued bytes go out first.
  void RequestClose(uint16_t code, std::string frame_reason, std::string reason,
                    std::string final_bytes) {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    close_requested_ = true;
    code_ = code;
    if (frame_reason.size() > kMaxCloseReasonBytes) frame_reason.resize(kMaxCloseReasonBytes);
    frame_reason_ = std::move(frame_reason);
    reason_ = std::move(reason);
    final_bytes_ = std::move(final_bytes);
    WakeLocked(/*force=*/true);
  }

  // Drops the queue and cuts the transport (no goodbye, no last chunk).
  void RequestAbort(std::string reason) {
    std::lock_guard lock(mu_);
    if (closed_) return;
    AbortLocked(1011, std::move(reason));  // 1011: internal error
  }

  // Server shutdown: flush, then close with 1001 / the last chunk.
  void BeginDrain() { RequestClose(1001, "going away", "server shutdown", {}); }

  // Server shutdown past the drain deadline: no more sends, no more wakes, OnClose now.
  void ForceClose(std::string_view reason) {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      wake_ = nullptr;
    }
    Finish(reason);
  }

  bool IsClosed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  bool aborted() const { return aborted_.load(); }
  std::string abort_reason() const {
    std::lock_guard lock(mu_);
    return reason_;
  }
  size_t Queued() const { return queued_.load(); }

  void AddOnClose(std::function<void(std::string_view)> callback) {
    std::string reason;
    {
      std::lock_guard lock(mu_);
      if (!finished_) {
        on_close_.push_back(std::move(callback));
        return;
      }
      reason = finish_reason_;
    }
    Invoke(callback, reason);
  }

  // Fires the OnClose callbacks, once.
  void Finish(std::string_view reason) {
    std::vector<std::function<void(std::string_view)>> callbacks;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;
      closed_ = true;
      finish_reason_ = std::string(reason);
      callbacks.swap(on_close_);
      queue_.clear();
      queued_.store(0);
      wake_ = nullptr;
    }
    OnFinished();
    for (auto& callback : callbacks) Invoke(callback, reason);
  }

  // Strand side. `wake` posts a wake-up to the connection's strand; it may be called under mu_.
  void Attach(std::function<void()> wake) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    wake_ = std::move(wake);
    wake_pending_ = false;
  }
  void Detach() {
    std::lock_guard lock(mu_);
    wake_ = nullptr;
  }

  // Strand side: what the writer should do next.
  Step Next(size_t max_bytes, size_t max_items) {
    std::lock_guard lock(mu_);
    wake_pending_ = false;
    Step step;
    if (aborted_.load()) {
      step.action = Action::kAbort;
    } else if (!queue_.empty()) {
      step.action = Action::kWrite;
      while (!queue_.empty() && step.batch.size() < max_items &&
             (step.batch.empty() || step.batch_bytes + queue_.front()->size() <= max_bytes)) {
        step.batch_bytes += queue_.front()->size();
        step.batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      return step;
    } else if (close_requested_) {
      step.action = Action::kClose;
      step.final_bytes = std::move(final_bytes_);
    } else {
      return step;
    }
    step.code = code_;
    step.frame_reason = frame_reason_;
    step.reason = reason_;
    return step;
  }

  // Strand side: `bytes` of a batch left the queue's accounting (written or failed).
  void Written(size_t bytes) {
    std::lock_guard lock(mu_);
    if (!finished_) queued_ -= std::min(bytes, queued_.load());
  }

 protected:
  // Lets a subclass drop its callbacks (and the reference cycles they may hold) when it ends.
  virtual void OnFinished() {}

 private:
  static void Invoke(const std::function<void(std::string_view)>& callback,
                     std::string_view reason) {
    if (!callback) return;
    try {
      callback(reason);
    } catch (...) {
      LogException("OnClose callback", std::current_exception());
    }
  }

  // Closes at once: the queue is dropped and the writer cuts the transport.
  void AbortLocked(uint16_t code, std::string reason) {
    closed_ = true;
    aborted_.store(true);
    size_t dropped = 0;
    for (const auto& b : queue_) dropped += b->size();
    queue_.clear();
    queued_ -= dropped;
    code_ = code;
    frame_reason_ = reason;
    reason_ = std::move(reason);
    WakeLocked(/*force=*/true);
  }

  // A pending wake-up is enough for new bytes (the writer takes them all when it runs), but not
  // for an overflow: the writer may be stuck in a write and OnWake must cut it.
  void WakeLocked(bool force = false) {
    if (wake_ && (force || !wake_pending_)) {
      wake_pending_ = true;
      wake_();
    }
  }

  const size_t max_queue_bytes_;
  const std::shared_ptr<Counters> counters_;
  mutable std::mutex mu_;
  std::deque<SharedBytes> queue_;     // guarded by mu_
  std::atomic<size_t> queued_{0};     // written under mu_, read anywhere
  std::atomic<bool> aborted_{false};  // overflow or RequestAbort
  bool closed_ = false;               // no more Push; guarded by mu_
  bool close_requested_ = false;
  uint16_t code_ = 1000;
  std::string frame_reason_;
  std::string reason_;
  std::string final_bytes_;
  bool finished_ = false;
  std::string finish_reason_;
  std::vector<std::function<void(std::string_view)>> on_close_;
  std::function<void()> wake_;
  bool wake_pending_ = false;
};

class SseStreamImpl final : public EventStream, public StreamCore {
 public:
  using StreamCore::StreamCore;
  bool Send(SharedBytes bytes) override { return Push(std::move(bytes)); }
  void Close(std::string final_bytes) override {
    RequestClose(1000, {}, "closed by server", std::move(final_bytes));
  }
  void Abort(std::string reason) override { RequestAbort(std::move(reason)); }
  // Strand-only: false for a streamed body (Exchange::StartBody), whose bytes are all body.
  bool keepalive_comments = true;
  bool closed() const override { return IsClosed(); }
  void OnClose(std::function<void(std::string_view)> callback) override {
    AddOnClose(std::move(callback));
  }
  size_t queued_bytes() const override { return Queued(); }
};

class WebSocketImpl final : public WebSocket, public StreamCore {
 public:
  using MessageCallback = std::function<void(std::string_view)>;
  using StreamCore::StreamCore;
  bool Send(SharedBytes text) override { return Push(std::move(text)); }
  void Close(uint16_t code, std::string reason) override {
    RequestClose(code, std::move(reason), "closed by server", {});
  }
  bool closed() const override { return IsClosed(); }
  void OnMessage(MessageCallback callback) override {
    std::lock_guard lock(callback_mu_);
    on_message_ = std::make_shared<MessageCallback>(std::move(callback));
  }
  void OnClose(std::function<void(std::string_view)> callback) override {
    AddOnClose(std::move(callback));
  }
  size_t queued_bytes() const override { return Queued(); }

  std::shared_ptr<MessageCallback> message_callback() const {
    std::lock_guard lock(callback_mu_);
    return on_message_;
  }

 private:
  void OnFinished() override {
    std::lock_guard lock(callback_mu_);
    on_message_.reset();
  }

  mutable std::mutex callback_mu_;
  std::shared_ptr<MessageCallback> on_message_;  // guarded by callback_mu_
};

// The pending answer of an async route. The handler's threads decide (Respond / StartStream);
// the connection's strand waits for the decision. mu_ guards everything but gone_.
class ExchangeImpl final : public Exchange {
 public:
  struct Decision {
    std::optional<Response> response;
    std::vector<std::pair<std::string, std::string>> stream_headers;  // when response is empty
    std::string content_type;  // of a streamed body; "" for server-sent events
  };

  explicit ExchangeImpl(std::shared_ptr<SseStreamImpl> stream) : stream_(std::move(stream)) {}

  void Respond(Response response) override {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      if (decision_) return;
      decision_.emplace();
      decision_->response = std::move(response);
      wake = wake_;
    }
    if (wake) wake();
  }

  std::shared_ptr<EventStream> StartStream(
      std::vector<std::pair<std::string, std::string>> headers) override {
    return Start({}, std::move(headers));
  }
  std::shared_ptr<EventStream> StartBody(
      std::string content_type, std::vector<std::pair<std::string, std::string>> headers) override {
    if (content_type.empty()) content_type = "application/octet-stream";
    return Start(std::move(content_type), std::move(headers));
  }

  bool client_gone() const override { return gone_.load(); }

  // Strand side.
  void SetWaker(std::function<void()> wake) {
    std::lock_guard lock(mu_);
    wake_ = std::move(wake);
  }
  std::optional<Decision> Take() {
    std::lock_guard lock(mu_);
    if (!decision_) return std::nullopt;
    wake_ = nullptr;
    return std::move(decision_);
  }
  // Strand side: a timeout answer unless the handler already decided.
  void Expire(Response response) { Respond(std::move(response)); }
  void MarkGone() { gone_.store(true); }
  const std::shared_ptr<SseStreamImpl>& stream() const { return stream_; }

 private:
  std::shared_ptr<EventStream> Start(std::string content_type,
                                     std::vector<std::pair<std::string, std::string>> headers) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      if (decision_) return stream_;  // closed by the strand unless it was this stream
      decision_.emplace();
      decision_->stream_headers = std::move(headers);
      decision_->content_type = std::move(content_type);
      wake = wake_;
    }
    if (wake) wake();
    return stream_;
  }

  const std::shared_ptr<SseStreamImpl> stream_;
  std::atomic<bool> gone_{false};
  std::mutex mu_;
  std::optional<Decision> decision_;  // guarded by mu_; taken by the strand
  std::function<void()> wake_;        // guarded by mu_
};

// ---------------------------------------------------------------------------------------------
// Connection: the transport of one accepted socket. Strand-only.

struct Connection : std::enable_shared_from_this<Connection> {
  explicit Connection(tcp::socket socket)
      : executor(socket.get_executor()), stream(std::move(socket)), wake(executor), kill(executor) {
    beast::error_code ec;
    const auto endpoint = stream.socket().remote_endpoint(ec);
    if (!ec) remote = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  tcp::socket& socket() { return ws ? beast::get_lowest_layer(*ws).socket() : stream.socket(); }

  // Closes the TCP connection; pending operations complete with errors.
  void CloseTransport() {
    beast::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
    wake.cancel();
    kill.cancel();
  }

  // A Send/Close/overflow happened on another thread.
  void OnWake() {
    wake.cancel();
    if (!core || !core->aborted()) return;
    if (!ws) {
      CloseTransport();  // an overflowing SSE client gets no goodbye
    } else if (writing) {
      // Beast allows one write at a time: give the stuck write a moment, then cut.
      kill.expires_after(kOverflowCloseGrace);
      kill.async_wait([weak = weak_from_this()](beast::error_code ec) {
        if (auto self = weak.lock(); self && !ec) self->CloseTransport();
      });
    }
  }

  net::any_io_executor executor;  // the connection's strand
  beast::tcp_stream stream;       // moved into `ws` on upgrade
  std::optional<websocket::stream<beast::tcp_stream>> ws;
  beast::flat_buffer buffer;
  net::steady_timer wake;  // the stream writer sleeps here
  net::steady_timer kill;  // WebSocket overflow grace
  std::string remote;
  bool idle = false;       // waiting for the next request; Stop() may cut it
  bool writing = false;    // a stream write is in flight
  bool peer_gone = false;  // the stream reader saw the client go
  std::string peer_reason;
  std::shared_ptr<StreamCore> core;
};

// Posts Connection::OnWake to the connection's strand; safe after the connection is gone.
std::function<void()> MakeWaker(const std::shared_ptr<Connection>& conn) {
  return [weak = std::weak_ptr<Connection>(conn), executor = conn->executor] {
    net::post(executor, [weak] {
      if (auto conn = weak.lock()) conn->OnWake();
    });
  };
}

bhttp::response<bhttp::string_body> ToBeast(Response response, unsigned version, bool keep_alive,
                                            bool head) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(response.status), version};
  res.set(bhttp::field::server, "eddy");
  if (!response.content_type.empty()) res.set(bhttp::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) res.insert(name, value);
  res.keep_alive(keep_alive);
  const size_t length = response.body.size();
  if (!head) res.body() = std::move(response.body);
  const int status = response.status;
  if (status >= 200 && status != 204 && status != 304) res.content_length(length);
  return res;
}

Request ToRequest(bhttp::request<bhttp::string_body>& req, const std::string& remote) {
  Request request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  auto split = SplitTarget(request.target);
  request.path = std::move(split.path);
  request.query = ParseQuery(split.query);
  for (const auto& field : req) {
    request.headers.emplace(ToLower(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(req.body());
  request.remote = remote;
  return request;
}

template <class Handler, class... Args>
auto InvokeHandler(const Handler& handler, const Request& request, Args&&... args)
    -> decltype(handler(request, std::forward<Args>(args)...)) {
  try {
    return handler(request, std::forward<Args>(args)...);
  } catch (const std::exception& e) {
    spdlog::error("http: {} {}: handler threw: {}", request.method, request.path, e.what());
  } catch (...) {
    spdlog::error("http: {} {}: handler threw", request.method, request.path);
  }
  return Response::Error(500, "internal", "the handler failed; see the server log");
}

bool IsParseError(const beast::error_code& ec) {
  static const auto& category = bhttp::make_error_code(bhttp::error::bad_method).category();
  return ec.category() == category && ec != bhttp::error::end_of_stream &&
         ec != bhttp::error::partial_message && ec != bhttp::error::need_more;
}

// Half-closes, reads what the client still sends (so that the kernel does not answer it with
// a reset that would destroy our response), then closes.
net::awaitable<void> LingerClose(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(kLingerTimeout);
  std::array<char, 4096> scratch;
  size_t total = 0;
  while (total < kLingerMaxBytes) {
    auto [read_ec, n] = co_await stream.async_read_some(net::buffer(scratch), kUseTuple);
    if (read_ec) break;
    total += n;
  }
  stream.socket().close(ec);
}

// ---------------------------------------------------------------------------------------------

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(ServerOptions options)
      : options_(std::move(options)), counters_(std::make_shared<Counters>()) {
    if (options_.threads < 1) options_.threads = 1;
  }
  ~ServerImpl() override { Stop(std::chrono::milliseconds(2000)); }

  void Route(std::string method, std::string path, HttpHandler handler) override {
    router_.Entry(path).handlers[std::move(method)] = std::move(handler);
  }
  void RouteSse(std::string path, SseHandler handler) override {
    router_.Entry(path).sse = std::move(handler);
  }
  void RouteWebSocket(std::string path, WebSocketHandler handler) override {
    router_.Entry(path).websocket = std::move(handler);
  }
  void RouteAsync(std::string method, std::string path, AsyncHandler handler) override {
    router_.Entry(path).async_handlers[std::move(method)] = std::move(handler);
  }

  void SetDefaultHeader(std::string name, std::string value) override;
  Status Start() override;
  uint16_t port() const override { return port_.load(); }
  void Stop(std::chrono::milliseconds drain) override;
  ServerStats Stats() const override;

 private:
  // Owns the registration of one connection; lives in (and dies with) its session coroutine.
  class SessionGuard {
   public:
    SessionGuard(ServerImpl* server, std::shared_ptr<Connection> conn)
        : server_(server), conn_(std::move(conn)) {}
    SessionGuard(const SessionGuard&) = delete;
    SessionGuard& operator=(const SessionGuard&) = delete;
    ~SessionGuard() { server_->EndSession(conn_); }

   private:
    ServerImpl* const server_;
    const std::shared_ptr<Connection> conn_;
  };

  net::awaitable<void> Listen();
  net::awaitable<void> Refuse(tcp::socket socket);
  net::awaitable<void> Session(std::shared_ptr<Connection> conn,
                               std::unique_ptr<SessionGuard> guard);
  // Both return true when they took the connection over (it ends with them).
  // Runs an accepted stream until it ends (after ServeSse wrote its headers).
  net::awaitable<void> RunSse(std::shared_ptr<Connection> conn,
                              std::shared_ptr<SseStreamImpl> stream);
  // Asks the route's handler; on acceptance writes the stream's headers and sets `*accepted`
  // (the caller then runs it with RunSse). True when the session is over or a stream accepted.
  net::awaitable<bool> ServeSse(std::shared_ptr<Connection> conn, const RouteEntry& entry,
                                const Request& request, unsigned version, bool keep_alive,
                                std::shared_ptr<SseStreamImpl>* accepted);
  net::awaitable<bool> ServeWebSocket(std::shared_ptr<Connection> conn, const RouteEntry& entry,
                                      const Request& request,
                                      bhttp::request<bhttp::string_body> req, bool keep_alive);
  // Runs an async route: waits on the strand for the handler's decision and writes it. Sets
  // `*accepted` when it became a stream. True when the session is over or a stream accepted.
  net::awaitable<bool> ServeAsync(std::shared_ptr<Connection> conn, const RouteEntry& entry,
                                  const AsyncHandler& handler, const Request& request,
                                  unsigned version, bool keep_alive, bool head,
                                  std::shared_ptr<SseStreamImpl>* accepted);
  // Writes the 200 text/event-stream header of an accepted stream; false if the client is gone.
  net::awaitable<bool> WriteStreamHeader(Connection& conn, unsigned version,
                                         std::string_view content_type,
                                         std::vector<std::pair<std::string, std::string>> headers);
  net::awaitable<void> SseWriter(std::shared_ptr<Connection> conn, SseStreamImpl& stream);
  net::awaitable<void> SseWatcher(std::shared_ptr<Connection> conn);
  net::awaitable<void> WsWriter(std::shared_ptr<Connection> conn, WebSocketImpl& socket);
  net::awaitable<void> WsReader(std::shared_ptr<Connection> conn,
                                std::shared_ptr<WebSocketImpl> socket);
  // Writes `response`; false when the connection must end.
  net::awaitable<bool> Write(Connection& conn, Response response, unsigned version, bool keep_alive,
                             bool head);
  Response Dispatch(const RouteEntry& entry, const Request& request, bool* head);

  void RegisterCore(const std::shared_ptr<StreamCore>& core);
  void UnregisterCore(StreamCore* core);
  void EndSession(const std::shared_ptr<Connection>& conn);
  void Record(const RouteEntry* entry, int status, std::optional<Clock::duration> latency);
  std::vector<std::shared_ptr<Connection>> LiveConnections();
  std::vector<std::shared_ptr<StreamCore>> LiveCores();

  ServerOptions options_;
  Router router_;  // immutable after Start()
  const std::shared_ptr<Counters> counters_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint16_t> port_{0};

  using Headers = std::vector<std::pair<std::string, std::string>>;
  // Copied per response; swapped whole, so a response sees all of an update or none.
  mutable std::mutex default_headers_mu_;
  std::shared_ptr<const Headers> default_headers_ =
      std::make_shared<Headers>();  // guarded by default_headers_mu_
  std::shared_ptr<const Headers> DefaultHeaders() const;
  // Adds the default headers `res` does not set itself.
  template <class Message>
  void AddDefaultHeaders(Message& res) const;

  mutable std::mutex stats_mu_;
  std::vector<RouteStats> route_stats_;  // guarded by stats_mu_, indexed by RouteEntry::index

  std::mutex reg_mu_;
  std::condition_variable reg_cv_;  // signalled when a session ends
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections_;  // guarded by reg_mu_
  std::unordered_map<StreamCore*, std::weak_ptr<StreamCore>> cores_;        // guarded by reg_mu_

  std::mutex lifecycle_mu_;
  bool started_ = false;  // guarded by lifecycle_mu_
  bool stopped_ = false;
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;  // on its own strand
  std::vector<std::thread> threads_;
};

Status ServerImpl::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_ || stopped_) return FailedPrecondition("http server: Start() called twice");
  const std::string where = options_.address + ":" + std::to_string(options_.port);
  beast::error_code ec;
  const auto address = net::ip::make_address(options_.address, ec);
  if (ec) return InvalidArgument("http server: bad listen address '" + options_.address + "'");

  {
    std::lock_guard stats_lock(stats_mu_);
    for (const auto& path : router_.Paths()) {
      RouteStats stats;
      stats.route = path;
      stats.latency_buckets.assign(std::size(kLatencyBucketsMs) + 1, 0);
      route_stats_.push_back(std::move(stats));
    }
  }

  ioc_ = std::make_unique<net::io_context>(options_.threads);
  acceptor_ = std::make_unique<tcp::acceptor>(net::make_strand(*ioc_));
  const tcp::endpoint endpoint(address, options_.port);
  if (acceptor_->open(endpoint.protocol(), ec); !ec) {
    acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    const std::string reason = ec.message();
    acceptor_.reset();
    ioc_.reset();
    return IoError("http server: cannot listen on " + where + ": " + reason);
  }
  port_.store(acceptor_->local_endpoint(ec).port());

  net::co_spawn(acceptor_->get_executor(), Listen(), Detached("listener"));
  threads_.reserve(options_.threads);
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] {
      for (;;) {
        try {
          ioc_->run();
          return;
        } catch (...) {
          LogException("io thread", std::current_exception());
        }
      }
    });
  }
  started_ = true;
  spdlog::info("http server: listening on {}:{}", options_.address, port_.load());
  return Status::Ok();
}

void ServerImpl::Stop(std::chrono::milliseconds drain) {
  {
    std::lock_guard lock(lifecycle_mu_);
    if (stopped_) return;
    if (ioc_ && ioc_->get_executor().running_in_this_thread()) {
      spdlog::error("http server: Stop() called on an io thread (from a handler?); ignored");
      return;
    }
    stopped_ = true;
    if (!started_) return;
  }
  stopping_.store(true);
  net::post(acceptor_->get_executor(), [this] {
    beast::error_code ec;
    acceptor_->close(ec);
  });

  // Idle keep-alive connections end now; streams flush and then end; requests in flight finish.
  for (auto& core : LiveCores()) core->BeginDrain();
  for (auto& conn : LiveConnections()) {
    net::post(conn->executor, [conn] {
      if (conn->idle) conn->CloseTransport();
    });
  }
  auto wait_for_sessions = [this](Clock::time_point deadline) {
    std::unique_lock lock(reg_mu_);
    return reg_cv_.wait_until(lock, deadline,
                              [this] { return counters_->connections_open.load() == 0; });
  };
  if (!wait_for_sessions(Clock::now() + drain)) {
    // Past the deadline: cut what is left, give the coroutines a moment to unwind.
    for (auto& core : LiveCores()) core->ForceClose("server shutdown");
    for (auto& conn : LiveConnections()) {
      net::post(conn->executor, [conn] { conn->CloseTransport(); });
    }
    wait_for_sessions(Clock::now() + kForceCloseGrace);
  }

  ioc_->stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  // No thread runs now. Streams still open lose their waker before the io_context goes away.
  for (auto& core : LiveCores()) core->ForceClose("server shutdown");
  acceptor_.reset();
  ioc_.reset();  // destroys coroutines that did not finish, and with them their guards
  std::lock_guard lock(reg_mu_);
  connections_.clear();
  cores_.clear();
}

ServerStats ServerImpl::Stats() const {
  ServerStats stats;
  stats.connections_open = counters_->connections_open.load();
  stats.connections_total = counters_->connections_total.load();
  stats.streams_open = counters_->streams_open.load();
  stats.websockets_open = counters_->websockets_open.load();
  stats.bytes_sent = counters_->bytes_sent.load();
  stats.queue_overflows = counters_->queue_overflows.load();
  stats.refused_connections = counters_->refused_connections.load();
  std::lock_guard lock(stats_mu_);
  stats.routes = route_stats_;
  return stats;
}

void ServerImpl::Record(const RouteEntry* entry, int status,
                        std::optional<Clock::duration> latency) {
  if (entry == nullptr) return;
  std::lock_guard lock(stats_mu_);
  if (entry->index >= route_stats_.size()) return;  // registered after Start()
  RouteStats& stats = route_stats_[entry->index];
  stats.requests++;
  if (status >= 400) stats.errors++;
  if (latency) {
    const double seconds = std::chrono::duration<double>(*latency).count();
    stats.seconds_total += seconds;
    size_t bucket = 0;
    while (bucket < std::size(kLatencyBucketsMs) && seconds * 1000 > kLatencyBucketsMs[bucket]) {
      ++bucket;
    }
    stats.latency_buckets[bucket]++;
  }
}

void ServerImpl::RegisterCore(const std::shared_ptr<StreamCore>& core) {
  std::lock_guard lock(reg_mu_);
  cores_.emplace(core.get(), core);
}

void ServerImpl::UnregisterCore(StreamCore* core) {
  std::lock_guard lock(reg_mu_);
  cores_.erase(core);
}

void ServerImpl::EndSession(const std::shared_ptr<Connection>& conn) {
  conn->CloseTransport();
  if (conn->core) {
    conn->core->Detach();
    UnregisterCore(conn->core.get());
  }
  {
    std::lock_guard lock(reg_mu_);
    connections_.erase(conn.get());
    counters_->connections_open--;
  }
  reg_cv_.notify_all();
}

std::vector<std::shared_ptr<Connection>> ServerImpl::LiveConnections() {
  std::vector<std::shared_ptr<Connection>> live;
  std::lock_guard lock(reg_mu_);
  for (auto& [ptr, weak] : connections_) {
    if (auto conn = weak.lock()) live.push_back(std::move(conn));
  }
  return live;
}

std::vector<std::shared_ptr<StreamCore>> ServerImpl::LiveCores() {
  std::vector<std::shared_ptr<StreamCore>> live;
  std::lock_guard lock(reg_mu_);
  for (auto& [ptr, weak] : cores_) {
    if (auto core = weak.lock()) live.push_back(std::move(core));
  }
  return live;
}

net::awaitable<void> ServerImpl::Listen() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_->async_accept(net::make_strand(*ioc_), kUseTuple);
    if (stopping_.load() || ec == net::error::operation_aborted) co_return;
    if (ec) {
      spdlog::warn("http server: accept failed: {}", ec.message());
      net::steady_timer delay(acceptor_->get_executor(), kAcceptRetryDelay);
      co_await delay.async_wait(kUseTuple);
      continue;
    }
    if (counters_->connections_open.load() >= options_.limits.max_connections) {
      counters_->refused_connections++;
      auto executor = socket.get_executor();
      net::co_spawn(executor, Refuse(std::move(socket)), Detached("refuse"));
      continue;
    }
    counters_->connections_open++;
    counters_->connections_total++;
    auto conn = std::make_shared<Connection>(std::move(socket));
    {
      std::lock_guard lock(reg_mu_);
      connections_.emplace(conn.get(), conn);
    }
    auto guard = std::make_unique<SessionGuard>(this, conn);
    auto executor = conn->executor;
    net::co_spawn(executor, Session(std::move(conn), std::move(guard)), Detached("session"));
  }
}

void ServerImpl::SetDefaultHeader(std::string name, std::string value) {
  std::lock_guard<std::mutex> lock(default_headers_mu_);
  auto next = std::make_shared<Headers>(*default_headers_);
  std::erase_if(*next, [&](const auto& h) { return beast::iequals(h.first, name); });
  if (!value.empty()) next->emplace_back(std::move(name), std::move(value));
  default_headers_ = std::move(next);
}

std::shared_ptr<const ServerImpl::Headers> ServerImpl::DefaultHeaders() const {
  std::lock_guard<std::mutex> lock(default_headers_mu_);
  return default_headers_;
}

template <class Message>
void ServerImpl::AddDefaultHeaders(Message& res) const {
  for (const auto& [name, value] : *DefaultHeaders()) {
    if (res.find(name) == res.end()) res.set(name, value);
  }
}

net::awaitable<void> ServerImpl::Refuse(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  auto res = ToBeast(Response::Error(503, "unavailable", "too many connections; retry later"), 11,
                     false, false);
  AddDefaultHeaders(res);
  stream.expires_after(kLingerTimeout);
  auto [ec, n] = co_await bhttp::async_write(stream, res, kUseTuple);
  counters_->bytes_sent += n;
  co_await LingerClose(stream);
}

net::awaitable<bool> ServerImpl::Write(Connection& conn, Response response, unsigned version,
                                       bool keep_alive, bool head) {
  auto res = ToBeast(std::move(response), version, keep_alive, head);
  AddDefaultHeaders(res);
  conn.stream.expires_after(options_.limits.request_timeout);
  auto [ec, n] = co_await bhttp::async_write(conn.stream, res, kUseTuple);
  counters_->bytes_sent += n;
  co_return !ec && keep_alive;
}

Response ServerImpl::Dispatch(const RouteEntry& entry, const Request& request, bool* head) {
  auto it = entry.handlers.find(request.method);
  if (it == entry.handlers.end() && request.method == "HEAD") {
    it = entry.handlers.find("GET");
    *head = true;
  }
  if (it != entry.handlers.end()) return InvokeHandler(it->second, request);
  if (entry.websocket && request.method == "GET") {
    Response response =
        Response::Error(426, "upgrade_required", "this path takes WebSocket connections only");
    response.headers.emplace_back("Upgrade", "websocket");
    return response;
  }
  Response response = Response::Error(405, "method_not_allowed",
                                      request.method + " is not allowed on " + request.path);
  response.headers.emplace_back("Allow", entry.Allow());
  return response;
}

net::awaitable<void> ServerImpl::Session(std::shared_ptr<Connection> conn,
                                         [[maybe_unused]] std::unique_ptr<SessionGuard> guard) {
  const Limits& limits = options_.limits;
  bool first = true;
  // An accepted SSE stream outlives the request that opened it: the loop's parser, message and
  // Request are destroyed before the stream runs, so an idle stream holds little memory.
  std::shared_ptr<SseStreamImpl> accepted_sse;
  for (;;) {
    // Between requests the idle timeout applies; once a request starts, the request timeout.
    if (conn->buffer.size() == 0) {
      if (stopping_.load()) co_return;
      conn->idle = true;
      conn->stream.expires_after(first ? limits.request_timeout : limits.idle_timeout);
      auto [ec, n] =
          co_await conn->stream.async_read_some(conn->buffer.prepare(kReadChunk), kUseTuple);
      conn->idle = false;
      if (ec) co_return;
      conn->buffer.commit(n);
    }
    first = false;

    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(limits.max_body_bytes);
    parser.header_limit(static_cast<uint32_t>(
        std::min<size_t>(limits.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    conn->stream.expires_after(limits.request_timeout);
    auto [ec, n] = co_await bhttp::async_read(conn->stream, conn->buffer, parser, kUseTuple);
    if (ec) {
      std::optional<Response> error;
      if (ec == bhttp::error::body_limit) {
        error = Response::Error(
            413, "body_too_large",
            "the request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes");
      } else if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        error = Response::Error(
            431, "headers_too_large",
            "the request headers exceed " + std::to_string(limits.max_header_bytes) + " bytes");
      } else if (IsParseError(ec)) {
        error = Response::Error(400, "bad_request", "malformed HTTP request: " + ec.message());
      }
      if (error) {
        co_await Write(*conn, std::move(*error), 11, false, false);
        co_await LingerClose(conn->stream);
      }
      co_return;
    }

    const auto started = Clock::now();
    auto req = parser.release();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive() && !stopping_.load();
    const bool upgrade = websocket::is_upgrade(req);
    Request request = ToRequest(req, conn->remote);
    const RouteEntry* entry = router_.Match(request.path);

    if (entry != nullptr && entry->websocket && upgrade) {
      if (co_await ServeWebSocket(conn, *entry, request, std::move(req), keep_alive)) co_return;
      if (!keep_alive) co_return;
      continue;
    }
    if (entry != nullptr && entry->sse && request.method == "GET") {
      if (co_await ServeSse(conn, *entry, request, version, keep_alive, &accepted_sse)) {
        if (accepted_sse) break;  // streams below, after this request's state is freed
        co_return;
      }
      if (!keep_alive) co_return;
      continue;
    }

    if (entry != nullptr && !entry->async_handlers.empty()) {
      auto async = entry->async_handlers.find(request.method);
      bool async_head = false;
      if (async == entry->async_handlers.end() && request.method == "HEAD") {
        async = entry->async_handlers.find("GET");
        async_head = true;
      }
      if (async != entry->async_handlers.end()) {
        if (co_await ServeAsync(conn, *entry, async->second, request, version, keep_alive,
                                async_head, &accepted_sse)) {
          if (accepted_sse) break;
          co_return;
        }
        if (!keep_alive) co_return;
        continue;
      }
    }

    bool head = request.method == "HEAD";
    Response response = entry == nullptr
                            ? Response::Error(404, "not_found", "no route for " + request.path)
                            : Dispatch(*entry, request, &head);
    // Recorded before the write, so that a client that got its response sees it counted.
    Record(entry, response.status, Clock::now() - started);
    if (!co_await Write(*conn, std::move(response), version, keep_alive, head)) co_return;
  }
  if (accepted_sse) co_await RunSse(conn, std::move(accepted_sse));
}

net::awaitable<bool> ServerImpl::ServeSse(std::shared_ptr<Connection> conn, const RouteEntry& entry,
                                          const Request& request, unsigned version, bool keep_alive,
                                          std::shared_ptr<SseStreamImpl>* accepted) {
  auto stream = std::make_shared<SseStreamImpl>(options_.limits.max_send_queue_bytes, counters_);
  RegisterCore(stream);
  std::vector<std::pair<std::string, std::string>> extra_headers;
  Accept refusal = InvokeHandler(entry.sse, request, stream, &extra_headers);
  if (refusal) {
    stream->ForceClose("refused");
    UnregisterCore(stream.get());
    const int status = refusal->status;
    Record(&entry, status, std::nullopt);
    co_return !co_await Write(*conn, std::move(*refusal), version, keep_alive, false);
  }
  Record(&entry, 200, std::nullopt);

  const bool written =
      co_await WriteStreamHeader(*conn, version, kEventStreamType, std::move(extra_headers));
  conn->core = stream;  // from here EndSession unregisters it
  if (!written) {
    stream->Finish("client disconnected");
    co_return true;
  }

  *accepted = std::move(stream);
  co_return true;
}

net::awaitable<bool> ServerImpl::WriteStreamHeader(
    Connection& conn, unsigned version, std::string_view content_type,
    std::vector<std::pair<std::string, std::string>> headers) {
  bhttp::response<bhttp::empty_body> res{bhttp::status::ok, version};
  res.set(bhttp::field::server, "eddy");
  res.set(bhttp::field::content_type, content_type);
  res.set(bhttp::field::cache_control, "no-cache");
  res.set("X-Accel-Buffering", "no");
  for (auto& [name, value] : headers) {
    if (beast::iequals(name, "cache-control")) {
      res.set(bhttp::field::cache_control, value);
    } else {
      res.insert(name, value);
    }
  }
  AddDefaultHeaders(res);
  res.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> serializer{res};
  conn.stream.expires_after(options_.limits.idle_timeout);
  auto [ec, n] = co_await bhttp::async_write_header(conn.stream, serializer, kUseTuple);
  counters_->bytes_sent += n;
  co_return !ec;
}

net::awaitable<bool> ServerImpl::ServeAsync(std::shared_ptr<Connection> conn,
                                            const RouteEntry& entry, const AsyncHandler& handler,
                                            const Request& request, unsigned version,
                                            bool keep_alive, bool head,
                                            std::shared_ptr<SseStreamImpl>* accepted) {
  const auto started = Clock::now();
  auto stream = std::make_shared<SseStreamImpl>(options_.limits.max_send_queue_bytes, counters_);
  auto exchange = std::make_shared<ExchangeImpl>(stream);
  // The waker runs on any thread; it only cancels the strand's timer (posted, so it cannot race
  // the check below: both run on the strand).
  exchange->SetWaker([weak = std::weak_ptr<Connection>(conn), executor = conn->executor] {
    net::post(executor, [weak] {
      if (auto c = weak.lock()) c->wake.cancel();
    });
  });
  try {
    handler(request, exchange);
  } catch (const std::exception& e) {
    spdlog::error("http: {} {}: handler threw: {}", request.method, request.path, e.what());
    exchange->Respond(Response::Error(500, "internal", "the handler failed; see the server log"));
  }
  const auto deadline = started + options_.limits.async_response_timeout;
  std::optional<ExchangeImpl::Decision> decision;
  while (!(decision = exchange->Take())) {
    if (Clock::now() >= deadline || stopping_.load()) {
      exchange->Expire(Response::Error(503, "unavailable", "the request was not answered in time"));
      continue;
    }
    conn->wake.expires_at(std::min(deadline, Clock::now() + std::chrono::seconds(1)));
    co_await conn->wake.async_wait(kUseTuple);
  }
  if (decision->response) {
    stream->ForceClose("not a stream");
    const int status = decision->response->status;
    Record(&entry, status, Clock::now() - started);
    co_return !co_await Write(*conn, std::move(*decision->response), version, keep_alive, head);
  }
  Record(&entry, 200, std::nullopt);
  RegisterCore(stream);
  const bool written = co_await WriteStreamHeader(
      *conn, version, decision->content_type.empty() ? kEventStreamType : decision->content_type,
      std::move(decision->stream_headers));
  stream->keepalive_comments = decision->content_type.empty();
  conn->core = stream;
  if (!written) {
    stream->Finish("client disconnected");
    co_return true;
  }
  if (head) {
    // A HEAD gets the head only; the producer's next Send sees a closed stream and stops.
    stream->Finish("HEAD request: no body");
    co_return true;
  }
  *accepted = std::move(stream);
  co_return true;
}

net::awaitable<void> ServerImpl::RunSse(std::shared_ptr<Connection> conn,
                                        std::shared_ptr<SseStreamImpl> stream) {
  counters_->streams_open++;
  stream->Attach(MakeWaker(conn));
  // A stream reads nothing more: give the request buffer back (thousands of streams stay open).
  conn->buffer.consume(conn->buffer.size());
  conn->buffer.shrink_to_fit();
  net::co_spawn(conn->executor, SseWatcher(conn), Detached("sse watcher"));
  co_await SseWriter(conn, *stream);
  counters_->streams_open--;
}

net::awaitable<void> ServerImpl::SseWatcher(std::shared_ptr<Connection> conn) {
  // An SSE client sends nothing; a finished read means it went away.
  std::array<char, 512> scratch;
  for (;;) {
    auto [ec, n] = co_await conn->stream.socket().async_read_some(net::buffer(scratch), kUseTuple);
    if (ec) break;
  }
  conn->peer_gone = true;
  conn->wake.cancel();
}

net::awaitable<void> ServerImpl::SseWriter(std::shared_ptr<Connection> conn,
                                           SseStreamImpl& stream) {
  const auto keepalive = options_.limits.sse_keepalive;
  const auto write_timeout = options_.limits.idle_timeout;
  auto last_write = Clock::now();
  std::string reason = "client disconnected";
  auto write_chunk = [&](const auto& buffers) -> net::awaitable<bool> {
    conn->stream.expires_after(write_timeout);
    conn->writing = true;
    auto [ec, n] = co_await net::async_write(conn->stream, bhttp::make_chunk(buffers), kUseTuple);
    conn->writing = false;
    counters_->bytes_sent += n;
    last_write = Clock::now();
    co_return !ec;
  };

  for (;;) {
    if (conn->peer_gone) break;
    StreamCore::Step step = stream.Next(kMaxBatchBytes, kMaxBatchItems);
    if (step.action == StreamCore::Action::kAbort) {
      reason = step.reason;
      break;
    }
    if (step.action == StreamCore::Action::kWrite) {
      std::vector<net::const_buffer> buffers;
      buffers.reserve(step.batch.size());
      for (const auto& bytes : step.batch) buffers.push_back(net::buffer(*bytes));
      const bool ok = co_await write_chunk(buffers);
      stream.Written(step.batch_bytes);
      if (!ok) break;
      continue;
    }
    if (step.action == StreamCore::Action::kClose) {
      bool ok = true;
      if (!step.final_bytes.empty()) ok = co_await write_chunk(net::buffer(step.final_bytes));
      if (ok) {
        conn->stream.expires_after(write_timeout);
        auto [ec, n] = co_await net::async_write(conn->stream, bhttp::make_chunk_last(), kUseTuple);
        counters_->bytes_sent += n;
        ok = !ec;
      }
      if (ok) {
        // The client sends nothing, so a plain close cannot reset the bytes still in flight.
        reason = step.reason;
        beast::error_code shutdown_ec;
        conn->stream.socket().shutdown(tcp::socket::shutdown_send, shutdown_ec);
      }
      break;
    }
    // Nothing queued: sleep until woken or until the keep-alive comment is due.
    if (!stream.keepalive_comments) {
      // A streamed body: nothing to say while the producer is busy; the write timeout applies
      // to writes only.
      conn->wake.expires_at(Clock::time_point::max());
      co_await conn->wake.async_wait(kUseTuple);
      continue;
    }
    conn->wake.expires_at(last_write + keepalive);
    auto [ec] = co_await conn->wake.async_wait(kUseTuple);
    if (!ec && !conn->peer_gone && Clock::now() >= last_write + keepalive) {
      if (!co_await write_chunk(net::buffer(kKeepAliveComment.data(), kKeepAliveComment.size()))) {
        break;
      }
    }
  }
  if (stream.aborted()) reason = stream.abort_reason();
  conn->CloseTransport();
  stream.Finish(reason);
}

net::awaitable<bool> ServerImpl::ServeWebSocket(std::shared_ptr<Connection> conn,
                                                const RouteEntry& entry, const Request& request,
                                                bhttp::request<bhttp::string_body> req,
                                                bool keep_alive) {
  auto socket = std::make_shared<WebSocketImpl>(options_.limits.max_send_queue_bytes, counters_);
  RegisterCore(socket);
  Accept refusal = InvokeHandler(entry.websocket, request, socket);
  if (refusal) {
    socket->ForceClose("refused");
    UnregisterCore(socket.get());
    const int status = refusal->status;
    Record(&entry, status, std::nullopt);
    co_return !co_await Write(*conn, std::move(*refusal), req.version(), keep_alive, false);
  }
  Record(&entry, 101, std::nullopt);
  conn->core = socket;  // from here EndSession unregisters it

  conn->stream.expires_never();  // the websocket stream has its own timeouts
  conn->ws.emplace(std::move(conn->stream));
  auto& ws = *conn->ws;
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.set_option(websocket::stream_base::decorator([this](websocket::response_type& res) {
    res.set(bhttp::field::server, "eddy");
    AddDefaultHeaders(res);
  }));
  ws.read_message_max(options_.limits.max_ws_message_bytes);
  ws.auto_fragment(false);  // a message is one frame: fewer writes, simpler clients
  auto [ec] = co_await ws.async_accept(req, kUseTuple);
  if (ec) {
    socket->Finish("handshake failed: " + ec.message());
    co_return true;
  }

  counters_->websockets_open++;
  socket->Attach(MakeWaker(conn));
  net::co_spawn(conn->executor, WsReader(conn, socket), Detached("websocket reader"));
  co_await WsWriter(conn, *socket);
  counters_->websockets_open--;
  co_return true;
}

net::awaitable<void> ServerImpl::WsReader(std::shared_ptr<Connection> conn,
                                          std::shared_ptr<WebSocketImpl> socket) {
  auto& ws = *conn->ws;
  beast::flat_buffer buffer;
  std::string reason;
  for (;;) {
    auto [ec, n] = co_await ws.async_read(buffer, kUseTuple);
    if (ec) {
      if (ec == websocket::error::closed) {
        reason = "client closed";
      } else if (ec == websocket::error::message_too_big) {
        reason = "message too big";
      } else if (ec == beast::error::timeout) {
        reason = "timed out";
      } else {
        reason = "connection lost: " + ec.message();
      }
      break;
    }
    if (!ws.got_text()) {
      socket->RequestClose(1003, "binary messages are not supported", "binary message", {});
    } else if (auto callback = socket->message_callback(); callback && *callback) {
      const auto data = buffer.cdata();
      try {
        (*callback)(std::string_view(static_cast<const char*>(data.data()), data.size()));
      } catch (...) {
        LogException("OnMessage callback", std::current_exception());
        socket->RequestClose(1011, "internal error", "message handler failed", {});
      }
    }
    buffer.consume(buffer.size());
  }
  conn->peer_gone = true;
  conn->peer_reason = std::move(reason);
  conn->wake.cancel();
}

net::awaitable<void> ServerImpl::WsWriter(std::shared_ptr<Connection> conn, WebSocketImpl& socket) {
  auto& ws = *conn->ws;
  std::string reason;
  for (;;) {
    if (conn->peer_gone) {
      reason = conn->peer_reason;
      break;
    }
    StreamCore::Step step = socket.Next(kMaxBatchBytes, 1);
    if (step.action == StreamCore::Action::kWrite) {
      ws.text(true);
      conn->writing = true;
      auto [ec, n] = co_await ws.async_write(net::buffer(*step.batch.front()), kUseTuple);
      conn->writing = false;
      counters_->bytes_sent += n;
      socket.Written(step.batch_bytes);
      if (ec) {
        reason = conn->peer_gone ? conn->peer_reason : "connection lost: " + ec.message();
        break;
      }
      continue;
    }
    if (step.action == StreamCore::Action::kClose || step.action == StreamCore::Action::kAbort) {
      conn->kill.cancel();
      if (ws.is_open()) {
        co_await ws.async_close(
            websocket::close_reason(static_cast<websocket::close_code>(step.code),
                                    step.frame_reason),
            kUseTuple);
      }
      reason = step.reason;
      break;
    }
    conn->wake.expires_at(Clock::time_point::max());
    co_await conn->wake.async_wait(kUseTuple);
  }
  if (socket.aborted()) reason = socket.abort_reason();
  conn->CloseTransport();
  socket.Finish(reason);
}

}  // namespace

std::unique_ptr<Server> Server::Create(ServerOptions options) {
  return std::make_unique<ServerImpl>(std::move(options));
}

}  // namespace eddy::http
