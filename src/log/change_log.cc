#include "log/change_log.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "change/binary_codec.h"

namespace eddy::log {
namespace {

using internal::SegmentInfo;
using internal::SharedState;

constexpr size_t kFlushBytes = 256 << 10;  // the writer's userspace buffer
constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

uint64_t TableKey(RelationId relation_id, uint32_t schema_version) {
  return static_cast<uint64_t>(relation_id.value()) << 32 | schema_version;
}

std::string Pos(const Position& p) { return p.ToString(); }

SegmentInfo* FindSegment(std::vector<SegmentInfo>& segments, uint64_t seq) {
  auto it = std::lower_bound(segments.begin(), segments.end(), seq,
                             [](const SegmentInfo& s, uint64_t v) { return s.seq < v; });
  return it != segments.end() && it->seq == seq ? &*it : nullptr;
}

// What a scan of a segment's records learned, up to its last complete Commit record.
struct ScanResult {
  SegmentHeader header;
  uint64_t header_end = 0;
  uint64_t commit_end = 0;  // 0: no complete commit
  std::optional<Commit> last_commit;
  Position last_position;               // of the last commit (header.prev if none)
  int64_t max_time_us = kNoTime;        // up to the last commit
  std::unordered_set<uint64_t> tables;  // Table records before the last commit
};

Status ScanError(const File& file, uint64_t offset, std::string_view what) {
  return Corruption(
      fmt::format("change log segment {} at offset {}: {}", file.path(), offset, what));
}

// Scans a whole segment. A torn tail (an incomplete record, or a bad record that is not
// followed by a valid one) just ends the scan; a bad record followed by a valid record, or a
// valid record that does not decode, is corruption.
Result<ScanResult> ScanSegment(const File& file) {
  EDDY_ASSIGN_OR_RETURN(uint64_t size, file.Size());
  RecordScanner scanner;
  scanner.Reset(&file, 0, size);
  RawRecord rec;
  auto outcome = scanner.Next(&rec);
  if (outcome == RecordScanner::Outcome::kIoError) return scanner.io_error();
  if (outcome != RecordScanner::Outcome::kRecord || rec.type != RecordType::kHeader) {
    return ScanError(file, 0, "missing segment header");
  }
  ScanResult result;
  EDDY_ASSIGN_OR_RETURN(result.header, DecodeSegmentHeader(rec.payload));
  result.header_end = rec.end;
  result.last_position = result.header.prev;
  std::unordered_map<uint64_t, std::shared_ptr<const Table>> tables;
  std::unordered_set<uint64_t> keys;
  int64_t max_time = kNoTime;
  change::TableLookup lookup = [&tables](RelationId r, uint32_t v) -> std::shared_ptr<const Table> {
    auto it = tables.find(TableKey(r, v));
    return it == tables.end() ? nullptr : it->second;
  };
  while (true) {
    uint64_t offset = scanner.offset();
    outcome = scanner.Next(&rec);
    if (outcome == RecordScanner::Outcome::kEnd) break;
    if (outcome == RecordScanner::Outcome::kIoError) return scanner.io_error();
    if (outcome == RecordScanner::Outcome::kBadChecksum) {
      // Torn write or corruption? A torn tail has nothing valid after it.
      char header[kRecordHeaderSize];
      auto n = file.ReadAt(offset, header, sizeof(header));
      if (!n.ok()) return n.status();
      uint64_t next = offset + kRecordHeaderSize + GetFixed32(header);
      RecordScanner probe;
      probe.Reset(&file, next, size);
      RawRecord probe_rec;
      if (next < size && probe.Next(&probe_rec) == RecordScanner::Outcome::kRecord) {
        return ScanError(file, offset,
                         "record checksum mismatch followed by valid records: the segment is "
                         "corrupted (not a torn write); move it away to recover the log up to it");
      }
      // Segments are zero-filled ahead of use (Preallocate): an all-zero header is where the
      // written data ends, not a torn write, and not worth a warning.
      bool zero_fill = std::all_of(header, header + sizeof(header), [](char c) { return c == 0; });
      if (zero_fill) {
        spdlog::debug(
            "change log segment {}: written data ends at offset {} ({} bytes zero-filled)",
            file.path(), offset, size - offset);
      } else {
        spdlog::warn("change log segment {}: torn record at offset {}; dropping {} bytes",
                     file.path(), offset, size - offset);
      }
      break;
    }
    if (outcome != RecordScanner::Outcome::kRecord) {
      spdlog::warn("change log segment {}: {} at offset {}; dropping {} bytes", file.path(),
                   RecordScanner::Describe(outcome), offset, size - offset);
      break;
    }
    switch (rec.type) {
      case RecordType::kTable: {
        auto table = change::DecodeTable(rec.payload);
        if (!table.ok()) return ScanError(file, rec.offset, table.status().message());
        uint64_t key = TableKey((*table)->relation_id, (*table)->schema_version);
        tables[key] = *table;
        keys.insert(key);
        break;
      }
      case RecordType::kChange: {
        auto c = change::DecodeChange(rec.payload, lookup);
        if (!c.ok()) return ScanError(file, rec.offset, c.status().message());
        max_time = std::max(max_time, c->commit_time_us);
        break;
      }
      case RecordType::kCommit: {
        auto c = change::DecodeCommit(rec.payload);
        if (!c.ok()) return ScanError(file, rec.offset, c.status().message());
        max_time = std::max(max_time, c->commit_time_us);
        result.commit_end = rec.end;
        result.last_commit = *c;
        result.last_position = Position{c->commit_lsn, c->change_count};
        result.max_time_us = max_time;
        result.tables = keys;
        break;
      }
      case RecordType::kFooter:
        break;
      default:
        return ScanError(file, rec.offset,
                         fmt::format("unknown record type {}", static_cast<int>(rec.type)));
    }
  }
  return result;
}

// Reads the footer of a sealed segment; nullopt if it has none.
std::optional<SegmentFooter> ReadFooter(const File& file) {
  auto size = file.Size();
  if (!size.ok() || *size < kFooterRecordSize) return std::nullopt;
  RecordScanner scanner;
  scanner.Reset(&file, *size - kFooterRecordSize, *size);
  RawRecord rec;
  if (scanner.Next(&rec) != RecordScanner::Outcome::kRecord || rec.type != RecordType::kFooter) {
    return std::nullopt;
  }
  auto footer = DecodeSegmentFooter(rec.payload);
  if (!footer.ok()) return std::nullopt;
  return *footer;
}

}  // namespace

// ============================================ ChangeLog ==========================================

ChangeLog::ChangeLog(const ChangeLogOptions& options, Clock& clock)
    : options_(options), clock_(clock), shared_(std::make_shared<SharedState>()) {}

Result<std::unique_ptr<ChangeLog>> ChangeLog::Open(const ChangeLogOptions& options, Clock& clock) {
  if (options.dir.empty()) return InvalidArgument("change log: dir is empty");
  if (options.segment_bytes == 0) return InvalidArgument("change log: segment_bytes is 0");
  std::unique_ptr<ChangeLog> log(new ChangeLog(options, clock));
  EDDY_RETURN_IF_ERROR(CreateDirs(options.dir));
  EDDY_ASSIGN_OR_RETURN(log->lock_, DirLock::Acquire(options.dir + "/LOCK"));
  EDDY_RETURN_IF_ERROR(log->Recover().WithContext("change log " + options.dir));
  log->last_retention_us_ = clock.NowSteadyMicros();
  log->flusher_ = std::thread([l = log.get()] { l->FlusherLoop(); });
  (void)RemoveFile(log->SparePath());  // a spare left by a crash may be partly written
  if (options.fsync) log->preallocator_ = std::thread([l = log.get()] { l->PreallocatorLoop(); });
  return log;
}

void ChangeLog::PreallocatorLoop() {
  static const std::string kZeros(1 << 20, '\0');
  std::unique_lock lk(spare_mu_);
  while (true) {
    spare_cv_.wait(lk, [&] { return spare_stop_ || (spare_wanted_ && !spare_ready_); });
    if (spare_stop_) return;
    lk.unlock();
    const std::string tmp = SparePath() + ".part";
    (void)RemoveFile(tmp);
    auto file = File::CreateNew(tmp);
    Status st = file.status();
    for (uint64_t off = 0; st.ok() && off < options_.segment_bytes; off += kZeros.size()) {
      const uint64_t n = std::min<uint64_t>(kZeros.size(), options_.segment_bytes - off);
      st = (*file)->WriteAt(off, std::string_view(kZeros.data(), n));
      std::lock_guard stop_check(spare_mu_);
      if (spare_stop_) st = Aborted("closing");
    }
    if (st.ok()) st = (*file)->DataSync();
    if (st.ok() && std::rename(tmp.c_str(), SparePath().c_str()) != 0) {
      st = IoError("cannot rename " + tmp);
    }
    lk.lock();
    if (!st.ok()) {
      (void)RemoveFile(tmp);
      if (!spare_stop_)
        spdlog::warn("change log: cannot prepare a spare segment: {}", st.ToString());
      spare_wanted_ = false;  // the commit path grows files itself
      continue;
    }
    spare_ready_ = true;
    spare_wanted_ = false;
  }
}

ChangeLog::~ChangeLog() { Close(); }

std::string ChangeLog::PathOf(Lsn first_lsn, uint64_t seq) const {
  return options_.dir + "/" + SegmentFileName(first_lsn, seq);
}

Status ChangeLog::Recover() {
  EDDY_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(options_.dir));
  std::vector<std::pair<uint64_t, std::string>> files;
  for (const std::string& name : names) {
    if (auto seq = ParseSegmentFileName(name)) files.emplace_back(*seq, options_.dir + "/" + name);
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) next_seq_ = std::max(next_seq_, f.first + 1);
  return RecoverLastSegment(files);
}

