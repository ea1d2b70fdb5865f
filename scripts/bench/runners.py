#!/usr/bin/env python3
"""One benchmark run of one peer system (Dask, Spark, DuckDB, DataFusion) on one workload.

bench.py starts this file as a child process (so the whole process tree, including Dask
workers and the Spark JVM, is measured), one process per run. It prints exactly one line
starting with ``BENCH_RESULT `` followed by JSON: ``work_s`` (time spent on the workload
itself, after the engine/cluster is up) and workload-specific facts such as a checksum.
Outputs go to ``--out`` as ``*.parquet`` files; bench.py checks them against the DuckDB
answer afterwards.

Usage: runners.py --system dask --workload groupby --data DIR --out DIR [--partitions 4]
"""

from __future__ import annotations

import argparse
import glob
import json
import operator
import os
import sys
import time

WORKERS = 2
WORKER_MEMORY = "4GiB"  # matches the spindle spec: workers { instances: 2, memory: 4 GiB }
SPLIT_BYTES = 64 * 1024 * 1024  # matches split_size: 64 MiB

COLUMNS = ["user", "url", "status", "bytes", "ts"]

SQL_GROUPBY = (
    "SELECT user, sum(bytes) AS bytes, count(*) AS hits "
    "FROM clicks WHERE status = 200 GROUP BY user"
)
SQL_DISTINCT = "SELECT url, count(DISTINCT user) AS users FROM clicks GROUP BY url"
SQL_PARSE = "SELECT user, url, status, bytes, ts FROM clicks WHERE status = 200"


def inc(x):
    return x + 1


def csv_files(data):
    return sorted(glob.glob(os.path.join(data, "clicks", "*.csv")))


def jsonl_files(data):
    return sorted(glob.glob(os.path.join(data, "clicks_jsonl", "*.jsonl")))


def emit(**kw):
    print("BENCH_RESULT " + json.dumps(kw), flush=True)


# --------------------------------------------------------------------------- DuckDB
def run_duckdb(a):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {WORKERS}")
    con.execute("SET preserve_insertion_order = false")
    cols = "{'user': 'VARCHAR', 'url': 'VARCHAR', 'status': 'INTEGER', 'bytes': 'BIGINT', 'ts': 'BIGINT'}"
    t0 = time.perf_counter()
    if a.workload in ("groupby", "distinct_by_url"):
        src = f"read_csv({csv_files(a.data)!r}, header = true, delim = ',', columns = {cols})"
    else:
        src = f"read_json({jsonl_files(a.data)!r}, format = 'newline_delimited', columns = {cols})"
    sql = {"groupby": SQL_GROUPBY, "distinct_by_url": SQL_DISTINCT, "parse_write": SQL_PARSE}[a.workload]
    sql = sql.replace("FROM clicks", f"FROM {src}")
    out = os.path.join(a.out, "part-0.parquet")
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION snappy)")
    emit(work_s=time.perf_counter() - t0)


# ------------------------------------------------------------------------ DataFusion
def run_datafusion(a):
    import pyarrow as pa
    from datafusion import SessionConfig, SessionContext

    ctx = SessionContext(SessionConfig().with_target_partitions(WORKERS))
    schema = pa.schema(
        [("user", pa.string()), ("url", pa.string()), ("status", pa.int32()),
         ("bytes", pa.int64()), ("ts", pa.int64())]
    )
    t0 = time.perf_counter()
    if a.workload in ("groupby", "distinct_by_url"):
        ctx.register_csv("clicks", os.path.join(a.data, "clicks") + "/", schema=schema,
                         has_header=True, file_extension=".csv")
    else:
        ctx.register_json("clicks", os.path.join(a.data, "clicks_jsonl") + "/", schema=schema,
                          file_extension=".jsonl")
    sql = {"groupby": SQL_GROUPBY, "distinct_by_url": SQL_DISTINCT, "parse_write": SQL_PARSE}[a.workload]
    ctx.sql(sql).write_parquet(a.out, compression="snappy")
    emit(work_s=time.perf_counter() - t0)


# ----------------------------------------------------------------------------- Dask
def dask_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit=WORKER_MEMORY,
    )
    return cluster, Client(cluster)


