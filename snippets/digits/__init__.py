"""Tiny generators trained on scikit-learn's 8x8 digits: data, training and evaluation.

* [`snippets.digits.data`][snippets.digits.data]: the digits, prompts, a word tokenizer, the
  classifier and the Frechet distance the studies use;
* [`snippets.digits.training`][snippets.digits.training]: build, train, sample, save and load;
* [`snippets.digits.evaluation`][snippets.digits.evaluation]: sweeps over steps and guidance,
  attention shares, parameter groups.
"""