Status ChangeLog::RecoverLastSegment(const std::vector<std::pair<uint64_t, std::string>>& files) {
  std::vector<SegmentInfo> infos;
  std::vector<SegmentHeader> headers;
  bool removed = false;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& [seq, path] = files[i];
    EDDY_ASSIGN_OR_RETURN(auto file, File::OpenForRead(path));
    EDDY_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    RecordScanner scanner;
    scanner.Reset(file.get(), 0, size);
    RawRecord rec;
    Result<SegmentHeader> header = Corruption("missing segment header");
    if (scanner.Next(&rec) == RecordScanner::Outcome::kRecord && rec.type == RecordType::kHeader) {
      header = DecodeSegmentHeader(rec.payload);
    }
    if (header.ok() && header->seq != seq) {
      header = Corruption(fmt::format("segment header says seq {}", header->seq));
    }
    if (!header.ok()) {
      if (i + 1 == files.size()) {  // torn while being created
        spdlog::warn("change log: removing {}: {}", path, header.status().message());
        EDDY_RETURN_IF_ERROR(RemoveFile(path));
        removed = true;
        continue;
      }
      return header.status().WithContext(path);
    }
    SegmentInfo info;
    info.seq = seq;
    info.path = path;
    info.prev = header->prev;
    info.continuation = header->continuation;
    info.size = size;
    info.sealed = true;
    info.max_time_us = kNoTime;
    if (i + 1 < files.size()) {
      if (auto footer = ReadFooter(*file)) {
        info.max_time_us = footer->max_time_us;
      } else {
        spdlog::warn("change log: sealed segment {} has no footer; scanning it", path);
        auto scan = ScanSegment(*file);
        if (scan.ok()) info.max_time_us = scan->max_time_us;
      }
    }
    infos.push_back(std::move(info));
    headers.push_back(*header);
  }

  // Walk back from the newest segment to the last complete Commit record.
  while (!infos.empty()) {
    SegmentInfo& last = infos.back();
    EDDY_ASSIGN_OR_RETURN(auto reader, File::OpenForRead(last.path));
    EDDY_ASSIGN_OR_RETURN(ScanResult scan, ScanSegment(*reader));
    uint64_t keep = scan.commit_end;
    if (keep == 0) {
      if (infos.size() > 1) {
        spdlog::warn("change log: removing {}: it holds only an unfinished transaction", last.path);
        EDDY_RETURN_IF_ERROR(RemoveFile(last.path));
        removed = true;
        infos.pop_back();
        headers.pop_back();
        continue;
      }
      keep = scan.header_end;
    }
    EDDY_ASSIGN_OR_RETURN(auto writer, File::OpenForWrite(last.path));
    if (last.size > keep) {
      spdlog::info("change log: truncating {} from {} to {} bytes (after the last commit)",
                   last.path, last.size, keep);
      EDDY_RETURN_IF_ERROR(writer->Truncate(keep));
    }
    if (options_.fsync) EDDY_RETURN_IF_ERROR(writer->DataSync());
    last.size = keep;
    last.sealed = false;
    last.max_time_us = scan.max_time_us;
    file_ = std::move(writer);
    seq_ = last.seq;
    file_size_ = keep;
    allocated_end_ = keep;
    tables_written_ = std::move(scan.tables);
    max_time_us_ = scan.max_time_us;
    last_position_ = scan.last_position;
    std::optional<Commit> commit = scan.last_commit ? scan.last_commit : headers.back().prev_commit;
    boundary_ = Boundary{seq_, keep, last_position_, max_time_us_, commit};
    std::lock_guard lk(shared_->mu);
    shared_->durable_seq = seq_;
    shared_->durable_offset = keep;
    durable_commit_ = commit;
    break;
  }
  if (removed && options_.fsync) EDDY_RETURN_IF_ERROR(SyncDir(options_.dir));
  std::lock_guard lk(shared_->mu);
  shared_->segments = std::move(infos);
  return Status::Ok();
}

