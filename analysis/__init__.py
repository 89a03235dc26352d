"""Reads a results store (Sacred FileStorage folders or MongoDB) into tables, plots and statistics.

It never imports `algos` or `benchmark`: it must work on a store copied from another machine.
"""
