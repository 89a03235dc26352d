"""What the analysis layer raises and warns.

`benchmark.errors.UserError` lives in a layer that analysis may not import, so the CLI handlers
here turn `AnalysisError` into the same one-line `gapbench: error: ...` themselves.
"""


class AnalysisError(ValueError):
    """Input a user can fix (a missing store, an unknown metric); the message is one line."""


class StoreWarning(UserWarning):
    """Something in the store was skipped or not counted: a broken folder, a duplicate, a failed run.

    A category of its own so that callers (the CLI, tests) can collect exactly these.
    """
