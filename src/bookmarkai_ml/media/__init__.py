"""Media intake: SSRF-safe download, ffmpeg audio processing, storage."""
