"""The models: XGBoost and PAT adapters behind one protocol, the model registry that loads
and verifies a models directory, thread caps, and the deterministic demo-model training.

Loaded once in the supervisor before the fork; the adapters' ``predict_batch`` runs on
the ensemble lanes' pool threads. May import ``schemas`` and the root modules only.
"""