Status ChangeLog::CheckWriter() const {
  if (closed_) return FailedPrecondition("change log is closed");
  return writer_error_;
}

Status ChangeLog::Preallocate(uint64_t need) {
  constexpr uint64_t kChunk = 4ull << 20;
  static const std::string kZeros(1 << 20, '\0');
  uint64_t from = std::max(allocated_end_, file_size_);
  // A segment without a spare (the first one, or after recovery) is filled to its full size at
  // once: one pause now instead of one every few megabytes.
  uint64_t to = (need + kChunk - 1) / kChunk * kChunk;
  if (need <= options_.segment_bytes) to = std::max(to, options_.segment_bytes);
  Status st;
  while (st.ok() && from < to) {
    const uint64_t n = std::min<uint64_t>(kZeros.size(), to - from);
    st = file_->WriteAt(from, std::string_view(kZeros.data(), n));
    from += n;
  }
  if (st.ok()) st = file_->DataSync();
  if (!st.ok()) {
    writer_error_ = st;
    return st;
  }
  allocated_end_ = to;
  return Status::Ok();
}

Status ChangeLog::FlushBuffer() {
  if (buf_.empty()) return Status::Ok();
  if (options_.fsync && file_size_ + buf_.size() > allocated_end_) {
    EDDY_RETURN_IF_ERROR(Preallocate(file_size_ + buf_.size()));
  }
  if (options_.fsync && file_size_ > options_.segment_bytes / 2) {
    std::lock_guard lk(spare_mu_);
    if (!spare_ready_ && !spare_wanted_) {
      spare_wanted_ = true;
      spare_cv_.notify_one();
    }
  }
  Status st = file_->WriteAt(file_size_, buf_);
  if (!st.ok()) {
    writer_error_ = st;
    return st;
  }
  file_size_ += buf_.size();
  buf_.clear();
  if (buf_.capacity() > 4 * kFlushBytes) buf_.shrink_to_fit();  // after one huge record
  return Status::Ok();
}

