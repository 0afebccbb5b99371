/* tests/mpi_cmocka.h: the MPI frame of the cmocka unit tests (tests/test_*.c). Every rank runs the same
 * tests (rank sweeps inside a test use MPI_Comm_split); rank 0 writes the TAP stream, the other ranks report
 * in SUBUNIT with stdout discarded, and the exit status is the worst over the ranks. Use:
 *     int main(int argc, char **argv) {
 *         gr_test_mpi_init(&argc, &argv, &rank, &nranks);
 *         const struct CMUnitTest tests[] = {...};
 *         return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
 *     }
 */
#ifndef GR_TESTS_MPI_CMOCKA_H
#define GR_TESTS_MPI_CMOCKA_H
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

/* MPI_Init; *rank and *nranks (either may be NULL) of MPI_COMM_WORLD; quiet ranks other than 0. */
static inline void gr_test_mpi_init(int *argc, char ***argv, int *rank, int *nranks)
{
    int r, n;
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    if (rank) *rank = r;
    if (nranks) *nranks = n;
    if (r != 0) {
        setenv("CMOCKA_MESSAGE_OUTPUT", "SUBUNIT", 1);
        if (!freopen("/dev/null", "w", stdout)) perror("tests: /dev/null");
    }
}

/* Collective. The exit status of the test program: 1 if any rank had a failed test, else 0; MPI_Finalize. */
static inline int gr_test_mpi_finish(int failed)
{
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed ? 1 : 0;
}
#endif
