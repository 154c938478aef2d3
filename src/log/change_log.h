#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "eddy/change.h"
#include "eddy/clock.h"
#include "eddy/position.h"
#include "eddy/result.h"

#include "log/file.h"
#include "log/format.h"

namespace eddy::log {

struct ChangeLogOptions {
  std::string dir;
  uint64_t segment_bytes = 64ull << 20;  // roll to a new segment past this size
  uint64_t retention_bytes = 0;          // 0 = keep all
  int64_t retention_age_us = 0;          // 0 = keep all; age from the segment's newest commit time
  bool fsync = true;                     // false: same flow, no fdatasync (tests, benchmarks)
};

// One entry read back from the log. A change's position is (commit_lsn, index); a commit entry's
// position is (commit_lsn, change_count), i.e. just after the last change of its transaction,
// and it comes after those changes.
struct LogEntry {
  enum class Kind { kChange, kCommit };
  Kind kind = Kind::kChange;
  Change change;  // when kind == kChange
  Commit commit;  // when kind == kCommit

  Position position() const {
    return kind == Kind::kChange ? change.position
                                 : Position{commit.commit_lsn, commit.change_count};
  }
};

namespace internal {

struct SegmentInfo {
  uint64_t seq = 0;
  std::string path;
  Position prev;  // from the header
  bool continuation = false;
  uint64_t size = 0;        // bytes written (final once sealed)
  bool sealed = false;      // a later segment exists
  int64_t max_time_us = 0;  // newest commit time of its entries; INT64_MIN if none
};

// State shared by the ChangeLog and its readers; lives as long as either does.
// Every field is guarded by `mu`.
struct SharedState {
  std::mutex mu;
  std::condition_variable readers_cv;  // the durable point moved, or closed / a reader cancelled
  std::vector<SegmentInfo> segments;   // retained segments, oldest first (seq ascending)
  // The durable point: everything before (durable_seq, durable_offset) is synced and ends at a
  // Commit record (or a segment header). durable_seq == 0: nothing durable yet.
  uint64_t durable_seq = 0;
  uint64_t durable_offset = 0;
  uint64_t durable_generation = 0;  // bumped whenever the durable point moves
  bool closed = false;
};

}  // namespace internal

// Reads the durable entries of a ChangeLog in order, strictly after a start position, across
// segment rolls and retention. Obtained from ChangeLog::NewReader.
//
// Threading: one LogReader is used by one thread at a time (any thread). Many readers may run
// concurrently with each other and with the writer. Cancel() may be called from any thread.
// A reader keeps the state it shares with its log alive, so it may outlive the ChangeLog: it
// then returns kAborted.
class LogReader {
 public:
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  // The next durable entry, waiting up to `wait` for one; nullopt on timeout. Never returns
  // anything past the durable point. Errors: kAborted after Cancel() or ChangeLog::Close();
  // kDataLoss if retention removed the segment the reader needed next; kCorruption for a bad
  // record inside the durable part of the log (which recovery cannot have produced).
  Result<std::optional<LogEntry>> Next(std::chrono::milliseconds wait);

  // Wakes a waiting Next(); every later Next() returns kAborted. Any thread.
  void Cancel();

  // Bytes held by the read buffer (diagnostics and tests: about 1 MiB unless a record is bigger).
  size_t buffer_capacity() const { return scanner_.buffer_capacity(); }

 private:
  friend class ChangeLog;
  LogReader(std::shared_ptr<internal::SharedState> shared, Position after);

  // Under shared_->mu: opens the first segment to read; false when none is readable yet.
  Result<bool> OpenFirstSegmentLocked();
  // Under shared_->mu: moves to the segment after the current one if this one is finished.
  Result<bool> AdvanceLocked();
  Status OpenSegmentLocked(const internal::SegmentInfo& info);
  // Under shared_->mu: the readable limit of the current segment; sets sealed_.
  Status RefreshLimitLocked();
  Status RecordError(RecordScanner::Outcome outcome) const;
  Result<std::optional<LogEntry>> Decode(const RawRecord& record);

