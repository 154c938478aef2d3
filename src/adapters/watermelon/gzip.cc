#include "adapters/watermelon/gzip.h"

#include <zlib.h>

namespace eddy::watermelon {

Result<std::string> Gzip(std::string_view data) {
  z_stream z{};
  // 15 window bits + 16: a gzip header instead of zlib's. Level 1: pulls are big and fast
  // matters more than the last few percent.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Internal("gzip: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(data.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return Internal("gzip: deflate did not finish");
  return out;
}

Result<std::string> Gunzip(std::string_view data) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return Internal("gunzip: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buffer[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof(buffer);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return Corruption("gunzip: not a complete gzip stream");
  return out;
}

struct GzipEncoder::State {
  z_stream z{};
  bool finished = false;
};

Result<std::unique_ptr<GzipEncoder>> GzipEncoder::Create() {
  auto state = std::make_unique<State>();
  if (deflateInit2(&state->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Internal("gzip: deflateInit2 failed");
  }
  return std::unique_ptr<GzipEncoder>(new GzipEncoder(std::move(state)));
}

GzipEncoder::GzipEncoder(std::unique_ptr<State> state) : state_(std::move(state)) {}

GzipEncoder::~GzipEncoder() { deflateEnd(&state_->z); }

uint64_t GzipEncoder::bytes_in() const { return state_->z.total_in; }

Status GzipEncoder::Add(std::string_view data, std::string* out) {
  if (data.empty()) return Status::Ok();
  return Run(data, Z_NO_FLUSH, out);
}

Status GzipEncoder::Finish(std::string* out) { return Run({}, Z_FINISH, out); }

Status GzipEncoder::Run(std::string_view data, int flush, std::string* out) {
  if (state_->finished) return FailedPrecondition("gzip: the member is already finished");
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  char buffer[1 << 15];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof(buffer);
    const int rc = deflate(&z, flush);
    if (rc == Z_STREAM_ERROR) return Internal("gzip: deflate failed");
    out->append(buffer, sizeof(buffer) - z.avail_out);
    if (rc == Z_STREAM_END) {
      state_->finished = true;
      return Status::Ok();
    }
    // Done with this input once zlib stops filling the whole buffer.
    if (z.avail_out != 0 && z.avail_in == 0 && flush != Z_FINISH) return Status::Ok();
  }
}

}  // namespace eddy::watermelon
