#!/usr/bin/env python3
"""Write the ids of pending requests in a gateway's SQLite file, one per line, oldest first.

usage: ids.py <database> <output file>
"""
import sqlite3, sys

db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT id FROM approval_requests WHERE status = 'pending' ORDER BY created_at, id").fetchall()
with open(sys.argv[2], "w") as out:
    out.writelines(r[0] + "\n" for r in rows)
print(len(rows))
