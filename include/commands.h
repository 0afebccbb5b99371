/* commands.h: the subcommands of bin/gravrd. Each takes argc/argv starting at the subcommand name,
 * runs collectively on comm, prints its own errors via gr_report and returns the exit status. */
#ifndef GR_COMMANDS_H
#define GR_COMMANDS_H
#include "gr.h"
int cmd_simulate(int argc, char **argv, MPI_Comm comm);
int cmd_import(int argc, char **argv, MPI_Comm comm);
int cmd_check(int argc, char **argv, MPI_Comm comm);
int cmd_estimate(int argc, char **argv, MPI_Comm comm);
int cmd_segments(int argc, char **argv, MPI_Comm comm);
int cmd_rd(int argc, char **argv, MPI_Comm comm);
int cmd_dump(int argc, char **argv, MPI_Comm comm);
int cmd_design(int argc, char **argv, MPI_Comm comm);
int cmd_match(int argc, char **argv, MPI_Comm comm);
int cmd_balance(int argc, char **argv, MPI_Comm comm);
int cmd_rdgrid(int argc, char **argv, MPI_Comm comm);
int cmd_grid(int argc, char **argv, MPI_Comm comm);
int cmd_table(int argc, char **argv, MPI_Comm comm);
int cmd_plot(int argc, char **argv, MPI_Comm comm);
int cmd_diag(int argc, char **argv, MPI_Comm comm);
int cmd_anova(int argc, char **argv, MPI_Comm comm);
int cmd_summary(int argc, char **argv, MPI_Comm comm);
int cmd_mediate(int argc, char **argv, MPI_Comm comm);
#endif
