"""The statuses a run or a unit of a sweep ends with.

Sacred writes the first four into each run's run.json; SKIPPED is the worker's own, for a unit it
left to the process that already trains it. (analysis/ reads the same names from a store and keeps
its own copy: it may not import this layer.)
"""

COMPLETED = "COMPLETED"
FAILED = "FAILED"
INTERRUPTED = "INTERRUPTED"
RUNNING = "RUNNING"
SKIPPED = "SKIPPED"

FINISHED_WELL = (COMPLETED, SKIPPED)  # a sweep counts neither as a failure
ENDED_BADLY = (FAILED, INTERRUPTED)  # a run that stopped with a reason to report
