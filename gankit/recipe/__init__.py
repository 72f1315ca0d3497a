"""The recipe for a user's own images: survey the folder, time candidate networks here, size an R3GAN to the minutes."""
from .plan import Recipe, plan
from .survey import Survey, survey

__all__ = ["Recipe", "Survey", "plan", "survey"]
