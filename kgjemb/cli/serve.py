"""kgjemb serve: placeholder until the command lands."""


def serve() -> None:
    """Not implemented yet."""
    raise NotImplementedError("kgjemb serve is not implemented yet")
