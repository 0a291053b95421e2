"""The query parser, one package: the lexicon (every cue word, eras with their years, time
expressions), the gazetteer of graph names, and one reader that alone writes the parse.

>>> from kgjemb.query.parse import QueryParser
>>> parser = QueryParser.from_export(export)  # doctest: +SKIP
>>> parser.parse("pieces like Jesu, meine Freude but on strings, not slow")  # doctest: +SKIP
"""
from kgjemb.query.parse.config import ParserConfig
from kgjemb.query.parse.gazetteer import Gazetteer
from kgjemb.query.parse.nlp import load_nlp
from kgjemb.query.parse.parser import QueryParser

__all__ = ["Gazetteer", "ParserConfig", "QueryParser", "load_nlp"]
