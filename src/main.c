/* main.c: MPI start-up and dispatch to the subcommands (commands.h). */
#include "commands.h"
#include <malloc.h>
#include <stdio.h>
#include <string.h>

/* weak so that a tree in the middle of development still links; every command exists in a release */
#pragma weak cmd_simulate
#pragma weak cmd_import
#pragma weak cmd_check
#pragma weak cmd_dump
#pragma weak cmd_estimate
#pragma weak cmd_segments
#pragma weak cmd_rd
#pragma weak cmd_design
#pragma weak cmd_match
#pragma weak cmd_balance
#pragma weak cmd_rdgrid

typedef int (*cmd_fn)(int, char **, MPI_Comm);
static const struct { const char *name; cmd_fn fn; const char *help; } commands[] = {
    {"simulate", cmd_simulate, "write the default simulated panel (or a scaled one)"},
    {"import", cmd_import, "turn a long CSV into a panel file"},
    {"check", cmd_check, "validate a panel file"},
    {"dump", cmd_dump, "print columns of a panel file as CSV"},
    {"estimate", cmd_estimate, "fixed-effects OLS with clustered inference"},
    {"segments", cmd_segments, "spatial segments per bandwidth (complete linkage within provinces)"},
    {"design", cmd_design, "spatial-RD design columns: treated pairs per segment pair, same-attribute controls"},
    {"balance", cmd_balance, "balance of pair observables on the partnership flag, by bandwidth"},
    {"match", cmd_match, "spatial matching: treated pairs and nearby control pairs, estimated"},
    {"rdgrid", cmd_rdgrid, "regular RD on city pairs over a grid of bandwidths"},
    {"rd", cmd_rd, "local-linear regression discontinuity on any data set"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: gravrd [--version] [--help] <command> [options]\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'gravrd <command> --help' describes each. Run under 'mpirun -n P' for P ranks.\n");
}

int main(int argc, char **argv)
{
    /* keep freed memory for reuse instead of returning it to the kernel: the estimator allocates and
     * frees row-sized arrays in turn, and fresh pages cost a zeroing page fault each */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  /* glibc's largest accepted value */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "gravrd: error: MPI_Init failed\n");
        return 1;
    }
    size_t len = 0;
    for (int i = 0; i < argc && len + 2 < sizeof gr_command_line; i++)
        len += snprintf(gr_command_line + len, sizeof gr_command_line - len, "%s%s", i ? " " : "", argv[i]);
    int rank, rc = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (rank == 0) usage(argc < 2 ? stderr : stdout);
        rc = argc < 2 ? 2 : 0;
    } else if (!strcmp(argv[1], "--version")) {
        if (rank == 0) printf("gravrd %s (%s)\n", GR_VERSION, GR_GIT_HASH);
    } else {
        int found = 0;
        for (int i = 0; i < NCOMMANDS; i++) {
            if (strcmp(argv[1], commands[i].name)) continue;
            found = 1;
            if (!commands[i].fn) {
                if (rank == 0) fprintf(stderr, "gravrd: error: command '%s' is not built in this version\n", argv[1]);
                rc = 2;
            } else {
                rc = commands[i].fn(argc - 1, argv + 1, MPI_COMM_WORLD);
            }
        }
        if (!found) {
            if (rank == 0) fprintf(stderr, "gravrd: error: unknown command '%s' (see 'gravrd --help')\n", argv[1]);
            rc = 2;
        }
    }
    /* every rank reaches here with the same collective agreement on rc in well-formed commands */
    MPI_Finalize();
    return rc;
}