  const std::shared_ptr<internal::SharedState> shared_;
  const Position after_;
  bool cancelled_ = false;  // guarded by shared_->mu

  // Owned by the thread calling Next().
  bool has_segment_ = false;
  uint64_t seq_ = 0;
  std::unique_ptr<File> file_;
  RecordScanner scanner_;
  bool sealed_ = false;  // the current segment is complete up to scanner_.limit()
  Position last_pos_;    // position of the last entry scanned (the header's prev at first)
  uint64_t seen_generation_ = 0;
  std::unordered_map<uint64_t, std::shared_ptr<const Table>> tables_;  // of the current segment
};

// eddy's durable, ordered change log: a directory of segment files (see src/log/README.md).
//
// Threading:
// - Writer side (Append, AppendCommit, DiscardUncommitted, Close): one thread at a time. The
//   writer-owned fields below (marked "writer") are touched only by it.
// - A flusher thread, started by Open, fdatasyncs the current segment whenever commits are
//   pending (group commit: every commit appended while a sync runs is covered by the next one),
//   publishes the durable point, wakes readers and calls the durable listener. It also applies
//   retention at most every kRetentionIntervalUs.
// - NewReader, LastDurableCommit, Sync, ApplyRetention, SetDurableListener: any thread.
// - shared_->mu guards SharedState (segment list, durable point) and the fields marked
//   "guarded by mu" here. listener_mu_ guards listener_. Nothing blocks on I/O while holding mu
//   except retention's unlink and a reader's open of its next segment.
class ChangeLog {
 public:
  static constexpr int64_t kRetentionIntervalUs = 5'000'000;

  // Creates `options.dir` if needed and recovers it: the last segment is scanned, verifying
  // lengths and CRCs, and truncated after its last complete Commit record (segments that hold
  // only an unfinished transaction are removed), so no torn record or partial transaction is
  // ever read. A bad record followed by a valid one (corruption, not a torn tail) is kCorruption.
  static Result<std::unique_ptr<ChangeLog>> Open(const ChangeLogOptions& options, Clock& clock);
  ~ChangeLog();  // Close()
  ChangeLog(const ChangeLog&) = delete;
  ChangeLog& operator=(const ChangeLog&) = delete;

  // ---- Writer side ----
  // Appends one change of the open transaction. Positions must strictly increase, every change
  // of a transaction has the same commit_lsn, and rows must match the table (kInvalidArgument).
  Status Append(const Change& change);
  // Ends the transaction: commit.commit_lsn must be that of its changes and change_count their
  // number. The transaction becomes durable with the next sync.
  Status AppendCommit(const Commit& commit);
  // Drops everything appended since the last commit (the replication connection broke
  // mid-transaction). Readers never saw any of it.
  Status DiscardUncommitted();
  // Waits for pending syncs, stops the flusher and wakes every reader (they return kAborted).
  // Idempotent. Uncommitted changes are left for the next Open to drop.
  void Close();

  // ---- Any thread ----
  // Blocks until every commit appended so far is durable (or a sync failed).
  Status Sync();
  // Called on the flusher thread after each sync with the newest durable commit (under
  // listener_mu_). Must not call Sync(), Close() or SetDurableListener().
  void SetDurableListener(std::function<void(const Commit& last_durable)> listener);
  // After Open: the last commit found on disk; then the newest durable one.
  std::optional<Commit> LastDurableCommit() const;
  // Removes whole oldest segments past retention_bytes / retention_age_us. Never removes a
  // segment holding the durable point or anything after it, and never leaves a log that starts
  // inside a transaction.
  Status ApplyRetention();
  // Entries strictly after `after`. Position{} reads from the start of the retained log.
  // kDataLoss if `after` is older than the log's retention.
  Result<std::unique_ptr<LogReader>> NewReader(Position after);

