"""Running the benchmark, in subpackages whose imports point one way.

    cli -> sweep, perf -> cell -> data -> training

`training` is the loop, `data` finds or generates a cell's real data (generation trains SAC with
the loop), `cell` is one Sacred run, `sweep` expands and runs a grid of cells, `perf` times the
updates, and `cli` is the `gapbench` command.
"""