Status ChangeLog::SealSegment() {
  AppendRecord(&buf_, RecordType::kFooter, [&](std::string* out) {
    EncodeSegmentFooter(SegmentFooter{last_position_, max_time_us_}, out);
  });
  EDDY_RETURN_IF_ERROR(FlushBuffer());
  if (allocated_end_ > file_size_) {
    // A sealed segment ends at its footer: readers and recovery find the footer at the end.
    Status st = file_->Truncate(file_size_);
    if (!st.ok()) {
      writer_error_ = st;
      return st;
    }
    allocated_end_ = file_size_;
  }
  if (options_.fsync) {
    Status st = file_->DataSync();
    if (!st.ok()) {
      writer_error_ = st;
      return st;
    }
  }
  std::lock_guard lk(shared_->mu);
  SegmentInfo* info = FindSegment(shared_->segments, seq_);
  if (info != nullptr) {
    info->sealed = true;
    info->size = file_size_;
    info->max_time_us = max_time_us_;
  }
  return Status::Ok();
}

Status ChangeLog::StartSegment(Lsn first_lsn, bool continuation) {
  SegmentHeader header;
  header.seq = next_seq_++;
  header.prev = last_position_;
  header.continuation = continuation;
  header.prev_commit = boundary_.commit;
  std::string path = PathOf(first_lsn, header.seq);
  std::string bytes;
  AppendRecord(&bytes, RecordType::kHeader,
               [&](std::string* out) { EncodeSegmentHeader(header, out); });
  bool use_spare = false;
  {
    std::lock_guard lk(spare_mu_);
    if (spare_ready_ && std::rename(SparePath().c_str(), path.c_str()) == 0) {
      use_spare = true;
      spare_ready_ = false;
    }
  }
  auto created = use_spare ? File::OpenForWrite(path) : File::CreateNew(path);
  Status st = created.status();
  if (st.ok()) st = (*created)->WriteAt(0, bytes);
  if (st.ok() && options_.fsync) st = SyncDir(options_.dir);
  if (!st.ok()) {
    writer_error_ = st;
    return st;
  }
  file_ = std::move(*created);
  seq_ = header.seq;
  file_size_ = bytes.size();
  allocated_end_ = use_spare ? std::max<uint64_t>(options_.segment_bytes, file_size_) : file_size_;
  tables_written_.clear();
  txn_new_tables_.clear();
  max_time_us_ = kNoTime;
  if (!in_txn_) boundary_ = Boundary{seq_, file_size_, last_position_, kNoTime, boundary_.commit};
  SegmentInfo info;
  info.seq = seq_;
  info.path = std::move(path);
  info.prev = header.prev;
  info.continuation = continuation;
  info.size = file_size_;
  info.max_time_us = kNoTime;
  std::lock_guard lk(shared_->mu);
  shared_->segments.push_back(std::move(info));
  return Status::Ok();
}

