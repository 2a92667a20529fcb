#ifndef FANBENCH_CSPAWN_SHIM_H
#define FANBENCH_CSPAWN_SHIM_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

// Descriptors this process holds without close-on-exec (a file another thread is writing, a
// socket a library opened) must not leak into a child: a worker that outlived its coordinator
// would keep its files open and its ports bound, and a script being written while another
// thread spawns comes out "Text file busy". Children get 0-2 and nothing else.

// glibc 2.34+; weak, so that on an older glibc it is NULL and posix_spawn children inherit
// what has no close-on-exec (fanbench's own descriptors all have it).
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int) __attribute__((weak));

// Adds "close every descriptor from 3 up" to `actions`; 0 when it could, else -1.
static inline int fb_spawn_close_from_3(posix_spawn_file_actions_t *actions) {
    if (posix_spawn_file_actions_addclosefrom_np == NULL) return -1;
    return posix_spawn_file_actions_addclosefrom_np(actions, 3) == 0 ? 0 : -1;
}

// In a forked child (async-signal-safe): closes every descriptor from 3 up but `keep`.
static inline void fb_close_from_3_but(int keep) {
#ifdef SYS_close_range
    if (keep > 3) (void)syscall(SYS_close_range, 3u, (unsigned)(keep - 1), 0u);
    if (syscall(SYS_close_range, (unsigned)(keep < 3 ? 3 : keep + 1), ~0u, 0u) == 0) return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; fd++) if (fd != keep) close(fd);
}

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
        fb_close_from_3_but(report[1]);
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
