"""kgjemb index: placeholder until the index commands land."""
import typer

app = typer.Typer(no_args_is_help=True)
