/* tests/slow_unlink.c: an LD_PRELOAD shim for tests/it_io.sh. unlink() of a path containing ".locktest."
 * (the file Open MPI's MPI-IO, OMPIO's sharedfp/lockedfile component, creates and unlinks beside a file it
 * opens) waits 3 s first, so that a signal reliably lands between that file's creation and its removal;
 * with SLOW_UNLINK_LOG set, the path is also appended to that file (to show whether one was made). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int unlink(const char *path)
{
    static int (*real)(const char *);
    if (!real) real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    if (strstr(path, ".locktest.")) {
        const char *log = getenv("SLOW_UNLINK_LOG");
        FILE *f = log ? fopen(log, "a") : NULL;
        if (f) { fprintf(f, "%s\n", path); fclose(f); }
        sleep(3);
    }
    return real(path);
}
