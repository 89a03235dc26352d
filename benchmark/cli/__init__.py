"""The `gapbench` command and one module per subcommand."""
