"""The care flows: one service per flow, on top of `records/` and `ledger/`, with no HTTP in here.

| module | job |
| --- | --- |
| `alerts.py` | `Alert`, `AlertSource`: the one inbox that every flow's alerts join |
"""
