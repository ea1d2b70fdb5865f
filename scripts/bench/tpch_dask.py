"""The TPC-H queries as hand-written Dask DataFrame code, for scripts/bench/tpch.py.

Each QUERIES[n](tables) follows DuckDB's text of qNN (the data dir's queries/qNN.sql):
the same filters, joins and groups in Dask, computed to a pandas DataFrame whose columns
are the SQL's select list in order; the final ORDER BY/LIMIT runs on that small pandas
result. Where a correlated subquery has a plain equivalent it is written that way (a
per-key aggregate joined back, an EXISTS as a semi join, q21's two EXISTS as distinct
supplier counts per order). open_tables reads every table lazily with dd.read_parquet
(each query reads the files again), decimals as float64, dates as they come (pyarrow
date32, compared with datetime.date: a cast to datetime64 breaks Dask's filter pushdown).
A sum over no rows is NULL (None), as in SQL.
"""
import datetime
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pyarrow.parquet as pq
import pyarrow.types as pat

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]


def D(s: str) -> datetime.date:
    return datetime.date.fromisoformat(s)


def _sum(values):
    """SQL's sum: NULL (None) over no rows."""
    total, count = dd.compute(values.sum(), values.count())
    return total if count else None


def open_tables(data: Path) -> dict:
    tables = {}
    for name in TABLES:
        schema = pq.read_schema(sorted((data / name).glob("*.parquet"))[0])
        df = dd.read_parquet(str(data / name))
        casts = {}
        for field in schema:
            if pat.is_decimal(field.type):
                casts[field.name] = "float64"
        tables[name] = df.astype(casts) if casts else df
    return tables


def _done(df, columns, by=None, ascending=True, limit=None) -> pd.DataFrame:
    """Compute (if lazy), select the SQL's columns, then ORDER BY / LIMIT in pandas."""
    if hasattr(df, "compute"):
        df = df.compute()
    df = df.reset_index(drop=df.index.name is None and not isinstance(df.index, pd.MultiIndex))
    if by:
        df = df.sort_values(by, ascending=ascending, kind="stable")
    if limit:
        df = df.head(limit)
    return df[columns]


def q1(t):
    l = t["lineitem"]
    l = l[l.l_shipdate <= D("1998-09-02")]
    l = l.assign(disc_price=l.l_extendedprice * (1 - l.l_discount))
    l = l.assign(charge=l.disc_price * (1 + l.l_tax))
    g = l.groupby(["l_returnflag", "l_linestatus"]).agg(
        sum_qty=("l_quantity", "sum"), sum_base_price=("l_extendedprice", "sum"),
        sum_disc_price=("disc_price", "sum"), sum_charge=("charge", "sum"),
        avg_qty=("l_quantity", "mean"), avg_price=("l_extendedprice", "mean"),
        avg_disc=("l_discount", "mean"), count_order=("l_orderkey", "count"))
    return _done(g.reset_index(), ["l_returnflag", "l_linestatus", "sum_qty", "sum_base_price",
                                   "sum_disc_price", "sum_charge", "avg_qty", "avg_price",
                                   "avg_disc", "count_order"],
                 by=["l_returnflag", "l_linestatus"])


def q2(t):
    r, n, s, ps, p = t["region"], t["nation"], t["supplier"], t["partsupp"], t["part"]
    europe = (r[r.r_name == "EUROPE"]
              .merge(n, left_on="r_regionkey", right_on="n_regionkey")
              .merge(s, left_on="n_nationkey", right_on="s_nationkey")
              .merge(ps, left_on="s_suppkey", right_on="ps_suppkey"))
    brass = p[(p.p_size == 15) & p.p_type.str.endswith("BRASS")]
    j = brass.merge(europe, left_on="p_partkey", right_on="ps_partkey")
    # the subquery: the least supply cost of the part among European suppliers
    least = j.groupby("p_partkey").ps_supplycost.min().rename("least").reset_index()
    j = j.merge(least, on="p_partkey")
    j = j[j.ps_supplycost == j.least]
    return _done(j, ["s_acctbal", "s_name", "n_name", "p_partkey", "p_mfgr", "s_address",
                     "s_phone", "s_comment"],
                 by=["s_acctbal", "n_name", "s_name", "p_partkey"],
                 ascending=[False, True, True, True], limit=100)


