"""Customer notifications (``../shared/DESIGN.md``, layer 6): templates, the Twilio layer, the
notifier that turns ETA events into texts, and the integration log."""
