"""gapbench: RL benchmarks across a sim-to-real dynamics gap. The layers are its subpackages."""
