/* Profiling aid for bench/callgrind_loops.sh, never linked into op2: preloaded into a profiled
 * run, it makes memfd_create(name) create a real file $MEMFD_DIR/name-PID-N.so instead of an
 * anonymous one, so that valgrind (or perf) can name the generated code loaded from it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int count;

int memfd_create(const char *name, unsigned int flags)
{
    (void)flags;
    char path[4096];
    const char *dir = getenv("MEMFD_DIR");
    snprintf(path, sizeof path, "%s/%s-%d-%d.so", dir ? dir : "/tmp", name, (int)getpid(), count++);
    return open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}