Status ChangeLog::Append(const Change& change) {
  EDDY_RETURN_IF_ERROR(CheckWriter());
  if (change.table == nullptr) return InvalidArgument("change log: change has no table");
  const Table& table = *change.table;
  for (const auto* row : {&change.new_row, &change.old_row}) {
    if (!row->empty() && row->size() != table.columns.size()) {
      return InvalidArgument(fmt::format(
          "change log: change at {} has a row of {} values but table {} has {} columns",
          Pos(change.position), row->size(), table.QualifiedName(), table.columns.size()));
    }
  }
  if (change.position <= last_position_) {
    return InvalidArgument(fmt::format("change log: change position {} is not after {}",
                                       Pos(change.position), Pos(last_position_)));
  }
  if (in_txn_ && change.position.commit_lsn != txn_lsn_) {
    return InvalidArgument(
        fmt::format("change log: change {} has a different commit lsn than its transaction ({})",
                    Pos(change.position), txn_lsn_.ToString()));
  }
  if (file_ == nullptr) {
    EDDY_RETURN_IF_ERROR(StartSegment(change.position.commit_lsn, in_txn_));
  } else if (file_size_ + buf_.size() >= options_.segment_bytes) {
    EDDY_RETURN_IF_ERROR(SealSegment());
    EDDY_RETURN_IF_ERROR(StartSegment(change.position.commit_lsn, in_txn_));
  }
  uint64_t key = TableKey(table.relation_id, table.schema_version);
  if (tables_written_.insert(key).second) {
    txn_new_tables_.push_back(key);
    AppendRecord(&buf_, RecordType::kTable,
                 [&](std::string* out) { change::EncodeTable(table, out); });
  }
  AppendRecord(&buf_, RecordType::kChange,
               [&](std::string* out) { change::EncodeChange(change, out); });
  in_txn_ = true;
  txn_lsn_ = change.position.commit_lsn;
  ++txn_changes_;
  last_position_ = change.position;
  max_time_us_ = std::max(max_time_us_, change.commit_time_us);
  if (buf_.size() >= kFlushBytes) EDDY_RETURN_IF_ERROR(FlushBuffer());
  return Status::Ok();
}

Status ChangeLog::AppendCommit(const Commit& commit) {
  EDDY_RETURN_IF_ERROR(CheckWriter());
  if (in_txn_ && commit.commit_lsn != txn_lsn_) {
    return InvalidArgument(fmt::format("change log: commit lsn {} differs from its changes' ({})",
                                       commit.commit_lsn.ToString(), txn_lsn_.ToString()));
  }
  if (commit.change_count != txn_changes_) {
    return InvalidArgument(fmt::format("change log: commit {} says {} changes but {} were appended",
                                       commit.commit_lsn.ToString(), commit.change_count,
                                       txn_changes_));
  }
  const Position position{commit.commit_lsn, commit.change_count};
  if (position <= last_position_) {
    return InvalidArgument(fmt::format("change log: commit position {} is not after {}",
                                       Pos(position), Pos(last_position_)));
  }
  if (file_ == nullptr) EDDY_RETURN_IF_ERROR(StartSegment(commit.commit_lsn, false));
  AppendRecord(&buf_, RecordType::kCommit,
               [&](std::string* out) { change::EncodeCommit(commit, out); });
  EDDY_RETURN_IF_ERROR(FlushBuffer());
  max_time_us_ = std::max(max_time_us_, commit.commit_time_us);
  last_position_ = position;
  in_txn_ = false;
  txn_changes_ = 0;
  txn_new_tables_.clear();
  boundary_ = Boundary{seq_, file_size_, position, max_time_us_, commit};
  ++appended_commits_;

  std::lock_guard lk(shared_->mu);
  if (!flusher_error_.ok()) return flusher_error_;
  SegmentInfo& info = shared_->segments.back();
  info.size = file_size_;
  info.max_time_us = max_time_us_;
  pending_ = PendingSync{commit, seq_, file_size_, appended_commits_, file_};
  appended_count_ = appended_commits_;
  flusher_cv_.notify_one();
  return Status::Ok();
}

