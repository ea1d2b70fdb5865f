#!/usr/bin/env python3
"""Deterministic click logs (user,url,status,bytes,ts) for examples, tests and benchmarks.

usage: gen_clicks.py OUT_DIR --files N --rows-per-file R [--format csv|jsonl] [--seed S]
"""
import argparse
import json
import os
import random


def rows(rng, n, users, urls):
    statuses = [200] * 17 + [301, 404, 500]
    for i in range(n):
        yield (
            f"u{rng.randrange(users)}",
            f"/p/{rng.randrange(urls)}",
            rng.choice(statuses),
            rng.randrange(100, 50_000),
            1_790_000_000 + i,
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--rows-per-file", type=int, default=2000)
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--urls", type=int, default=5000)
    ap.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    for f in range(a.files):
        path = os.path.join(a.out, f"part-{f:03d}.{a.format}")
        with open(path, "w", newline="") as out:
            if a.format == "csv":
                out.write("user,url,status,bytes,ts\n")
            for user, url, status, nbytes, ts in rows(rng, a.rows_per_file, a.users, a.urls):
                if a.format == "csv":
                    out.write(f"{user},{url},{status},{nbytes},{ts}\n")
                else:
                    out.write(json.dumps({"user": user, "url": url, "status": status,
                                          "bytes": nbytes, "ts": ts}) + "\n")


if __name__ == "__main__":
    main()
