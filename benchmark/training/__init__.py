"""The training loop: sim rollouts, batches, `update`, real-env evaluation, checkpoints."""