Status ChangeLog::DiscardUncommitted() {
  EDDY_RETURN_IF_ERROR(CheckWriter());
  buf_.clear();
  if (seq_ == boundary_.seq) {
    if (file_ != nullptr && file_size_ > boundary_.offset) {
      Status st = file_->Truncate(boundary_.offset);
      if (!st.ok()) {
        writer_error_ = st;
        return st;
      }
      file_size_ = boundary_.offset;
      allocated_end_ = file_size_;
    }
    for (uint64_t key : txn_new_tables_) tables_written_.erase(key);
  } else {
    // The transaction rolled into later segments: drop them and reopen the boundary's.
    std::string path;
    Status st;
    {
      std::lock_guard lk(shared_->mu);
      auto& segs = shared_->segments;
      while (!segs.empty() && segs.back().seq > boundary_.seq) {
        if (Status rm = RemoveFile(segs.back().path); !rm.ok() && st.ok()) st = rm;
        segs.pop_back();
      }
      SegmentInfo* info = FindSegment(segs, boundary_.seq);
      if (info == nullptr) {
        st = Internal(
            fmt::format("change log: segment {} of the last commit is gone", boundary_.seq));
      } else {
        info->sealed = false;
        info->size = boundary_.offset;
        info->max_time_us = boundary_.max_time_us;
        path = info->path;
      }
    }
    file_.reset();
    if (st.ok()) {
      auto reopened = File::OpenForWrite(path);
      st = reopened.status();
      if (st.ok()) st = (*reopened)->Truncate(boundary_.offset);
      if (st.ok() && options_.fsync) st = SyncDir(options_.dir);
      if (st.ok()) file_ = std::move(*reopened);
    }
    if (!st.ok()) {
      writer_error_ = st;
      return st;
    }
    seq_ = boundary_.seq;
    file_size_ = boundary_.offset;
    allocated_end_ = file_size_;
    tables_written_.clear();  // a Table record written twice in a segment is harmless
  }
  txn_new_tables_.clear();
  in_txn_ = false;
  txn_changes_ = 0;
  last_position_ = boundary_.position;
  max_time_us_ = boundary_.max_time_us;
  return Status::Ok();
}

void ChangeLog::Close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lk(shared_->mu);
    stop_ = true;
    flusher_cv_.notify_all();
  }
  if (flusher_.joinable()) flusher_.join();
  {
    std::lock_guard lk(spare_mu_);
    spare_stop_ = true;
    spare_cv_.notify_all();
  }
  if (preallocator_.joinable()) preallocator_.join();
  (void)RemoveFile(SparePath());
  {
    std::lock_guard lk(shared_->mu);
    shared_->closed = true;
    shared_->readers_cv.notify_all();
    synced_cv_.notify_all();
  }
  file_.reset();
  lock_.reset();
}

void ChangeLog::FlusherLoop() {
  const bool retention = options_.retention_bytes > 0 || options_.retention_age_us > 0;
  std::unique_lock lk(shared_->mu);
  while (true) {
    if (pending_ && flusher_error_.ok()) {
      PendingSync p = std::move(*pending_);
      pending_.reset();
      lk.unlock();
      Status st = options_.fsync ? p.file->DataSync() : Status::Ok();
      p.file.reset();
      lk.lock();
      if (!st.ok()) {
        spdlog::error("change log: {}; no further commit will become durable", st.ToString());
        flusher_error_ = st;
        synced_cv_.notify_all();
        continue;
      }
      shared_->durable_seq = p.seq;
      shared_->durable_offset = p.offset;
      ++shared_->durable_generation;
      durable_count_ = p.count;
      durable_commit_ = p.commit;
      shared_->readers_cv.notify_all();
      synced_cv_.notify_all();
      lk.unlock();
      {
        std::lock_guard listener_lock(listener_mu_);
        if (listener_) listener_(p.commit);
      }
      lk.lock();
      continue;
    }
    if (stop_) break;
    if (retention && clock_.NowSteadyMicros() - last_retention_us_ >= kRetentionIntervalUs) {
      last_retention_us_ = clock_.NowSteadyMicros();
      if (Status st = ApplyRetentionLocked(); !st.ok()) {
        spdlog::warn("change log retention: {}", st.ToString());
      }
      continue;
    }
    if (retention) {
      flusher_cv_.wait_for(lk, std::chrono::seconds(1));
    } else {
      flusher_cv_.wait(lk);
    }
  }
  synced_cv_.notify_all();
}

Status ChangeLog::Sync() {
  std::unique_lock lk(shared_->mu);
  const uint64_t target = appended_count_;
  synced_cv_.wait(
      lk, [&] { return durable_count_ >= target || !flusher_error_.ok() || (stop_ && !pending_); });
  if (!flusher_error_.ok()) return flusher_error_;
  if (durable_count_ < target) return Aborted("change log closed before the sync finished");
  return Status::Ok();
}

void ChangeLog::SetDurableListener(std::function<void(const Commit&)> listener) {
  std::lock_guard lk(listener_mu_);
  listener_ = std::move(listener);
}

std::optional<Commit> ChangeLog::LastDurableCommit() const {
  std::lock_guard lk(shared_->mu);
  return durable_commit_;
}

