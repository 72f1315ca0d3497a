"""What the high-quality share means on stacked digits: real triples scored by the shipped digits classifier.

    python scripts/digits_hq_reference.py

Stacks 10,000 random triples at 16x16 from (a) the 1,437 digits the classifier was trained on, (b) the 360
held-out digits it never saw, (c) all 1,797 (the training set of `r3gan-digits`), and prints the share of
channels, and of whole samples, that the classifier reads with probability >= 0.9 (the `modes` metric's
high-quality rule). A generator of novel but realistic digits is bounded by (b), not (c).
"""
from __future__ import annotations

import torch

from gankit.eval.classifiers import DIGITS_TEST_SIZE, classify_channels
from gankit.data.digits import StackedImages, load_digits_base
from gankit.eval.evaluate import HQ_CONFIDENCE


def main() -> None:
    torch.set_num_threads(1)
    images, labels = load_digits_base(16)
    k = len(labels) - DIGITS_TEST_SIZE
    for name, part in (("classifier's training digits (1,437)", slice(0, k)), ("held-out digits (360)", slice(k, None)),
                       ("all digits (1,797: r3gan-digits' training set)", slice(None))):
        ds = StackedImages(images[part], labels[part], 10000, seed=0)
        x = ds.get(torch.arange(10000))[0].float() / 127.5 - 1
        _, conf = classify_channels(x, "digits", with_confidence=True)
        print(f"{name}: channels read with p >= {HQ_CONFIDENCE}: {(conf >= HQ_CONFIDENCE).float().mean():.3f}, "
              f"whole samples: {(conf.min(1).values >= HQ_CONFIDENCE).float().mean():.3f}")


if __name__ == "__main__":
    main()
