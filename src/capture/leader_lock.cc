#include "capture/leader_lock.h"

#include "pg/connection.h"

namespace eddy::capture {

LeaderLock::~LeaderLock() { Release(); }

Result<bool> LeaderLock::TryAcquire() {
  if (held_ && StillHeld()) return true;
  held_ = false;
  if (!connection_) {
    auto conn = pg::Connection::Connect(conninfo_);
    if (!conn.ok()) return conn.status();
    connection_ = std::move(conn).value();
  }
  auto res =
      connection_->ExecParams("SELECT pg_try_advisory_lock(hashtext($1))", {"eddy:" + slot_});
  if (!res.ok()) {
    connection_.reset();
    return res.status().WithContext("cannot take the leader lock");
  }
  held_ = res->Get(0, 0) == "t";
  return held_;
}

bool LeaderLock::StillHeld() {
  if (!held_ || !connection_) return false;
  auto res = connection_->Exec("SELECT 1");
  if (!res.ok()) {
    held_ = false;
    connection_.reset();
  }
  return held_;
}

void LeaderLock::Release() {
  connection_.reset();
  held_ = false;
}

}  // namespace eddy::capture
