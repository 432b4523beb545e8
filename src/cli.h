/* The client commands of `sluice` (cli.c). */
#ifndef SL_CLI_H
#define SL_CLI_H

int sl_cli_invoke(int argc, char **argv);
int sl_cli_logs(int argc, char **argv);
/* `sluice parquet write|read` (cli_parquet.c). */
int sl_cli_parquet(int argc, char **argv);

#endif
