"""Training: the loop (loop.py: train, train_step), its state (state.py), and what sits beside it: snapshots
(snapshot.py), the log (monitor.py), health checks and test faults (health.py), schedules (schedules.py)."""