Status ChangeLog::ApplyRetention() {
  std::lock_guard lk(shared_->mu);
  return ApplyRetentionLocked();
}

Status ChangeLog::ApplyRetentionLocked() {
  if (options_.retention_bytes == 0 && options_.retention_age_us == 0) return Status::Ok();
  auto& segs = shared_->segments;
  // Only segments wholly before the durable point may go; that excludes the current one.
  size_t max_k = 0;
  while (max_k < segs.size() && segs[max_k].seq < shared_->durable_seq) ++max_k;
  size_t k = 0;
  if (options_.retention_bytes > 0) {
    uint64_t total = 0;
    for (const SegmentInfo& s : segs) total += s.size;
    // Remove a segment when the newer ones alone hold at least retention_bytes.
    size_t k_bytes = 0;
    while (k_bytes < max_k && total - segs[k_bytes].size >= options_.retention_bytes) {
      total -= segs[k_bytes].size;
      ++k_bytes;
    }
    k = std::max(k, k_bytes);
  }
  if (options_.retention_age_us > 0) {
    const int64_t cutoff = clock_.NowUnixMicros() - options_.retention_age_us;
    size_t k_age = 0;
    while (k_age < max_k && segs[k_age].max_time_us < cutoff) ++k_age;
    k = std::max(k, k_age);
  }
  k = std::min(k, max_k);
  // Never leave a log whose oldest segment starts inside a transaction.
  while (k > 0 && segs[k].continuation) --k;
  if (k == 0) return Status::Ok();
  Status result;
  for (size_t i = 0; i < k; ++i) {
    spdlog::info("change log retention: removing {} ({} bytes)", segs[i].path, segs[i].size);
    if (Status st = RemoveFile(segs[i].path); !st.ok() && result.ok()) result = st;
  }
  segs.erase(segs.begin(), segs.begin() + static_cast<std::ptrdiff_t>(k));
  if (options_.fsync) {
    if (Status st = SyncDir(options_.dir); !st.ok() && result.ok()) result = st;
  }
  return result;
}

Result<std::unique_ptr<LogReader>> ChangeLog::NewReader(Position after) {
  std::unique_ptr<LogReader> reader(new LogReader(shared_, after));
  std::lock_guard lk(shared_->mu);
  if (shared_->closed) return Aborted("change log is closed");
  EDDY_ASSIGN_OR_RETURN(bool opened, reader->OpenFirstSegmentLocked());
  (void)opened;
  return reader;
}

// ============================================ LogReader ==========================================

LogReader::LogReader(std::shared_ptr<SharedState> shared, Position after)
    : shared_(std::move(shared)), after_(after) {}

LogReader::~LogReader() = default;

void LogReader::Cancel() {
  std::lock_guard lk(shared_->mu);
  cancelled_ = true;
  shared_->readers_cv.notify_all();
}

Result<bool> LogReader::OpenFirstSegmentLocked() {
  const auto& segs = shared_->segments;
  if (segs.empty() || shared_->durable_seq == 0) return false;
  if (after_ != Position{} && after_ < segs.front().prev) {
    return DataLoss(fmt::format(
        "position {} is older than the change log's retention: the oldest retained entry comes "
        "after {}",
        Pos(after_), Pos(segs.front().prev)));
  }
  size_t index = 0;
  for (size_t i = 0; i < segs.size() && segs[i].seq <= shared_->durable_seq; ++i) {
    if (segs[i].prev <= after_) index = i;
  }
  EDDY_RETURN_IF_ERROR(OpenSegmentLocked(segs[index]));
  return true;
}

Status LogReader::OpenSegmentLocked(const SegmentInfo& info) {
  auto file = File::OpenForRead(info.path);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound) {
      return DataLoss(
          fmt::format("change log segment {} was removed by retention before this "
                      "reader got to it",
                      info.path));
    }
    return file.status();
  }
  file_ = std::move(*file);
  has_segment_ = true;
  seq_ = info.seq;
  last_pos_ = info.prev;
  tables_.clear();
  scanner_.Reset(file_.get(), 0, 0);
  return RefreshLimitLocked();
}

Status LogReader::RefreshLimitLocked() {
  seen_generation_ = shared_->durable_generation;
  if (seq_ < shared_->durable_seq) {
    sealed_ = true;
    SegmentInfo* info = FindSegment(shared_->segments, seq_);
    if (info != nullptr) {
      scanner_.set_limit(info->size);
    } else {  // removed by retention while we read it: its content is final
      EDDY_ASSIGN_OR_RETURN(uint64_t size, file_->Size());
      scanner_.set_limit(size);
    }
  } else if (seq_ == shared_->durable_seq) {
    sealed_ = false;
    scanner_.set_limit(shared_->durable_offset);
  }
  return Status::Ok();
}

