/*
 * nimbus-sandbox-wait: what a sandbox's outer process and its pid 1 do once the sandbox is set up, without an
 * interpreter. `sandbox_init.py` sets the sandbox up in Python (forks of the zygote, or a spawned python3), then
 * each of those two processes execs this program, which keeps only a few pages instead of a Python process's
 * (measured: ~1.4 MB and ~1.7 MB of PSS each, per instance). Built by `make install` with the machine's cc; where
 * it is missing, sandbox_init.py runs the same loops in Python (`_wait_init`, `_init`), and the tests run both.
 *
 *   nimbus-sandbox-wait outer <init pid> <status fd> <lifeline fd|-1> <limits report fd|-1>
 *       Sleep until init reports the runtime's end on <status fd> (or ends) or the server's lifeline hangs up (then
 *       SIGKILL init: the pid namespace goes with it); reap init; write "<status> <max rss kB>" to the limits
 *       report when there is one; exit the way the runtime did (same signal, or same exit code).
 *   nimbus-sandbox-wait init <runtime pid> <status fd>
 *       pid 1 of the sandbox: reap every process; when the runtime ends, write its wait status and peak resident
 *       size (int32 + int64, native order: struct "=iq") to <status fd> and exit, which ends the pid namespace.
 *   nimbus-sandbox-wait pid1 <runtime pid> <report fd> <host pid> <lifeline fd|-1> <limits report fd|-1>
 *       pid 1 of a zygote's fork, which has no outer process (the zygote forked it straight into a new pid
 *       namespace): both duties at once. Reap every process; when the runtime ends, write the limits report when
 *       there is one, then "<host pid> <status> <max rss>" (struct "=iiq") to <report fd> (a pipe the zygote reads,
 *       so that it reports the runtime's status, not ours, to the server) and exit. When the server's lifeline
 *       hangs up, exit at once: the kernel kills the rest of the pid namespace.
 *
 * Signal dispositions set to ignore survive the exec (init ignores HUP INT USR1 USR2 TERM); dumpable does not,
 * so init clears it again; its parent-death signal does survive.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static long arg(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s) {
        _exit(127);
    }
    return v;
}

static void mirror(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig != SIGKILL && sig != SIGSTOP) {
            sigset_t set;
            signal(sig, SIG_DFL);
            sigemptyset(&set);
            sigaddset(&set, sig);
            sigprocmask(SIG_UNBLOCK, &set, NULL);
        }
        kill(getpid(), sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static int outer(pid_t init, int status_fd, int lifeline, int report) {
    if (lifeline >= 0) {
        struct pollfd fds[2] = {{status_fd, POLLIN, 0}, {lifeline, 0, 0}};
        for (;;) {
            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR) {
                    continue;
                }
                break; /* cannot watch: wait for init as before */
            }
            if (fds[1].revents) {
                kill(init, SIGKILL);
                break;
            }
            if (fds[0].revents) {
                break;
            }
        }
    }
    int init_status = 0;
    while (waitpid(init, &init_status, 0) < 0 && errno == EINTR) {
    }
    unsigned char buf[12];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(status_fd, buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got == sizeof buf) {
        int32_t status;
        int64_t max_rss_kb;
        memcpy(&status, buf, 4);
        memcpy(&max_rss_kb, buf + 4, 8);
        if (report >= 0) {
            dprintf(report, "%d %lld", (int)status, (long long)max_rss_kb);
        }
        mirror(status);
    }
    mirror(init_status); /* init died without a word */
    return 1;
}

static int init(pid_t runtime, int status_fd) {
    static const int ignored[] = {SIGHUP, SIGINT, SIGUSR1, SIGUSR2, SIGTERM};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        signal(ignored[i], SIG_IGN);
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    for (;;) {
        int status;
        struct rusage usage;
        pid_t pid = wait4(-1, &status, 0, &usage);
        if (pid < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(0);
        }
        if (pid == runtime) {
            unsigned char buf[12];
            int32_t s = status;
            int64_t rss = usage.ru_maxrss;
            memcpy(buf, &s, 4);
            memcpy(buf + 4, &rss, 8);
            ssize_t n;
            do {
                n = write(status_fd, buf, sizeof buf);
            } while (n < 0 && errno == EINTR);
            _exit(0);
        }
    }
}

/* does nothing: a handled SIGCHLD (not an ignored one) is what interrupts ppoll when a child ends */
static void on_child(int sig) {
    (void)sig;
}

/* the runtime ended: its limits report (if any), then its report for the zygote; then exit, ending the namespace */
static void report_and_exit(pid_t host_pid, int status, long max_rss_kb, int report, int limits) {
    if (limits >= 0) {
        dprintf(limits, "%d %ld", status, max_rss_kb);
    }
    unsigned char buf[16];
    int32_t p = (int32_t)host_pid, s = (int32_t)status;
    int64_t rss = (int64_t)max_rss_kb;
    memcpy(buf, &p, 4);
    memcpy(buf + 4, &s, 4);
    memcpy(buf + 8, &rss, 8);
    ssize_t n;
    do {
        n = write(report, buf, sizeof buf); /* 16 bytes on a pipe: one atomic write (PIPE_BUF) */
    } while (n < 0 && errno == EINTR);
    /* the zygote gone (EPIPE, ignored): the server reaps us and reads our own exit, the nearest we can say */
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
}

static int pid1(pid_t runtime, int report, pid_t host_pid, int lifeline, int limits) {
    static const int ignored[] = {SIGHUP, SIGINT, SIGUSR1, SIGUSR2, SIGTERM, SIGPIPE};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        signal(ignored[i], SIG_IGN);
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* SIGCHLD blocked except inside ppoll: no exit is missed between a reap and the next sleep */
    sigset_t chld, during;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &during);
    sigdelset(&during, SIGCHLD);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;) {
        for (;;) {
            int status;
            struct rusage usage;
            pid_t pid = wait4(-1, &status, WNOHANG, &usage);
            if (pid < 0 && errno == EINTR) {
                continue;
            }
            if (pid <= 0) {
                break;
            }
            if (pid == runtime) {
                report_and_exit(host_pid, status, usage.ru_maxrss, report, limits);
            }
        }
        struct pollfd fds[1] = {{lifeline, 0, 0}}; /* no events asked: only its hang-up wakes us */
        int n = ppoll(fds, lifeline >= 0 ? 1 : 0, NULL, &during);
        if (n > 0 && fds[0].revents) {
            _exit(137); /* the server is gone: nothing may outlive it */
        }
    }
}

int main(int argc, char **argv) {
    if (argc == 7 && strcmp(argv[1], "pid1") == 0) {
        return pid1((pid_t)arg(argv[2]), (int)arg(argv[3]), (pid_t)arg(argv[4]), (int)arg(argv[5]),
                    (int)arg(argv[6]));
    }
    if (argc == 6 && strcmp(argv[1], "outer") == 0) {
        return outer((pid_t)arg(argv[2]), (int)arg(argv[3]), (int)arg(argv[4]), (int)arg(argv[5]));
    }
    if (argc == 4 && strcmp(argv[1], "init") == 0) {
        return init((pid_t)arg(argv[2]), (int)arg(argv[3]));
    }
    fprintf(stderr, "usage: nimbus-sandbox-wait outer <init> <status fd> <lifeline fd> <report fd>\n"
                    "       nimbus-sandbox-wait init <runtime> <status fd>\n"
                    "       nimbus-sandbox-wait pid1 <runtime> <report fd> <host pid> <lifeline fd> <limits fd>\n");
    return 127;
}
