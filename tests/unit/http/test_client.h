#pragma once

// A small blocking HTTP / chunked / WebSocket client on raw POSIX sockets, so that the tests do
// not compile Beast a second time. Every read takes a timeout; nothing blocks forever.

#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace eddy::http::testing {

using std::chrono::milliseconds;

struct HttpResponse {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct WsFrame {
  int opcode = -1;  // 1 text, 2 binary, 8 close, 9 ping, 10 pong; -1: none (timeout/EOF)
  std::string payload;
  bool fin = true;

  uint16_t close_code() const {
    if (opcode != 8 || payload.size() < 2) return 0;
    return static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                 static_cast<uint8_t>(payload[1]));
  }
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : ""; }
};

class Client {
 public:
  // Connects to 127.0.0.1:port. `receive_buffer` > 0 shrinks SO_RCVBUF (a slow reader).
  explicit Client(uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads more bytes into the buffer; false on timeout, EOF or error.
  bool Fill(milliseconds timeout) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  // Reads until the peer closes; true if it did within `timeout` (buffered bytes are kept).
  bool WaitClosed(milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      Fill(left);
    }
    return true;
  }

  bool eof() const { return eof_; }
  std::string& buffer() { return buffer_; }

  // Ensures `n` bytes are buffered.
  bool Need(size_t n, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.size() < n) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !Fill(left)) return false;
    }
    return true;
  }

  // Ensures `needle` is buffered; returns its end offset.
  std::optional<size_t> NeedUntil(std::string_view needle, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto pos = buffer_.find(needle); pos != std::string::npos) return pos + needle.size();
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !Fill(left)) return std::nullopt;
    }
  }

  // Reads a response head and, unless `head` or chunked, its Content-Length body.
  std::optional<HttpResponse> ReadResponse(milliseconds timeout = milliseconds(5000),
                                           bool head = false) {
    auto end = NeedUntil("\r\n\r\n", timeout);
    if (!end) return std::nullopt;
    HttpResponse response;
    const std::string head_text = buffer_.substr(0, *end);
    buffer_.erase(0, *end);
    size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    response.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end + 2;
    while (pos < head_text.size()) {
      line_end = head_text.find("\r\n", pos);
      const std::string line = head_text.substr(pos, line_end - pos);
      pos = line_end + 2;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers.emplace(name, value);
    }
    const std::string length = response.Header("content-length");
    if (!head && !length.empty()) {
      const size_t n = std::stoul(length);
      if (!Need(n, timeout)) return std::nullopt;
      response.body = buffer_.substr(0, n);
      buffer_.erase(0, n);
    }
    return response;
  }

  // Decodes one chunk of a chunked body: its data, "" for the last chunk, nullopt on timeout.
  std::optional<std::string> ReadChunk(milliseconds timeout = milliseconds(5000)) {
    auto end = NeedUntil("\r\n", timeout);
    if (!end) return std::nullopt;
    const size_t size = std::stoul(buffer_.substr(0, *end - 2), nullptr, 16);
    if (!Need(*end + size + 2, timeout)) return std::nullopt;
    std::string data = buffer_.substr(*end, size);
    buffer_.erase(0, *end + size + 2);
    if (size == 0) {
      // The last chunk ends with an empty trailer line, already consumed above.
      return std::string();
    }
    return data;
  }

  // Reads chunks until the decoded data contains `needle`; returns all decoded data.
  std::optional<std::string> ReadChunksUntil(std::string_view needle,
                                             milliseconds timeout = milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (decoded_.find(needle) != std::string::npos) return std::exchange(decoded_, {});
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto chunk = ReadChunk(left);
      if (!chunk || chunk->empty()) return std::nullopt;
      decoded_.append(*chunk);
    }
  }

  // GET with the WebSocket upgrade headers; returns the handshake response.
  std::optional<HttpResponse> WsHandshake(const std::string& path) {
    Send("GET " + path +
         " HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    return ReadResponse(milliseconds(5000), /*head=*/true);
  }

  // Sends one masked frame (clients must mask).
  bool WsSend(int opcode, std::string_view payload) {
    std::string frame;
    frame.push_back(static_cast<char>(0x80 | opcode));
    const size_t n = payload.size();
    if (n < 126) {
      frame.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>(n >> 8));
      frame.push_back(static_cast<char>(n & 0xff));
    } else {
      frame.push_back(static_cast<char>(0x80 | 127));
      for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(mask, 4);
    for (size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    return Send(frame);
  }

  bool WsSendClose(uint16_t code) {
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xff));
    return WsSend(8, payload);
  }

  // Reads one (unfragmented, unmasked) server frame.
  WsFrame WsRead(milliseconds timeout = milliseconds(5000)) {
    WsFrame frame;
    if (!Need(2, timeout)) return frame;
    const auto b0 = static_cast<uint8_t>(buffer_[0]);
    const auto b1 = static_cast<uint8_t>(buffer_[1]);
    size_t header = 2;
    uint64_t n = b1 & 0x7f;
    if (n == 126) {
      if (!Need(4, timeout)) return frame;
      n = (static_cast<uint8_t>(buffer_[2]) << 8) | static_cast<uint8_t>(buffer_[3]);
      header = 4;
    } else if (n == 127) {
      if (!Need(10, timeout)) return frame;
      n = 0;
      for (int i = 0; i < 8; ++i) n = (n << 8) | static_cast<uint8_t>(buffer_[2 + i]);
      header = 10;
    }
    if (!Need(header + n, timeout)) return frame;
    frame.opcode = b0 & 0x0f;
    frame.fin = (b0 & 0x80) != 0;
    frame.payload = buffer_.substr(header, n);
    buffer_.erase(0, header + n);
    return frame;
  }

  // Reads frames, skipping pings and joining fragments, until a message or close frame.
  WsFrame WsReadMessage(milliseconds timeout = milliseconds(5000)) {
    WsFrame message;
    for (;;) {
      WsFrame frame = WsRead(timeout);
      if (frame.opcode == 9 || frame.opcode == 10) continue;
      if (frame.opcode < 0 || frame.opcode >= 8) return frame;
      if (frame.opcode != 0) message.opcode = frame.opcode;
      message.payload += frame.payload;
      if (frame.fin) return message;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
  std::string decoded_;
};

}  // namespace eddy::http::testing
