"""Fledge notification delivery plugin forwarding each triggerReason to `monbridge serve`."""
