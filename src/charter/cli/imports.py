"""charter import dpi | ecosystem-graphs | hf-card"""


def register(sub, common) -> None:
    pass
