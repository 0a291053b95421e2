"""kgjemb eval: placeholder until the command lands."""


def eval_cmd() -> None:
    """Not implemented yet."""
    raise NotImplementedError("kgjemb eval is not implemented yet")
