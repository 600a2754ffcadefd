"""Customer notifications: templates, the Twilio layer, the
notifier that turns ETA events into texts, and the integration log."""