def run_dask(a):
    cluster, client = dask_client()
    try:
        if a.workload == "tasks_map":
            t0 = time.perf_counter()
            futs = client.map(inc, range(a.tasks))
            res = client.gather(futs)
            work = time.perf_counter() - t0
            emit(work_s=work, tasks=len(res), checksum=sum(res))
            return
        if a.workload == "tasks_tree":
            t0 = time.perf_counter()
            level = client.map(inc, range(a.tasks))  # the leaves
            ntasks = len(level)
            while len(level) > 1:
                nxt = client.map(operator.add, level[0:-1:2], level[1::2])
                ntasks += len(nxt)
                if len(level) % 2:
                    nxt.append(level[-1])
                level = nxt
            total = level[0].result()
            work = time.perf_counter() - t0
            emit(work_s=work, tasks=ntasks, checksum=total)
            return

        import dask.dataframe as dd
        import pandas as pd

        dtypes = {"user": "string", "url": "string", "status": "int32", "bytes": "int64", "ts": "int64"}
        t0 = time.perf_counter()
        if a.workload == "groupby":
            df = dd.read_csv(csv_files(a.data), dtype=dtypes, blocksize=SPLIT_BYTES)
            df = df[df.status == 200][["user", "bytes"]]
            res = df.groupby("user").bytes.agg(["sum", "count"]).reset_index()
            res = res.rename(columns={"sum": "bytes", "count": "hits"})
            res.to_parquet(a.out, write_index=False, compression="snappy")
        elif a.workload == "distinct_by_url":
            df = dd.read_csv(csv_files(a.data), dtype=dtypes, blocksize=SPLIT_BYTES,
                             usecols=["user", "url"])
            df = df.shuffle(on="url", npartitions=a.partitions)

            def per_part(p: pd.DataFrame) -> pd.DataFrame:
                r = p.groupby("url", sort=False).user.nunique()
                return pd.DataFrame({"url": r.index.astype("string"), "users": r.values.astype("int64")})

            meta = pd.DataFrame({"url": pd.Series([], dtype="string"), "users": pd.Series([], dtype="int64")})
            res = df.map_partitions(per_part, meta=meta)
            res.to_parquet(a.out, write_index=False, compression="snappy")
        elif a.workload == "parse_write":
            df = dd.read_json(jsonl_files(a.data), lines=True, orient="records",
                              blocksize=SPLIT_BYTES, dtype=dtypes)
            df = df[df.status == 200][COLUMNS]
            df.to_parquet(a.out, write_index=False, compression="snappy")
        else:
            raise SystemExit(f"dask: unknown workload {a.workload}")
        emit(work_s=time.perf_counter() - t0)
    finally:
        client.close()
        cluster.close()


# ---------------------------------------------------------------------------- Spark
def run_spark(a):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

    spark = (
        SparkSession.builder.master(f"local[{WORKERS}]")
        .appName(f"spindle-bench-{a.workload}")
        .config("spark.driver.memory", "4g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(a.partitions))
        .config("spark.sql.files.maxPartitionBytes", str(SPLIT_BYTES))
        .config("spark.sql.parquet.compression.codec", "snappy")
        .config("spark.local.dir", os.path.join(a.out, "..", "spark-tmp"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    schema = StructType(
        [StructField("user", StringType()), StructField("url", StringType()),
         StructField("status", IntegerType()), StructField("bytes", LongType()),
         StructField("ts", LongType())]
    )
    try:
        t0 = time.perf_counter()
        if a.workload == "groupby":
            df = spark.read.schema(schema).option("header", True).csv(csv_files(a.data))
            res = (df.filter(F.col("status") == 200).groupBy("user")
                   .agg(F.sum("bytes").alias("bytes"), F.count(F.lit(1)).alias("hits")))
        elif a.workload == "distinct_by_url":
            df = spark.read.schema(schema).option("header", True).csv(csv_files(a.data))
            res = (df.select("user", "url").repartition(a.partitions, "url")
                   .groupBy("url").agg(F.countDistinct("user").alias("users")))
        elif a.workload == "parse_write":
            df = spark.read.schema(schema).json(jsonl_files(a.data))
            res = df.filter(F.col("status") == 200).select(*COLUMNS)
        else:
            raise SystemExit(f"spark: unknown workload {a.workload}")
        res.write.mode("overwrite").parquet(a.out)
        emit(work_s=time.perf_counter() - t0)
    finally:
        spark.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--system", required=True, choices=["duckdb", "datafusion", "dask", "spark"])
    p.add_argument("--workload", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--tasks", type=int, default=100_000)
    a = p.parse_args()
    {"duckdb": run_duckdb, "datafusion": run_datafusion, "dask": run_dask, "spark": run_spark}[a.system](a)


if __name__ == "__main__":
    main()
