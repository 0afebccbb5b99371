/* bench/mpi_init.c: Open MPI's start-up and shut-down cost, the floor under every gravrd process.
 * Prints, from rank 0, the wall seconds of MPI_Init and of MPI_Finalize (slowest rank) as
 * "init_s X\nfinalize_s Y". Run as a singleton or under mpirun with the MCA settings to compare
 * (bench/startup.sh). */
#include <mpi.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv)
{
    double t0 = now();
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return 1;
    double init = now() - t0, slowest = 0;
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Reduce(&init, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    double t1 = now();
    MPI_Finalize();
    if (rank == 0) printf("init_s %.4f\nfinalize_s %.4f\n", slowest, now() - t1);
    return 0;
}
