#include "log/file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace eddy::log {
namespace {

Status Errno(std::string_view what, const std::string& path, int err) {
  return IoError(fmt::format("{} {}: {}", what, path, std::strerror(err)));
}

Result<int> OpenFd(const std::string& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return NotFound(fmt::format("open {}: no such file", path));
    return Errno("open", path, err);
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<File>> File::CreateNew(const std::string& path) {
  EDDY_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_WRONLY | O_CREAT | O_EXCL));
  return std::unique_ptr<File>(new File(fd, path));
}

Result<std::unique_ptr<File>> File::OpenForWrite(const std::string& path) {
  EDDY_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_WRONLY));
  return std::unique_ptr<File>(new File(fd, path));
}

Result<std::unique_ptr<File>> File::OpenForRead(const std::string& path) {
  EDDY_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_RDONLY));
  return std::unique_ptr<File>(new File(fd, path));
}

File::~File() { ::close(fd_); }

Status File::WriteAt(uint64_t offset, std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path_, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Result<size_t> File::ReadAt(uint64_t offset, char* buf, size_t n) const {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("read", path_, errno);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

Status File::Truncate(uint64_t size) {
  int rc;
  do {
    rc = ::ftruncate(fd_, static_cast<off_t>(size));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return Errno("truncate", path_, errno);
  return Status::Ok();
}

Status File::DataSync() {
  int rc;
  do {
    rc = ::fdatasync(fd_);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return Errno("fdatasync", path_, errno);
  return Status::Ok();
}

Result<uint64_t> File::Size() const {
  struct stat st;
  if (::fstat(fd_, &st) < 0) return Errno("fstat", path_, errno);
  return static_cast<uint64_t>(st.st_size);
}

Result<std::unique_ptr<DirLock>> DirLock::Acquire(const std::string& path) {
  EDDY_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_RDWR | O_CREAT));
  if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return FailedPrecondition(
          fmt::format("{} is locked: another eddy process is writing this change log", path));
    }
    return Errno("flock", path, err);
  }
  return std::unique_ptr<DirLock>(new DirLock(fd));
}

DirLock::~DirLock() { ::close(fd_); }

Status CreateDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(fmt::format("create directory {}: {}", dir, ec.message()));
  return Status::Ok();
}

Status SyncDir(const std::string& dir) {
  EDDY_ASSIGN_OR_RETURN(int fd, OpenFd(dir, O_RDONLY | O_DIRECTORY));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc < 0) return Errno("fsync directory", dir, err);
  return Status::Ok();
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) return Errno("unlink", path, errno);
  return Status::Ok();
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Errno("list directory", dir, errno);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

}  // namespace eddy::log
