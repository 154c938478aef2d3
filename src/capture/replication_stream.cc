#include "capture/replication_stream.h"

#include <chrono>
#include <cstdlib>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include "common/byte_reader.h"

namespace eddy::capture {
namespace {

// PostgreSQL timestamps count microseconds from 2000-01-01.
constexpr int64_t kPgEpochOffsetUs = 946684800000000LL;

int64_t NowPgMicros() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::microseconds>(now).count() - kPgEpochOffsetUs;
}

std::string Trim(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

Result<std::unique_ptr<ReplicationStream>> ReplicationStream::Connect(const std::string& conninfo) {
  const char* keys[] = {"dbname", "replication", "options", "application_name", nullptr};
  const char* values[] = {
      conninfo.c_str(), "database",
      "-c DateStyle=ISO -c IntervalStyle=iso_8601 -c TimeZone=UTC -c extra_float_digits=3", "eddy",
      nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Unavailable("out of memory creating a replication connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = Trim(PQerrorMessage(conn));
    PQfinish(conn);
    return Unavailable(fmt::format(
        "replication connection failed: {} (check the connection string, that the role has "
        "the REPLICATION attribute, and that pg_hba.conf allows replication connections)",
        msg));
  }
  return std::unique_ptr<ReplicationStream>(new ReplicationStream(conn));
}

ReplicationStream::~ReplicationStream() {
  if (buffer_ != nullptr) PQfreemem(buffer_);
  PQfinish(conn_);
}

int ReplicationStream::socket() const { return PQsocket(conn_); }

Status ReplicationStream::ConnectionError(std::string_view what) const {
  return Unavailable(fmt::format("{}: {}", what, Trim(PQerrorMessage(conn_))));
}

Result<SystemIdentity> ReplicationStream::IdentifySystem() {
  PGresult* res = PQexec(conn_, "IDENTIFY_SYSTEM");
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 3) {
    PQclear(res);
    return ConnectionError("IDENTIFY_SYSTEM failed");
  }
  SystemIdentity id;
  id.system_id = PQgetvalue(res, 0, 0);
  id.timeline = static_cast<uint32_t>(std::strtoul(PQgetvalue(res, 0, 1), nullptr, 10));
  std::optional<Lsn> lsn = Lsn::Parse(PQgetvalue(res, 0, 2));
  PQclear(res);
  if (!lsn) return Corruption("IDENTIFY_SYSTEM returned an unreadable xlogpos");
  id.wal_end = *lsn;
  return id;
}

Status ReplicationStream::Start(const std::string& slot, const std::string& publication,
                                Lsn start) {
  char* slot_ident = PQescapeIdentifier(conn_, slot.c_str(), slot.size());
  // publication_names is a list of identifiers inside a string literal.
  char* pub_ident = PQescapeIdentifier(conn_, publication.c_str(), publication.size());
  std::string pub_list = pub_ident ? pub_ident : "";
  char* pub_literal = PQescapeLiteral(conn_, pub_list.c_str(), pub_list.size());
  std::string sql = fmt::format(
      "START_REPLICATION SLOT {} LOGICAL {} (proto_version '2', publication_names {}, "
      "messages 'true', streaming 'true')",
      slot_ident ? slot_ident : "", start.ToString(), pub_literal ? pub_literal : "''");
  PQfreemem(slot_ident);
  PQfreemem(pub_ident);
  PQfreemem(pub_literal);
  PGresult* res = PQexec(conn_, sql.c_str());
  ExecStatusType st = PQresultStatus(res);
  std::string sqlstate =
      PQresultErrorField(res, PG_DIAG_SQLSTATE) ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : "";
  PQclear(res);
  if (st == PGRES_COPY_BOTH) {
    if (PQsetnonblocking(conn_, 1) != 0)
      return ConnectionError("cannot make the stream non-blocking");
    return Status::Ok();
  }
  std::string msg = Trim(PQerrorMessage(conn_));
  if (sqlstate == "42704") {
    return DataLoss(fmt::format(
        "replication slot \"{}\" does not exist: {}. Changes made since it was dropped are not "
        "in eddy's log. Start eddy with --recreate-slot to create it again (and resync "
        "consumers), or point eddy at the right slot with --slot",
        slot, msg));
  }
  if (sqlstate == "55006") {
    return Unavailable(
        fmt::format("replication slot \"{}\" is in use by another process: {}", slot, msg));
  }
  if (sqlstate == "55000") {
    return DataLoss(fmt::format(
        "replication slot \"{}\" cannot be used: {}. If its WAL was removed (wal_status lost), "
        "start eddy with --recreate-slot and resync consumers; raise max_slot_wal_keep_size to "
        "avoid it",
        slot, msg));
  }
  return Unavailable(fmt::format("START_REPLICATION failed: {}", msg));
}

Result<StreamFrame> ReplicationStream::Next(int timeout_ms) {
  if (buffer_ != nullptr) {
    PQfreemem(buffer_);
    buffer_ = nullptr;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    int len = PQgetCopyData(conn_, &buffer_, /*async=*/1);
    if (len == 0) {
      if (attempt == 1) return StreamFrame{};
      pollfd pfd{PQsocket(conn_), POLLIN, 0};
      int rc = ::poll(&pfd, 1, timeout_ms);
      if (rc < 0 && errno != EINTR) return IoError("poll on the replication socket failed");
      if (rc <= 0) return StreamFrame{};
      if (PQconsumeInput(conn_) == 0) return ConnectionError("replication stream broke");
      continue;
    }
    if (len == -1) {
      // The server ended the COPY: collect the final result for its error message.
      PGresult* res = PQgetResult(conn_);
      std::string msg = res ? Trim(PQresultErrorMessage(res)) : "";
      PQclear(res);
      return Unavailable(
          fmt::format("replication stream ended by the server{}{}", msg.empty() ? "" : ": ", msg));
    }
    if (len < 0) return ConnectionError("replication stream broke");
    ByteReader r(std::string_view(buffer_, static_cast<size_t>(len)));
    char kind = static_cast<char>(r.ReadU8());
    StreamFrame frame;
    if (kind == 'w') {
      frame.kind = StreamFrame::Kind::kXLogData;
      frame.wal_start = Lsn(r.ReadU64());
      frame.wal_end = Lsn(r.ReadU64());
      r.ReadU64();  // send time
      if (!r.ok()) return Corruption("short XLogData frame from the walsender");
      frame.payload = std::string_view(buffer_ + r.position(), r.remaining());
      return frame;
    }
    if (kind == 'k') {
      frame.kind = StreamFrame::Kind::kKeepalive;
      frame.wal_end = Lsn(r.ReadU64());
      r.ReadU64();
      frame.reply_requested = r.ReadU8() != 0;
      if (!r.ok()) return Corruption("short keepalive frame from the walsender");
      return frame;
    }
    return Corruption(
        fmt::format("unknown walsender frame type 0x{:02x}", static_cast<unsigned char>(kind)));
  }
  return StreamFrame{};
}

Status ReplicationStream::SendStatus(Lsn received, Lsn durable, bool reply_requested) {
  std::string msg;
  ByteWriter w(&msg);
  w.WriteU8('r');
  w.WriteU64(received.value());
  w.WriteU64(durable.value());
  w.WriteU64(durable.value());
  w.WriteI64(NowPgMicros());
  w.WriteU8(reply_requested ? 1 : 0);  // ask the server to answer at once
  if (PQputCopyData(conn_, msg.data(), static_cast<int>(msg.size())) <= 0) {
    return ConnectionError("cannot send standby status");
  }
  if (PQflush(conn_) < 0) return ConnectionError("cannot flush standby status");
  return Status::Ok();
}

}  // namespace eddy::capture
