"""The grid runner: Sacred experiment, training loop, presets, executors, dataset generation, CLI."""