  const ChangeLogOptions& options() const { return options_; }

 private:
  struct PendingSync {
    Commit commit;
    uint64_t seq = 0;
    uint64_t offset = 0;
    uint64_t count = 0;  // commits appended up to and including this one
    std::shared_ptr<File> file;
  };
  // The last transaction boundary: where DiscardUncommitted goes back to.
  struct Boundary {
    uint64_t seq = 0;
    uint64_t offset = 0;
    Position position;
    int64_t max_time_us = 0;
    std::optional<Commit> commit;
  };

  ChangeLog(const ChangeLogOptions& options, Clock& clock);
  Status Recover();
  Status RecoverLastSegment(const std::vector<std::pair<uint64_t, std::string>>& files);
  Status StartSegment(Lsn first_lsn, bool continuation);
  Status SealSegment();
  // Writes zeros ahead of file_size_ (to the segment size, or in 4 MiB steps past it, synced
  // once) so that the per-commit
  // fdatasync overwrites allocated blocks and never waits for a file-system journal commit.
  Status Preallocate(uint64_t need);
  Status FlushBuffer();
  Status CheckWriter() const;
  void FlusherLoop();
  Status ApplyRetentionLocked();
  std::string PathOf(Lsn first_lsn, uint64_t seq) const;

  const ChangeLogOptions options_;
  Clock& clock_;
  const std::shared_ptr<internal::SharedState> shared_;
  std::unique_ptr<DirLock> lock_;

  // Writer.
  std::shared_ptr<File> file_;  // current segment; null before the first one
  uint64_t seq_ = 0;            // of the current segment
  uint64_t file_size_ = 0;      // bytes written to file_
  // file_ holds zeros written ahead up to here (see Preallocate); 0 when unknown.
  uint64_t allocated_end_ = 0;
  std::string buf_;                              // appended, not yet written to file_
  std::unordered_set<uint64_t> tables_written_;  // (relation, version) keys in this segment
  std::vector<uint64_t> txn_new_tables_;         // keys added since the last boundary
  int64_t max_time_us_ = 0;                      // of the current segment
  uint64_t next_seq_ = 1;
  Position last_position_;
  bool in_txn_ = false;
  Lsn txn_lsn_;
  uint32_t txn_changes_ = 0;
  Boundary boundary_;
  uint64_t appended_commits_ = 0;
  Status writer_error_;  // sticky: a failed write leaves the segment in an unknown state
  bool closed_ = false;

  // Guarded by shared_->mu.
  std::condition_variable flusher_cv_;  // pending_ set, or stop_
  std::condition_variable synced_cv_;   // durable_count_ moved or flusher failed/stopped
  std::optional<PendingSync> pending_;
  uint64_t durable_count_ = 0;
  uint64_t appended_count_ = 0;  // mirror of appended_commits_ for Sync()
  std::optional<Commit> durable_commit_;
  Status flusher_error_;  // sticky: a failed fdatasync means nothing later can be trusted
  bool stop_ = false;
  int64_t last_retention_us_ = 0;

  mutable std::mutex listener_mu_;
  std::function<void(const Commit&)> listener_;  // guarded by listener_mu_

  std::thread flusher_;

  // Segment files are zero-filled ahead of use so that writes into them are overwrites and the
  // per-commit fdatasync never waits for a file-system journal commit. This thread keeps one
  // zero-filled spare (`<dir>/spare.tmp`) ready once the current segment is half full; a roll
  // renames it into place instead of growing a new file on the commit path. Only with fsync.
  void PreallocatorLoop();
  std::string SparePath() const { return options_.dir + "/spare.tmp"; }
  std::mutex spare_mu_;
  std::condition_variable spare_cv_;
  bool spare_wanted_ = false;  // guarded by spare_mu_
  bool spare_ready_ = false;   // guarded by spare_mu_
  bool spare_stop_ = false;    // guarded by spare_mu_
  std::thread preallocator_;
};

}  // namespace eddy::log
