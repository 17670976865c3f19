"""pimc: a compiler from LLM graphs to NPU + processing-in-memory hardware."""
__version__ = "0.1.0"
