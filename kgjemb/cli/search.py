"""kgjemb search: placeholder until the command lands."""


def search() -> None:
    """Not implemented yet."""
    raise NotImplementedError("kgjemb search is not implemented yet")
