/* bench/mpi_init.c: Open MPI's start-up and shut-down cost, the floor under every gravrd process.
 * Prints, from rank 0, the wall seconds of MPI_Init and of MPI_Finalize (slowest rank) as
 * "init_s X\nfinalize_s Y". Run as a singleton or under mpirun with the MCA settings to compare
 * (bench/suite.sh). With GR_NODELAY=1 it first sets TCP_NODELAY on its TCP sockets after MPI_Init, as gravrd's
 * main does (src/main.c: PMIx's loopback socket otherwise holds MPI_Finalize about 40 ms under mpirun). */
#define _DEFAULT_SOURCE
#include <mpi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void nodelay(void)
{
    for (int fd = 3; fd < 4096; fd++) {
        int type = 0, proto = 0, one = 1;
        socklen_t len = sizeof type, plen = sizeof proto;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM) continue;
        if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) || proto != IPPROTO_TCP) continue;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

int main(int argc, char **argv)
{
    double t0 = now();
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return 1;
    double init = now() - t0, slowest = 0;
    const char *nd = getenv("GR_NODELAY");
    if (nd && nd[0] == '1') nodelay();
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Reduce(&init, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    double t1 = now();
    MPI_Finalize();
    if (rank == 0) printf("init_s %.4f\nfinalize_s %.4f\n", slowest, now() - t1);
    return 0;
}