def q3(t):
    c, o, l = t["customer"], t["orders"], t["lineitem"]
    c = c[c.c_mktsegment == "BUILDING"]
    o = o[o.o_orderdate < D("1995-03-15")]
    l = l[l.l_shipdate > D("1995-03-15")]
    j = (c.merge(o, left_on="c_custkey", right_on="o_custkey")
         .merge(l, left_on="o_orderkey", right_on="l_orderkey"))
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    g = j.groupby(["l_orderkey", "o_orderdate", "o_shippriority"]).revenue.sum().reset_index()
    return _done(g, ["l_orderkey", "revenue", "o_orderdate", "o_shippriority"],
                 by=["revenue", "o_orderdate"], ascending=[False, True], limit=10)


def q4(t):
    o, l = t["orders"], t["lineitem"]
    o = o[(o.o_orderdate >= D("1993-07-01")) & (o.o_orderdate < D("1993-10-01"))]
    late = l[l.l_commitdate < l.l_receiptdate][["l_orderkey"]].drop_duplicates()
    j = o.merge(late, left_on="o_orderkey", right_on="l_orderkey")  # EXISTS: a semi join
    g = j.groupby("o_orderpriority").o_orderkey.count().rename("order_count").reset_index()
    return _done(g, ["o_orderpriority", "order_count"], by=["o_orderpriority"])


def q5(t):
    r, n, c, o, l, s = (t[x] for x in ("region", "nation", "customer", "orders", "lineitem", "supplier"))
    o = o[(o.o_orderdate >= D("1994-01-01")) & (o.o_orderdate < D("1995-01-01"))]
    j = (r[r.r_name == "ASIA"]
         .merge(n, left_on="r_regionkey", right_on="n_regionkey")
         .merge(c, left_on="n_nationkey", right_on="c_nationkey")
         .merge(o, left_on="c_custkey", right_on="o_custkey")
         .merge(l, left_on="o_orderkey", right_on="l_orderkey")
         .merge(s, left_on=["l_suppkey", "c_nationkey"], right_on=["s_suppkey", "s_nationkey"]))
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    g = j.groupby("n_name").revenue.sum().reset_index()
    return _done(g, ["n_name", "revenue"], by=["revenue"], ascending=False)


def q6(t):
    l = t["lineitem"]
    l = l[(l.l_shipdate >= D("1994-01-01")) & (l.l_shipdate < D("1995-01-01"))
          & (l.l_discount >= 0.05) & (l.l_discount <= 0.07) & (l.l_quantity < 24)]
    return pd.DataFrame({"revenue": [_sum(l.l_extendedprice * l.l_discount)]})


def q7(t):
    s, l, o, c, n = t["supplier"], t["lineitem"], t["orders"], t["customer"], t["nation"]
    n = n[n.n_name.isin(["FRANCE", "GERMANY"])]
    sn = s.merge(n, left_on="s_nationkey", right_on="n_nationkey")[["s_suppkey", "n_name"]]
    cn = c.merge(n, left_on="c_nationkey", right_on="n_nationkey")[["c_custkey", "n_name"]]
    sn = sn.rename(columns={"n_name": "supp_nation"})
    cn = cn.rename(columns={"n_name": "cust_nation"})
    l = l[(l.l_shipdate >= D("1995-01-01")) & (l.l_shipdate <= D("1996-12-31"))]
    j = (l.merge(sn, left_on="l_suppkey", right_on="s_suppkey")
         .merge(o, left_on="l_orderkey", right_on="o_orderkey")
         .merge(cn, left_on="o_custkey", right_on="c_custkey"))
    j = j[((j.supp_nation == "FRANCE") & (j.cust_nation == "GERMANY"))
          | ((j.supp_nation == "GERMANY") & (j.cust_nation == "FRANCE"))]
    j = j.assign(l_year=j.l_shipdate.dt.year, volume=j.l_extendedprice * (1 - j.l_discount))
    g = j.groupby(["supp_nation", "cust_nation", "l_year"]).volume.sum().rename("revenue").reset_index()
    return _done(g, ["supp_nation", "cust_nation", "l_year", "revenue"],
                 by=["supp_nation", "cust_nation", "l_year"])


