"""A hook program for the tests: records what it received, then exits with the asked code.

usage: python hook_recorder.py OUT_DIR EXIT_CODE [ARGS...]
Writes OUT_DIR/<n>.json with its arguments, stdin and OTEL_ML_* environment. It never runs any
of its inputs: tests check that hostile label values arrive here as plain data.
"""

import json
import os
import sys
import uuid


def main() -> int:
    out_dir, code, *args = sys.argv[1:]
    stdin = sys.stdin.read()
    record = {
        "args": args,
        "stdin": json.loads(stdin) if stdin else None,
        "env": {k: v for k, v in os.environ.items() if k.startswith("OTEL_ML_")},
        "pid": os.getpid(),
    }
    tmp = os.path.join(out_dir, f".{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f)
    os.replace(tmp, os.path.join(out_dir, f"{uuid.uuid4().hex}.json"))
    print(f"recorded {len(args)} args")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
