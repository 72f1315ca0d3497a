"""run_time: a run's wall time while it ran, from its metrics log, on logs worked out by hand."""
from gankit.run import run_time


def line(images: int, rate: float, time: float) -> dict:
    return {"time": time, "images": images, "kimg": images / 1000, "loss_d": 0.5, "img_per_s": rate}


def snap(images: int, time: float, **timed) -> dict:
    return {"time": time, "images": images, "kimg": images / 1000, "fid": 90.0, **timed}


def test_run_time_of_a_log_with_a_kill_a_resume_and_snapshots_worked_by_hand():
    log = [line(100, 10, 10.0), line(200, 20, 15.0),  # 100 images at 10/s = 10 s, then 100 at 20/s = 5 s
           snap(200, 18.0, snapshot_s=3.0),  # timed; it ends stretch 1 (killed after a checkpoint at 250): + 3 s
           {"time": 900.0, "images": 250, "kimg": 0.25, "event": "resume", "message": "from ckpt-000000250"},
           snap(250, 901.0),  # no log line before it in its stretch: untimed
           line(300, 10, 905.0),  # 50 images since the resume at 10/s = 5 s
           snap(300, 907.0, snapshot_s=2.0),  # inside the next line's interval
           {"time": 908.0, "images": 320, "kimg": 0.32, "event": "threads", "message": "threads 2 -> 1"},
           snap(350, 915.0),  # an older record: 915 - (905 + 2 s of snapshot + 50 images at 10/s) = 3 s
           line(400, 100 / 15, 920.0),  # 100 images in 15 s: 10 of training, 2 + 3 of snapshots
           snap(400, 924.0)]  # an older record at its log line: 924 - 920 = 4 s, after every line: + 4 s
    t = run_time(log)
    assert t.stretches == 2 and t.untimed_snapshots == 1 and t.estimated_snapshots == 2  # at 350 and 400
    assert [round(x, 9) for x in t.snapshots] == [3.0, 2.0, 3.0, 4.0] and abs(t.snapshot_seconds - 12) < 1e-9
    assert abs(t.seconds - (10 + 5 + 3 + 5 + 15 + 4)) < 1e-9


def test_a_rollback_starts_a_new_interval_but_not_a_new_stretch_and_a_stop_ends_one():
    log = [line(100, 10, 10.0), snap(100, 12.0, snapshot_s=2.0),
           {"time": 13.0, "images": 64, "kimg": 0.064, "event": "rollback", "message": "restored"},
           line(100, 12, 16.0),  # 36 images again since the rolled-back checkpoint at 12/s = 3 s
           {"time": 17.0, "images": 100, "kimg": 0.1, "event": "stop", "message": "SIGTERM"},
           snap(100, 30.0)]  # after a stop, before any resume: untimed
    t = run_time(log)
    assert t.stretches == 1 and t.untimed_snapshots == 1 and abs(t.seconds - (10 + 2 + 3)) < 1e-9
