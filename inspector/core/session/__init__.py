"""The session file: the captured-request record, the store, the filter language, the timeline."""
