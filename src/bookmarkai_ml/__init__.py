"""BookmarkAI ML platform."""
