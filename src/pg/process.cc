#include "pg/process.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace eddy::pg {
namespace {

std::string Errno(int error) { return std::strerror(error); }

}  // namespace

Result<int> RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return InvalidArgument("RunProcess needs an absolute program path");
  }
  // Everything the child touches is prepared before fork(): between fork and exec a
  // multithreaded parent's child may only make async-signal-safe calls (no malloc).
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env_ptrs;
  char** envp = environ;
  if (options.env.has_value()) {
    for (const std::string& entry : *options.env)
      env_ptrs.push_back(const_cast<char*>(entry.c_str()));
    env_ptrs.push_back(nullptr);
    envp = env_ptrs.data();
  }

  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return IoError("cannot open /dev/null: " + Errno(errno));
  int out_fd = null_fd;
  int pipe_fds[2] = {-1, -1};
  if (options.capture != nullptr) {
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
      close(null_fd);
      return IoError("cannot create a pipe: " + Errno(errno));
    }
    out_fd = pipe_fds[1];
  } else if (!options.output_path.empty()) {
    out_fd = open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      close(null_fd);
      return IoError("cannot open " + options.output_path + ": " + Errno(errno));
    }
    if (options.run_as.has_value()) {
      // The file may be created here as root; let the tool write to it after dropping privileges.
      if (fchown(out_fd, options.run_as->uid, options.run_as->gid) != 0) {
        // Harmless: the child writes through the inherited descriptor anyway.
      }
    }
  }
  auto close_fds = [&] {
    if (out_fd != null_fd && out_fd != pipe_fds[1]) close(out_fd);
    if (pipe_fds[0] >= 0) close(pipe_fds[0]);
    if (pipe_fds[1] >= 0) close(pipe_fds[1]);
    close(null_fd);
  };

  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close_fds();
    return IoError("cannot fork to run " + argv[0] + ": " + Errno(error));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(out_fd, STDERR_FILENO) < 0) {
      _exit(126);
    }
    if (options.run_as.has_value()) {
      const RunAs& as = *options.run_as;
      if (setgroups(as.groups.size(), as.groups.data()) != 0 || setgid(as.gid) != 0 ||
          setuid(as.uid) != 0) {
        static const char kMessage[] = "eddy: cannot switch to the postgres user\n";
        (void)!write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
        _exit(126);
      }
    }
    if (!options.working_dir.empty() && chdir(options.working_dir.c_str()) != 0) _exit(126);
    // Undo signal dispositions the parent may have set (e.g. SIGPIPE ignored).
    signal(SIGPIPE, SIG_DFL);
    execve(args[0], args.data(), envp);
    static const char kExecFailed[] = "eddy: exec failed\n";
    (void)!write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    _exit(127);
  }

  if (options.capture != nullptr) {
    close(pipe_fds[1]);
    // out_fd named the same descriptor: close_fds() must not close that number again (another
    // thread may have reused it by now).
    pipe_fds[1] = -1;
    out_fd = null_fd;
    char buffer[4096];
    while (true) {
      const ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
      if (n > 0) {
        options.capture->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
  }
  close_fds();

  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return IoError("waitpid for " + argv[0] + ": " + Errno(errno));
  }
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 128;
}

std::vector<std::string> CleanPostgresEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view var(*entry);
    if (var.substr(0, 2) == "PG" || var.substr(0, 3) == "LC_" || var.substr(0, 5) == "LANG=" ||
        var.substr(0, 9) == "LANGUAGE=") {
      continue;
    }
    env.emplace_back(var);
  }
  env.emplace_back("LC_ALL=C");
  return env;
}

}  // namespace eddy::pg
