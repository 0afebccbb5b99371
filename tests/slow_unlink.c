/* tests/slow_unlink.c: an LD_PRELOAD shim for tests/it_io.sh. unlink() of a path containing ".locktest."
 * (the file ROMIO, Open MPI's MPI-IO, creates and unlinks beside a file it opens, to test locking) waits
 * 3 s first, so that a signal reliably lands between that file's creation and its removal. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>
int unlink(const char *path)
{
    static int (*real)(const char *);
    if (!real) real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    if (strstr(path, ".locktest.")) sleep(3);
    return real(path);
}
