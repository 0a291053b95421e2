"""Audio front end: decoding, log-mel + chroma features, on-disk feature cache, chunking."""
from kgjemb.audio.cache import FeatureCache, compute_features, file_sha256
from kgjemb.audio.config import FrontendConfig
from kgjemb.audio.features import Chroma, Features, LogMel, chunk_features, silence_db
from kgjemb.audio.io import AudioDecodeError, load_audio

__all__ = [
    "AudioDecodeError",
    "Chroma",
    "Features",
    "FeatureCache",
    "FrontendConfig",
    "LogMel",
    "chunk_features",
    "compute_features",
    "file_sha256",
    "load_audio",
    "silence_db",
]