def q8(t):
    p, s, l, o, c, n, r = (t[x] for x in ("part", "supplier", "lineitem", "orders", "customer", "nation", "region"))
    p = p[p.p_type == "ECONOMY ANODIZED STEEL"]
    o = o[(o.o_orderdate >= D("1995-01-01")) & (o.o_orderdate <= D("1996-12-31"))]
    america = (r[r.r_name == "AMERICA"]
               .merge(n, left_on="r_regionkey", right_on="n_regionkey")
               .merge(c, left_on="n_nationkey", right_on="c_nationkey"))[["c_custkey"]]
    supp = s.merge(n, left_on="s_nationkey", right_on="n_nationkey")[["s_suppkey", "n_name"]]
    j = (l.merge(p, left_on="l_partkey", right_on="p_partkey")
         .merge(o, left_on="l_orderkey", right_on="o_orderkey")
         .merge(america, left_on="o_custkey", right_on="c_custkey")
         .merge(supp, left_on="l_suppkey", right_on="s_suppkey"))
    volume = j.l_extendedprice * (1 - j.l_discount)
    j = j.assign(o_year=j.o_orderdate.dt.year, volume=volume,
                 brazil=volume.where(j.n_name == "BRAZIL", 0.0))
    g = j.groupby("o_year")[["brazil", "volume"]].sum().reset_index()
    g = g.assign(mkt_share=g.brazil / g.volume)
    return _done(g, ["o_year", "mkt_share"], by=["o_year"])


def q9(t):
    p, s, l, ps, o, n = (t[x] for x in ("part", "supplier", "lineitem", "partsupp", "orders", "nation"))
    p = p[p.p_name.str.contains("green", regex=False)][["p_partkey"]]
    j = (l.merge(p, left_on="l_partkey", right_on="p_partkey")
         .merge(ps, left_on=["l_suppkey", "l_partkey"], right_on=["ps_suppkey", "ps_partkey"])
         .merge(s, left_on="l_suppkey", right_on="s_suppkey")
         .merge(n, left_on="s_nationkey", right_on="n_nationkey")
         .merge(o, left_on="l_orderkey", right_on="o_orderkey"))
    j = j.assign(nation=j.n_name, o_year=j.o_orderdate.dt.year,
                 amount=j.l_extendedprice * (1 - j.l_discount) - j.ps_supplycost * j.l_quantity)
    g = j.groupby(["nation", "o_year"]).amount.sum().rename("sum_profit").reset_index()
    return _done(g, ["nation", "o_year", "sum_profit"], by=["nation", "o_year"], ascending=[True, False])


def q10(t):
    c, o, l, n = t["customer"], t["orders"], t["lineitem"], t["nation"]
    o = o[(o.o_orderdate >= D("1993-10-01")) & (o.o_orderdate < D("1994-01-01"))]
    l = l[l.l_returnflag == "R"]
    j = o.merge(l, left_on="o_orderkey", right_on="l_orderkey")
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    g = j.groupby("o_custkey").revenue.sum().reset_index()
    # c_custkey is customer's key: grouping by it and the other customer columns is the same
    g = (g.merge(c, left_on="o_custkey", right_on="c_custkey")
         .merge(n, left_on="c_nationkey", right_on="n_nationkey"))
    return _done(g, ["c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address",
                     "c_phone", "c_comment"], by=["revenue"], ascending=False, limit=20)


def q11(t):
    ps, s, n = t["partsupp"], t["supplier"], t["nation"]
    j = (ps.merge(s, left_on="ps_suppkey", right_on="s_suppkey")
         .merge(n[n.n_name == "GERMANY"], left_on="s_nationkey", right_on="n_nationkey"))
    j = j.assign(value=j.ps_supplycost * j.ps_availqty)
    g = j.groupby("ps_partkey").value.sum()
    threshold = j.value.sum() * 0.0001
    g = g[g > threshold].reset_index()
    return _done(g, ["ps_partkey", "value"], by=["value"], ascending=False)


def q12(t):
    o, l = t["orders"], t["lineitem"]
    l = l[l.l_shipmode.isin(["MAIL", "SHIP"]) & (l.l_commitdate < l.l_receiptdate)
          & (l.l_shipdate < l.l_commitdate) & (l.l_receiptdate >= D("1994-01-01"))
          & (l.l_receiptdate < D("1995-01-01"))]
    j = o.merge(l, left_on="o_orderkey", right_on="l_orderkey")
    high = j.o_orderpriority.isin(["1-URGENT", "2-HIGH"])
    j = j.assign(high_line_count=high.astype("int64"), low_line_count=(~high).astype("int64"))
    g = j.groupby("l_shipmode")[["high_line_count", "low_line_count"]].sum().reset_index()
    return _done(g, ["l_shipmode", "high_line_count", "low_line_count"], by=["l_shipmode"])


