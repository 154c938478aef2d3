#include "capture/change_assembler.h"

#include <fmt/format.h>

namespace eddy::capture {

ChangeAssembler::ChangeAssembler(RelationCache& relations, ChangeSink& sink, StreamSpool& spool,
                                 TypeResolver& types, Lsn skip_through)
    : relations_(relations),
      sink_(sink),
      spool_(spool),
      types_(types),
      skip_through_(skip_through) {}

Status ChangeAssembler::Reset() {
  Status s = Status::Ok();
  if (in_transaction_ && !skipping_) s = sink_.DiscardUncommitted();
  in_transaction_ = false;
  skipping_ = false;
  stream_xid_.reset();
  spool_.DropAll();
  return s;
}

Result<std::shared_ptr<const Table>> ChangeAssembler::TableFor(RelationId id, size_t width,
                                                               const char* what) {
  std::shared_ptr<const Table> table = relations_.Find(id);
  if (!table) {
    return Corruption(
        fmt::format("pgoutput {} for relation {} that was never described", what, id.value()));
  }
  if (width != 0 && width != table->columns.size()) {
    return Corruption(fmt::format("pgoutput {} for {} has {} columns, the relation has {}", what,
                                  table->QualifiedName(), width, table->columns.size()));
  }
  return table;
}

Status ChangeAssembler::Handle(const pgoutput::Message& message) {
  return std::visit(
      [this](const auto& m) -> Status {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, pgoutput::Begin>) {
          return OnBegin(m);
        } else if constexpr (std::is_same_v<M, pgoutput::Commit>) {
          return OnCommit(m);
        } else if constexpr (std::is_same_v<M, pgoutput::Relation>) {
          relations_.Apply(m);
          return Status::Ok();
        } else if constexpr (std::is_same_v<M, pgoutput::Type>) {
          types_.NoteTypeName(m.oid, m.name);
          return Status::Ok();
        } else if constexpr (std::is_same_v<M, pgoutput::Insert>) {
          EDDY_ASSIGN_OR_RETURN(auto table, TableFor(m.relation, m.new_tuple.size(), "Insert"));
          Change c;
          c.op = Op::kInsert;
          c.table = std::move(table);
          c.new_row = m.new_tuple;
          return OnRow(m.xid, std::move(c));
        } else if constexpr (std::is_same_v<M, pgoutput::Update>) {
          EDDY_ASSIGN_OR_RETURN(auto table, TableFor(m.relation, m.new_tuple.size(), "Update"));
          Change c;
          c.op = Op::kUpdate;
          c.new_row = m.new_tuple;
          if (m.old_kind == 'K' || m.old_kind == 'O') {
            if (m.old_tuple.size() != table->columns.size()) {
              return Corruption("pgoutput Update: old tuple width differs from the relation");
            }
            c.old_row = m.old_tuple;
            c.old_kind = m.old_kind == 'K' ? OldRow::kKey : OldRow::kFull;
          }
          c.table = std::move(table);
          return OnRow(m.xid, std::move(c));
        } else if constexpr (std::is_same_v<M, pgoutput::Delete>) {
          EDDY_ASSIGN_OR_RETURN(auto table, TableFor(m.relation, m.old_tuple.size(), "Delete"));
          Change c;
          c.op = Op::kDelete;
          c.table = std::move(table);
          c.old_row = m.old_tuple;
          c.old_kind = m.old_kind == 'O' ? OldRow::kFull : OldRow::kKey;
          return OnRow(m.xid, std::move(c));
        } else if constexpr (std::is_same_v<M, pgoutput::Truncate>) {
          return OnTruncate(m);
        } else if constexpr (std::is_same_v<M, pgoutput::LogicalMessage>) {
          ++stats_.logical_messages;
          return Status::Ok();
        } else if constexpr (std::is_same_v<M, pgoutput::StreamStart>) {
          stream_xid_ = m.xid;
          return spool_.Begin(m.xid, m.first_segment);
        } else if constexpr (std::is_same_v<M, pgoutput::StreamStop>) {
          stream_xid_.reset();
          return Status::Ok();
        } else if constexpr (std::is_same_v<M, pgoutput::StreamCommit>) {
          return OnStreamCommit(m);
        } else if constexpr (std::is_same_v<M, pgoutput::StreamAbort>) {
          if (m.subxid == m.xid) {
            spool_.Drop(m.xid);
            ++stats_.aborted_streams;
          } else {
            spool_.AbortSubtransaction(m.xid, m.subxid);
          }
          return Status::Ok();
        } else {
          static_assert(std::is_same_v<M, pgoutput::Origin>);
          return Status::Ok();
        }
      },
      message);
}

