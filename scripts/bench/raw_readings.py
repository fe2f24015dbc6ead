#!/usr/bin/env python3
"""The raw baseline for bulk ingest: the same meter-reading rows Motorpool's
telemetry path writes, inserted into the same indexed table with no
application in between.

    python3 scripts/bench/raw_readings.py sqlite 500000          # the sqlite3 shell
    python3 scripts/bench/raw_readings.py sqlite-python 500000   # Python executemany
    python3 scripts/bench/raw_readings.py postgres 500000 [postgres://postgres@127.0.0.1/postgres]

SQLite: the sqlite3 shell running multi-row INSERTs in one transaction (WAL,
synchronous=NORMAL, foreign keys on, as Motorpool opens it); `sqlite-python`
does the same with Python's `executemany`. PostgreSQL: `\\copy` of a CSV into a scratch
database, as the owner (COPY is refused under row-level security for the app
role). Table and indexes are those of crates/store/migrations/*/0002_meters.sql,
less any index a later migration drops.
Prints one JSON line: rows, seconds, rows per second. ORDER=time (environment)
writes the rows time by time across the vehicles, as a live feed arrives
(`bench generate --order time`), instead of vehicle by vehicle; VEHICLES=N
spreads them over N vehicles (default 1,000).
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def schema(backend):
    sql = open(os.path.join(ROOT, f"crates/store/migrations/{backend}/0002_meters.sql")).read()
    table = re.search(r"CREATE TABLE meter_readings \(.*?\n\);", sql, re.S).group(0)
    indexes = re.findall(r"CREATE (?:UNIQUE )?INDEX meter_readings_\w+ ON meter_readings[^;]*;", sql)
    # A later migration may drop one (SQLite's 25 drops the timeline index):
    # the baseline keeps the table Motorpool has at the latest migration.
    dropped = set()
    folder = os.path.join(ROOT, f"crates/store/migrations/{backend}")
    for name in sorted(os.listdir(folder)):
        if name[:4] > "0002":
            later = open(os.path.join(folder, name)).read()
            dropped.update(re.findall(r"^DROP INDEX (?:IF EXISTS )?(meter_readings_\w+)", later, re.M))
    indexes = [ix for ix in indexes if re.search(r"INDEX (\w+)", ix).group(1) not in dropped]
    return table, indexes


def rows(n, vehicles=int(os.environ.get("VEHICLES", "1000"))):
    tenant = uuid.UUID(int=1)
    ids = [uuid.UUID(int=1000 + v) for v in range(vehicles)]
    base = 1_700_000_000
    per_vehicle = -(-n // vehicles)
    time_order = os.environ.get("ORDER", "vehicle") == "time"
    for i in range(n):
        if time_order:
            # Time by time, every vehicle's reading of a time together: the
            # order `bench generate --order time` (a live feed) writes.
            v, day = i % vehicles, i // vehicles
        else:
            # Vehicle by vehicle, each in time order: `bench generate`'s default.
            v, day = i // per_vehicle, i % per_vehicle
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + day * 86400 + 43200))
        km = 50_000.0 + day * 300.0 + v
        # Time-ordered ids, like Motorpool's UUIDv7: appends to the primary key.
        yield tenant, uuid.UUID(int=((i + 1) << 64) | (v << 16)), ids[v], at, km


def sqlite_run(n):
    table, indexes = schema("sqlite")
    path = tempfile.mktemp(suffix=".db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("CREATE TABLE vehicles (tenant_id BLOB NOT NULL, id BLOB NOT NULL, PRIMARY KEY (tenant_id, id))")
    db.execute(table)
    for ix in indexes:
        db.execute(ix)
    data = [
        (t.bytes, r.bytes, v.bytes, "odometer", at.replace("T", " ").replace("Z", " +00:00"), km, "km", km,
         "telematics", None, 0, None, at)
        for t, r, v, at, km in rows(n)
    ]
    db.executemany("INSERT INTO vehicles VALUES (?, ?)", {(d[0], d[2]) for d in data})
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO meter_readings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", data)
    db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    os.remove(path)
    return seconds


def sqlite_cli_run(n):
    """The sqlite3 shell (C, no Python in the loop) running multi-row INSERTs
    of 500 rows in one transaction, from a prepared SQL file."""
    table, indexes = schema("sqlite")
    path = tempfile.mktemp(suffix=".db")
    setup = ["PRAGMA journal_mode=WAL;",
             "CREATE TABLE vehicles (tenant_id BLOB NOT NULL, id BLOB NOT NULL, PRIMARY KEY (tenant_id, id));",
             table] + indexes
    subprocess.run(["sqlite3", path], input="\n".join(setup), text=True, check=True, capture_output=True)
    script = tempfile.mktemp(suffix=".sql")
    vehicles = set()
    with open(script, "w") as f:
        f.write("PRAGMA synchronous=NORMAL;\nPRAGMA foreign_keys=ON;\nBEGIN IMMEDIATE;\n")
        batch = []
        for t, r, v, at, km in rows(n):
            vehicles.add((t.hex, v.hex))
            ts = at.replace("T", " ").replace("Z", " +00:00")
            batch.append(f"(X'{t.hex}',X'{r.hex}',X'{v.hex}','odometer','{ts}',{km},'km',{km},'telematics',NULL,0,NULL,'{at}')")
            if len(batch) == 500:
                f.write("INSERT INTO meter_readings VALUES " + ",".join(batch) + ";\n")
                batch = []
        if batch:
            f.write("INSERT INTO meter_readings VALUES " + ",".join(batch) + ";\n")
        f.write("COMMIT;\n")
    values = ",".join(f"(X'{t}',X'{v}')" for t, v in vehicles)
    subprocess.run(["sqlite3", path, f"INSERT INTO vehicles VALUES {values};"], check=True)
    started = time.perf_counter()
    subprocess.run(["sqlite3", path], stdin=open(script), check=True, capture_output=True)
    seconds = time.perf_counter() - started
    os.remove(script)
    os.remove(path)
    return seconds


def postgres_run(n, url):
    table, indexes = schema("postgres")
    scratch = "mp_raw_baseline"
    admin = url
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {scratch}"], check=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {scratch}"], check=True)
    target = admin.rsplit("/", 1)[0] + "/" + scratch
    ddl = "CREATE TABLE vehicles (tenant_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (tenant_id, id));\n"
    ddl += table + "\n" + "\n".join(indexes)
    subprocess.run(["psql", target, "-qc", ddl], check=True)
    csv = tempfile.mktemp(suffix=".csv")
    vehicles = set()
    with open(csv, "w") as f:
        for t, r, v, at, km in rows(n):
            vehicles.add((t, v))
            f.write(f"{t},{r},{v},odometer,{at},{km},km,{km},telematics,,false,,{at}\n")
    values = ",".join(f"('{t}','{v}')" for t, v in vehicles)
    subprocess.run(["psql", target, "-qc", f"INSERT INTO vehicles VALUES {values}"], check=True)
    started = time.perf_counter()
    subprocess.run(["psql", target, "-qc", f"\\copy meter_readings FROM '{csv}' WITH (FORMAT csv)"], check=True)
    seconds = time.perf_counter() - started
    os.remove(csv)
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE {scratch}"], check=True)
    return seconds


def main():
    backend, n = sys.argv[1], int(sys.argv[2])
    if backend == "sqlite":
        seconds = sqlite_cli_run(n)
    elif backend == "sqlite-python":
        seconds = sqlite_run(n)
    else:
        seconds = postgres_run(n, sys.argv[3] if len(sys.argv) > 3 else "postgres://postgres@127.0.0.1/postgres")
    print(json.dumps({"backend": backend, "rows": n, "order": os.environ.get("ORDER", "vehicle"),
                      "vehicles": int(os.environ.get("VEHICLES", "1000")), "seconds": round(seconds, 3),
                      "rows_per_second": round(n / seconds)}))


if __name__ == "__main__":
    main()
