/*
 * measure: run one command and print what it cost, as one line of numbers:
 *
 *   wall_us user_us sys_us maxrss_kib exit_status
 *
 * Why not from Python (os.wait4) or GNU time: Linux keeps the larger of a
 * process's own peak RSS and the peak of the address space it replaced at
 * exec. A child forked (or vforked) from a 20 MiB Python interpreter therefore
 * reports at least 20 MiB as ru_maxrss, whatever it really used; GNU time's
 * own ~1-2 MiB would be the floor the same way. This launcher is static and
 * tiny, so the floor it leaves is a few dozen KiB, and wall time is taken
 * right around fork and wait4, without an interpreter in between.
 *
 * Usage: measure FD COMMAND [ARG...]
 *   The line is written to file descriptor FD, which the command does not
 *   inherit; stdin, stdout and stderr are the command's.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fputs("usage: measure FD COMMAND [ARG...]\n", stderr);
		return 2;
	}
	int fd = atoi(argv[1]);
	long long start = now_us();
	pid_t pid = fork();
	if (pid < 0) {
		perror("measure: fork");
		return 2;
	}
	if (pid == 0) {
		close(fd); /* the report's fd is not the command's business */
		execvp(argv[2], argv + 2);
		perror("measure: exec");
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("measure: wait4");
		return 2;
	}
	long long wall = now_us() - start;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	dprintf(fd, "%lld %lld %lld %ld %d\n", wall, tv_us(ru.ru_utime), tv_us(ru.ru_stime),
		ru.ru_maxrss, code);
	return 0;
}
