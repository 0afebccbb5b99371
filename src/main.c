/* main.c: MPI start-up and dispatch to the subcommands (commands.h). */
#define _DEFAULT_SOURCE /* SO_PROTOCOL */
#include "cleanup.h"
#include "commands.h"
#include "opts.h"
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

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
#pragma weak cmd_grid

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
    {"grid", cmd_grid, "a grid of specifications from one YAML config: check it, list its ids (--dry-run)"},
    {"summary", cmd_summary, "summary statistics (N, mean, SD, min, quartiles, max), exact over ranks, by rows or pairs"},
    {"table", cmd_table, "regression tables (md, tex, csv) from a grid's results, laid out by the config's table: section"},
    {"plot", cmd_plot, "SVG pictures of a grid's results: coefficient by bandwidth, specification curve"},
    {"diag", cmd_diag, "correlations, OLS with VIFs, ridge regression and its trace on a CSV or panel columns"},
    {"mediate", cmd_mediate, "the mediation test: a coefficient without and with mediators, its change and clustered SE"},
    {"anova", cmd_anova, "one-way ANOVA tables with group means and counts on a CSV or panel columns"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

/* The top level's help: the commands and what each does, from the table above. */
typedef struct { const char *command; } top_opts;

static void top_level(gr_opts_cmd *cmd, char *about, size_t len)
{
    static const gr_opt table[] = {
        {.name = "command", .kind = GR_OPT_ARG, GR_OPT_AT(top_opts, command), .metavar = "<command>",
         .help = "one of the commands above, then its own options", .flags = GR_OPT_REQUIRED},
        {0}};
    size_t n = (size_t)snprintf(about, len, "commands:\n");
    for (int i = 0; i < NCOMMANDS && n < len; i++)
        n += (size_t)snprintf(about + n, len - n, "  %-10s %s\n", commands[i].name, commands[i].help);
    *cmd = (gr_opts_cmd){NULL, about, table,
                         "'gravrd <command> --help' describes each. Run under 'mpirun -n P' for P ranks.", 1};
}

/* Run the command named argv[0] with its arguments; 2 for an unknown one. */
static int dispatch(int argc, char **argv, int rank)
{
    for (int i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[0], commands[i].name)) continue;
        if (commands[i].fn) return commands[i].fn(argc, argv, MPI_COMM_WORLD);
        if (rank == 0) fprintf(stderr, "gravrd: error: command '%s' is not built in this version\n", argv[0]);
        return 2;
    }
    gr_fail(GR_EUSAGE, NULL, "unknown command '%s' (see 'gravrd --help')", argv[0]);
    return rank == 0 ? gr_report(GR_EUSAGE) : 2;
}

/* An isolated singleton (OMPI_MCA_ess_singleton_isolated=1 and no mpirun: local 1-rank runs, docs/scale.md
 * "Start-up") talks to no other process, so hwloc's discovery of I/O devices (a read of every PCI device's
 * configuration in sysfs, the OpenCL and X11 plugins), which only places network transports near their
 * devices, is skipped: about 7 ms of CPU at every start. A HWLOC_COMPONENTS of the user's wins. */
static void lean_singleton_topology(void)
{
    const char *isolated = getenv("OMPI_MCA_ess_singleton_isolated");
    if (isolated && !strcmp(isolated, "1") && !getenv("OMPI_COMM_WORLD_SIZE") && !getenv("HWLOC_COMPONENTS"))
        setenv("HWLOC_COMPONENTS", "-pci,-linuxio,-gl,-opencl", 0);
}

/* Open MPI's MPI-IO (OMPIO) tries its sharedfp/lockedfile component at every file open: it creates and
 * removes <file>.locktest.<rank> beside the file, naming it in a 256-byte buffer (a longer name aborts the
 * process with a buffer overflow, the temporary left behind), and a signal between the two left that file.
 * Shared file pointers are never used here (nor by HDF5), and OMPIO opens a file without a sharedfp module
 * as long as no shared-pointer call follows, so that component is excluded. An OMPI_MCA_sharedfp of the
 * user's wins; the panel writer then registers the lock-test file for removal too (panel.c). */
static void no_lockedfile_probe(void)
{
    setenv("OMPI_MCA_sharedfp", "^lockedfile", 0);
}

/* Under mpirun each rank talks to its local PMIx server (inside mpirun or orted) over TCP on the loopback,
 * and PMIx sets no TCP_NODELAY: in MPI_Finalize the rank sends a few small messages in a row, Nagle holds
 * the second until the first is acknowledged and the server delays that acknowledgement 40 ms (Linux's
 * minimum), so every multi-rank process spent about 45 ms in MPI_Finalize (2-3 ms with this; docs/scale.md
 * "Start-up"). The sockets are the runtime's; the option only stops small writes waiting, it changes no
 * byte. Every TCP stream socket the process holds after MPI_Init gets it; none in an isolated singleton. */
static void runtime_sockets_nodelay(void)
{
    struct rlimit lim;
    int top = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 4096 ? (int)lim.rlim_cur : 4096;
    for (int fd = 3; fd < top; fd++) {
        int type = 0, proto = 0, one = 1;
        socklen_t len = sizeof type, plen = sizeof proto;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM) continue;
        if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) || proto != IPPROTO_TCP) continue;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  /* a refusal only keeps the wait */
    }
}

int main(int argc, char **argv)
{
    lean_singleton_topology();
    no_lockedfile_probe();
    /* keep freed memory for reuse instead of returning it to the kernel: the estimator allocates and
     * frees row-sized arrays in turn, and fresh pages cost a zeroing page fault each (2.8 GB/s on the
     * project's VMs: docs/scale.md). glibc serves a block above its mmap threshold (at most 32 MiB) with a
     * mapping of its own and unmaps it when freed, so every row-sized array of a large panel was fresh
     * memory again; with no such mappings all blocks come from the heap, whose freed space is reused
     * (the heap still falls back to mappings if it cannot grow). */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "gravrd: error: MPI_Init failed\n");
        return 1;
    }
    runtime_sockets_nodelay();
    gr_opts_set_command_line(argc, argv);
    int rank, rc = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    gr_cleanup_init(rank);  /* SIGTERM / SIGINT / SIGHUP remove the temporary files of any writer */
    char about[2048];
    gr_opts_cmd top;
    gr_opts s;
    top_opts o;
    top_level(&top, about, sizeof about);
    int st = gr_opts_parse(&s, &top, &o, argc, argv, rank);
    if (st == GR_OPTS_EXIT) {
        rc = 0;
    } else if (st != GR_OK) {
        rc = rank == 0 ? gr_report(st) : 2;
    } else if (s.next >= argc) {
        if (rank == 0) gr_opts_help(&top, stderr);  /* no command: the help, as a usage error */
        rc = 2;
    } else {
        rc = dispatch(argc - s.next, argv + s.next, rank);
    }
    gr_opts_free(&s);
    /* every rank reaches here with the same collective agreement on rc in well-formed commands; what a
     * successful command printed must have reached standard output (a full disk, /dev/full) */
    int out = gr_agree(MPI_COMM_WORLD, rc == 0 ? gr_stdout_check() : GR_OK);
    if (out != GR_OK && rc == 0) rc = gr_report(out);
    gr_cleanup_end();  /* mpirun may stop this rank while it finalizes when another exits non-zero */
    MPI_Finalize();
    return rc;
}