def q13(t):
    c, o = t["customer"], t["orders"]
    o = o[~o.o_comment.str.contains("special.*requests", regex=True)]
    j = c[["c_custkey"]].merge(o[["o_custkey", "o_orderkey"]], left_on="c_custkey",
                               right_on="o_custkey", how="left")
    counts = j.groupby("c_custkey").o_orderkey.count().rename("c_count").reset_index()
    g = counts.groupby("c_count").c_custkey.count().rename("custdist").reset_index()
    return _done(g, ["c_count", "custdist"], by=["custdist", "c_count"], ascending=False)


def q14(t):
    l, p = t["lineitem"], t["part"]
    l = l[(l.l_shipdate >= D("1995-09-01")) & (l.l_shipdate < D("1995-10-01"))]
    j = l.merge(p, left_on="l_partkey", right_on="p_partkey")
    revenue = j.l_extendedprice * (1 - j.l_discount)
    promo = revenue.where(j.p_type.str.startswith("PROMO"), 0.0)
    promo, total, count = dd.compute(promo.sum(), revenue.sum(), revenue.count())
    return pd.DataFrame({"promo_revenue": [100.00 * promo / total if count and total else None]})


def q15(t):
    l, s = t["lineitem"], t["supplier"]
    l = l[(l.l_shipdate >= D("1996-01-01")) & (l.l_shipdate < D("1996-04-01"))]
    revenue = (l.assign(total_revenue=l.l_extendedprice * (1 - l.l_discount))
               .groupby("l_suppkey").total_revenue.sum().reset_index()).compute()
    best = revenue[revenue.total_revenue == revenue.total_revenue.max()]
    j = s.merge(best, left_on="s_suppkey", right_on="l_suppkey")
    return _done(j, ["s_suppkey", "s_name", "s_address", "s_phone", "total_revenue"], by=["s_suppkey"])


def q16(t):
    ps, p, s = t["partsupp"], t["part"], t["supplier"]
    complaints = s[s.s_comment.str.contains("Customer.*Complaints", regex=True)].s_suppkey.compute()
    p = p[(p.p_brand != "Brand#45") & ~p.p_type.str.startswith("MEDIUM POLISHED")
          & p.p_size.isin([49, 14, 23, 45, 19, 3, 36, 9])]
    ps = ps[~ps.ps_suppkey.isin(list(complaints))]
    j = ps.merge(p, left_on="ps_partkey", right_on="p_partkey")
    # count(DISTINCT ps_suppkey): distinct (group, supplier) pairs, then counted
    pairs = j[["p_brand", "p_type", "p_size", "ps_suppkey"]].drop_duplicates()
    g = pairs.groupby(["p_brand", "p_type", "p_size"]).ps_suppkey.count().rename("supplier_cnt").reset_index()
    return _done(g, ["p_brand", "p_type", "p_size", "supplier_cnt"],
                 by=["supplier_cnt", "p_brand", "p_type", "p_size"], ascending=[False, True, True, True])


def q17(t):
    l, p = t["lineitem"], t["part"]
    p = p[(p.p_brand == "Brand#23") & (p.p_container == "MED BOX")][["p_partkey"]]
    j = l.merge(p, left_on="l_partkey", right_on="p_partkey")
    # the subquery: 0.2 * the part's average quantity over all its lineitems (all are in j)
    limit = (j.groupby("l_partkey").l_quantity.mean() * 0.2).rename("limit").reset_index()
    j = j.merge(limit, on="l_partkey")
    total = _sum(j[j.l_quantity < j["limit"]].l_extendedprice)
    return pd.DataFrame({"avg_yearly": [None if total is None else total / 7.0]})


def q18(t):
    c, o, l = t["customer"], t["orders"], t["lineitem"]
    qty = l.groupby("l_orderkey").l_quantity.sum().rename("sum_qty").reset_index()
    big = qty[qty.sum_qty > 300]
    # the outer sum(l_quantity) per order is the subquery's own sum for that order
    j = (big.merge(o, left_on="l_orderkey", right_on="o_orderkey")
         .merge(c, left_on="o_custkey", right_on="c_custkey"))
    return _done(j, ["c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice", "sum_qty"],
                 by=["o_totalprice", "o_orderdate"], ascending=[False, True], limit=100)


