"""Text between the LLM and the voice: splitting a streamed reply into speakable clauses."""

from pipeline.text.clauses import ClauseSplitter

__all__ = ["ClauseSplitter"]
