"""Chat formats: GGUF Jinja chat templates (HF semantics) and GPT-OSS harmony."""
from runtime.chat.harmony import HarmonyMessage, HarmonyReply, parse_reply, render as render_harmony
from runtime.chat.template import ChatTemplate

__all__ = ["ChatTemplate", "HarmonyMessage", "HarmonyReply", "parse_reply", "render_harmony"]
