#!/usr/bin/env python3
"""Trim botocore's KMS service model to what request validation needs.

Writes shared/model/kms-input-shapes.json: every operation's input shape name and,
for every shape reachable from an input, its type and constraints (required, min, max,
enum, pattern, sensitive, and members as [name, shape] pairs in model order, since
validation errors list violations in that order, or list member / map key and value).
Documentation is dropped.
Run again after a botocore upgrade: python3 shared/model/trim.py
"""
import gzip
import json
import os
import sys

import botocore

SRC = os.path.join(os.path.dirname(botocore.__file__), "data", "kms", "2014-11-01", "service-2.json.gz")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kms-input-shapes.json")
KEEP = ("type", "required", "min", "max", "enum", "pattern", "sensitive")


def main() -> int:
    model = json.load(gzip.open(SRC))
    shapes = model["shapes"]
    out_shapes, ops = {}, {}

    def visit(name):
        if name in out_shapes:
            return
        src = shapes[name]
        dst = {k: src[k] for k in KEEP if k in src}
        out_shapes[name] = dst
        if src["type"] == "structure":
            dst["members"] = [[m, v["shape"]] for m, v in src["members"].items()]
            for v in src["members"].values():
                visit(v["shape"])
        elif src["type"] == "list":
            dst["member"] = src["member"]["shape"]
            visit(dst["member"])
        elif src["type"] == "map":
            dst["key"], dst["value"] = src["key"]["shape"], src["value"]["shape"]
            visit(dst["key"])
            visit(dst["value"])

    for op, spec in sorted(model["operations"].items()):
        ops[op] = spec["input"]["shape"] if "input" in spec else None
        if ops[op]:
            visit(ops[op])
    doc = {
        "source": f"botocore {botocore.__version__} kms/2014-11-01/service-2.json",
        "operations": ops,
        "shapes": dict(sorted(out_shapes.items())),
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"wrote {OUT}: {len(ops)} operations, {len(out_shapes)} shapes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
