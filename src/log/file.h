#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/result.h"

namespace eddy::log {

// The only place in src/log that talks to the OS. An open file descriptor; closed on
// destruction. Not synchronized: concurrent ReadAt calls are fine (pread), everything else needs
// the owner's serialization. Errors are kIoError naming the path and errno text.
class File {
 public:
  // Creates a new file (fails if it exists), opened for writing.
  static Result<std::unique_ptr<File>> CreateNew(const std::string& path);
  // Opens an existing file for writing at explicit offsets.
  static Result<std::unique_ptr<File>> OpenForWrite(const std::string& path);
  // Opens an existing file read-only. kNotFound if it does not exist.
  static Result<std::unique_ptr<File>> OpenForRead(const std::string& path);

  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  // Writes all of `data` at `offset` (retrying short writes and EINTR).
  Status WriteAt(uint64_t offset, std::string_view data);
  // Reads up to `n` bytes at `offset`; fewer only at end of file.
  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const;
  Status Truncate(uint64_t size);
  Status DataSync();
  Result<uint64_t> Size() const;
  const std::string& path() const { return path_; }

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// An exclusive advisory lock (flock) on `path`, held until destruction: one writer per log.
class DirLock {
 public:
  static Result<std::unique_ptr<DirLock>> Acquire(const std::string& path);
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock();

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

Status CreateDirs(const std::string& dir);
// fsync of a directory, so created/removed entries are durable.
Status SyncDir(const std::string& dir);
Status RemoveFile(const std::string& path);
// Names (not paths) of the regular entries of `dir`.
Result<std::vector<std::string>> ListDir(const std::string& dir);

}  // namespace eddy::log
