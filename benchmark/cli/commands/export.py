"""`gapbench export`: a results store as it can be committed, with no absolute path or host name."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    parser = sub.add_parser("export", help="make a results store portable: no absolute path, no host name",
                            description="Rewrite the ended runs of a results store (COMPLETED, FAILED, "
                            "INTERRUPTED) without the local folders and the host name that Sacred records, so "
                            "the store can be committed and read on another machine. `run` resumes from an "
                            "export (unfinished runs from their checkpoints, which the export carries), and "
                            "`status`, `tables` and `plots` read it, as they do the original.")
    parser.add_argument("results", type=Path, help="the results store (the folder holding runs/)")
    parser.add_argument("--to", type=Path, metavar="DEST",
                        help="write the export into this new folder (default: rewrite the store in place)")
    parser.set_defaults(handler=export)


def export(args) -> int:
    from gapbench.benchmark.sweep.export import export as export_store

    summary = export_store(args.results, args.to)
    where = args.to or args.results
    left = ", ".join(f"{n} {status}" for status, n in sorted(summary.skipped.items()))
    print(f"{where / 'runs'}: {summary.exported} ended runs written portably"
          + (f"; left out (not ended): {left}" if left else ""))
    if summary.checkpoints:
        print(f"{where / 'checkpoints'}: {summary.checkpoints} unfinished runs' checkpoints, "
              "which `gapbench run` on this store resumes from")
    return 0