def q19(t):
    l, p = t["lineitem"], t["part"]
    l = l[l.l_shipmode.isin(["AIR", "AIR REG"]) & (l.l_shipinstruct == "DELIVER IN PERSON")]
    p = p[p.p_brand.isin(["Brand#12", "Brand#23", "Brand#34"])]
    j = l.merge(p, left_on="l_partkey", right_on="p_partkey")
    one = ((j.p_brand == "Brand#12") & j.p_container.isin(["SM CASE", "SM BOX", "SM PACK", "SM PKG"])
           & (j.l_quantity >= 1) & (j.l_quantity <= 11) & (j.p_size >= 1) & (j.p_size <= 5))
    two = ((j.p_brand == "Brand#23") & j.p_container.isin(["MED BAG", "MED BOX", "MED PKG", "MED PACK"])
           & (j.l_quantity >= 10) & (j.l_quantity <= 20) & (j.p_size >= 1) & (j.p_size <= 10))
    three = ((j.p_brand == "Brand#34") & j.p_container.isin(["LG CASE", "LG BOX", "LG PACK", "LG PKG"])
             & (j.l_quantity >= 20) & (j.l_quantity <= 30) & (j.p_size >= 1) & (j.p_size <= 15))
    j = j[one | two | three]
    return pd.DataFrame({"revenue": [_sum(j.l_extendedprice * (1 - j.l_discount))]})


def q20(t):
    s, n, ps, p, l = t["supplier"], t["nation"], t["partsupp"], t["part"], t["lineitem"]
    p = p[p.p_name.str.startswith("forest")][["p_partkey"]]
    l = l[(l.l_shipdate >= D("1994-01-01")) & (l.l_shipdate < D("1995-01-01"))]
    # the subquery per (part, supplier); none shipped is a NULL sum, which no row passes
    half = (l.groupby(["l_partkey", "l_suppkey"]).l_quantity.sum() * 0.5).rename("half").reset_index()
    j = (ps.merge(p, left_on="ps_partkey", right_on="p_partkey")
         .merge(half, left_on=["ps_partkey", "ps_suppkey"], right_on=["l_partkey", "l_suppkey"]))
    keys = j[j.ps_availqty > j.half][["ps_suppkey"]].drop_duplicates()
    r = (s.merge(n[n.n_name == "CANADA"], left_on="s_nationkey", right_on="n_nationkey")
         .merge(keys, left_on="s_suppkey", right_on="ps_suppkey"))
    return _done(r, ["s_name", "s_address"], by=["s_name"])


def q21(t):
    s, l, o, n = t["supplier"], t["lineitem"], t["orders"], t["nation"]
    late = l[l.l_receiptdate > l.l_commitdate]
    # EXISTS another supplier in the order: the order has 2+ distinct suppliers;
    # NOT EXISTS another late supplier: the order's late lines all have l1's supplier
    suppliers = (l[["l_orderkey", "l_suppkey"]].drop_duplicates()
                 .groupby("l_orderkey").l_suppkey.count().rename("suppliers").reset_index())
    late_suppliers = (late[["l_orderkey", "l_suppkey"]].drop_duplicates()
                      .groupby("l_orderkey").l_suppkey.count().rename("late_suppliers").reset_index())
    keys = (suppliers[suppliers.suppliers > 1]
            .merge(late_suppliers[late_suppliers.late_suppliers == 1], on="l_orderkey"))[["l_orderkey"]]
    saudi = s.merge(n[n.n_name == "SAUDI ARABIA"], left_on="s_nationkey", right_on="n_nationkey")
    j = (late.merge(keys, on="l_orderkey")
         .merge(saudi, left_on="l_suppkey", right_on="s_suppkey")
         .merge(o[o.o_orderstatus == "F"], left_on="l_orderkey", right_on="o_orderkey"))
    g = j.groupby("s_name").l_orderkey.count().rename("numwait").reset_index()
    return _done(g, ["s_name", "numwait"], by=["numwait", "s_name"], ascending=[False, True], limit=100)


def q22(t):
    c, o = t["customer"], t["orders"]
    c = c.assign(cntrycode=c.c_phone.str.slice(0, 2))
    c = c[c.cntrycode.isin(["13", "31", "23", "29", "30", "18", "17"])]
    average = c[c.c_acctbal > 0.00].c_acctbal.mean()
    c = c[c.c_acctbal > average]
    # NOT EXISTS an order: an anti join on the customers that have orders
    buyers = o[["o_custkey"]].drop_duplicates()
    j = c.merge(buyers, left_on="c_custkey", right_on="o_custkey", how="left")
    j = j[j.o_custkey.isna()]
    g = j.groupby("cntrycode").agg(numcust=("c_custkey", "count"), totacctbal=("c_acctbal", "sum")).reset_index()
    return _done(g, ["cntrycode", "numcust", "totacctbal"], by=["cntrycode"])


QUERIES = {int(name[1:]): f for name, f in globals().items() if name[:1] == "q" and name[1:].isdigit()}
