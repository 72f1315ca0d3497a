"""gankit: GAN training and evaluation, faithful to the papers. R3GAN is the default baseline."""
__version__ = "0.1.0"

from .errors import GankitError  # noqa: E402
from .run import load_generator  # noqa: E402
from .sampling import generate, save_samples, to_uint8  # noqa: E402

__all__ = ["GankitError", "load_generator", "generate", "save_samples", "to_uint8", "__version__"]
