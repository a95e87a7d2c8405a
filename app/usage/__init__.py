"""The record stage: one usage record per request, fanned out to sinks."""