Status ChangeAssembler::OnBegin(const pgoutput::Begin& m) {
  if (in_transaction_) return Corruption("pgoutput Begin inside a transaction");
  in_transaction_ = true;
  skipping_ = m.final_lsn <= skip_through_;
  commit_lsn_ = m.final_lsn;
  xid_ = m.xid;
  commit_time_us_ = m.commit_time_us;
  next_index_ = 0;
  return Status::Ok();
}

Status ChangeAssembler::OnCommit(const pgoutput::Commit& m) {
  if (!in_transaction_) return Corruption("pgoutput Commit outside a transaction");
  if (m.commit_lsn != commit_lsn_) {
    return Corruption(fmt::format("pgoutput Commit LSN {} differs from Begin's final LSN {}",
                                  m.commit_lsn.ToString(), commit_lsn_.ToString()));
  }
  in_transaction_ = false;
  last_commit_end_ = m.end_lsn;
  if (skipping_) {
    skipping_ = false;
    ++stats_.skipped_transactions;
    return Status::Ok();
  }
  ++stats_.transactions;
  // A reconnect replays from the confirmed LSN, which may be behind what is already appended.
  skip_through_ = m.commit_lsn;
  return sink_.AppendCommit(Commit{xid_, m.commit_lsn, m.end_lsn, m.commit_time_us, next_index_});
}

Status ChangeAssembler::OnRow(std::optional<Xid> xid, Change change) {
  if (stream_xid_) {
    return spool_.Append(*stream_xid_, xid.value_or(*stream_xid_), change);
  }
  if (!in_transaction_) return Corruption("pgoutput row change outside a transaction");
  if (skipping_) return Status::Ok();
  change.position = Position{commit_lsn_, next_index_++};
  change.xid = xid_;
  change.commit_time_us = commit_time_us_;
  ++stats_.changes;
  return sink_.Append(change);
}

Status ChangeAssembler::OnTruncate(const pgoutput::Truncate& m) {
  for (RelationId id : m.relations) {
    EDDY_ASSIGN_OR_RETURN(auto table, TableFor(id, 0, "Truncate"));
    Change c;
    c.op = Op::kTruncate;
    c.table = std::move(table);
    c.truncate_flags = m.options;
    EDDY_RETURN_IF_ERROR(OnRow(m.xid, std::move(c)));
  }
  return Status::Ok();
}

Status ChangeAssembler::OnStreamCommit(const pgoutput::StreamCommit& m) {
  if (in_transaction_ || stream_xid_) {
    return Corruption("pgoutput Stream Commit inside another transaction or stream");
  }
  last_commit_end_ = m.end_lsn;
  if (m.commit_lsn <= skip_through_) {
    spool_.Drop(m.xid);
    ++stats_.skipped_transactions;
    return Status::Ok();
  }
  // From here to AppendCommit the log holds a partial transaction; Reset discards it.
  in_transaction_ = true;
  uint32_t index = 0;
  Status s = spool_.Release(m.xid, [&](Change& c) -> Status {
    c.position = Position{m.commit_lsn, index++};
    c.xid = m.xid;
    c.commit_time_us = m.commit_time_us;
    ++stats_.changes;
    return sink_.Append(c);
  });
  if (!s.ok()) return s;
  in_transaction_ = false;
  ++stats_.transactions;
  ++stats_.streamed_transactions;
  skip_through_ = m.commit_lsn;
  return sink_.AppendCommit(Commit{m.xid, m.commit_lsn, m.end_lsn, m.commit_time_us, index});
}

}  // namespace eddy::capture
