"""``python -m brain.knowledge FOLDER [--state DIR] [--show]``: check a knowledge folder.

For streamers editing their knowledge base: prints what loads, what is skipped
and why, without touching any index. With ``--state`` it also shows what an
incremental ingest would change (the manifest is not saved).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from brain.knowledge.pipeline import IngestOptions, ingest, load_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brain.knowledge", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--state", type=Path, help="manifest directory: show the incremental plan")
    parser.add_argument("--show", action="store_true", help="print every chunk")
    parser.add_argument("--max-bytes", type=int, default=IngestOptions().max_bytes)
    args = parser.parse_args(argv)
    options = IngestOptions(max_bytes=args.max_bytes)
    if args.state:
        result = ingest(args.folder, args.state, options)
        chunks, report = result.chunks, result.report
        print(f"would upsert {len(result.upserts)} chunk(s), delete {len(result.deletes)}")
    else:
        chunks, report = load_folder(args.folder, options)
    print(report.summary())
    if args.show:
        for c in chunks:
            print(f"\n[{c.id}] ({c.lang}, {c.metadata.get('kind')}) {c.title}\n{c.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
