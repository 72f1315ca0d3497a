"""gankit.sampling: how a snapshot grid lays out the classes of a conditional generator."""

from __future__ import annotations


def test_snapshot_grid_gives_each_class_whole_rows():
    """grid 64 (rows of 8): 10 classes -> one row each (80 images); 2 classes -> four rows each; more classes than two
    rows' worth (17 > 16) -> rows cycle through the classes; unconditional -> no classes."""
    from gankit.sampling import grid_classes

    classes, per_row = grid_classes(64, 10)
    assert per_row == 8 and classes.tolist() == [c for c in range(10) for _ in range(8)]
    classes, per_row = grid_classes(64, 2)
    assert classes.tolist() == [0] * 32 + [1] * 32
    classes, per_row = grid_classes(64, 17)
    assert classes.tolist() == [r for r in range(8) for _ in range(8)]
    assert grid_classes(64, 0) == (None, 0)
