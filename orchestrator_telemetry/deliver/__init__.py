"""The way out: PostHog, the console and export files; key discovery and the opt-out look-up."""
