"""GRPOformer (arXiv 2509.17105) with numeric tokens: a Transformer policy over the trial history, trained
from scratch with GRPO and Policy Churn Regularization. See :mod:`agents.grpoformer.policy`,
:mod:`agents.grpoformer.learner`, :mod:`agents.grpoformer.train` and :mod:`agents.grpoformer.agent`.
"""
