#pragma once

#include <vector>

#include "capture/change_sink.h"

namespace eddy::testing {

// Records what the capture hands to the log. Can fail the N-th append to test error paths.
class FakeChangeSink : public capture::ChangeSink {
 public:
  Status Append(const Change& change) override {
    if (fail_after_ >= 0 && appended_++ >= fail_after_) return IoError("injected failure");
    pending_.push_back(change);
    return Status::Ok();
  }
  Status AppendCommit(const Commit& commit) override {
    for (auto& c : pending_) changes.push_back(std::move(c));
    pending_.clear();
    commits.push_back(commit);
    return Status::Ok();
  }
  Status DiscardUncommitted() override {
    discarded += pending_.size();
    pending_.clear();
    return Status::Ok();
  }
  void FailAfter(int n) { fail_after_ = n; }

  std::vector<Change> changes;  // committed only
  std::vector<Commit> commits;
  size_t discarded = 0;

 private:
  std::vector<Change> pending_;
  int fail_after_ = -1;
  int appended_ = 0;
};

}  // namespace eddy::testing
