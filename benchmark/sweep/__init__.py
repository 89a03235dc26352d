"""A sweep: the grid and its presets, the runner, the executors and their worker, progress."""
