"""kgjemb graph: placeholder until the graph commands land."""
import typer

app = typer.Typer(no_args_is_help=True)
