"""moodstream: a Kafka consumer service scoring mood-episode risk with an XGBoost + PAT ensemble.

The demo models shipped with it are trained on synthetic data and are NOT clinically valid.
"""

__version__ = "0.1.0"
