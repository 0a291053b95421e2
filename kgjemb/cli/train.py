"""kgjemb train: placeholder until the command lands."""


def train() -> None:
    """Not implemented yet."""
    raise NotImplementedError("kgjemb train is not implemented yet")
