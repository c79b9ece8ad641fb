"""LLM engines: one small `Responder` interface, implemented by each engine."""

from pipeline.llm.base import ChatMessage, LLMError, ReplyStream, Responder, TokenUsage

__all__ = ["ChatMessage", "LLMError", "ReplyStream", "Responder", "TokenUsage"]
