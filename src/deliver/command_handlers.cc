#include "deliver/command_handlers.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "change/change_json.h"

extern char** environ;

namespace eddy::deliver {
namespace {

std::string ChangeLine(const Change& change) {
  change::JsonProjection full;
  full.rows = change::JsonProjection::Rows::kFull;
  std::string line;
  change::AppendChangeJson(change, full, &line);
  line.push_back('\n');
  return line;
}

// Runs `command` with `input` on stdin; the exit status or an error.
Status RunWithInput(const std::string& command, const std::string& input, const Change& change) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return IoError(fmt::format("pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
  std::vector<std::string> env_storage;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env_storage.emplace_back(*e);
  env_storage.push_back(std::string("EDDY_OP=") + OpName(change.op));
  env_storage.push_back("EDDY_TABLE=" + (change.table ? change.table->QualifiedName() : ""));
  env_storage.push_back("EDDY_POSITION=" + change.position.ToString());
  std::vector<char*> envp;
  for (std::string& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return IoError(fmt::format("--exec: cannot start /bin/sh: {}", std::strerror(rc)));
  }
  // The command may not read its stdin: EPIPE (SIGPIPE is ignored) is not a failure by itself.
  size_t off = 0;
  while (off < input.size()) {
    ssize_t n = ::write(fds[1], input.data() + off, input.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(fds[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return IoError(fmt::format("waitpid: {}", std::strerror(errno)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status)) {
    return Unavailable(fmt::format("--exec command exited with status {}", WEXITSTATUS(status)));
  }
  return Unavailable(fmt::format("--exec command killed by signal {}",
                                 WIFSIGNALED(status) ? WTERMSIG(status) : 0));
}

}  // namespace

ConsumerHandlers PrintHandlers(std::FILE* out) {
  auto mu = std::make_shared<std::mutex>();
  ConsumerHandlers h;
  h.on_change = [out, mu](const Change& change) -> Status {
    const std::string line = ChangeLine(change);
    std::lock_guard<std::mutex> lock(*mu);
    if (std::fwrite(line.data(), 1, line.size(), out) != line.size() || std::fflush(out) != 0) {
      std::clearerr(out);
      return IoError("writing to stdout failed");
    }
    return Status::Ok();
  };
  return h;
}

ConsumerHandlers ExecHandlers(std::string command) {
  std::signal(SIGPIPE, SIG_IGN);
  ConsumerHandlers h;
  h.on_change = [command = std::move(command)](const Change& change) {
    return RunWithInput(command, ChangeLine(change), change);
  };
  return h;
}

}  // namespace eddy::deliver
