"""Write gankit/weights/lpips-alex-v0.1.safetensors from the `lpips` package's v0.1 AlexNet linear heads.

The heads are 1152 non-negative floats (lin0..lin4, one weight per AlexNet channel), BSD-2-Clause,
Copyright (c) 2018 Richard Zhang, Phillip Isola, Alexei A. Efros, Eli Shechtman, Oliver Wang.
Usage: pip download lpips==0.1.4 --no-deps -d /tmp/lp && python scripts/convert_lpips_heads.py /tmp/lp/lpips-0.1.4-py3-none-any.whl
"""
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

MEMBER = "lpips/weights/v0.1/alex.pth"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        state = torch.load(io.BytesIO(z.read(MEMBER)), map_location="cpu", weights_only=True)
    heads = {f"lin{i}": state[f"lin{i}.model.1.weight"].reshape(-1).float().contiguous() for i in range(5)}
    out = Path(__file__).resolve().parents[1] / "gankit" / "weights" / "lpips-alex-v0.1.safetensors"
    save_file(heads, str(out), metadata={"source": f"{Path(wheel).name}:{MEMBER}", "license": "BSD-2-Clause (lpips)"})
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_suffix(".json").write_text(json.dumps({"source": f"{Path(wheel).name}:{MEMBER}", "sha256": sha,
                                                    "command": " ".join(["python", *sys.argv])}, indent=1) + "\n")
    print(f"wrote {out} ({sha})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
