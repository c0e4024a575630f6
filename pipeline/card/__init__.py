"""The dataset card: its sections and plots, from stats.json and manifest.json."""