Result<bool> LogReader::AdvanceLocked() {
  const auto& segs = shared_->segments;
  auto it = std::upper_bound(segs.begin(), segs.end(), seq_,
                             [](uint64_t v, const SegmentInfo& s) { return v < s.seq; });
  if (it == segs.end() || it->seq > shared_->durable_seq) return false;
  if (it->prev != last_pos_) {
    return DataLoss(
        fmt::format("change log: entries after {} were removed by retention before "
                    "this reader read them (the next segment starts after {})",
                    Pos(last_pos_), Pos(it->prev)));
  }
  EDDY_RETURN_IF_ERROR(OpenSegmentLocked(*it));
  return true;
}

Status LogReader::RecordError(RecordScanner::Outcome outcome) const {
  if (outcome == RecordScanner::Outcome::kIoError) return scanner_.io_error();
  return Corruption(fmt::format("change log segment {} at offset {}: {}", file_->path(),
                                scanner_.offset(), RecordScanner::Describe(outcome)));
}

Result<std::optional<LogEntry>> LogReader::Decode(const RawRecord& rec) {
  auto error = [&](const Status& st) {
    return Corruption(fmt::format("change log segment {} at offset {}: {}", file_->path(),
                                  rec.offset, st.message()));
  };
  switch (rec.type) {
    case RecordType::kHeader:
    case RecordType::kFooter:
      return std::optional<LogEntry>();
    case RecordType::kTable: {
      auto table = change::DecodeTable(rec.payload);
      if (!table.ok()) return error(table.status());
      tables_[TableKey((*table)->relation_id, (*table)->schema_version)] = std::move(*table);
      return std::optional<LogEntry>();
    }
    case RecordType::kChange: {
      auto pos = change::DecodeChangePosition(rec.payload);
      if (!pos.ok()) return error(pos.status());
      last_pos_ = *pos;
      if (*pos <= after_) return std::optional<LogEntry>();
      auto c = change::DecodeChange(
          rec.payload, [this](RelationId r, uint32_t v) -> std::shared_ptr<const Table> {
            auto it = tables_.find(TableKey(r, v));
            return it == tables_.end() ? nullptr : it->second;
          });
      if (!c.ok()) return error(c.status());
      std::optional<LogEntry> entry(std::in_place);
      entry->kind = LogEntry::Kind::kChange;
      entry->change = std::move(*c);
      return entry;
    }
    case RecordType::kCommit: {
      auto c = change::DecodeCommit(rec.payload);
      if (!c.ok()) return error(c.status());
      last_pos_ = Position{c->commit_lsn, c->change_count};
      if (last_pos_ <= after_) return std::optional<LogEntry>();
      std::optional<LogEntry> entry(std::in_place);
      entry->kind = LogEntry::Kind::kCommit;
      entry->commit = *c;
      return entry;
    }
  }
  return error(Corruption(fmt::format("unknown record type {}", static_cast<int>(rec.type))));
}

Result<std::optional<LogEntry>> LogReader::Next(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto wake = [&] {
    return cancelled_ || shared_->closed || shared_->durable_generation != seen_generation_;
  };
  while (true) {
    if (!has_segment_) {
      std::unique_lock lk(shared_->mu);
      if (cancelled_) return Aborted("log reader cancelled");
      if (shared_->closed) return Aborted("change log is closed");
      seen_generation_ = shared_->durable_generation;
      EDDY_ASSIGN_OR_RETURN(bool opened, OpenFirstSegmentLocked());
      if (!opened && !shared_->readers_cv.wait_until(lk, deadline, wake)) {
        return std::optional<LogEntry>();
      }
      continue;
    }
    RawRecord rec;
    auto outcome = scanner_.Next(&rec);
    if (outcome == RecordScanner::Outcome::kRecord) {
      EDDY_ASSIGN_OR_RETURN(std::optional<LogEntry> entry, Decode(rec));
      if (entry) return entry;
      continue;
    }
    if (outcome != RecordScanner::Outcome::kEnd) return RecordError(outcome);
    // At the readable limit: look for more.
    std::unique_lock lk(shared_->mu);
    if (cancelled_) return Aborted("log reader cancelled");
    if (shared_->closed) return Aborted("change log is closed");
    EDDY_RETURN_IF_ERROR(RefreshLimitLocked());
    if (scanner_.offset() < scanner_.limit()) continue;
    if (sealed_) {
      EDDY_ASSIGN_OR_RETURN(bool advanced, AdvanceLocked());
      if (advanced) continue;
    }
    if (!shared_->readers_cv.wait_until(lk, deadline, wake)) return std::optional<LogEntry>();
  }
}

}  // namespace eddy::log
