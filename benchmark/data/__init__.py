"""The real data of a cell: a D4RL file if the user has one, else a generated D4RL-style dataset."""
