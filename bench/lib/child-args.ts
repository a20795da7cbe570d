// The node flags a bench gives the processes it starts: its own, and those of the environment
// variable STRATADB_BENCH_CHILD_ARGS (for example "--cpu-prof --cpu-prof-dir=/tmp/prof", to
// profile a workload as the bench runs it; NODE_OPTIONS refuses --cpu-prof).

export function childExecArgv(): string[] {
  return [...process.execArgv, ...(process.env.STRATADB_BENCH_CHILD_ARGS?.split(' ').filter((a) => a !== '') ?? [])];
}
