#ifndef FANBENCH_CSPAWN_SHIM_H
#define FANBENCH_CSPAWN_SHIM_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

// Starts `path` with `argv` and `envp` as a new session, in `cwd`, stdin from /dev/null and
// stdout+stderr onto `out_fd`, after joining the cgroups whose cgroup.procs files are listed
// in `procs` (`nprocs` of them) — before exec, so everything the program ever allocates is
// charged to its own group (cgroup v1 no longer moves charges when a process moves).
// The child calls only async-signal-safe functions. Returns the pid, or -1 with errno set
// (the child's errno when exec or a step before it failed).
static inline pid_t fb_spawn_joined(const char *path, char *const argv[], char *const envp[], const char *cwd,
                                    int out_fd, const char *const procs[], int nprocs) {
    int report[2];
    if (pipe(report) != 0) return -1;
    fcntl(report[0], F_SETFD, FD_CLOEXEC);
    fcntl(report[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        int step_errno = 0;
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < 32; s++) signal(s, SIG_DFL);
        setsid();
        for (int i = 0; i < nprocs; i++) {
            int fd = open(procs[i], O_WRONLY);
            if (fd >= 0) { (void)write(fd, "0", 1); close(fd); }
        }
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) goto fail;
        if (null_fd > 2) close(null_fd);
        if (out_fd > 2) close(out_fd);
        if (cwd && chdir(cwd) != 0) goto fail;
        execve(path, argv, envp);
    fail:
        step_errno = errno;
        (void)write(report[1], &step_errno, sizeof step_errno);
        _exit(127);
    }
    close(report[1]);
    int child_errno = 0;
    ssize_t n;
    do { n = read(report[0], &child_errno, sizeof child_errno); } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof child_errno) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        errno = child_errno;
        return -1;
    }
    return pid;
}

#endif
