"""The HTTP edge: parse requests, call the pipeline, render responses and errors."""
