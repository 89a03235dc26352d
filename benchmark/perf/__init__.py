"""Speed tooling: `gapbench perf`, its plain one-seed reference, and the bf16 precision check."""
